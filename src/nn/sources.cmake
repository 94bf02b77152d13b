# The nn layer: Module, Parameter, layers, losses (explicit list).
singa_add_layer(NAME singa_nn
  AREAS nn=src/nn
  SOURCES
    src/nn/module.cc
    src/nn/layers.cc
    src/nn/activations.cc
    src/nn/sequential.cc
    src/nn/loss.cc
    src/nn/name_pattern.cc
  HEADERS
    src/nn/nn.h
    src/nn/module.h
    src/nn/layers.h
    src/nn/activations.h
    src/nn/sequential.h
    src/nn/loss.h
    src/nn/name_pattern.h
  PUBLIC singa_ops
)
