# CUDA tests (label gpu): every CUDA kernel against its CPU kernel, forward and backward. They
# build in every configuration and skip, naming the reason, without a GPU or a CUDA backend.
singa_add_gtest(NAME gpu_kernels_test LABELS gpu SOURCES
  gpu/cuda_elementwise_test.cc
  gpu/cuda_nn_test.cc
)
# The communicator of the device under test (NCCL on a GPU; MPI with SINGA_GPUTEST_DEVICE=cpu).
if(SINGA_USE_MPI)
  singa_add_gtest(NAME gpu_nccl_test LABELS gpu SOURCES gpu/cuda_comm_test.cc)
  add_test(NAME gpu_nccl_test_harness_on_cpu COMMAND gpu_nccl_test)
  set_tests_properties(gpu_nccl_test_harness_on_cpu PROPERTIES
                       ENVIRONMENT "SINGA_GPUTEST_DEVICE=cpu;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
                       LABELS unit)
endif()
if(SINGA_CUDA_ENABLED)
  # The device layer itself (caching allocator, streams, events) needs the CUDA headers.
  singa_add_gtest(NAME gpu_device_test LABELS gpu SOURCES gpu/cuda_device_test.cc)
  target_link_libraries(gpu_device_test PRIVATE singa_cuda CUDA::cudart)
  # Registration coverage needs no GPU, so it runs with the unit tests in CI.
  singa_add_gtest(NAME cuda_registry_test LABELS unit SOURCES gpu/cuda_registry_test.cc)
  # libsinga without its CUDA module beside it: CPU work runs, a GPU request names the module.
  add_test(NAME cuda_module_missing COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gpu/module_missing.sh
                                            $<TARGET_FILE:singa> $<TARGET_FILE:gpu_kernels_test>)
  set_tests_properties(cuda_module_missing PROPERTIES LABELS unit)
endif()
# The same comparisons with the CPU as the device under test: no GPU needed, keeps the harness
# (op signatures, shapes, tolerances) honest in CI.
add_test(NAME gpu_kernels_test_harness_on_cpu COMMAND gpu_kernels_test)
set_tests_properties(gpu_kernels_test_harness_on_cpu PROPERTIES ENVIRONMENT SINGA_GPUTEST_DEVICE=cpu LABELS unit)
# Required-GPU mode (what tests/gpu/device_check.sh runs): without a usable GPU a test must FAIL
# and say why in the CUDA runtime's words, never skip (an all-skipped run on a GPU machine would
# look green). On a machine with a GPU the same command simply passes.
add_test(NAME gpu_required_mode_fails_without_a_gpu
         COMMAND sh -c "out=$(\"$0\" --gtest_filter=CudaCopy.FillCastsAndLargeTransfers 2>&1); rc=$?; echo \"$out\"; \
if [ $rc -eq 0 ]; then echo \"$out\" | grep -q '1 test' && ! echo \"$out\" | grep -q SKIPPED; \
else echo \"$out\" | grep -q 'required-GPU mode (SINGA_GPUTEST_REQUIRE=1): no usable CUDA GPU: ..*' && \
echo \"$out\" | grep -q 'FAILED  ] CudaCopy.FillCastsAndLargeTransfers'; fi" $<TARGET_FILE:gpu_kernels_test>)
set_tests_properties(gpu_required_mode_fails_without_a_gpu PROPERTIES ENVIRONMENT SINGA_GPUTEST_REQUIRE=1 LABELS unit)
# The NCCL backend's stream ordering on simulated streams (no GPU needed).
singa_add_gtest(NAME nccl_stream_order_test LABELS unit SOURCES gpu/stream_order_test.cc)
target_include_directories(nccl_stream_order_test PRIVATE ${CMAKE_SOURCE_DIR})
# The cuDNN algorithm policy (determinism, workspace limit) as a plain function: no GPU needed.
singa_add_gtest(NAME cudnn_algo_pick_test LABELS unit SOURCES gpu/algo_pick_test.cc)
target_include_directories(cudnn_algo_pick_test PRIVATE ${CMAKE_SOURCE_DIR})
