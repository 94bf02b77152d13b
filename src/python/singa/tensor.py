"""Tensors: n-d arrays on a device, with NumPy interchange.

``Tensor(shape, device, dtype)`` makes a zero tensor; ``Tensor(device=dev, data=ndarray)`` wraps an
array (without a copy on the CPU when it is C-contiguous: the tensor and the array share memory).
``to_numpy(t)`` / ``t.numpy()`` give an ndarray (sharing memory with a contiguous CPU tensor) and
``from_numpy(a)`` a tensor. Arithmetic operators record gradients like every autograd function.
"""
import numpy as np

from . import _singa
from .device import get_default_device

float32 = _singa.DType.float32
float64 = _singa.DType.float64
float16 = _singa.DType.float16
int32 = _singa.DType.int32
int64 = _singa.DType.int64
uint8 = _singa.DType.uint8
bool_ = _singa.DType.bool

_NUMPY_OF = {float32: np.float32, float64: np.float64, float16: np.float16, int32: np.int32, int64: np.int64,
             uint8: np.uint8, bool_: np.bool_}


def _dtype(d):
    if d is None:
        return float32
    if isinstance(d, _singa.DType):
        return d
    try:
        name = np.dtype(d).name
    except TypeError:
        raise TypeError("singa: %r is not a dtype (use tensor.float32, 'float32' or a NumPy dtype)" % (d,))
    return getattr(_singa.DType, name)


class Tensor:
    """An n-d array on a device.

    Tensor(shape=None, device=None, dtype=float32, data=None, requires_grad=False, stores_grad=False)

    With ``data`` (an ndarray, or anything np.asarray accepts) the tensor holds that data on
    ``device`` (default: the CPU); ``dtype`` then converts it. Otherwise a zero tensor of ``shape``.
    ``requires_grad`` asks for its gradient in backward (``stores_grad`` is SINGA's name for the
    same on a leaf).
    """

    __slots__ = ("_t", "__weakref__")

    def __init__(self, shape=None, device=None, dtype=None, data=None, requires_grad=False, stores_grad=False,
                 creator=None):
        dev = device if device is not None else get_default_device()
        if data is not None:
            arr = data if isinstance(data, np.ndarray) else np.asarray(data)
            if dtype is not None:
                arr = arr.astype(_NUMPY_OF.get(_dtype(dtype), np.float32), copy=False)
            self._t = _singa.from_numpy(arr, dev)
            _singa.trace_trim()  # starts the export record, or bounds it (see sonnx.to_onnx)
        else:
            if shape is None:
                raise ValueError("Tensor: give a shape or data")
            self._t = _singa.empty(list(shape), _dtype(dtype), dev)
        if requires_grad or stores_grad:
            self._t.requires_grad = True

    @classmethod
    def _wrap(cls, ct):
        t = cls.__new__(cls)
        t._t = ct
        return t

    # -- properties --------------------------------------------------------------------------
    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return tuple(self._t.shape)

    @property
    def dtype(self):
        """The element type (a singa.tensor dtype such as tensor.float32)."""
        return self._t.dtype

    @property
    def device(self):
        """The device the data lives on."""
        return self._t.device

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self._t.shape)

    def size(self):
        """Number of elements."""
        return int(np.prod(self._t.shape, dtype=np.int64))

    @property
    def requires_grad(self):
        """Whether backward computes this tensor's gradient."""
        return self._t.requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self._t.requires_grad = bool(value)

    @property
    def stores_grad(self):
        """SINGA's flag for a leaf whose gradient backward returns: the same as requires_grad."""
        return self._t.requires_grad

    @stores_grad.setter
    def stores_grad(self, value):
        if value:
            self._t.requires_grad = True

    @property
    def grad(self):
        """The accumulated gradient (None before backward)."""
        g = self._t.grad
        return Tensor._wrap(g) if g.defined else None

    @property
    def name(self):
        """The tensor's name (a layer parameter's, or an ONNX initializer's)."""
        return self._t.name

    # -- conversions -------------------------------------------------------------------------
    def numpy(self):
        """The data as an ndarray (sharing memory when the tensor is a contiguous CPU tensor)."""
        return _singa.to_numpy(self._t)

    def to_numpy(self):
        """Same as numpy()."""
        return self.numpy()

    def __dlpack__(self, stream=None):
        """A DLPack capsule over the tensor's memory (no copy), for ``np.from_dlpack``,
        ``torch.from_dlpack`` and other DLPack consumers. A GPU tensor's device is synchronised
        first, so the consumer may use any stream."""
        return _singa.to_dlpack(self._t)

    def __dlpack_device__(self):
        """(device type, index) in DLPack's codes: (1, 0) for the CPU, (2, n) for CUDA GPU n."""
        d = self._t.device
        return (2, d.id) if d.is_cuda() else (1, 0)

    def item(self):
        """The value of a one-element tensor, as a Python float."""
        return self._t.item()

    def to_device(self, device):
        """Moves the data to ``device`` (in place, as SINGA does)."""
        self._t = self._t.to_device(device)
        return self

    def as_type(self, dtype):
        """A copy converted to ``dtype``."""
        return Tensor._wrap(self._t.astype(_dtype(dtype)))

    def clone(self):
        """A copy with its own memory (recorded for autograd)."""
        return Tensor._wrap(self._t.clone())

    def reshape(self, shape):
        """The same data with a new shape (one -1 allowed; recorded for autograd)."""
        return Tensor._wrap(self._t.reshape(list(shape)))

    def copy_from_numpy(self, array):
        """Overwrites the data with ``array`` (same number of elements)."""
        src = _singa.from_numpy(np.ascontiguousarray(array).astype(_NUMPY_OF.get(self.dtype, np.float32)),
                                self.device)
        self._t.copy_from(src.reshape(list(self.shape)))

    def set_value(self, value):
        """Fills every element with ``value``."""
        self._t.fill(float(value))

    def gaussian(self, mean, std):
        """Fills with N(mean, std^2) samples."""
        self._t.copy_from(_singa.gaussian(list(self.shape), float(mean), float(std), self.dtype, self.device))

    def uniform(self, low, high):
        """Fills with U(low, high) samples."""
        self._t.copy_from(_singa.uniform(list(self.shape), float(low), float(high), self.dtype, self.device))

    # -- arithmetic (recorded for autograd) ----------------------------------------------------
    def _binary(self, other, op, scalar_op, reverse=False):
        if isinstance(other, Tensor):
            a, b = (other._t, self._t) if reverse else (self._t, other._t)
            return Tensor._wrap(op(a, b))
        if reverse:
            return Tensor._wrap(op(_singa.full([], float(other), self.dtype, self.device), self._t))
        return Tensor._wrap(scalar_op(self._t, float(other)))

    def __add__(self, o):
        return self._binary(o, _singa.add, _singa.add_scalar)

    def __radd__(self, o):
        return self._binary(o, _singa.add, _singa.add_scalar)

    def __sub__(self, o):
        return self._binary(o, _singa.sub, _singa.sub_scalar)

    def __rsub__(self, o):
        return self._binary(o, _singa.sub, None, reverse=True)

    def __mul__(self, o):
        return self._binary(o, _singa.mul, _singa.mul_scalar)

    def __rmul__(self, o):
        return self._binary(o, _singa.mul, _singa.mul_scalar)

    def __truediv__(self, o):
        return self._binary(o, _singa.div, _singa.div_scalar)

    def __rtruediv__(self, o):
        return self._binary(o, _singa.div, None, reverse=True)

    def __matmul__(self, o):
        return Tensor._wrap(_singa.matmul(self._t, o._t))

    def __neg__(self):
        return Tensor._wrap(_singa.neg(self._t))

    def __pow__(self, p):
        return Tensor._wrap(_singa.pow_scalar(self._t, float(p)))

    def __repr__(self):
        return "Tensor(shape=%s, dtype=%s, device=%s)" % (self.shape, self.dtype.name, self.device)

    def __str__(self):
        return str(self._t)


