# Trainer tests: the fine-tuning building blocks and the loop (freezing, head lr, early stopping,
# best checkpoint, resume) on small synthetic data; fine-tuning from the command line.
singa_add_gtest(NAME train_test LABELS unit SOURCES
  train/fine_tuning_test.cc
  train/trainer_test.cc
)
