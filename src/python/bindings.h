// What the two source files of the `singa._singa` extension share (bindings.cc: tensors, ops,
// layers, ONNX; bindings_train.cc: the communicator, data sets and the Trainer).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "singa/singa.h"

namespace singa::python {

using Release = pybind11::call_guard<pybind11::gil_scoped_release>;

/// A CPU tensor over a NumPy array's memory (no copy when C-contiguous and aligned), on `device`.
Tensor fromNumpy(const pybind11::array& input, Device device);
/// An array over a contiguous CPU tensor's memory (others are copied to the CPU first).
pybind11::array toNumpy(const Tensor& input);
/// A DLPack capsule over the tensor's memory (no copy; the tensor stays alive until consumed and
/// released; a CUDA device is synchronised first).
pybind11::capsule toDlpack(const Tensor& t);
/// A tensor over a DLPack capsule's memory (no copy; strided views kept; the producer's deleter
/// runs when the last tensor over it goes).
Tensor fromDlpack(const pybind11::capsule& capsule);
/// Stops recording ops for sonnx.to_onnx and drops the records (the Trainer's loop is not traced).
void traceClear();

/// Registers the communicator, data set and Trainer bindings.
void bindTrain(pybind11::module_& m);

}  // namespace singa::python
