# The Python package (label python): pytest over tests/python with the project venv's Python
# (onnx, onnxruntime, Debian's torch) and the package built in <build>/python. Skipped (77) without
# the venv, like the interop tests.
if(NOT SINGA_PYTHON_ENABLED)
  return()
endif()
add_test(NAME python_package
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/interop/run_python.sh ${SINGA_INTEROP_PYTHON} -m pytest -q
                 -p no:cacheprovider ${CMAKE_CURRENT_SOURCE_DIR}/python)
set_tests_properties(python_package PROPERTIES LABELS python SKIP_RETURN_CODE 77 TIMEOUT 1200
                     ENVIRONMENT "PYTHONPATH=${CMAKE_BINARY_DIR}/python;SINGA_TRAIN=$<TARGET_FILE:singa_train>;OMP_NUM_THREADS=2")
# The package `pip install .` put into the venv (tests/run.sh installs it after the build), run
# from outside the source tree without PYTHONPATH. Skipped (77) when it is not installed.
add_test(NAME python_installed_package
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/interop/run_python.sh ${SINGA_INTEROP_PYTHON}
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/check_installed.py ${CMAKE_SOURCE_DIR}
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
set_tests_properties(python_installed_package PROPERTIES LABELS python SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT "OMP_NUM_THREADS=2")
