// Operator attributes: a small name -> value map in ONNX's vocabulary (ints, floats, strings,
// their lists, tensors). Op functions build it for the tracer, which records it, and the ONNX
// exporter writes it out, so an op's attributes are spelled once. Kernels do not read it: they
// take typed parameters (src/ops/kernel_params.h), parsed once by the op.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "singa/core/error.h"
#include "singa/core/tensor.h"

namespace singa {

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>,
                               std::vector<double>, Tensor, std::vector<std::string>>;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

  Attrs& set(const std::string& name, AttrValue v) {
    values_[name] = std::move(v);
    return *this;
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }

  int64_t getInt(const std::string& name) const { return get<int64_t>(name); }
  int64_t getInt(const std::string& name, int64_t dflt) const { return getOr<int64_t>(name, dflt); }
  double getFloat(const std::string& name) const;
  double getFloat(const std::string& name, double dflt) const;
  const std::string& getString(const std::string& name) const { return get<std::string>(name); }
  std::string getString(const std::string& name, const std::string& dflt) const {
    return getOr<std::string>(name, dflt);
  }
  const std::vector<int64_t>& getInts(const std::string& name) const {
    return get<std::vector<int64_t>>(name);
  }
  std::vector<int64_t> getInts(const std::string& name, const std::vector<int64_t>& dflt) const {
    return getOr<std::vector<int64_t>>(name, dflt);
  }
  std::vector<double> getFloats(const std::string& name) const { return get<std::vector<double>>(name); }
  const Tensor& getTensor(const std::string& name) const { return get<Tensor>(name); }

  const std::map<std::string, AttrValue>& all() const { return values_; }

 private:
  template <class T>
  const T& get(const std::string& name) const {
    auto it = values_.find(name);
    SINGA_CHECK(it != values_.end(), ValueError, "missing attribute '" << name << "'");
    const T* v = std::get_if<T>(&it->second);
    SINGA_CHECK(v != nullptr, ValueError, "attribute '" << name << "' has the wrong type");
    return *v;
  }
  template <class T>
  T getOr(const std::string& name, const T& dflt) const {
    return has(name) ? get<T>(name) : dflt;
  }

  std::map<std::string, AttrValue> values_;
};

inline double Attrs::getFloat(const std::string& name) const {
  auto it = values_.find(name);
  SINGA_CHECK(it != values_.end(), ValueError, "missing attribute '" << name << "'");
  if (auto* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  return get<double>(name);
}

inline double Attrs::getFloat(const std::string& name, double dflt) const {
  return has(name) ? getFloat(name) : dflt;
}

}  // namespace singa
