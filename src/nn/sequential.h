// Sequential: children applied in order. Children are named "0", "1", ... unless a name is
// given, so parameter names match PyTorch's nn.Sequential ("0.weight", "3.bias").
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "singa/nn/module.h"

namespace singa {

class Sequential : public Module {
 public:
  Sequential() = default;
  /// Sequential(conv, relu, pool): children named "0", "1", "2".
  template <class M, class... Ms>
  explicit Sequential(std::shared_ptr<M> first, std::shared_ptr<Ms>... rest) {
    add(std::move(first));
    (add(std::move(rest)), ...);
  }
  /// Sequential({{"conv1", conv}, {"relu1", relu}}).
  explicit Sequential(const NamedModules& named) {
    for (const auto& [name, m] : named) add(name, m);
  }

  /// Appends `m` named `name`; returns it typed.
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return registerModule(name, std::move(m));
  }
  /// Appends `m` named by its position ("0", "1", ...).
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return registerModule(std::to_string(children().size()), std::move(m));
  }

  size_t size() const { return children().size(); }
  /// The i-th child; throws ValueError when out of range.
  std::shared_ptr<Module> operator[](size_t i) const;

  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Sequential"; }
};

}  // namespace singa
