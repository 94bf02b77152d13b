# End-to-end checks of the programs, on a subset of Fashion-MNIST.
add_test(NAME example_train_cnn COMMAND train_cnn fashion-mnist 9600 500)
set_tests_properties(example_train_cnn PROPERTIES LABELS unit TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "test accuracy ([6-9][0-9]|100)\\.[0-9]+% on 500 images")
add_test(NAME singa_train_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/launch/singa_train_cli.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_BINARY_DIR}/singa_train_cli)
set_tests_properties(singa_train_cli PROPERTIES LABELS unit TIMEOUT 600)
