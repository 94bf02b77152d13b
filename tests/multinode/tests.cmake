# Jobs across nodes, simulated on one machine (label dist): tests/multinode/run.sh makes 2 hosts
# (network + UTS namespaces joined by a bridge) and launches Open MPI across them. The tests skip
# (exit 77, with the reason) where namespaces cannot be made: not root, no CAP_SYS_ADMIN.
if(NOT SINGA_USE_MPI)
  return()
endif()
set(SINGA_MULTINODE_RUN ${CMAKE_CURRENT_SOURCE_DIR}/multinode/run.sh)

# The collectives and the DistributedOptimizer on 2 hosts x 2 ranks: the hierarchical all-reduce
# against the flat path's bits, and everything the single-node tests check.
foreach(prog collectives distributed_optimizer)
  add_test(NAME multinode_${prog}_2x2
           COMMAND ${SINGA_MULTINODE_RUN} --hosts 2 --slots 2 --timeout 150 --
                   sh -c "\"$SINGA_MN_MPIRUN\" -np 4 --bind-to none $<TARGET_FILE:dist_${prog}_test>")
  set_tests_properties(multinode_${prog}_2x2 PROPERTIES
                       LABELS dist TIMEOUT 180 ENVIRONMENT "${SINGA_DIST_ENV}" SKIP_RETURN_CODE 77
                       PASS_REGULAR_EXPRESSION "0 rank\\(s\\) failed" FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()

# Acceptance: 2 hosts x 2 ranks reach one process's accuracy with the same global batch.
add_test(NAME multinode_cnn_accuracy
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/multinode/cnn_accuracy_test.sh ${SINGA_MULTINODE_RUN}
                 $<TARGET_FILE:singa_train> ${CMAKE_CURRENT_BINARY_DIR}/multinode_cnn_accuracy)
set_tests_properties(multinode_cnn_accuracy PROPERTIES LABELS dist TIMEOUT 300 ENVIRONMENT "${SINGA_DIST_ENV}"
                     SKIP_RETURN_CODE 77)

# Benchmark (not a test): hierarchical vs flat all-reduce across the simulated hosts.
add_executable(bench_hierarchical multinode/bench_hierarchical.cc)
target_link_libraries(bench_hierarchical PRIVATE singa)
target_include_directories(bench_hierarchical PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(bench_hierarchical PRIVATE ${SINGA_WARNINGS})

# Acceptance: a host lost mid-job ends the job promptly, naming it; the job resumes on the other.
add_test(NAME multinode_host_loss
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/multinode/host_loss_test.sh ${SINGA_MULTINODE_RUN}
                 $<TARGET_FILE:singa_train> ${CMAKE_CURRENT_BINARY_DIR}/multinode_host_loss)
set_tests_properties(multinode_host_loss PROPERTIES LABELS dist TIMEOUT 300 ENVIRONMENT "${SINGA_DIST_ENV}"
                     SKIP_RETURN_CODE 77)

# Acceptance: a real two-node Slurm on the simulated hosts (label slurm; needs slurm-wlm, munge).
add_test(NAME multinode_slurm_two_nodes
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/multinode/slurm_two_node_test.sh ${SINGA_MULTINODE_RUN}
                 $<TARGET_FILE:singa_train> ${CMAKE_SOURCE_DIR}/launch/slurm/singa_train_cpu.sbatch
                 ${CMAKE_CURRENT_BINARY_DIR}/multinode_slurm)
set_tests_properties(multinode_slurm_two_nodes PROPERTIES LABELS slurm TIMEOUT 450 SKIP_RETURN_CODE 77
                     PASS_REGULAR_EXPRESSION "two-node slurm test passed")
