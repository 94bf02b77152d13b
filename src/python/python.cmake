# The Python package `singa` (issue 19): the pybind11 extension singa._singa over the library, and
# the package's modules, assembled in <build>/python/singa so that tests and examples import it
# with PYTHONPATH=<build>/python. `pip install .` (pyproject.toml) builds the same through CMake.
# Built when pybind11 (Debian: pybind11-dev), the Python headers (python3-dev) and DLPack's header
# (libdlpack-dev) are found.
set(SINGA_BUILD_PYTHON "AUTO" CACHE STRING "Build the Python package: AUTO (when pybind11 is found), ON, OFF")
set_property(CACHE SINGA_BUILD_PYTHON PROPERTY STRINGS AUTO ON OFF)
set(SINGA_PYTHON_ENABLED OFF)
if(NOT SINGA_BUILD_PYTHON STREQUAL "OFF")
  # Debian's interpreter unless told otherwise (Python3_EXECUTABLE): the one the package is for.
  if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python3 COMPONENTS Interpreter Development.Module)
  find_package(pybind11 CONFIG QUIET)
  find_path(SINGA_DLPACK_INCLUDE_DIR dlpack/dlpack.h)
  if(Python3_Development.Module_FOUND AND pybind11_FOUND AND SINGA_DLPACK_INCLUDE_DIR)
    set(SINGA_PYTHON_ENABLED ON)
  elseif(SINGA_BUILD_PYTHON STREQUAL "ON")
    message(FATAL_ERROR "SINGA_BUILD_PYTHON=ON but pybind11, the Python headers or dlpack/dlpack.h were not found; "
                        "install pybind11-dev, python3-dev and libdlpack-dev (launch/setup.sh does) or configure "
                        "with -DSINGA_BUILD_PYTHON=OFF")
  endif()
endif()
message(STATUS "singa: Python package ${SINGA_PYTHON_ENABLED}")
if(NOT SINGA_PYTHON_ENABLED)
  return()
endif()

set(SINGA_PY_DIR ${CMAKE_BINARY_DIR}/python/singa)
pybind11_add_module(_singa MODULE NO_EXTRAS src/python/bindings.cc src/python/bindings_train.cc)
target_link_libraries(_singa PRIVATE singa)
target_include_directories(_singa SYSTEM PRIVATE ${SINGA_DLPACK_INCLUDE_DIR})
target_compile_options(_singa PRIVATE ${SINGA_WARNINGS})
# The extension finds libsinga next to it when installed, and in the build tree from there.
set_target_properties(_singa PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SINGA_PY_DIR}
                                        INSTALL_RPATH "$ORIGIN/lib"
                                        BUILD_RPATH "${CMAKE_BINARY_DIR}")
set(SINGA_PY_SOURCES __init__.py device.py tensor.py autograd.py opt.py sonnx.py data.py trainer.py)
foreach(f ${SINGA_PY_SOURCES})
  if(NOT EXISTS ${SINGA_PY_DIR}/${f})
    file(MAKE_DIRECTORY ${SINGA_PY_DIR})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/src/python/singa/${f} ${SINGA_PY_DIR}/${f} SYMBOLIC)
  endif()
endforeach()

# Installed as one package folder by `pip install .` (which asks for component "python" alone;
# a plain `cmake --install` leaves it out): the extension, the Python files and one copy of
# libsinga in singa/lib under its soname, where the extension's RPATH ($ORIGIN/lib, and nothing
# else, so no other copy is picked up) finds it, and the CUDA module beside it in a CUDA build.
# libsinga and the module keep the folders they were linked from (Open MPI; CUDA) in their RPATH,
# so the package runs without LD_LIBRARY_PATH.
install(TARGETS _singa LIBRARY DESTINATION singa COMPONENT python EXCLUDE_FROM_ALL)
list(TRANSFORM SINGA_PY_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/src/python/singa/ OUTPUT_VARIABLE singa_py_files)
install(FILES ${singa_py_files} DESTINATION singa COMPONENT python EXCLUDE_FROM_ALL)
get_target_property(singa_soversion singa SOVERSION)
install(PROGRAMS $<TARGET_FILE:singa> DESTINATION singa/lib RENAME libsinga.so.${singa_soversion}
        COMPONENT python EXCLUDE_FROM_ALL)
if(TARGET singa_cuda)
  # The CUDA module, beside libsinga where it looks for it on first CUDA use.
  install(PROGRAMS $<TARGET_FILE:singa_cuda> DESTINATION singa/lib COMPONENT python EXCLUDE_FROM_ALL)
endif()
