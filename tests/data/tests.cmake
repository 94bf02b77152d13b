# data tests
singa_add_gtest(NAME data_test LABELS unit SOURCES
  data/idx_test.cc
  data/loader_test.cc
  data/hostile_idx_test.cc
  data/sources_test.cc
  data/safetensors_test.cc
)
target_link_libraries(data_test PRIVATE ZLIB::ZLIB)
target_compile_definitions(data_test PRIVATE SINGA_NPY_SAMPLES="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/npy"
                                             SINGA_SAFETENSORS_SAMPLES="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/safetensors")
# numpy-written .npy arrays and safetensors files train exactly as the same IDX data does; CIFAR-10 binary files train.
add_test(NAME data_npy_cifar_train
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/data/npy_train_test.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_BINARY_DIR}/data_npy_cifar_train)
set_tests_properties(data_npy_cifar_train PROPERTIES LABELS unit TIMEOUT 600 SKIP_RETURN_CODE 77)
