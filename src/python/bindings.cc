// The `singa._singa` extension: a thin pybind11 layer over the C++ library. Work stays in C++;
// the GIL is released around kernels, backward, model runs and collectives. Tensors cross to and
// from NumPy without copies where the layout allows (a C-contiguous array of a supported dtype
// becomes a CPU tensor over the array's memory, keeping the array alive; a contiguous CPU tensor
// becomes an array over the tensor's memory, keeping the tensor alive). C++ errors become Python
// exceptions of the matching kind, carrying the C++ message.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <dlpack/dlpack.h>
#include <onnx/onnx_pb.h>

#include <csignal>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bindings.h"

namespace py = pybind11;
using namespace singa;  // NOLINT(google-build-using-namespace): the binding names every type

namespace singa::python {

// ---- dtypes and NumPy -------------------------------------------------------------------------

DType dtypeOfNumpy(const py::dtype& d) {
  // Through Python attributes, not pybind11's reads of NumPy's descriptor struct, whose layout
  // changed in NumPy 2 (pybind11 2.10, Debian 12's, reads the NumPy 1 layout).
  const char kind = d.attr("kind").cast<std::string>().at(0);
  const size_t size = d.attr("itemsize").cast<size_t>();
  if (kind == 'f' && size == 4) return DType::kFloat32;
  if (kind == 'f' && size == 8) return DType::kFloat64;
  if (kind == 'f' && size == 2) return DType::kFloat16;
  if (kind == 'i' && size == 1) return DType::kInt8;
  if (kind == 'i' && size == 2) return DType::kInt16;
  if (kind == 'i' && size == 4) return DType::kInt32;
  if (kind == 'i' && size == 8) return DType::kInt64;
  if (kind == 'u' && size == 1) return DType::kUInt8;
  if (kind == 'u' && size == 2) return DType::kUInt16;
  if (kind == 'u' && size == 4) return DType::kUInt32;
  if (kind == 'u' && size == 8) return DType::kUInt64;
  if (kind == 'b' && size == 1) return DType::kBool;
  throw py::type_error("singa: NumPy dtype " + py::cast<std::string>(py::repr(d)) +
                       " has no singa dtype (float16/32/64, int8/16/32/64, uint8/16/32/64, bool)");
}

py::dtype numpyDtypeOf(DType t) {
  switch (t) {
    case DType::kFloat32: return py::dtype("float32");
    case DType::kFloat64: return py::dtype("float64");
    case DType::kFloat16: return py::dtype("float16");
    case DType::kInt8: return py::dtype("int8");
    case DType::kInt16: return py::dtype("int16");
    case DType::kInt32: return py::dtype("int32");
    case DType::kInt64: return py::dtype("int64");
    case DType::kUInt8: return py::dtype("uint8");
    case DType::kUInt16: return py::dtype("uint16");
    case DType::kUInt32: return py::dtype("uint32");
    case DType::kUInt64: return py::dtype("uint64");
    case DType::kBool: return py::dtype("bool");
    default: break;
  }
  throw py::type_error(std::string("singa: a ") + dtypeName(t) +
                       " tensor has no NumPy dtype; convert it first (astype float32)");
}

// A CPU tensor over a NumPy array's memory when it is C-contiguous and aligned (no copy; the
// array stays alive while the tensor does), else over a contiguous copy.
Tensor fromNumpy(const py::array& input, Device device) {
  py::array arr = input;
  const DType dt = dtypeOfNumpy(arr.dtype());
  if (!(arr.flags() & py::array::c_style) || !(arr.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    arr = py::array::ensure(input, py::array::c_style | py::array::forcecast);
  }
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  const size_t bytes = arr.attr("nbytes").cast<size_t>();  // (not arr.nbytes(): see dtypeOfNumpy)
  Tensor t;
  if (bytes == 0) {
    t = Tensor(shape, dt);
  } else {
    auto* owner = new py::object(arr);  // released with the GIL held
    auto storage = std::make_shared<Storage>(const_cast<void*>(arr.data()), bytes, Device::cpu(), [owner](void*) {
      if (!Py_IsInitialized()) return;  // the interpreter is gone (process exit): nothing to release
      py::gil_scoped_acquire gil;
      delete owner;
    });
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::move(storage);
    impl->shape = shape;
    impl->strides = contiguousStrides(shape);
    impl->dtype = dt;
    t = Tensor(impl);
  }
  if (!arr.writeable()) t = t.clone();  // a read-only buffer must not be written through
  return device.isCpu() ? t : t.to(device);
}

// An array over a contiguous CPU tensor's memory (the tensor stays alive while the array does);
// other tensors are copied to the CPU / made contiguous first.
py::array toNumpy(const Tensor& input) {
  SINGA_CHECK(input.defined(), ValueError, "to_numpy: the tensor is undefined");
  Tensor t = input;
  {
    py::gil_scoped_release nogil;
    if (!t.device().isCpu()) t = t.to(Device::cpu());
    if (!t.isContiguous()) t = t.contiguous();
  }
  const py::dtype dt = numpyDtypeOf(t.dtype());
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
  py::ssize_t stride = static_cast<py::ssize_t>(dtypeSize(t.dtype()));
  strides.resize(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<py::ssize_t>(shape[i], 1);
  }
  t.impl().storage->untrack();  // NumPy may write through the array: caches of the contents go stale
  auto* keep = new Tensor(t);
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.rawData(), owner);
}

// ---- DLPack (the __dlpack__ protocol: NumPy >= 1.22, PyTorch, CuPy, JAX) -------------------------

namespace {

bool dlpackDtype(DType t, DLDataType& out) {
  out.lanes = 1;
  switch (t) {
    case DType::kFloat32: out.code = kDLFloat, out.bits = 32; return true;
    case DType::kFloat64: out.code = kDLFloat, out.bits = 64; return true;
    case DType::kFloat16: out.code = kDLFloat, out.bits = 16; return true;
    case DType::kBFloat16: out.code = kDLBfloat, out.bits = 16; return true;
    case DType::kInt8: out.code = kDLInt, out.bits = 8; return true;
    case DType::kInt16: out.code = kDLInt, out.bits = 16; return true;
    case DType::kInt32: out.code = kDLInt, out.bits = 32; return true;
    case DType::kInt64: out.code = kDLInt, out.bits = 64; return true;
    case DType::kUInt8: out.code = kDLUInt, out.bits = 8; return true;
    case DType::kUInt16: out.code = kDLUInt, out.bits = 16; return true;
    case DType::kUInt32: out.code = kDLUInt, out.bits = 32; return true;
    case DType::kUInt64: out.code = kDLUInt, out.bits = 64; return true;
    default: break;  // bool: DLPack 0.6 has no boolean code; the narrow storage types have none
  }
  return false;
}

DType dtypeOfDlpack(const DLDataType& d) {
  SINGA_CHECK(d.lanes == 1, TypeError, "from_dlpack: vector dtypes (" << int(d.lanes) << " lanes) are not supported");
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kInt16,
                  DType::kInt32, DType::kInt64, DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64}) {
    DLDataType c{};
    dlpackDtype(t, c);
    if (c.code == d.code && c.bits == d.bits) return t;
  }
  SINGA_THROW(TypeError, "from_dlpack: DLPack dtype code " << int(d.code) << " with " << int(d.bits)
                                                            << " bits has no singa dtype");
}

