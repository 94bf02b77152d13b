# data tests
singa_add_gtest(NAME data_test LABELS unit SOURCES
  data/idx_test.cc
  data/loader_test.cc
  data/hostile_idx_test.cc
)
target_link_libraries(data_test PRIVATE ZLIB::ZLIB)
