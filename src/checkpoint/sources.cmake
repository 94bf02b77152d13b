# The checkpoint layer: safetensors + JSON checkpoints (written through core/durable_io.h; explicit list).
singa_add_layer(NAME singa_checkpoint
  AREAS checkpoint=src/checkpoint
  SOURCES
    src/checkpoint/json_guard.cc
    src/checkpoint/safetensors.cc
    src/checkpoint/checkpoint.cc
    src/checkpoint/checkpoint_manager.cc
  HEADERS
    src/checkpoint/json_guard.h
    src/checkpoint/safetensors.h
    src/checkpoint/checkpoint.h
  PUBLIC singa_optim
  PRIVATE nlohmann_json::nlohmann_json
)
