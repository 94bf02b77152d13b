// All of src/nn in one include: Module, layers, activations, Sequential, losses.
#pragma once

#include "singa/nn/activations.h"
#include "singa/nn/layers.h"
#include "singa/nn/loss.h"
#include "singa/nn/module.h"
#include "singa/nn/name_pattern.h"
#include "singa/nn/sequential.h"
