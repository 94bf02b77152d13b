// Module: the unit models are built from. A module owns named parameters (trainable tensors),
// buffers (state that is saved but not trained, e.g. BatchNorm running statistics) and child
// modules, all in registration order. Names compose into dotted paths ("features.0.weight"), so a
// whole model's state is one name -> tensor map: the same map feeds the optimizer, checkpoints,
// ONNX export and the rank-0 broadcast. Tensors are handles: registering a tensor keeps the
// member a layer holds and the registry entry pointing at the same storage, and to(Device) /
// loadStateDict() change that storage in place so both stay valid.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

class Module {
 public:
  using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
  using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The computation. The base class throws NotSupportedError (containers override it).
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  /// Short type name for printing ("Conv2d"); defaults to "Module".
  virtual std::string typeName() const { return "Module"; }
  /// Layer arguments for printing ("1, 32, kernel=3").
  virtual std::string extraRepr() const { return ""; }
  /// A multi-line description of the module tree.
  std::string str() const;

  // ---- registration ---------------------------------------------------------------------------
  /// Registers a trainable tensor under `name` (no dots): sets requiresGrad and names the tensor
  /// with its full dotted path. Throws ValueError for an empty/dotted or duplicate name.
  Tensor& registerParameter(const std::string& name, Tensor t);
  /// Registers saved, untrained state (requiresGrad stays false).
  Tensor& registerBuffer(const std::string& name, Tensor t);
  /// Registers a child; returns it typed, so layers can keep `conv1_ = registerModule("conv1", ...)`.
  template <class M>
  std::shared_ptr<M> registerModule(const std::string& name, std::shared_ptr<M> m) {
    addChild(name, m);
    return m;
  }

  // ---- introspection (recursive, registration order, dotted names) ----------------------------
  NamedTensors namedParameters() const;
  NamedTensors namedBuffers() const;
  std::vector<Tensor> parameters() const;
  /// Direct children.
  const NamedModules& children() const { return children_; }
  /// Every descendant with its dotted path (this module excluded).
  NamedModules namedModules() const;
  /// Total elements over all parameters.
  int64_t numParameters() const;
  /// This module's dotted path in the tree it was registered in ("" for a root).
  const std::string& path() const { return path_; }

  // ---- state ----------------------------------------------------------------------------------
  /// Parameters then buffers, name -> tensor (the live tensors, not copies).
  std::map<std::string, Tensor> stateDict() const;
  /// Copies values into the existing tensors (dtype converted, device moved). With `strict`,
  /// missing and unexpected names are errors (ValueError naming the first one); a shape mismatch
  /// is always an error (ShapeError naming the tensor and both shapes). Nothing is copied when
  /// any check fails.
  void loadStateDict(const std::map<std::string, Tensor>& state, bool strict = true);

  /// Training mode (BatchNorm batch statistics, Dropout active), recursively.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool isTraining() const { return training_; }

  /// Moves every parameter and buffer to `device` in place (handles stay valid; grads dropped).
  void to(Device device);
  /// Drops every parameter's gradient.
  void zeroGrad();
  /// Freezes (false) or unfreezes (true) the parameters named `nameOrPrefix` or under it
  /// ("features" matches "features.0.weight"; "" matches all). Returns how many changed;
  /// throws ValueError listing the parameter names when nothing matches.
  int setRequiresGrad(const std::string& nameOrPrefix, bool requiresGrad);

 protected:
  bool training_ = true;

 private:
  struct Entry {
    std::string name;
    Tensor tensor;
  };
  void addChild(const std::string& name, std::shared_ptr<Module> m);
  void checkNewName(const std::string& name, const char* what) const;
  void setPath(const std::string& path);
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  void collectModules(const std::string& prefix, NamedModules& out) const;
  void strImpl(std::ostringstream& os, const std::string& name, int indent) const;

  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  NamedModules children_;
  std::string path_;
};

}  // namespace singa
