# The comm layer: communicators (local, MPI, NCCL), DistributedOptimizer, rank detection.
singa_add_layer(NAME singa_comm
  AREAS comm=comm
  SOURCES
    comm/rank_env.cc
    comm/communicator.cc
    comm/mpi_communicator.cc
    comm/mpi_shared_memory.cc
    comm/mpi_hierarchical.cc
    comm/rank_order_reduce.cc
    comm/nccl_communicator.cc
    comm/distributed_optimizer.cc
    # internal headers of the mpi backend (not installed)
    comm/mpi_internal.h
    comm/mpi_shared_memory.h
    comm/rank_order_reduce.h
  HEADERS
    comm/rank_env.h
    comm/communicator.h
    comm/mpi_communicator.h
    comm/nccl_communicator.h
    comm/distributed_optimizer.h
  PUBLIC singa_optim
)
if(SINGA_USE_MPI)
  target_link_libraries(singa_comm PUBLIC MPI::MPI_CXX)
endif()
if(SINGA_CUDA_ENABLED)
  target_link_libraries(singa_comm PRIVATE CUDA::cudart)
endif()
if(SINGA_CUDA_ENABLED AND SINGA_USE_MPI)
  get_filename_component(_singa_cuda_root "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_singa_cuda_root "${_singa_cuda_root}" DIRECTORY)
  find_path(SINGA_NCCL_INCLUDE_DIR nccl.h HINTS ${_singa_cuda_root}/include /usr/include)
  find_library(SINGA_NCCL_LIBRARY nccl HINTS ${_singa_cuda_root}/lib64 ${_singa_cuda_root}/lib)
  if(SINGA_NCCL_INCLUDE_DIR AND SINGA_NCCL_LIBRARY)
    message(STATUS "singa: NCCL communicator ${SINGA_NCCL_LIBRARY}")
    set_source_files_properties(comm/nccl_communicator.cc PROPERTIES COMPILE_DEFINITIONS SINGA_WITH_NCCL)
    target_include_directories(singa_comm PRIVATE ${SINGA_NCCL_INCLUDE_DIR})
    target_link_libraries(singa_comm PRIVATE ${SINGA_NCCL_LIBRARY})
  else()
    message(STATUS "singa: NCCL not found next to the CUDA toolkit; the nccl communicator is not built")
  endif()
endif()
