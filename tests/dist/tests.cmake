# Data-parallel tests (label dist): the same test programs run as one process (local backend)
# and under mpirun -np 2 and -np 3 --oversubscribe (mpi backend); failure tests of singa_train.
if(NOT SINGA_USE_MPI)
  return()
endif()
set(SINGA_MPIRUN ${MPIEXEC_EXECUTABLE})
if(NOT SINGA_MPIRUN)
  find_program(SINGA_MPIRUN mpirun REQUIRED)
endif()
# As root (CI, containers) Open MPI needs these; binding is left to the OS on shared machines.
set(SINGA_DIST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
    OMPI_MCA_rmaps_base_oversubscribe=1)
set(SINGA_MPIRUN_ARGS --bind-to none)

foreach(prog collectives distributed_optimizer data_shard)
  add_executable(dist_${prog}_test dist/${prog}_test.cc dist/dist_main.cc)
  target_link_libraries(dist_${prog}_test PRIVATE singa GTest::gtest)
  target_include_directories(dist_${prog}_test PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_options(dist_${prog}_test PRIVATE ${SINGA_WARNINGS})
  add_test(NAME dist_${prog}_np1 COMMAND dist_${prog}_test)
  add_test(NAME dist_${prog}_np2 COMMAND ${SINGA_MPIRUN} ${SINGA_MPIRUN_ARGS} -np 2 $<TARGET_FILE:dist_${prog}_test>)
  add_test(NAME dist_${prog}_np3
           COMMAND ${SINGA_MPIRUN} ${SINGA_MPIRUN_ARGS} -np 3 --oversubscribe $<TARGET_FILE:dist_${prog}_test>)
  set_tests_properties(dist_${prog}_np1 dist_${prog}_np2 dist_${prog}_np3 PROPERTIES
                       LABELS dist TIMEOUT 120 ENVIRONMENT "${SINGA_DIST_ENV}"
                       PASS_REGULAR_EXPRESSION "0 rank\\(s\\) failed"
                       FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()

# The same collectives through MPI point-to-point instead of the node's shared memory (the path
# ranks on several nodes take).
add_test(NAME dist_collectives_np2_no_shm
         COMMAND ${SINGA_MPIRUN} ${SINGA_MPIRUN_ARGS} -np 2 $<TARGET_FILE:dist_collectives_test>)
set_tests_properties(dist_collectives_np2_no_shm PROPERTIES
                     LABELS dist TIMEOUT 120 ENVIRONMENT "${SINGA_DIST_ENV};SINGA_MPI_SHM=0"
                     PASS_REGULAR_EXPRESSION "0 rank\\(s\\) failed" FAIL_REGULAR_EXPRESSION "FAILED")

# A collective one rank never joins: the job ends quickly, naming the rank that did not arrive.
add_executable(dist_timeout_probe dist/timeout_probe.cc)
target_link_libraries(dist_timeout_probe PRIVATE singa)
target_include_directories(dist_timeout_probe PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(dist_timeout_probe PRIVATE ${SINGA_WARNINGS})

add_test(NAME dist_failures
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/dist/failure_test.sh ${SINGA_MPIRUN} $<TARGET_FILE:singa_train>
                 $<TARGET_FILE:dist_timeout_probe> ${CMAKE_CURRENT_BINARY_DIR}/dist_failures)
set_tests_properties(dist_failures PROPERTIES LABELS dist TIMEOUT 300 ENVIRONMENT "${SINGA_DIST_ENV}")

# Benchmark (not a test): gradient-exchange bandwidth against bare MPI_Allreduce.
add_executable(bench_allreduce dist/bench_allreduce.cc)
target_link_libraries(bench_allreduce PRIVATE singa)
target_include_directories(bench_allreduce PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(bench_allreduce PRIVATE ${SINGA_WARNINGS})
