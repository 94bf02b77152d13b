# ONNX export: unit tests (ModelProto structure per opset) and interop tests (ctest label
# `interop`) against onnxruntime and PyTorch. The Python side runs in the project venv
# (${CMAKE_SOURCE_DIR}/.venv, made by `launch/setup.sh --tests`); without it those tests are
# reported as skipped (exit code 77) with that instruction.
singa_add_gtest(NAME onnx_export_test LABELS unit SOURCES interop/export_test.cc)
target_link_libraries(onnx_export_test PRIVATE onnx_proto protobuf::libprotobuf)

add_executable(interop_export_fixtures interop/export_fixtures.cc)
target_link_libraries(interop_export_fixtures PRIVATE singa onnx_proto protobuf::libprotobuf)
target_compile_options(interop_export_fixtures PRIVATE ${SINGA_WARNINGS})

set(SINGA_INTEROP_PYTHON ${CMAKE_SOURCE_DIR}/.venv/bin/python CACHE FILEPATH
    "Python with torch, onnx and onnxruntime for the interop tests (launch/setup.sh --tests)")
set(SINGA_INTEROP_TORCH_PYTHON ${SINGA_INTEROP_PYTHON} CACHE FILEPATH
    "Python with Debian's torch/torchvision, onnx and numpy < 2 that runs the PyTorch export")
set(SINGA_TORCH_EXPORT_SCRIPT /work/shared/anchors/export_models.py CACHE FILEPATH
    "PyTorch anchor script that exports reference models to ONNX (interop_torch_models)")
set(_interop_dir ${CMAKE_CURRENT_BINARY_DIR}/interop)
set(_run_python sh ${CMAKE_CURRENT_SOURCE_DIR}/interop/run_python.sh ${SINGA_INTEROP_PYTHON})

# 1. The engine exports its models (opsets 11, 13, 17) with its own inputs and outputs.
add_test(NAME interop_export_fixtures
         COMMAND ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=2
                 $<TARGET_FILE:interop_export_fixtures> ${_interop_dir}/export)
set_tests_properties(interop_export_fixtures PROPERTIES LABELS interop FIXTURES_SETUP singa_exported_models
                     TIMEOUT 300)

# 2. onnx.checker (full_check) and onnxruntime agree with the engine on every exported model, and
#    so does the model imported back with singa_onnx.
add_test(NAME interop_onnxruntime
         COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/check_export.py ${_interop_dir}/export
                 --singa-onnx $<TARGET_FILE:singa_onnx>)
set_tests_properties(interop_onnxruntime PROPERTIES LABELS interop FIXTURES_REQUIRED singa_exported_models
                     SKIP_RETURN_CODE 77 TIMEOUT 300)

# 3. PyTorch-exported models (CNN, resnet18, mobilenet_v2, squeezenet1_1) run in singa_onnx and
#    match PyTorch.
add_test(NAME interop_torch_models
         COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/torch_models.py
                 --export-script ${SINGA_TORCH_EXPORT_SCRIPT} --torch-python ${SINGA_INTEROP_TORCH_PYTHON}
                 --singa-onnx $<TARGET_FILE:singa_onnx>
                 --out ${_interop_dir}/torch)
set_tests_properties(interop_torch_models PROPERTIES LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 1500)

# 4. singa_train --export (built-in CNN, opsets 17 and 13, re-trained import, transfer learning):
#    checker + onnxruntime agree with singa; the re-imported CNN evaluates like the trained one.
add_test(NAME interop_singa_train_export
         COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/singa_train_export.py
                 --singa-train $<TARGET_FILE:singa_train> --singa-onnx $<TARGET_FILE:singa_onnx>
                 --out ${_interop_dir}/singa_train)
set_tests_properties(interop_singa_train_export PROPERTIES LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 600)

# 5. The ONNX tutorial example (examples/onnx_mnist.cc): every stage prints an accuracy, the
#    re-import is exact, and its exported models pass the checker and match onnxruntime.
if(TARGET onnx_mnist)
  add_test(NAME example_onnx_mnist
           COMMAND $<TARGET_FILE:onnx_mnist> fashion-mnist 6400 1000 ${_interop_dir}/onnx_mnist)
  set_tests_properties(example_onnx_mnist PROPERTIES LABELS interop TIMEOUT 600 FIXTURES_SETUP onnx_mnist_models
                       PASS_REGULAR_EXPRESSION "imported outputs differ by at most 0\n.*re-imported outputs differ by at most 0\nsummary: re-training changed accuracy by \\+[0-9.]+ points; transfer learning reached [4-9][0-9]\\.")
  add_test(NAME interop_onnx_mnist_exports
           COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/check_export.py ${_interop_dir}/onnx_mnist
                   --singa-onnx $<TARGET_FILE:singa_onnx>)
  set_tests_properties(interop_onnx_mnist_exports PROPERTIES LABELS interop FIXTURES_REQUIRED onnx_mnist_models
                       SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# 6. resnet18 with BatchNormalization from PyTorch fine-tunes (loss falls over 50 steps).
add_test(NAME interop_finetune_resnet18
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/interop/finetune_resnet.sh $<TARGET_FILE:singa_train>
                 ${_interop_dir}/torch ${_interop_dir}/finetune_resnet18)
set_tests_properties(interop_finetune_resnet18 PROPERTIES LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 900
                     DEPENDS interop_torch_models)

# 6b. The gradients of that fine-tuning are PyTorch's (float64 reference), every BatchNorm layer
#     with tensors of its own although torch.onnx merged their equal initial values.
add_test(NAME interop_finetune_resnet18_parity
         COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/torch_finetune_parity.py
                 --singa-train $<TARGET_FILE:singa_train> --model ${_interop_dir}/torch/resnet18_bn_op13.onnx
                 --out ${_interop_dir}/finetune_parity)
set_tests_properties(interop_finetune_resnet18_parity PROPERTIES LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 300
                     DEPENDS interop_torch_models)

# 7. Training parity with PyTorch: same initial weights and data order -> same step losses,
#    parameters and accuracy (plain SGD, 40 steps).
add_test(NAME interop_torch_training_parity
         COMMAND ${_run_python} ${CMAKE_CURRENT_SOURCE_DIR}/interop/torch_training_parity.py
                 --singa-train $<TARGET_FILE:singa_train> --out ${_interop_dir}/parity)
set_tests_properties(interop_torch_training_parity PROPERTIES LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 300)
