// interop_export_fixtures OUT_DIR: builds a few models with the engine, exports each to ONNX at
// opsets 11, 13 and 17, and writes what check_export.py compares onnxruntime against:
//   OUT_DIR/<model>/model_op<N>.onnx, input_<i>.pb, output_<i>.pb (the engine's outputs).
// Models: the tutorial CNN (nn layers); a BatchNorm / AvgPool / Dropout / Sigmoid / Tanh /
// Concat / Reshape / Transpose net with trained running statistics; elementwise math, logic and
// reductions; and shape ops (Slice, Pad, Split, Squeeze, Expand, Tile, Softmax on an inner axis).
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <functional>
#include <iostream>

#include "singa/nn/nn.h"
#include "singa/onnx/export.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/singa.h"

namespace {

using namespace singa;
using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

Tensor uniformTensor(const Shape& shape, double lo, double hi, Generator& g) {
  Tensor t(shape);
  uniform_(t, lo, hi, g);
  return t;
}

// A fresh folder (stale files from an earlier run would be checked too).
void freshDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  std::filesystem::create_directories(path, ec);
  SINGA_CHECK(!ec, IoError, "cannot create folder '" << path << "': " << ec.message());
}

void writeCase(const std::string& dir, const std::string& name, const std::vector<Tensor>& inputs,
               const std::vector<Tensor>& outputs, const std::function<onnx::ModelProto(int)>& exportAt) {
  std::string d = dir + "/" + name;
  freshDir(d);
  for (size_t i = 0; i < inputs.size(); ++i)
    onnxio::writeTensorFile(inputs[i], d + "/input_" + std::to_string(i) + ".pb", "input_" + std::to_string(i));
  for (size_t i = 0; i < outputs.size(); ++i)
    onnxio::writeTensorFile(outputs[i], d + "/output_" + std::to_string(i) + ".pb", "output_" + std::to_string(i));
  for (int opset : {11, 13, 17}) {
    onnxio::saveModel(exportAt(opset), d + "/model_op" + std::to_string(opset) + ".onnx");
  }
  std::cout << name << ": " << inputs.size() << " input(s), " << outputs.size() << " output(s), opsets 11 13 17\n";
}

onnxio::ExportOptions at(int opset) {
  onnxio::ExportOptions o;
  o.opset = opset;
  return o;
}

void writeModule(const std::string& dir, const std::string& name, Module& m, const Tensor& x) {
  m.eval();
  Tensor y;
  {
    autograd::NoGradGuard noGrad;
    y = m.forward(x);
  }
  writeCase(dir, name, {x}, {y}, [&](int opset) { return onnxio::exportModule(m, {x}, at(opset)); });
}

void writeFunction(const std::string& dir, const std::string& name, const Fn& fn,
                   const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outs;
  {
    autograd::NoGradGuard noGrad;
    outs = fn(inputs);
  }
  writeCase(dir, name, inputs, outs, [&](int opset) { return onnxio::exportFunction(fn, inputs, {}, at(opset)); });
}

// The ONNX tutorial's MNIST CNN.
std::shared_ptr<Sequential> tutorialCnn(Generator& g) {
  return std::make_shared<Sequential>(
      std::make_shared<Conv2d>(1, 20, 5, 1, 0, 1, 1, true, g), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(20, 50, 5, 1, 0, 1, 1, true, g), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Flatten>(), std::make_shared<Linear>(800, 500, false, g), std::make_shared<ReLU>(),
      std::make_shared<Linear>(500, 10, false, g));
}

// Conv -> BatchNorm -> ReLU -> AvgPool -> Dropout, then a Sigmoid and a Tanh branch concatenated
// on channels, reshaped and transposed, then a Linear head.
class BranchNet : public Module {
 public:
  explicit BranchNet(Generator& g) {
    conv_ = registerModule("conv", std::make_shared<Conv2d>(3, 8, 3, 1, 1, 1, 1, true, g));
    bn_ = registerModule("bn", std::make_shared<BatchNorm2d>(8));
    pool_ = registerModule("pool", std::make_shared<AvgPool2d>(2));
    drop_ = registerModule("drop", std::make_shared<Dropout>(0.3));
    head_ = registerModule("head", std::make_shared<Linear>(16, 5, true, g));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = drop_->forward(pool_->forward(ops::relu(bn_->forward(conv_->forward(x)))));  // [N, 8, 4, 4]
    Tensor cat = ops::concat({ops::sigmoid(h), ops::tanh(h)}, 1);                          // [N, 16, 4, 4]
    Tensor r = ops::reshape(cat, {x.dim(0), 16, 16});                                        // [N, 16, 16]
    Tensor t = ops::transpose(r, {0, 2, 1});                                                 // [N, 16(hw), 16(c)]
    Tensor pooled = ops::reduceMean(t, {1});                                                 // [N, 16]
    return head_->forward(pooled);
  }
  std::string typeName() const override { return "BranchNet"; }

