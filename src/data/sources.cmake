# The data layer: data sets and loaders (explicit list).
singa_add_layer(NAME singa_data
  AREAS data=src/data
  SOURCES
    src/data/idx.cc
    src/data/dataset.cc
    src/data/loader.cc
    src/data/cifar.cc
    src/data/npy.cc
    src/data/array_split.cc
    src/data/safetensors.cc
    src/data/resample.cc
    src/data/transforms.cc
    src/data/source.cc
    src/data/image_folder.cc
  HEADERS
    src/data/idx.h
    src/data/dataset.h
    src/data/loader.h
    src/data/cifar.h
    src/data/npy.h
    src/data/array_split.h
    src/data/safetensors.h
    src/data/resample.h
    src/data/transforms.h
    src/data/source.h
    src/data/image_folder.h
  PUBLIC singa_core singa_image
  PRIVATE ZLIB::ZLIB
)