struct DlpackOwner {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
};

void deleteManaged(DLManagedTensor* m) {
  delete static_cast<DlpackOwner*>(m->manager_ctx);
  delete m;
}

}  // namespace

py::capsule toDlpack(const Tensor& t) {
  SINGA_CHECK(t.defined(), ValueError, "__dlpack__: the tensor is undefined");
  DLDataType dt{};
  SINGA_CHECK(dlpackDtype(t.dtype(), dt), TypeError,
              "__dlpack__: a " << dtypeName(t.dtype()) << " tensor has no DLPack 0.6 dtype; convert it first (as_type)");
  if (t.device().isCuda()) {
    py::gil_scoped_release nogil;
    deviceBackend(t.device().type).synchronize(t.device().index);  // the consumer may use any stream
  }
  auto owner = std::make_unique<DlpackOwner>();
  owner->tensor = t;
  owner->shape.assign(t.shape().begin(), t.shape().end());
  owner->strides = t.strides();
  auto m = std::make_unique<DLManagedTensor>();
  t.impl().storage->untrack();  // the consumer may write: caches of the contents go stale
  m->dl_tensor.data = t.rawData();
  m->dl_tensor.device = DLDevice{t.device().isCuda() ? kDLCUDA : kDLCPU, t.device().isCuda() ? t.device().index : 0};
  m->dl_tensor.ndim = static_cast<int32_t>(owner->shape.size());
  m->dl_tensor.dtype = dt;
  m->dl_tensor.shape = owner->shape.data();
  m->dl_tensor.strides = owner->strides.data();
  m->dl_tensor.byte_offset = 0;
  m->manager_ctx = owner.release();
  m->deleter = deleteManaged;
  // A capsule nobody consumed (still named "dltensor") frees the tensor itself.
  return py::capsule(m.release(), "dltensor", [](PyObject* capsule) {
    if (PyCapsule_IsValid(capsule, "dltensor")) {
      auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
      if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
    }
  });
}

