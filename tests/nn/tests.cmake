# nn tests
singa_add_gtest(NAME nn_test LABELS unit SOURCES
  nn/module_test.cc
  nn/layers_test.cc
)
