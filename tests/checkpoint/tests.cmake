# checkpoint tests: library (unit) and singa_train end to end (resume, kill safety, Python interop)
singa_add_gtest(NAME checkpoint_test LABELS unit SOURCES
  checkpoint/safetensors_test.cc
  checkpoint/checkpoint_test.cc
  checkpoint/hostile_test.cc
)
add_executable(checkpoint_verify checkpoint/checkpoint_verify.cc)
target_link_libraries(checkpoint_verify PRIVATE singa)
target_compile_options(checkpoint_verify PRIVATE ${SINGA_WARNINGS})
add_test(NAME checkpoint_resume
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/resume_test.sh $<TARGET_FILE:singa_train>
                 $<TARGET_FILE:checkpoint_verify> ${CMAKE_BINARY_DIR}/checkpoint_resume)
set_tests_properties(checkpoint_resume PROPERTIES LABELS unit TIMEOUT 600)
if(SINGA_USE_MPI)
  add_test(NAME checkpoint_resume_2ranks
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/resume_dist_test.sh $<TARGET_FILE:singa_train>
                   ${MPIEXEC_EXECUTABLE} ${CMAKE_BINARY_DIR}/checkpoint_resume_2ranks)
  set_tests_properties(checkpoint_resume_2ranks PROPERTIES LABELS dist TIMEOUT 600)
endif()
# damaged and hostile checkpoints under --resume: skipped, named, kept on disk (inputs: tests/hostile)
add_test(NAME checkpoint_hostile_resume
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/hostile_resume_test.sh $<TARGET_FILE:singa_train>
                 ${CMAKE_BINARY_DIR}/checkpoint_hostile_resume)
set_tests_properties(checkpoint_hostile_resume PROPERTIES LABELS unit TIMEOUT 600)
