// Trains y = 2x + 1 with the installed library: exercises headers, autograd and ops from outside.
#include <singa/singa.h>

#include <cmath>
#include <cstdio>

int main() {
  singa::manualSeed(0);
  singa::Tensor x = singa::Tensor::fromVector<float>({0, 1, 2, 3}, {4, 1});
  singa::Tensor y = singa::Tensor::fromVector<float>({1, 3, 5, 7}, {4, 1});
  singa::Tensor w = singa::Tensor::zeros({1, 1}).setRequiresGrad();
  singa::Tensor b = singa::Tensor::zeros({1}).setRequiresGrad();
  for (int step = 0; step < 500; ++step) {
    singa::Tensor loss = singa::ops::mseLoss(singa::ops::add(singa::ops::matmul(x, w), b), y);
    loss.backward();
    singa::autograd::NoGradGuard ng;
    w.copyFrom(singa::ops::sub(w, singa::ops::mul(w.grad(), 0.1)));
    b.copyFrom(singa::ops::sub(b, singa::ops::mul(b.grad(), 0.1)));
    w.zeroGrad();
    b.zeroGrad();
  }
  std::printf("w=%.4f b=%.4f\n", w.item(), b.item());
  return std::fabs(w.item() - 2) < 1e-2 && std::fabs(b.item() - 1) < 1e-2 ? 0 : 1;
}
