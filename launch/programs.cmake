# Command-line programs: singa_train (training, one process or N ranks) and singa_onnx (ONNX tool).
add_executable(singa_train launch/singa_train.cc launch/train_options.cc launch/distributed.cc)
target_link_libraries(singa_train PRIVATE singa CLI11::CLI11 nlohmann_json::nlohmann_json)
target_compile_options(singa_train PRIVATE ${SINGA_WARNINGS})
target_include_directories(singa_train PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_definitions(singa_train PRIVATE SINGA_VERSION="${PROJECT_VERSION}")

add_executable(singa_onnx launch/singa_onnx.cc)
target_link_libraries(singa_onnx PRIVATE singa CLI11::CLI11 onnx_proto protobuf::libprotobuf)
target_compile_options(singa_onnx PRIVATE ${SINGA_WARNINGS})
target_include_directories(singa_onnx PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_definitions(singa_onnx PRIVATE SINGA_VERSION="${PROJECT_VERSION}")

install(TARGETS singa_train singa_onnx RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
