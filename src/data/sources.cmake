# The data layer: data sets and loaders (explicit list).
singa_add_layer(NAME singa_data
  AREAS data=src/data
  SOURCES
    src/data/idx.cc
    src/data/dataset.cc
    src/data/loader.cc
  HEADERS
    src/data/idx.h
    src/data/dataset.h
    src/data/loader.h
  PUBLIC singa_core
  PRIVATE ZLIB::ZLIB
)
