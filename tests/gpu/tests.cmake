# CUDA tests (label gpu): every CUDA kernel against its CPU kernel, forward and backward. They
# build in every configuration and skip, naming the reason, without a GPU or a CUDA backend.
singa_add_gtest(NAME gpu_kernels_test LABELS gpu SOURCES
  gpu/cuda_elementwise_test.cc
  gpu/cuda_nn_test.cc
)
if(SINGA_CUDA_ENABLED)
  # The device layer itself (caching allocator, streams, events) needs the CUDA headers.
  singa_add_gtest(NAME gpu_device_test LABELS gpu SOURCES gpu/cuda_device_test.cc)
  target_link_libraries(gpu_device_test PRIVATE CUDA::cudart)
  # Registration coverage needs no GPU, so it runs with the unit tests in CI.
  singa_add_gtest(NAME cuda_registry_test LABELS unit SOURCES gpu/cuda_registry_test.cc)
endif()
# The same comparisons with the CPU as the device under test: no GPU needed, keeps the harness
# (op signatures, shapes, tolerances) honest in CI.
add_test(NAME gpu_kernels_test_harness_on_cpu COMMAND gpu_kernels_test)
set_tests_properties(gpu_kernels_test_harness_on_cpu PROPERTIES ENVIRONMENT SINGA_GPUTEST_DEVICE=cpu LABELS unit)