Tensor fromDlpack(const py::capsule& capsule) {
  SINGA_CHECK(PyCapsule_IsValid(capsule.ptr(), "dltensor"), ValueError,
              "from_dlpack: not an unused DLPack capsule (a capsule can be consumed once)");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  SINGA_CHECK(m != nullptr, ValueError, "from_dlpack: the capsule holds no tensor");
  const DLTensor& d = m->dl_tensor;
  const DType dt = dtypeOfDlpack(d.dtype);
  SINGA_CHECK(d.device.device_type == kDLCPU || d.device.device_type == kDLCUDA, NotSupportedError,
              "from_dlpack: DLPack device type " << d.device.device_type << " is neither the CPU (1) nor CUDA (2)");
  const Device dev = d.device.device_type == kDLCPU ? Device::cpu() : Device::parse("cuda:" + std::to_string(d.device.device_id));
  SINGA_CHECK(d.ndim >= 0 && d.ndim <= 64, ValueError, "from_dlpack: " << d.ndim << " dimensions");
  Shape shape(d.shape, d.shape + d.ndim);
  std::vector<int64_t> strides = d.strides != nullptr ? std::vector<int64_t>(d.strides, d.strides + d.ndim)
                                                      : contiguousStrides(shape);
  // The elements the view reaches: 1 + sum((shape_i - 1) * stride_i), with checked arithmetic.
  int64_t extent = 1;
  bool empty = false;
  for (int i = 0; i < d.ndim; ++i) {
    SINGA_CHECK(shape[i] >= 0, ValueError, "from_dlpack: dimension " << i << " is " << shape[i]);
    SINGA_CHECK(strides[i] >= 0, NotSupportedError,
                "from_dlpack: negative strides are not supported; make the tensor contiguous first");
    if (shape[i] == 0) empty = true;
    int64_t span = 0;
    SINGA_CHECK(!__builtin_mul_overflow(shape[i] > 0 ? shape[i] - 1 : 0, strides[i], &span) &&
                    !__builtin_add_overflow(extent, span, &extent),
                ValueError, "from_dlpack: the tensor's extent overflows");
  }
  size_t bytes = 0;
  SINGA_CHECK(!__builtin_mul_overflow(static_cast<size_t>(empty ? 0 : extent), dtypeSize(dt), &bytes), ValueError,
              "from_dlpack: the tensor's size overflows");
  // Consumed: the producer's deleter runs when the last singa tensor over the memory goes.
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");
  void* data = static_cast<char*>(d.data) + d.byte_offset;
  auto storage = std::make_shared<Storage>(data, bytes, dev, [m](void*) {
    if (m->deleter == nullptr || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;  // a producer's deleter may release Python objects (NumPy's does)
    m->deleter(m);
  });
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dt;
  return Tensor(impl);
}

}  // namespace singa::python

namespace {

using singa::python::fromNumpy;
using singa::python::toNumpy;
using singa::python::Release;

// ---- the export tracer ------------------------------------------------------------------------
// sonnx.to_onnx(inputs, outputs) exports the ops that ran between them, so the Python layer keeps
// a tracer recording on the main thread. Each backward() rotates it: the records so far (the
// forward pass) are kept as the previous graph and a fresh tracer starts, so memory holds at most
// one training step's graph beyond the current one; a cap rotates long runs without backward.

constexpr size_t kTraceCap = 100000;
std::unique_ptr<autograd::Tracer> gTracer;
std::vector<autograd::OpRecord> gPrevious;

void traceRotate() {
  if (gTracer) gPrevious = gTracer->records();
  gTracer.reset();
  gTracer = std::make_unique<autograd::Tracer>();
}

void traceTrim() {
  if (!gTracer || gTracer->records().size() > kTraceCap) traceRotate();
}

}  // namespace

void singa::python::traceClear() {
  gTracer.reset();
  gPrevious.clear();
}

