singa_add_gtest(NAME core_test LABELS unit SOURCES
  core/tensor_test.cc
  core/dtype_test.cc
  core/limits_test.cc
  autograd/engine_test.cc
  autograd/grad_hooks_test.cc
)
