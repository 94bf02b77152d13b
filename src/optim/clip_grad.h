// Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_): when the L2 norm of all
// gradients together exceeds maxNorm, every gradient is scaled by maxNorm / (norm + 1e-6), so
// the update keeps its direction and its size is bounded. Fine-tuning a pretrained model with a
// fresh head gives large early gradients; clipping keeps them from wrecking the imported weights.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

/// The L2 norm over every defined gradient of `params` (those that require one), as one vector.
double gradNorm(const std::vector<std::pair<std::string, Tensor>>& params);

/// Scales the gradients in place when their global norm exceeds `maxNorm` (> 0; ValueError
/// otherwise). Returns the norm before clipping, as PyTorch does.
double clipGradNorm(const std::vector<std::pair<std::string, Tensor>>& params, double maxNorm);

}  // namespace singa
