# nn sources (explicit list)
list(APPEND SINGA_SOURCES
  src/nn/module.cc
  src/nn/layers.cc
  src/nn/activations.cc
  src/nn/sequential.cc
  src/nn/loss.cc
  src/nn/name_pattern.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/nn/nn.h
  src/nn/module.h
  src/nn/layers.h
  src/nn/activations.h
  src/nn/sequential.h
  src/nn/loss.h
  src/nn/name_pattern.h
)
