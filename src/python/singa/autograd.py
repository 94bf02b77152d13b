"""Autograd: layers, functions and backward, with SINGA's names.

Functions record their backward rule whenever an input requires a gradient; ``backward(loss)``
runs the tape (in C++, without the GIL) and yields ``(parameter, gradient)`` pairs for every leaf
tensor that requires a gradient. ``training`` (a module flag, as in SINGA) puts layers that behave
differently in training (BatchNorm2d, Dropout, imported models) into that mode when they run.

Layers (``Conv2d``, ``Linear``, ``MaxPool2d``, ``AvgPool2d``, ``BatchNorm2d``, ``Dropout``) create
their parameters on the CPU and move them to the device of their first input.
"""
import builtins
import itertools

from . import _singa
from .tensor import Tensor, float32

training = False

_counter = itertools.count(1)


def _t(x):
    return x._t


def _w(ct):
    return Tensor._wrap(ct)


# ---- functions -----------------------------------------------------------------------------------
def relu(x):
    """max(x, 0)."""
    return _w(_singa.relu(_t(x)))


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return _w(_singa.sigmoid(_t(x)))


def tanh(x):
    """Hyperbolic tangent."""
    return _w(_singa.tanh(_t(x)))


def _unary(name, doc):
    fn = getattr(_singa, name)

    def f(x):
        return _w(fn(_t(x)))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


# The library's element-wise functions (each trains and exports to ONNX), by SINGA's names.
exp = _unary("exp", "e^x.")
log = _unary("log", "Natural logarithm.")
sqrt = _unary("sqrt", "Square root.")
reciprocal = _unary("reciprocal", "1 / x.")
sin = _unary("sin", "Sine.")
cos = _unary("cos", "Cosine.")
tan = _unary("tan", "Tangent.")
asin = _unary("asin", "Arcsine.")
acos = _unary("acos", "Arccosine.")
atan = _unary("atan", "Arctangent.")
sinh = _unary("sinh", "Hyperbolic sine.")
cosh = _unary("cosh", "Hyperbolic cosine.")
asinh = _unary("asinh", "Inverse hyperbolic sine.")
acosh = _unary("acosh", "Inverse hyperbolic cosine.")
atanh = _unary("atanh", "Inverse hyperbolic tangent.")
erf = _unary("erf", "The error function.")
floor = _unary("floor", "Rounds down (no gradient).")
ceil = _unary("ceil", "Rounds up (no gradient).")
round = _unary("round", "Rounds half to even (no gradient).")  # noqa: A001 (SINGA's name)
softplus = _unary("softplus", "ln(1 + e^x).")
softsign = _unary("softsign", "x / (1 + |x|).")
abs = _unary("abs", "|x|.")  # noqa: A001
sign = _unary("sign", "-1, 0 or 1 (no gradient).")
selu = _unary("selu", "SELU with ONNX's default alpha and gamma.")
hard_swish = _unary("hardSwish", "x * clip(x / 6 + 1/2, 0, 1).")


