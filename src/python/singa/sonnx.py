"""ONNX export and import with SINGA's names.

``to_onnx(inputs, outputs)`` exports the operations that ran from ``inputs`` (tensors made from data)
to ``outputs`` as an ``onnx.ModelProto`` (the ``onnx`` package must be installed).
``prepare(model, device)`` imports a ModelProto, serialized bytes or a file path into a runnable,
trainable model: ``rep.run([x], last_layers=...)``, ``rep.tensor_map`` (its parameters by ONNX name).
"""
import os

from . import _singa
from . import autograd as _autograd
from .device import get_default_device
from .tensor import Tensor


def to_onnx(inputs, outputs, opset=17, input_names=None, output_names=None):
    """Exports the graph from ``inputs`` to ``outputs`` (lists of Tensors) as an onnx.ModelProto.

    The graph is taken from the operations recorded since the last-but-one ``autograd.backward``:
    call it after the forward pass that computed ``outputs`` (its backward may have run). Parameters become initializers named after
    their layers; the batch dimension is symbolic. ``opset`` 11-17.
    """
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("sonnx.to_onnx returns an onnx.ModelProto: install the onnx package "
                          "(pip install onnx)") from e
    data = _singa.export_onnx([t._t for t in inputs], [t._t for t in outputs], int(opset),
                              list(input_names or []), list(output_names or []))
    return onnx.load_model_from_string(data)


class SingaRep:
    """An imported ONNX model. ``run(inputs, last_layers=0)`` runs it (``last_layers=-k`` leaves out
    the last k layers, for transfer learning); ``tensor_map`` holds its parameters by ONNX name
    (trainable: ``autograd.backward`` yields them). Runs in training mode while
    ``autograd.training`` is set."""

    def __init__(self, model, device):
        self._m = model
        self.device = device
        self.tensor_map = {name: Tensor._wrap(t) for name, t in model.named_parameters()}

    def run(self, inputs, last_layers=0, **kwargs):
        """Runs the graph on ``inputs`` (a list of Tensors) and returns the list of outputs."""
        self._m.train(bool(_autograd.training))
        outs = self._m.run([x._t for x in inputs], int(last_layers))
        return [Tensor._wrap(o) for o in outs]

    def __call__(self, *inputs, **kwargs):
        return self.run(list(inputs), **kwargs)


def prepare(model, device=None, **kwargs):
    """Imports ``model`` (an onnx.ModelProto, its serialized bytes, or a path to a .onnx file) on
    ``device`` (default: the CPU) and returns a SingaRep. Unsupported operators are all listed in
    one NotImplementedError; a malformed model raises OSError or ValueError naming the problem."""
    dev = device if device is not None else get_default_device()
    training = bool(_autograd.training)
    if isinstance(model, (str, os.PathLike)):
        m = _singa.prepare_file(os.fspath(model), dev, training)
    elif isinstance(model, (bytes, bytearray)):
        m = _singa.prepare_bytes(bytes(model), "the ONNX model bytes", dev, training)
    elif hasattr(model, "SerializeToString"):
        m = _singa.prepare_bytes(model.SerializeToString(), "the ONNX ModelProto", dev, training)
    else:
        raise TypeError("sonnx.prepare: expected an onnx.ModelProto, bytes or a file path, got %s"
                        % type(model).__name__)
    return SingaRep(m, dev)
