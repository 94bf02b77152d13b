# The train layer: the Trainer, its checkpointing, progress, built-in models and fine-tuning
# glue (explicit list).
singa_add_layer(NAME singa_trainer
  AREAS train=src/train
  SOURCES
    src/train/progress.cc
    src/train/checkpointing.cc
    src/train/models.cc
    src/train/finetune_model.cc
    src/train/trainer.cc
    src/train/trainer_setup.cc
  HEADERS
    src/train/trainer_options.h
    src/train/trainer.h
    src/train/checkpointing.h
    src/train/progress.h
    src/train/models.h
    src/train/finetune_model.h
  PUBLIC singa_comm singa_checkpoint singa_onnxio singa_data
  PRIVATE nlohmann_json::nlohmann_json
)
