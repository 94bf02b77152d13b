# The optim layer: optimizers, LR schedules, gradient clipping (explicit list).
singa_add_layer(NAME singa_optim
  AREAS optim=src/optim
  SOURCES
    src/optim/optimizer.cc
    src/optim/sgd.cc
    src/optim/adam.cc
    src/optim/lr_schedule.cc
    src/optim/clip_grad.cc
  HEADERS
    src/optim/optimizer.h
    src/optim/sgd.h
    src/optim/adam.h
    src/optim/lr_schedule.h
    src/optim/clip_grad.h
  PUBLIC singa_nn
)
