# optim sources (explicit list)
list(APPEND SINGA_SOURCES
  src/optim/optimizer.cc
  src/optim/sgd.cc
  src/optim/adam.cc
  src/optim/lr_schedule.cc
  src/optim/clip_grad.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/optim/optimizer.h
  src/optim/sgd.h
  src/optim/adam.h
  src/optim/lr_schedule.h
  src/optim/clip_grad.h
)