 private:
  std::shared_ptr<Conv2d> conv_;
  std::shared_ptr<BatchNorm2d> bn_;
  std::shared_ptr<AvgPool2d> pool_;
  std::shared_ptr<Dropout> drop_;
  std::shared_ptr<Linear> head_;
};

std::vector<Tensor> elementwise(const std::vector<Tensor>& in) {
  const Tensor& x = in[0];  // in (-0.9, 0.9)
  const Tensor& y = in[1];
  Tensor trig = ops::sin(x) + ops::cos(y) * ops::tan(x) - ops::atan(y) + ops::asin(x) * ops::acos(y);
  Tensor hyp = ops::sinh(x) - ops::cosh(y) + ops::tanh(x) + ops::asinh(y) + ops::atanh(x) +
               ops::acosh(ops::mul(x, x) + 1.5);
  Tensor misc = ops::exp(ops::neg(ops::mul(x, x))) + ops::log(ops::abs(y) + 0.5) + ops::sqrt(ops::abs(x)) +
                ops::erf(y) + ops::softplus(x) + ops::leakyRelu(y, 0.1) + ops::elu(x) +
                ops::pow(ops::abs(y) + 1.0, 1.5) + ops::clip(x, -0.5, 0.25) + ops::floor(y * 4.0) +
                ops::ceil(x * 3.0) + ops::sign(y) + ops::reciprocal(ops::abs(x) + 1.0) + ops::hardSigmoid(y);
  Tensor gt = ops::greater(x, y);
  Tensor logic = ops::logicalOr(ops::logicalAnd(gt, ops::lessOrEqual(x, ops::mul(y, 0.5))),
                                ops::logicalNot(ops::equal(ops::sign(x), ops::sign(y))));
  Tensor picked = ops::where(logic, ops::maximum(x, y), ops::minimum(x, y));
  Tensor red = ops::reduceSum(trig, {1}, true) + ops::reduceMax(hyp, {0}) - ops::reduceMean(misc, {1}, true);
  return {trig, hyp, misc, logic, picked, red, ops::softmax(misc, 0), ops::logSoftmax(hyp, 1)};
}

std::vector<Tensor> shapeOps(const std::vector<Tensor>& in) {
  const Tensor& x = in[0];  // [3, 4, 6]
  Tensor s = ops::slice(x, {1, 0}, {6, 3}, {2, 1}, {2, 1});       // [3, 3, 3]
  Tensor p = ops::pad(s, {0, 1, 0, 0, 1, 2}, "constant", 0.5);    // [3, 5, 5]
  std::vector<Tensor> parts = ops::split(p, 1, {2, 3});           // [3, 2, 5], [3, 3, 5]
  Tensor u = ops::unsqueeze(ops::reduceSum(parts[0], {1}), {1});  // [3, 1, 5]
  Tensor e = ops::expand(u, {3, 3, 5});                           // [3, 3, 5]
  Tensor t = ops::tile(e + parts[1], {1, 2, 1});                  // [3, 6, 5]
  Tensor sq = ops::squeeze(ops::slice(t, {0}, {1}, {1}), {1});    // [3, 5]
  Tensor f = ops::flatten(t, 1);                                  // [3, 30]
  Tensor mm = ops::matmul(f, ops::transpose(f));                  // [3, 3]
  return {ops::softmax(t, 1), sq, ops::relu(mm) * 0.01, ops::concat({sq, sq}, 0)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: interop_export_fixtures OUT_DIR\n";
    return 2;
  }
  try {
    std::string dir = argv[1];
    freshDir(dir);
    Generator g(1234);

    auto cnn = tutorialCnn(g);
    writeModule(dir, "cnn", *cnn, uniformTensor({8, 1, 28, 28}, 0, 1, g));

    BranchNet branch(g);
    branch.train(true);  // a few batches give BatchNorm non-trivial running statistics
    for (int i = 0; i < 3; ++i) {
      autograd::NoGradGuard noGrad;
      branch.forward(uniformTensor({6, 3, 8, 8}, -1, 2, g));
    }
    writeModule(dir, "branchnet", branch, uniformTensor({6, 3, 8, 8}, -1, 2, g));

    writeFunction(dir, "elementwise", elementwise,
                  {uniformTensor({4, 5}, -0.9, 0.9, g), uniformTensor({4, 5}, -0.9, 0.9, g)});
    writeFunction(dir, "shape_ops", shapeOps, {uniformTensor({3, 4, 6}, -1, 1, g)});
  } catch (const std::exception& e) {
    std::cerr << "interop_export_fixtures: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
