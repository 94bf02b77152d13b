# The checkpoint layer: meta.json + safetensors checkpoints (the format is core/safetensors.h; written through core/durable_io.h; explicit list).
singa_add_layer(NAME singa_checkpoint
  AREAS checkpoint=src/checkpoint
  SOURCES
    src/checkpoint/checkpoint.cc
    src/checkpoint/checkpoint_manager.cc
  HEADERS
    src/checkpoint/checkpoint.h
  PUBLIC singa_optim
  PRIVATE nlohmann_json::nlohmann_json
)
