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
/// Stops recording ops for sonnx.to_onnx and drops the records (the Trainer's loop is not traced).
void traceClear();

/// Registers the communicator, data set and Trainer bindings.
void bindTrain(pybind11::module_& m);

}  // namespace singa::python
