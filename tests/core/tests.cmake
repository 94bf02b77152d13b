singa_add_gtest(NAME core_test LABELS unit SOURCES
  core/tensor_test.cc
  core/dtype_test.cc
  core/half_convert_test.cc
  core/limits_test.cc
  core/cpu_features_test.cc
  core/allocator_test.cc
  autograd/engine_test.cc
  autograd/grad_hooks_test.cc
)

# Re-points OpenBLAS's kernel table (process-wide state): its own executable.
singa_add_gtest(NAME blas_coretype_test LABELS unit SOURCES core/blas_coretype_test.cc)

# The layering: an include of a higher layer's header from a lower layer fails to build.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME layering_includes
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/core/layering_test.py ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(layering_includes PROPERTIES LABELS unit TIMEOUT 300)
