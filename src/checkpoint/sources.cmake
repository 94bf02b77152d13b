# checkpoint sources (explicit list)
list(APPEND SINGA_SOURCES
  src/checkpoint/durable_io.cc
  src/checkpoint/json_guard.cc
  src/checkpoint/safetensors.cc
  src/checkpoint/checkpoint.cc
  src/checkpoint/checkpoint_manager.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/checkpoint/durable_io.h
  src/checkpoint/json_guard.h
  src/checkpoint/safetensors.h
  src/checkpoint/checkpoint.h
)