namespace {
using singa::python::traceClear;

py::bytes exportOnnx(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, int opset,
                     const std::vector<std::string>& inputNames, const std::vector<std::string>& outputNames) {
  std::vector<autograd::OpRecord> records = gPrevious;
  if (gTracer) records.insert(records.end(), gTracer->records().begin(), gTracer->records().end());
  SINGA_CHECK(!records.empty(), ValueError,
              "to_onnx: no operations were recorded; call to_onnx after the forward pass that computed the "
              "outputs (and before a second backward)");
  std::string bytes;
  {
    py::gil_scoped_release nogil;
    // Named leaves (layer parameters) become initializers under their names.
    std::map<std::string, Tensor> named;
    for (const auto& r : records) {
      for (const Tensor& t : r.inputs) {
        if (t.defined() && !t.name().empty() && t.isLeaf()) named.emplace(t.name(), t);
      }
    }
    onnxio::ExportOptions o;
    o.opset = opset;
    o.inputNames = inputNames;
    o.outputNames = outputNames;
    const onnx::ModelProto model = onnxio::exportGraph(inputs, outputs, records, named, o);
    SINGA_CHECK(model.SerializeToString(&bytes), Error, "to_onnx: the model could not be serialized");
  }
  return py::bytes(bytes);
}

// ---- autograd -----------------------------------------------------------------------------------

// Leaves that require a gradient, reachable from `root` through the tape, in first-visit order.
std::vector<Tensor> gradLeaves(const Tensor& root) {
  std::vector<Tensor> leaves;
  std::set<const void*> seen;
  std::vector<std::shared_ptr<autograd::Node>> stack;
  std::set<const autograd::Node*> visited;
  if (root.gradFn()) stack.push_back(root.gradFn());
  while (!stack.empty()) {
    auto node = stack.back();
    stack.pop_back();
    if (!visited.insert(node.get()).second) continue;
    const auto& inputs = node->inputs();
    for (auto it = inputs.rbegin(); it != inputs.rend(); ++it) {
      const Tensor& t = *it;
      if (!t.defined()) continue;
      if (t.gradFn()) {
        stack.push_back(t.gradFn());
      } else if (t.requiresGrad() && seen.insert(t.implPtr().get()).second) {
        leaves.push_back(t);
      }
    }
  }
  return leaves;
}

// ---- optimizers ---------------------------------------------------------------------------------

// SINGA's per-parameter optimizer interface (update(param, grad) on any tensor) over the library's
// own update rules and fused kernels: the per-parameter state lives here, keyed by the parameter.
template <class O>
class ParamUpdater : public O {
 public:
  using O::O;
  void apply(Tensor& param, const Tensor& grad, double lr) {
    this->setLr(lr);
    std::map<std::string, Tensor>& state = states_[param.implPtr()];
    autograd::NoGradGuard noGrad;
    this->update(param.name(), param, grad, state);
  }

