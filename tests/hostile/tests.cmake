# Crafted hostile inputs (models, checkpoints, data files, flag values) through the programs:
# each must end with exit code 1 or 2 and one clear line, under ulimit -v and a timeout
# (tests/hostile/run.sh). Not in the sanitizer build: ASan reserves terabytes of address space,
# which ulimit -v forbids; that build replays the same files through fuzz_regression_test.
add_test(NAME hostile_inputs COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/hostile/run.sh ${CMAKE_BINARY_DIR})
set_tests_properties(hostile_inputs PROPERTIES LABELS unit TIMEOUT 900)
