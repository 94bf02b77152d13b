# data tests
singa_add_gtest(NAME data_test LABELS unit SOURCES
  data/idx_test.cc
  data/loader_test.cc
  data/hostile_idx_test.cc
  data/sources_test.cc
  data/safetensors_test.cc
  data/image_test.cc
  data/transforms_test.cc
  data/pipeline_test.cc
  data/image_folder_test.cc
)
target_link_libraries(data_test PRIVATE ZLIB::ZLIB)
# Image files and Pillow's decodes and resizes of them, written at build time by the project's
# venv Python (or Debian's python3 with python3-pil); without Pillow the image tests skip.
set(SINGA_IMAGE_SAMPLES_DIR ${CMAKE_CURRENT_BINARY_DIR}/image_samples)
if(EXISTS ${PROJECT_SOURCE_DIR}/.venv/bin/python)
  set(_image_python ${PROJECT_SOURCE_DIR}/.venv/bin/python)
else()
  set(_image_python /usr/bin/python3)
endif()
add_custom_command(OUTPUT ${SINGA_IMAGE_SAMPLES_DIR}/manifest.tsv
                   COMMAND ${_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/data/gen_images.py ${SINGA_IMAGE_SAMPLES_DIR}
                   DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/data/gen_images.py
                   COMMENT "Writing image test samples with Pillow")
add_custom_target(image_samples DEPENDS ${SINGA_IMAGE_SAMPLES_DIR}/manifest.tsv)
add_dependencies(data_test image_samples)
target_compile_definitions(data_test PRIVATE SINGA_IMAGE_SAMPLES="${SINGA_IMAGE_SAMPLES_DIR}")
target_compile_definitions(data_test PRIVATE SINGA_NPY_SAMPLES="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/npy"
                                             SINGA_SAFETENSORS_SAMPLES="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/safetensors")
# numpy-written .npy arrays and safetensors files train exactly as the same IDX data does; CIFAR-10 binary files train.
add_test(NAME data_npy_cifar_train
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/data/npy_train_test.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_BINARY_DIR}/data_npy_cifar_train)
set_tests_properties(data_npy_cifar_train PROPERTIES LABELS unit TIMEOUT 600 SKIP_RETURN_CODE 77)
# Image folders written by PIL: the same accuracy as the IDX files, every colour mode, bad files,
# and a 2-rank resume mid-epoch (imagefolder_test.sh says what each part checks).
if(SINGA_USE_MPI)
  add_test(NAME data_imagefolder
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/data/imagefolder_test.sh $<TARGET_FILE:singa_train>
                   ${MPIEXEC_EXECUTABLE} ${CMAKE_BINARY_DIR}/data_imagefolder)
  set_tests_properties(data_imagefolder PROPERTIES LABELS interop TIMEOUT 1200 SKIP_RETURN_CODE 77)
endif()
