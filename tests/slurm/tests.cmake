# A real single-node Slurm (label slurm): needs root, slurm-wlm and munge (launch/setup.sh --tests).
if(NOT SINGA_USE_MPI)
  return()
endif()
add_test(NAME slurm_singa_train
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm/slurm_test.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_SOURCE_DIR}/launch/slurm/singa_train_cpu.sbatch ${CMAKE_CURRENT_BINARY_DIR}/slurm_test)
set_tests_properties(slurm_singa_train PROPERTIES LABELS slurm TIMEOUT 600
                     PASS_REGULAR_EXPRESSION "slurm test passed")