 private:
  std::map<std::shared_ptr<TensorImpl>, std::map<std::string, Tensor>> states_;
};
using SgdUpdater = ParamUpdater<SGD>;
using AdamUpdater = ParamUpdater<Adam>;

// ---- errors -------------------------------------------------------------------------------------

void registerErrors(py::module_& m) {
  static py::exception<CommError> commError(m, "CommError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const NotSupportedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const CommError& e) {
      commError(e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace

PYBIND11_MODULE(_singa, m) {
  m.doc() = "singa's C++ core (tensors, ops, layers, optimizers, ONNX); use the singa package's modules";
  registerErrors(m);

  py::enum_<DType>(m, "DType", "Element types of singa tensors.")
      .value("float32", DType::kFloat32)
      .value("float64", DType::kFloat64)
      .value("float16", DType::kFloat16)
      .value("bfloat16", DType::kBFloat16)
      .value("int8", DType::kInt8)
      .value("int16", DType::kInt16)
      .value("int32", DType::kInt32)
      .value("int64", DType::kInt64)
      .value("uint8", DType::kUInt8)
      .value("uint16", DType::kUInt16)
      .value("uint32", DType::kUInt32)
      .value("uint64", DType::kUInt64)
      .value("bool", DType::kBool);

  py::class_<Device>(m, "Device", "A device: the CPU or one CUDA GPU.")
      .def_static("parse", &Device::parse, "Device from 'cpu', 'cuda' or 'cuda:N'.")
      .def_property_readonly("id", [](const Device& d) { return d.isCpu() ? -1 : d.index; })
      .def("is_cuda", &Device::isCuda)
      .def("__eq__", [](const Device& a, const Device& b) { return a == b; })
      .def("__hash__", [](const Device& d) { return std::hash<std::string>()(d.str()); })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return "Device('" + d.str() + "')"; });
  m.def("device_unavailable_reason", [](const std::string& type) {
    return deviceUnavailableReason(type == "cuda" ? DeviceType::kCuda : DeviceType::kCpu);
  });
  m.def("cuda_device_count", [] { return deviceCount(DeviceType::kCuda); });

  py::class_<Tensor>(m, "CTensor", "The C++ tensor (singa.tensor.Tensor wraps it).")
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", &Tensor::device)
      .def_property_readonly("defined", &Tensor::defined)
      .def_property(
          "requires_grad", [](const Tensor& t) { return t.requiresGrad() || t.gradFn() != nullptr; },
          [](Tensor& t, bool v) { t.setRequiresGrad(v); })
      .def_property_readonly("grad", &Tensor::grad)
      .def_property("name", &Tensor::name, [](Tensor& t, const std::string& n) { t.setName(n); })
      .def("is_leaf", &Tensor::isLeaf)
      .def("same", [](const Tensor& a, const Tensor& b) { return a.implPtr() == b.implPtr(); })
      .def("identity", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.implPtr().get()); })
      .def("to_device", [](const Tensor& t, Device d) { return t.to(d); }, Release())
      .def("astype", [](const Tensor& t, DType d) { return t.to(d); }, Release())
      .def("clone", &Tensor::clone, Release())
      .def("contiguous", &Tensor::contiguous, Release())
      .def("detach", &Tensor::detach)
      .def("reshape", [](const Tensor& t, const Shape& s) { return ops::reshape(t, s); }, Release())
      .def("item", &Tensor::item, Release())
      .def("copy_from", &Tensor::copyFrom, Release())
      .def("fill", &Tensor::fill, Release())
      .def("zero_grad", &Tensor::zeroGrad)
      .def("set_grad", &Tensor::setGrad)
      .def("__str__", [](const Tensor& t) { return t.str(); });

  m.def("from_numpy", &fromNumpy, py::arg("array"), py::arg("device"));
  m.def("to_dlpack", &singa::python::toDlpack, py::arg("tensor"));
  m.def("from_dlpack", &singa::python::fromDlpack, py::arg("capsule"));
  m.def("to_numpy", &toNumpy, py::arg("tensor"));
  m.def("empty", [](const Shape& s, DType d, Device dev) { return Tensor::zeros(s, d, dev); }, Release());
  m.def("full", [](const Shape& s, double v, DType d, Device dev) { return Tensor::full(s, v, d, dev); }, Release());
  m.def("uniform", [](const Shape& s, double lo, double hi, DType d, Device dev) {
    Tensor t(s, DType::kFloat64);
    uniform_(t, lo, hi, globalGenerator());
    return t.to(d).to(dev);
  }, Release());
  m.def("gaussian", [](const Shape& s, double mean, double std, DType d, Device dev) {
    Tensor t(s, DType::kFloat64);
    normal_(t, mean, std, globalGenerator());
    return t.to(d).to(dev);
  }, Release());
  m.def("manual_seed", &manualSeed);

