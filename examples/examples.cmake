# Example programs: single files against the public API, built with the project and run in CI.
add_executable(train_cnn examples/train_cnn.cc)
target_link_libraries(train_cnn PRIVATE singa)
target_compile_options(train_cnn PRIVATE ${SINGA_WARNINGS})

add_executable(onnx_mnist examples/onnx_mnist.cc)
target_link_libraries(onnx_mnist PRIVATE singa)
target_compile_options(onnx_mnist PRIVATE ${SINGA_WARNINGS})

add_executable(finetune_onnx examples/finetune_onnx.cc)
target_link_libraries(finetune_onnx PRIVATE singa)
target_compile_options(finetune_onnx PRIVATE ${SINGA_WARNINGS})
