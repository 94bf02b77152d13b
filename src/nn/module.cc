// Module bookkeeping: registration, recursive traversal with dotted names, state dicts, modes,
// device moves and freezing. Layers only register tensors and children; everything that walks
// the tree lives here.
#include "singa/nn/module.h"

#include <sstream>

#include "singa/autograd/node.h"
#include "singa/core/error.h"

namespace singa {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

bool matchesPrefix(const std::string& name, const std::string& prefix) {
  if (prefix.empty() || name == prefix) return true;
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name[prefix.size()] == '.';
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  SINGA_THROW(NotSupportedError, typeName() << (path_.empty() ? "" : " '" + path_ + "'")
                                            << " has no forward(); call its children or override forward");
}

void Module::checkNewName(const std::string& name, const char* what) const {
  SINGA_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
              typeName() << ": " << what << " name '" << name << "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& e : list) {
      if (e.first == name) return true;
    }
    return false;
  };
  bool dup = taken(children_);
  for (const Entry& e : params_) dup = dup || e.name == name;
  for (const Entry& e : buffers_) dup = dup || e.name == name;
  SINGA_CHECK(!dup, ValueError,
              typeName() << ": " << what << " name '" << name << "' is already registered in this module");
}

Tensor& Module::registerParameter(const std::string& name, Tensor t) {
  checkNewName(name, "parameter");
  SINGA_CHECK(t.defined(), ValueError, typeName() << ": parameter '" << name << "' is undefined");
  t.setRequiresGrad(true);
  t.setName(join(path_, name));
  params_.push_back({name, std::move(t)});
  return params_.back().tensor;
}

Tensor& Module::registerBuffer(const std::string& name, Tensor t) {
  checkNewName(name, "buffer");
  SINGA_CHECK(t.defined(), ValueError, typeName() << ": buffer '" << name << "' is undefined");
  t.setName(join(path_, name));
  buffers_.push_back({name, std::move(t)});
  return buffers_.back().tensor;
}

void Module::addChild(const std::string& name, std::shared_ptr<Module> m) {
  checkNewName(name, "module");
  SINGA_CHECK(m != nullptr, ValueError, typeName() << ": module '" << name << "' is null");
  SINGA_CHECK(m.get() != this, ValueError, typeName() << ": a module cannot contain itself");
  m->setPath(join(path_, name));
  children_.emplace_back(name, std::move(m));
}

void Module::setPath(const std::string& path) {
  path_ = path;
  for (Entry& e : params_) e.tensor.setName(join(path_, e.name));
  for (Entry& e : buffers_) e.tensor.setName(join(path_, e.name));
  for (auto& [name, child] : children_) child->setPath(join(path_, name));
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const Entry& e : params ? params_ : buffers_) out.emplace_back(join(prefix, e.name), e.tensor);
  for (const auto& [name, child] : children_) child->collect(join(prefix, name), params, out);
}

Module::NamedTensors Module::namedParameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

Module::NamedTensors Module::namedBuffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : namedParameters()) out.push_back(t);
  return out;
}

void Module::collectModules(const std::string& prefix, NamedModules& out) const {
  for (const auto& [name, child] : children_) {
    out.emplace_back(join(prefix, name), child);
    child->collectModules(join(prefix, name), out);
  }
}

Module::NamedModules Module::namedModules() const {
  NamedModules out;
  collectModules("", out);
  return out;
}

int64_t Module::numParameters() const {
  int64_t n = 0;
  for (auto& [name, t] : namedParameters()) n += t.numel();
  return n;
}

std::map<std::string, Tensor> Module::stateDict() const {
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : namedParameters()) out.emplace(name, t);
  for (auto& [name, t] : namedBuffers()) out.emplace(name, t);
  return out;
}

void Module::loadStateDict(const std::map<std::string, Tensor>& state, bool strict) {
  std::map<std::string, Tensor> own = stateDict();
  // Check everything first so a failed load leaves the model untouched. Registration order
  // decides which missing name is reported first.
  NamedTensors ordered = namedParameters();
  for (auto& nb : namedBuffers()) ordered.push_back(nb);
  for (const auto& [name, t] : ordered) {
    auto it = state.find(name);
    if (it == state.end()) {
      SINGA_CHECK(!strict, ValueError,
                  "loadStateDict: missing '" << name << "' (shape " << t.shape()
                                             << "): the model has it but the state dict does not; "
                                                "pass strict=false to load a partial state");
      continue;
    }
    SINGA_CHECK(it->second.defined(), ValueError, "loadStateDict: '" << name << "' is undefined in the state dict");
    SINGA_CHECK(it->second.shape() == t.shape(), ShapeError,
                "loadStateDict: shape mismatch for '" << name << "': the state dict has " << it->second.shape()
                                                      << " but the model has " << t.shape());
  }
  if (strict) {
    for (const auto& [name, t] : state) {
      SINGA_CHECK(own.count(name) != 0, ValueError,
                  "loadStateDict: unexpected '" << name << "' (shape " << (t.defined() ? t.shape() : Shape{})
                                                << "): the model has no parameter or buffer of that name; "
                                                   "pass strict=false to ignore extra entries");
    }
  }
  autograd::NoGradGuard noGrad;
  for (auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    // Loading a tensor onto itself (model.loadStateDict(model.stateDict())) is a no-op.
    if (it->second.implPtr() == t.implPtr()) continue;
    Tensor dst = t;
    dst.copyFrom(it->second);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  auto move = [&](Entry& e) {
    if (e.tensor.device() == device) return;
    Tensor moved = e.tensor.to(device);
    // Swap the storage under the existing impl so every handle (layer members, optimizers)
    // sees the moved tensor.
    TensorImpl& impl = e.tensor.impl();
    impl.storage = moved.impl().storage;
    impl.strides = moved.impl().strides;
    impl.offset = moved.impl().offset;
    e.tensor.zeroGrad();
  };
  for (Entry& e : params_) move(e);
  for (Entry& e : buffers_) move(e);
  for (auto& [name, child] : children_) child->to(device);
}

void Module::zeroGrad() {
  for (auto& [name, t] : namedParameters()) t.zeroGrad();
}

int Module::setRequiresGrad(const std::string& nameOrPrefix, bool requiresGrad) {
  int changed = 0;
  NamedTensors params = namedParameters();
  for (auto& [name, t] : params) {
    if (!matchesPrefix(name, nameOrPrefix)) continue;
    t.setRequiresGrad(requiresGrad);
    if (!requiresGrad) t.zeroGrad();
    ++changed;
  }
  if (changed == 0) {
    std::ostringstream names;
    for (size_t i = 0; i < params.size(); ++i) names << (i ? ", " : "") << params[i].first;
    SINGA_THROW(ValueError, "setRequiresGrad: no parameter is named '" << nameOrPrefix
                                                                       << "' or starts with '" << nameOrPrefix
                                                                       << ".'; parameters: " << names.str());
  }
  return changed;
}

std::string Module::str() const {
  std::ostringstream os;
  strImpl(os, "", 0);
  return os.str();
}

void Module::strImpl(std::ostringstream& os, const std::string& name, int indent) const {
  os << std::string(static_cast<size_t>(indent), ' ');
  if (!name.empty()) os << "(" << name << "): ";
  os << typeName() << "(" << extraRepr();
  if (children_.empty()) {
    os << ")\n";
    return;
  }
  os << "\n";
  for (const auto& [childName, child] : children_) child->strImpl(os, childName, indent + 2);
  os << std::string(static_cast<size_t>(indent), ' ') << ")\n";
}

}  // namespace singa
