# optim tests
singa_add_gtest(NAME optim_test LABELS unit SOURCES
  optim/optim_test.cc
  optim/lr_schedule_test.cc
)