  // Ops (the ones the Python API offers; each records its backward rule when a gradient is wanted).
  m.def("add", py::overload_cast<const Tensor&, const Tensor&>(&ops::add), Release());
  m.def("sub", py::overload_cast<const Tensor&, const Tensor&>(&ops::sub), Release());
  m.def("mul", py::overload_cast<const Tensor&, const Tensor&>(&ops::mul), Release());
  m.def("div", py::overload_cast<const Tensor&, const Tensor&>(&ops::div), Release());
  m.def("add_scalar", py::overload_cast<const Tensor&, double>(&ops::add), Release());
  m.def("sub_scalar", py::overload_cast<const Tensor&, double>(&ops::sub), Release());
  m.def("mul_scalar", py::overload_cast<const Tensor&, double>(&ops::mul), Release());
  m.def("div_scalar", py::overload_cast<const Tensor&, double>(&ops::div), Release());
  m.def("neg", &ops::neg, Release());
  m.def("matmul", &ops::matmul, Release());
  m.def("relu", &ops::relu, Release());
  m.def("sigmoid", &ops::sigmoid, Release());
  m.def("tanh", &ops::tanh, Release());
  m.def("exp", &ops::exp, Release());
  m.def("log", &ops::log, Release());
  m.def("sqrt", &ops::sqrt, Release());
  m.def("softmax", &ops::softmax, Release(), py::arg("x"), py::arg("axis") = -1);
  m.def("log_softmax", &ops::logSoftmax, Release(), py::arg("x"), py::arg("axis") = -1);
  m.def("flatten", &ops::flatten, Release(), py::arg("x"), py::arg("axis") = 1);
  m.def("transpose", &ops::transpose, Release(), py::arg("x"), py::arg("perm") = std::vector<int64_t>{});
  m.def("concat", &ops::concat, Release());
  m.def("reduce_sum", &ops::reduceSum, Release(), py::arg("x"), py::arg("axes") = std::vector<int64_t>{},
        py::arg("keepdims") = false);
  m.def("reduce_mean", &ops::reduceMean, Release(), py::arg("x"), py::arg("axes") = std::vector<int64_t>{},
        py::arg("keepdims") = false);
  m.def("softmax_cross_entropy", &ops::softmaxCrossEntropy, Release());
  m.def("mse_loss", &ops::mseLoss, Release());
  m.def("pow_scalar", py::overload_cast<const Tensor&, double>(&ops::pow), Release());
  // Every simple float unary op (src/ops/op_list.h: exp, log, the trigonometric and hyperbolic
  // functions, erf, floor, ceil, round, softplus, softsign, hard_swish, ...), by its C++ name.
#define SINGA_PY_UNARY(A, Name, function, grad, since, desc) m.def(#function, &ops::function, Release(), desc);
  SINGA_FLOAT_UNARY_OPS(SINGA_PY_UNARY, )
#undef SINGA_PY_UNARY
  m.def("abs", &ops::abs, Release());
  m.def("sign", &ops::sign, Release());
  m.def("leaky_relu", &ops::leakyRelu, Release(), py::arg("x"), py::arg("alpha") = 0.01);
  m.def("elu", &ops::elu, Release(), py::arg("x"), py::arg("alpha") = 1.0);
  m.def("selu", [](const Tensor& x) { return ops::selu(x); }, Release());
  m.def("clip", &ops::clip, Release(), py::arg("x"), py::arg("min"), py::arg("max"));
  m.def("pow", py::overload_cast<const Tensor&, const Tensor&>(&ops::pow), Release());
  m.def("maximum", &ops::maximum, Release());
  m.def("minimum", &ops::minimum, Release());
  m.def("equal", &ops::equal, Release());
  m.def("less", &ops::less, Release());
  m.def("less_equal", &ops::lessOrEqual, Release());
  m.def("greater", &ops::greater, Release());
  m.def("greater_equal", &ops::greaterOrEqual, Release());
  m.def("logical_and", &ops::logicalAnd, Release());
  m.def("logical_or", &ops::logicalOr, Release());
  m.def("logical_xor", &ops::logicalXor, Release());
  m.def("logical_not", &ops::logicalNot, Release());
  m.def("where", &ops::where, Release());
  m.def("reduce_max", &ops::reduceMax, Release(), py::arg("x"), py::arg("axes") = std::vector<int64_t>{},
        py::arg("keepdims") = false);
  m.def("reduce_min", &ops::reduceMin, Release(), py::arg("x"), py::arg("axes") = std::vector<int64_t>{},
        py::arg("keepdims") = false);
  m.def("argmax", &ops::argmax, Release(), py::arg("x"), py::arg("axis"), py::arg("keepdims") = true,
        py::arg("select_last_index") = false);
  m.def("squeeze", &ops::squeeze, Release(), py::arg("x"), py::arg("axes") = std::vector<int64_t>{});
  m.def("unsqueeze", &ops::unsqueeze, Release(), py::arg("x"), py::arg("axes"));
  m.def("gather", &ops::gather, Release(), py::arg("x"), py::arg("indices"), py::arg("axis") = 0);
  m.def("global_avg_pool", &ops::globalAvgPool, Release());

  m.def("backward", [](const Tensor& root, std::optional<Tensor> grad) { root.backward(grad ? *grad : Tensor()); },
        Release(), py::arg("root"), py::arg("grad") = py::none());
  m.def("grad_leaves", &gradLeaves, "Leaves that require a gradient reachable from a tensor.");
  m.def("grad_enabled", &autograd::gradEnabled);
  py::class_<autograd::NoGradGuard>(m, "NoGrad", "While alive, ops record no gradients (this thread).")
      .def(py::init<>());

