# data sources (explicit list)
list(APPEND SINGA_SOURCES
  src/data/idx.cc
  src/data/dataset.cc
  src/data/loader.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/data/idx.h
  src/data/dataset.h
  src/data/loader.h
)
