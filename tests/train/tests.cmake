# Trainer tests: the fine-tuning building blocks and the loop (freezing, head lr, early stopping,
# best checkpoint, resume) on small synthetic data; fine-tuning from the command line.
singa_add_gtest(NAME train_test LABELS unit SOURCES
  train/fine_tuning_test.cc
  train/trainer_test.cc
)
set(_train_example)
if(TARGET finetune_onnx)
  set(_train_example $<TARGET_FILE:finetune_onnx>)
endif()
add_test(NAME train_finetune_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train/finetune_cli_test.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_BINARY_DIR}/train_finetune_cli ${_train_example})
set_tests_properties(train_finetune_cli PROPERTIES LABELS unit TIMEOUT 600)
# examples/finetune_onnx.cc on 2 ranks, with resume.
if(SINGA_USE_MPI AND TARGET finetune_onnx)
  set(_train_mpirun ${MPIEXEC_EXECUTABLE})
  if(NOT _train_mpirun)
    find_program(_train_mpirun mpirun REQUIRED)
  endif()
  add_test(NAME example_finetune_onnx_2ranks
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train/finetune_onnx_test.sh $<TARGET_FILE:singa_train>
                   $<TARGET_FILE:finetune_onnx> ${_train_mpirun} ${CMAKE_BINARY_DIR}/example_finetune_onnx)
  set_tests_properties(example_finetune_onnx_2ranks PROPERTIES LABELS dist TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=1" PASS_REGULAR_EXPRESSION "finetune_onnx test passed")
endif()
# examples/finetune_images.sh: resnet18 on an image folder, 2 ranks, resume and export.
if(SINGA_USE_MPI)
  add_test(NAME example_finetune_images
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train/finetune_images_test.sh $<TARGET_FILE:singa_train>
                   ${CMAKE_BINARY_DIR}/example_finetune_images)
  set_tests_properties(example_finetune_images PROPERTIES LABELS interop TIMEOUT 900 SKIP_RETURN_CODE 77
                       PASS_REGULAR_EXPRESSION "finetune_images test passed")
endif()
