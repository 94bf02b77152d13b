"""singa: a deep-learning training framework with ONNX at its edges, from Python.

The modules follow Apache SINGA's Python API (the names its ONNX tutorial uses):

    from singa import device, tensor, autograd, opt, sonnx

``device`` chooses where tensors live, ``tensor`` holds n-d arrays and their NumPy interchange,
``autograd`` the layers, functions and ``backward``, ``opt`` the optimizers (and ``DistOpt`` for
data-parallel training under mpirun), ``sonnx`` ONNX export (``to_onnx``) and import
(``prepare``), ``data`` data sets and ``Trainer`` the library's training loop. The work runs in singa's C++ library; this package is a thin
layer over it (``singa._singa``).
"""
from . import _singa  # noqa: F401  (the C++ core; imported first so errors name it)
from . import device, tensor, autograd, opt, sonnx, data, trainer  # noqa: F401
from .trainer import Trainer  # noqa: F401
import atexit as _atexit

# At exit (last registered runs first): trainers closed, then the communicator (MPI_Finalize),
# then the export record, which holds tensors that may view NumPy arrays.
_atexit.register(_singa.trace_clear)
_atexit.register(_singa.comm_shutdown)
_atexit.register(trainer._close_all)

__all__ = ["device", "tensor", "autograd", "opt", "sonnx", "data", "Trainer"]
__version__ = "0.1.0"
