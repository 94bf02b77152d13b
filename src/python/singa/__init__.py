"""singa: a deep-learning training framework with ONNX at its edges, from Python.

The modules follow Apache SINGA's Python API (the names its ONNX tutorial uses):

    from singa import device, tensor, autograd, opt, sonnx

``device`` chooses where tensors live, ``tensor`` holds n-d arrays and their NumPy interchange,
``autograd`` the layers, functions and ``backward``, ``opt`` the optimizers, ``sonnx`` ONNX export
(``to_onnx``) and import (``prepare``). The work runs in singa's C++ library; this package is a thin
layer over it (``singa._singa``).
"""
from . import _singa  # noqa: F401  (the C++ core; imported first so errors name it)
from . import device, tensor, autograd, opt, sonnx  # noqa: F401
import atexit as _atexit

# The export record holds tensors that may view NumPy arrays: release them while Python runs.
_atexit.register(_singa.trace_clear)

__all__ = ["device", "tensor", "autograd", "opt", "sonnx"]
__version__ = "0.1.0"
