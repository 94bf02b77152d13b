# The image layer: JPEG and PNG decoding (libturbojpeg, libspng), shared by the data layer's
# image folders and the ONNX layer's ImageDecoder without either seeing the other (explicit list).
singa_add_layer(NAME singa_image
  AREAS image=src/image
  SOURCES
    src/image/image_decode.cc
  HEADERS
    src/image/image.h
  PUBLIC singa_core
  PRIVATE PkgConfig::TURBOJPEG PkgConfig::SPNG
)
