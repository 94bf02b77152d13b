# find_package(singa) from an installed tree works for a downstream project.
add_test(NAME install_find_package
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/install-check)
set_tests_properties(install_find_package PROPERTIES LABELS unit TIMEOUT 300)
