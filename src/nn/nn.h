// All of src/nn in one include: Module, layers, activations, Sequential, losses.
#pragma once

#include "nn/activations.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/name_pattern.h"
#include "nn/sequential.h"
