# The CUDA module libsinga_cuda.so: the CUDA kernels, the device layer (caching allocator,
# streams, cuBLAS/cuDNN handles) and the NCCL communicator, with every CUDA library linked to it
# and none to libsinga. libsinga loads it from its own folder on first use of anything CUDA
# (loadDeviceModule in core/device.cc), so CPU runs of a CUDA build never map cuBLAS, cuBLASLt,
# cuDNN or NCCL (cuBLASLt alone adds ~150 MiB of resident memory when loaded), and a CUDA build
# runs on CPU machines without the CUDA libraries. Installed beside libsinga (lib/, the Python
# package's singa/lib, the GPU bundle's lib/).
add_library(singa_cuda SHARED ${SINGA_CUDA_MODULE_SOURCES} comm/nccl_communicator.cc)
# One shared CUDA runtime in the process (not a static copy in the module); RPATH: the CUDA
# libraries' folders it was linked from, then its own folder.
set_target_properties(singa_cuda PROPERTIES CUDA_RUNTIME_LIBRARY Shared LINKER_LANGUAGE CXX
                                            INSTALL_RPATH "$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)
target_link_libraries(singa_cuda PRIVATE singa CUDA::cudart CUDA::cublas ${SINGA_CUDNN_LIBRARY})
target_compile_definitions(singa_cuda PRIVATE "SINGA_BUILD_ID=\"${SINGA_BUILD_ID}\"")
target_compile_options(singa_cuda PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${SINGA_WARNINGS}>)
if(SINGA_USE_MPI)
  get_filename_component(_singa_cuda_root "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_singa_cuda_root "${_singa_cuda_root}" DIRECTORY)
  find_path(SINGA_NCCL_INCLUDE_DIR nccl.h HINTS ${_singa_cuda_root}/include /usr/include)
  find_library(SINGA_NCCL_LIBRARY nccl HINTS ${_singa_cuda_root}/lib64 ${_singa_cuda_root}/lib)
  if(SINGA_NCCL_INCLUDE_DIR AND SINGA_NCCL_LIBRARY)
    message(STATUS "singa: NCCL communicator ${SINGA_NCCL_LIBRARY}")
    set_source_files_properties(comm/nccl_communicator.cc PROPERTIES COMPILE_DEFINITIONS SINGA_WITH_NCCL)
    target_include_directories(singa_cuda PRIVATE ${SINGA_NCCL_INCLUDE_DIR})
    target_link_libraries(singa_cuda PRIVATE ${SINGA_NCCL_LIBRARY})
  else()
    message(STATUS "singa: NCCL not found next to the CUDA toolkit; the nccl communicator is not built")
  endif()
endif()
install(TARGETS singa_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
