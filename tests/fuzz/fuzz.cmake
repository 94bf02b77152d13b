# libFuzzer targets (tests/fuzz). Built only with -DSINGA_BUILD_FUZZERS=ON and clang (Debian:
# clang-14 + libclang-rt-14-dev); tests/sanitize_and_fuzz.sh configures that build (ASan + UBSan,
# CPU only). Each target runs for SINGA_FUZZ_SECONDS from its committed seed corpus (ctest label
# fuzz); crashes are saved under <build>/fuzz/<target>/ and fail the test.
option(SINGA_BUILD_FUZZERS "Build the libFuzzer targets (clang with libclang-rt-dev)" OFF)
set(SINGA_FUZZ_SECONDS 45 CACHE STRING "Seconds each fuzzer runs under ctest")
if(SINGA_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SINGA_BUILD_FUZZERS needs clang (e.g. CXX=clang++-14, package libclang-rt-14-dev)")
  endif()
  # The execution fuzzer also starts from the crafted models of tests/hostile.
  set(SINGA_FUZZ_EXTRA_SEEDS_onnx_exec ${CMAKE_CURRENT_SOURCE_DIR}/hostile/inputs/models)
  foreach(name checkpoint idx npy safetensors image tensor_proto value_file onnx_import onnx_exec)
    add_executable(fuzz_${name} fuzz/fuzz_${name}.cc)
    target_link_libraries(fuzz_${name} PRIVATE singa onnx_proto protobuf::libprotobuf)
    target_include_directories(fuzz_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_${name}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzzer.sh $<TARGET_FILE:fuzz_${name}>
                     ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name} ${CMAKE_BINARY_DIR}/fuzz/${name}
                     ${SINGA_FUZZ_SECONDS} ${SINGA_FUZZ_EXTRA_SEEDS_${name}})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 600)
  endforeach()
endif()

# Every build replays the committed crash regressions and seeds through the same entry points.
singa_add_gtest(NAME fuzz_regression_test LABELS unit SOURCES fuzz/regression_test.cc)
target_link_libraries(fuzz_regression_test PRIVATE onnx_proto protobuf::libprotobuf)
target_compile_definitions(fuzz_regression_test PRIVATE SINGA_FUZZ_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fuzz")