def leaky_relu(x, a=0.01):
    """x where x > 0, else a * x."""
    return _w(_singa.leaky_relu(_t(x), float(a)))


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (e^x - 1)."""
    return _w(_singa.elu(_t(x), float(alpha)))


def clip(x, min=None, max=None):  # noqa: A002 (SINGA's names)
    """x limited to [min, max] (either bound may be None)."""
    return _w(_singa.clip(_t(x), None if min is None else float(min), None if max is None else float(max)))


def pow(a, b):  # noqa: A001
    """a ** b, element-wise (b a Tensor or a number)."""
    if isinstance(b, Tensor):
        return _w(_singa.pow(_t(a), _t(b)))
    return _w(_singa.pow_scalar(_t(a), float(b)))


def _binary(name, doc):
    fn = getattr(_singa, name)

    def f(a, b):
        return _w(fn(_t(a), _t(b)))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


maximum = _binary("maximum", "Element-wise maximum (NumPy broadcasting).")
minimum = _binary("minimum", "Element-wise minimum (NumPy broadcasting).")
equal = _binary("equal", "a == b as a bool tensor.")
less = _binary("less", "a < b as a bool tensor.")
less_equal = _binary("less_equal", "a <= b as a bool tensor.")
greater = _binary("greater", "a > b as a bool tensor.")
greater_equal = _binary("greater_equal", "a >= b as a bool tensor.")
_and = _binary("logical_and", "Logical and of two bool tensors.")
_or = _binary("logical_or", "Logical or of two bool tensors.")
_xor = _binary("logical_xor", "Logical exclusive or of two bool tensors.")
_not = _unary("logical_not", "Logical not of a bool tensor.")
logical_and, logical_or, logical_xor, logical_not = _and, _or, _xor, _not


def where(condition, x, y):
    """x where ``condition`` holds, else y (NumPy broadcasting)."""
    return _w(_singa.where(_t(condition), _t(x), _t(y)))


def max(x, axes=None, keepdims=False):  # noqa: A001
    """Maximum over ``axes`` (all when None)."""
    return _w(_singa.reduce_max(_t(x), list(axes) if axes is not None else [], keepdims))


def min(x, axes=None, keepdims=False):  # noqa: A001
    """Minimum over ``axes`` (all when None)."""
    return _w(_singa.reduce_min(_t(x), list(axes) if axes is not None else [], keepdims))


def argmax(x, axis=-1, keepdims=False):
    """Indices of the maxima along ``axis`` (int64)."""
    return _w(_singa.argmax(_t(x), int(axis), bool(keepdims)))


def squeeze(x, axis=None):
    """Removes dims of size 1 (those in ``axis`` when given)."""
    axes = [] if axis is None else ([axis] if isinstance(axis, int) else list(axis))
    return _w(_singa.squeeze(_t(x), axes))


def unsqueeze(x, axis):
    """Inserts dims of size 1 at ``axis`` (an int or a list)."""
    return _w(_singa.unsqueeze(_t(x), [axis] if isinstance(axis, int) else list(axis)))


def gather(x, indices, axis=0):
    """Elements of ``x`` at ``indices`` (an integer tensor) along ``axis``."""
    return _w(_singa.gather(_t(x), _t(indices), int(axis)))


def global_avg_pool(x):
    """Mean over the spatial dims of [N, C, ...]: [N, C, 1, ...]."""
    return _w(_singa.global_avg_pool(_t(x)))


def softmax(x, axis=-1):
    """Softmax along ``axis``."""
    return _w(_singa.softmax(_t(x), axis))


def log_softmax(x, axis=-1):
    """Log-softmax along ``axis``."""
    return _w(_singa.log_softmax(_t(x), axis))


def flatten(x, axis=1):
    """Reshapes to 2-D: the dims before ``axis`` and the dims from it."""
    return _w(_singa.flatten(_t(x), axis))


def reshape(x, shape):
    """``x`` with a new shape (one -1 allowed)."""
    return _w(_t(x).reshape(list(shape)))


def transpose(x, perm=None):
    """Permutes the dims (reverses them when ``perm`` is None)."""
    return _w(_singa.transpose(_t(x), list(perm) if perm is not None else []))


def cat(xs, axis=0):
    """Concatenates tensors along ``axis``."""
    return _w(_singa.concat([_t(x) for x in xs], axis))


def add(a, b):
    """a + b (NumPy broadcasting)."""
    return a + b


def mul(a, b):
    """a * b, element-wise (NumPy broadcasting)."""
    return a * b


def matmul(a, b):
    """Matrix product (NumPy broadcasting rules)."""
    return _w(_singa.matmul(_t(a), _t(b)))


def sum(x, axes=None, keepdims=False):  # noqa: A001 (SINGA's name)
    """Sum over ``axes`` (all when None)."""
    return _w(_singa.reduce_sum(_t(x), list(axes) if axes is not None else [], keepdims))


def mean(x, axes=None, keepdims=False):
    """Mean over ``axes`` (all when None)."""
    return _w(_singa.reduce_mean(_t(x), list(axes) if axes is not None else [], keepdims))


def softmax_cross_entropy(x, t):
    """Mean cross-entropy of softmax(x) against targets ``t``, as a one-element tensor of shape (1,).

    ``t`` may hold class indices (an integer tensor of shape (N,)) or one-hot / soft targets of
    x's shape (as in SINGA's tutorial): then the loss is -sum(t * log_softmax(x)) / N.
    """
    xt, tt = _t(x), _t(t)
    if tt.dtype in (_singa.DType.int32, _singa.DType.int64):
        loss = _singa.softmax_cross_entropy(xt, tt)
    elif len(tt.shape) == 1:
        loss = _singa.softmax_cross_entropy(xt, tt.astype(_singa.DType.int64))
    else:
        if tuple(tt.shape) != tuple(xt.shape):
            raise ValueError("softmax_cross_entropy: targets of shape %s do not match the scores' shape %s "
                             "(give class indices of shape (N,) or one target row per sample)"
                             % (tuple(tt.shape), tuple(xt.shape)))
        n = xt.shape[0]
        loss = _singa.mul_scalar(_singa.reduce_sum(_singa.mul(tt, _singa.log_softmax(xt, -1))), -1.0 / builtins.max(n, 1))
    return _w(loss.reshape([1]))


def cross_entropy(x, t):
    """Cross-entropy of probabilities ``x`` against one-hot / soft targets ``t``: -sum(t log x) / N."""
    n = x.shape[0]
    return _w(_singa.mul_scalar(_singa.reduce_sum(_singa.mul(_t(t), _singa.log(_t(x)))), -1.0 / builtins.max(n, 1))
              .reshape([1]))


def mse_loss(x, t):
    """Mean squared error."""
    return _w(_singa.mse_loss(_t(x), _t(t)).reshape([1]))


# ---- backward ------------------------------------------------------------------------------------
def backward(y, dy=None):
    """Back-propagates from ``y`` (a one-element loss unless ``dy`` is given) and yields
    ``(parameter, gradient)`` for every leaf tensor that requires a gradient (parameters), as
    SINGA's autograd.backward does. Gradients accumulate into each parameter's ``.grad``; the
    pairs are listed after the whole backward pass has run."""
    leaves = _singa.grad_leaves(_t(y))
    _singa.trace_rotate()  # the forward pass stays exportable (sonnx.to_onnx); later ops start afresh
    for leaf in leaves:
        leaf.zero_grad()  # SINGA semantics: each backward gives this pass's gradients
    _singa.backward(_t(y), _t(dy) if dy is not None else None)
    for leaf in leaves:
        g = leaf.grad
        if g.defined:
            yield _w(leaf), _w(g)


class no_grad:
    """Context manager: ops inside record no gradients (inference)."""

    def __enter__(self):
        self._guard = _singa.NoGrad()
        return self

    def __exit__(self, *exc):
        del self._guard
        return False


# ---- layers --------------------------------------------------------------------------------------
class Layer:
    """A layer over a C++ module: parameters named ``<type>_<n>.<name>``, moved to the device of
    the first input, training mode from ``autograd.training`` at each call."""

    def __init__(self, module, kind):
        self._m = module
        self._name = "%s_%d" % (kind, next(_counter))
        self._device = None
        for pname, p in self._m.named_parameters():
            p.name = "%s.%s" % (self._name, pname)

    def __call__(self, x):
        if self._device is None or self._device != x.device:
            self._m.to(x.device)
            self._device = x.device
        self._m.train(bool(training))
        return _w(self._m.forward(_t(x)))

    def forward(self, x):
        """Same as calling the layer."""
        return self(x)

    def get_params(self):
        """Parameters by name (the tensors the layer trains)."""
        return {n: _w(p) for n, p in self._m.named_parameters()}

    def named_parameters(self):
        """(name, tensor) pairs of the parameters."""
        return list(self.get_params().items())

    def __repr__(self):
        return repr(self._m)


class Conv2d(Layer):
    """2-D convolution. Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    dilation=1, group=1, bias=True); square kernels, strides, pads and dilations."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, group=1,
                 bias=True):
        def one(v, what):
            if isinstance(v, (tuple, list)):
                if len(set(v)) != 1:
                    raise NotImplementedError("Conv2d: %s %s must be the same in both dims" % (what, v))
                return int(v[0])
            return int(v)
        super().__init__(_singa.conv2d(int(in_channels), int(out_channels), one(kernel_size, "kernel_size"),
                                       one(stride, "stride"), one(padding, "padding"), one(dilation, "dilation"),
                                       int(group), bool(bias)), "Conv2d")


