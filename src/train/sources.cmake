# The Trainer (src/train): the training loop as a library, its checkpointing, progress,
# built-in models and fine-tuning glue (explicit list).
list(APPEND SINGA_SOURCES
  src/train/progress.cc
  src/train/checkpointing.cc
  src/train/models.cc
  src/train/finetune_model.cc
  src/train/trainer.cc
  src/train/trainer_setup.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/train/trainer_options.h
  src/train/trainer.h
  src/train/checkpointing.h
  src/train/progress.h
  src/train/models.h
  src/train/finetune_model.h
)
