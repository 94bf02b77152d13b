# ops tests

# Shape, reduction and linear-algebra ops.
singa_add_gtest(NAME ops_shape_test LABELS unit SOURCES
  ops/shape_test.cc
  ops/reduce_test.cc
  ops/linalg_test.cc
)

# Elementwise ops (unary, binary, comparison/logic, Where, variadic) and the Tensor operators.
singa_add_gtest(NAME ops_elementwise_test LABELS unit SOURCES
  ops/elementwise_test.cc
  ops/vec_math_test.cc
)

# Neural-network ops: Conv, ConvTranspose, pooling, BatchNormalization, Dropout, Softmax, losses;
# conv_dnnl_test: the oneDNN convolution path (skips in a build without oneDNN).
singa_add_gtest(NAME ops_nn_test LABELS unit SOURCES
  ops/nn_ops_test.cc
  ops/conv_dnnl_test.cc
  ops/nn_pool_test.cc
  ops/nn_norm_test.cc
)
# Conv / pooling kernel and MNIST-CNN step timings (a program that prints figures, not a test).
add_executable(conv_bench ops/conv_bench.cc)
target_link_libraries(conv_bench PRIVATE singa)
target_compile_options(conv_bench PRIVATE ${SINGA_WARNINGS})

# The cross-backend op table: one row per kernel op of src/ops/op_list.h (CPU against a reference,
# CUDA against the CPU when a GPU is visible, finite-difference gradients); fails when a registered
# op has no row. typed_params_test: kernels get their typed parameters (kernel_params.h) or a
# named error.
singa_add_gtest(NAME ops_table_test LABELS unit SOURCES
  ops/op_table_test.cc
  ops/typed_params_test.cc
  ops/op_table_elementwise.cc
  ops/op_table_unary.cc
  ops/op_table_nn.cc
  ops/op_table_other.cc
)

# Kernels read typed parameters (src/ops/kernel_params.h), never string-keyed Attrs: fails naming
# the file and line of an Attrs read under kernels/.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME kernels_typed_params
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ops/kernel_params_test.py ${CMAKE_SOURCE_DIR})
set_tests_properties(kernels_typed_params PROPERTIES LABELS unit TIMEOUT 60)

# The oneDNN tests again with oneDNN held to AVX2 kernels (ONEDNN_MAX_CPU_ISA): on an AVX-512 CPU
# its inference kernels keep activations channels-last, under AVX2 in 8-channel blocks with zero
# padding, which the layouts kept between layers (conv_dnnl.cc, laid_out.h, pool.cc) must keep.
add_test(NAME ops_nn_dnnl_avx2
         COMMAND ops_nn_test --gtest_filter=DnnlConv*:Cases/DnnlConv*)
set_tests_properties(ops_nn_dnnl_avx2 PROPERTIES LABELS unit ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX2")