  m.def("trace_rotate", &traceRotate);
  m.def("trace_trim", &traceTrim);
  m.def("trace_clear", &traceClear);
  m.def("export_onnx", &exportOnnx, py::arg("inputs"), py::arg("outputs"), py::arg("opset"),
        py::arg("input_names"), py::arg("output_names"));

  py::class_<SgdUpdater>(m, "SGDUpdater", "The library's SGD rule applied one parameter at a time.")
      .def(py::init([](double momentum, double dampening, bool nesterov, double weightDecay) {
             return std::make_unique<SgdUpdater>(Optimizer::NamedParams{}, 0.1, momentum, dampening, nesterov, weightDecay);
           }),
           py::arg("momentum"), py::arg("dampening"), py::arg("nesterov"), py::arg("weight_decay"))
      .def("update", &SgdUpdater::apply, Release(), py::arg("param"), py::arg("grad"), py::arg("lr"));
  py::class_<AdamUpdater>(m, "AdamUpdater", "The library's Adam rule applied one parameter at a time.")
      .def(py::init([](double beta1, double beta2, double eps, double weightDecay) {
             return std::make_unique<AdamUpdater>(Optimizer::NamedParams{}, 0.001, beta1, beta2, eps, weightDecay);
           }),
           py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("weight_decay"))
      .def("update", &AdamUpdater::apply, Release(), py::arg("param"), py::arg("grad"), py::arg("lr"));

  // Modules: the C++ layers, driven by the Python layer classes.
  py::class_<Module, std::shared_ptr<Module>>(m, "Module", "A C++ nn module.")
      .def("forward", [](Module& mod, const Tensor& x) { return mod.forward(x); }, Release())
      .def("train", [](Module& mod, bool on) { mod.train(on); })
      .def("to", [](Module& mod, Device d) { mod.to(d); }, Release())
      .def("named_parameters", [](const Module& mod) { return mod.namedParameters(); })
      .def("state_dict", [](const Module& mod) { return mod.stateDict(); })
      .def("__repr__", [](const Module& mod) { return mod.str(); });
  m.def("conv2d", [](int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t dil, int64_t groups,
                     bool bias) {
    return std::static_pointer_cast<Module>(std::make_shared<Conv2d>(in, out, k, stride, pad, dil, groups, bias));
  });
  m.def("linear", [](int64_t in, int64_t out, bool bias) {
    return std::static_pointer_cast<Module>(std::make_shared<Linear>(in, out, bias));
  });
  m.def("max_pool2d", [](int64_t k, int64_t stride, int64_t pad, bool ceil) {
    return std::static_pointer_cast<Module>(std::make_shared<MaxPool2d>(k, stride, pad, ceil));
  });
  m.def("avg_pool2d", [](int64_t k, int64_t stride, int64_t pad) {
    return std::static_pointer_cast<Module>(std::make_shared<AvgPool2d>(k, stride, pad));
  });
  m.def("batch_norm2d", [](int64_t c, double momentum, double eps) {
    return std::static_pointer_cast<Module>(std::make_shared<BatchNorm2d>(c, eps, momentum));
  });
  m.def("dropout", [](double p) { return std::static_pointer_cast<Module>(std::make_shared<Dropout>(p)); });

  // ONNX import.
  py::class_<onnxio::ImportedModel, Module, std::shared_ptr<onnxio::ImportedModel>>(m, "ImportedModel")
      .def("run", [](onnxio::ImportedModel& mod, const std::vector<Tensor>& inputs, int lastLayers) {
        return mod.run(inputs, lastLayers);
      }, Release(), py::arg("inputs"), py::arg("last_layers") = 0);
  m.def("prepare_bytes", [](const py::bytes& data, const std::string& what, Device d, bool training) {
    std::string s = data;
    py::gil_scoped_release nogil;
    onnxio::PrepareOptions o;
    o.training = training;
    return onnxio::prepare(onnxio::parseModel(s, what), d, o);
  });
  m.def("prepare_file", [](const std::string& path, Device d, bool training) {
    py::gil_scoped_release nogil;
    onnxio::PrepareOptions o;
    o.training = training;
    return onnxio::prepareFile(path, d, o);
  });

  singa::python::bindTrain(m);
}
