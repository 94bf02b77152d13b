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