class Linear(Layer):
    """Fully connected: y = x W^T + b. Linear(in_features, out_features, bias=True)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(_singa.linear(int(in_features), int(out_features), bool(bias)), "Linear")


class MaxPool2d(Layer):
    """2-D max pooling. MaxPool2d(kernel_size, stride=None (= kernel_size), padding=0)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__(_singa.max_pool2d(int(kernel_size), int(stride or kernel_size), int(padding),
                                           bool(ceil_mode)), "MaxPool2d")


class AvgPool2d(Layer):
    """2-D average pooling. AvgPool2d(kernel_size, stride=None (= kernel_size), padding=0)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_singa.avg_pool2d(int(kernel_size), int(stride or kernel_size), int(padding)), "AvgPool2d")


class BatchNorm2d(Layer):
    """Batch normalisation over channels (batch statistics while ``autograd.training``)."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__(_singa.batch_norm2d(int(num_features), float(momentum), float(eps)), "BatchNorm2d")


class Dropout(Layer):
    """Zeroes elements with probability ``p`` while ``autograd.training`` (scaled by 1/(1-p))."""

    def __init__(self, p=0.5):
        super().__init__(_singa.dropout(float(p)), "Dropout")


class ReLU:
    """relu as a layer."""

    def __call__(self, x):
        return relu(x)


class Flatten:
    """flatten as a layer."""

    def __init__(self, axis=1):
        self.axis = axis

    def __call__(self, x):
        return flatten(x, self.axis)
