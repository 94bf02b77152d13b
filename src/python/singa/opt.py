"""Optimizers with SINGA's interface: ``update(param, grad)`` applies one parameter's update at
once, ``step()`` ends the iteration (learning-rate schedules count steps); ``opt(loss)`` runs
backward and updates every parameter. The arithmetic runs in C++ without recording gradients."""
from . import _singa
from .tensor import Tensor


class Optimizer:
    """Base class: per-parameter state keyed by the tensor's identity."""

    def __init__(self, lr):
        self.lr = lr
        self.step_counter = 0
        self._state = {}

    def get_lr(self):
        """The learning rate of this step (a number, or a callable of the step counter)."""
        return float(self.lr(self.step_counter)) if callable(self.lr) else float(self.lr)

    def update(self, param, grad):
        """Updates ``param`` in place from ``grad``."""
        raise NotImplementedError

    def step(self):
        """Ends the iteration."""
        self.step_counter += 1

    def __call__(self, loss):
        """backward(loss), update of every parameter, step()."""
        from .autograd import backward
        for p, g in backward(loss):
            self.update(p, g)
        self.step()

    def _slot(self, param, name):
        key = (param._t.identity(), name)
        s = self._state.get(key)
        if s is None:
            s = _singa.full(list(param.shape), 0.0, param.dtype, param.device)
            self._state[key] = s
        return s


class SGD(Optimizer):
    """SGD(lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False), PyTorch's rule:
    g += wd * p; buf = momentum * buf + (1 - dampening) * g; g = g + momentum * buf (nesterov)
    or buf; p -= lr * g."""

    def __init__(self, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum, self.dampening, self.weight_decay, self.nesterov = momentum, dampening, weight_decay, nesterov

    def update(self, param, grad):
        """Applies one SGD update to ``param`` (in place) from ``grad``."""
        lr = self.get_lr()
        p, g = param._t, grad._t
        guard = _singa.NoGrad()
        if self.weight_decay:
            g = _singa.add(g, _singa.mul_scalar(p, self.weight_decay))
        if self.momentum:
            buf = self._slot(param, "momentum")
            first = (param._t.identity(), "started") not in self._state
            if first:
                buf.copy_from(g)
                self._state[(param._t.identity(), "started")] = True
            else:
                buf.copy_from(_singa.add(_singa.mul_scalar(buf, self.momentum),
                                         _singa.mul_scalar(g, 1.0 - self.dampening)))
            g = _singa.add(g, _singa.mul_scalar(buf, self.momentum)) if self.nesterov else buf
        p.copy_from(_singa.sub(p, _singa.mul_scalar(g, lr)))
        del guard


class Adam(Optimizer):
    """Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0) with bias correction
    (PyTorch's Adam; weight decay added to the gradient)."""

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr)
        self.beta_1, self.beta_2, self.epsilon, self.weight_decay = beta_1, beta_2, epsilon, weight_decay

    def update(self, param, grad):
        """Applies one Adam update to ``param`` (in place) from ``grad``."""
        lr = self.get_lr()
        p, g = param._t, grad._t
        guard = _singa.NoGrad()
        if self.weight_decay:
            g = _singa.add(g, _singa.mul_scalar(p, self.weight_decay))
        m, v = self._slot(param, "m"), self._slot(param, "v")
        key = (param._t.identity(), "t")
        t = self._state.get(key, 0) + 1
        self._state[key] = t
        m.copy_from(_singa.add(_singa.mul_scalar(m, self.beta_1), _singa.mul_scalar(g, 1 - self.beta_1)))
        v.copy_from(_singa.add(_singa.mul_scalar(v, self.beta_2), _singa.mul_scalar(_singa.mul(g, g), 1 - self.beta_2)))
        mhat = _singa.mul_scalar(m, 1.0 / (1 - self.beta_1 ** t))
        vhat = _singa.mul_scalar(v, 1.0 / (1 - self.beta_2 ** t))
        p.copy_from(_singa.sub(p, _singa.mul_scalar(_singa.div(mhat, _singa.add_scalar(_singa.sqrt(vhat), self.epsilon)), lr)))
        del guard
