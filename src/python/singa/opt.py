"""Optimizers with SINGA's interface: ``update(param, grad)`` applies one parameter's update at
once, ``step()`` ends the iteration (learning-rate schedules count steps); ``opt(loss)`` runs
backward and updates every parameter. The update rules are the C++ library's (src/optim, fused
kernels), applied one parameter at a time; their state is kept per parameter."""


from . import _singa


class Optimizer:
    """Base class: the learning rate, the step counter, and the C++ rule in ``_impl``."""

    def __init__(self, lr, impl):
        self.lr = lr
        self.step_counter = 0
        self._impl = impl

    def get_lr(self):
        """The learning rate of this step (a number, or a callable of the step counter)."""
        return float(self.lr(self.step_counter)) if callable(self.lr) else float(self.lr)

    def update(self, param, grad):
        """Updates ``param`` in place from ``grad`` (no gradient is recorded)."""
        self._impl.update(param._t, grad._t, self.get_lr())

    def step(self):
        """Ends the iteration."""
        self.step_counter += 1

    def __call__(self, loss):
        """backward(loss), update of every parameter, step()."""
        from .autograd import backward
        for p, g in backward(loss):
            self.update(p, g)
        self.step()


class SGD(Optimizer):
    """SGD(lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False), PyTorch's rule:
    g += wd * p; buf = momentum * buf + (1 - dampening) * g; g = g + momentum * buf (nesterov)
    or buf; p -= lr * g."""

    def __init__(self, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr, _singa.SGDUpdater(float(momentum), float(dampening), bool(nesterov), float(weight_decay)))


class Adam(Optimizer):
    """Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0) with bias correction
    (PyTorch's Adam; weight decay added to the gradient)."""

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr, _singa.AdamUpdater(float(beta_1), float(beta_2), float(epsilon), float(weight_decay)))