def from_numpy(array, device=None):
    """A tensor holding ``array`` (no copy for a C-contiguous array on the CPU)."""
    return Tensor(device=device, data=array)


def to_numpy(t):
    """``t``'s data as an ndarray (sharing memory with a contiguous CPU tensor)."""
    return t.numpy()


def from_raw_tensor(ct):
    """Wraps a C++ tensor (singa._singa.CTensor)."""
    return Tensor._wrap(ct)


def zeros(shape, device=None, dtype=None):
    """A zero tensor."""
    return Tensor(shape, device, dtype)


def ones(shape, device=None, dtype=None):
    """A tensor of ones."""
    dev = device if device is not None else get_default_device()
    return Tensor._wrap(_singa.full(list(shape), 1.0, _dtype(dtype), dev))


def random(shape, device=None):
    """U(0, 1) samples, float32."""
    dev = device if device is not None else get_default_device()
    return Tensor._wrap(_singa.uniform(list(shape), 0.0, 1.0, float32, dev))


def from_dlpack(obj):
    """A tensor over the memory of ``obj`` (any object with ``__dlpack__``: a NumPy array, a
    PyTorch tensor, ...; or a DLPack capsule) without copying; strided views stay views."""
    capsule = obj.__dlpack__() if hasattr(obj, "__dlpack__") else obj
    return Tensor._wrap(_singa.from_dlpack(capsule))


def manual_seed(seed):
    """Seeds the generator that layer initialisation and random tensors draw from."""
    _singa.manual_seed(int(seed))
