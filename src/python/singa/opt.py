"""Optimizers with SINGA's interface: ``update(param, grad)`` applies one parameter's update at
once, ``step()`` ends the iteration (learning-rate schedules count steps); ``opt(loss)`` runs
backward and updates every parameter. The update rules are the C++ library's (src/optim, fused
kernels), applied one parameter at a time; their state is kept per parameter.

``DistOpt(opt)`` makes any of them data-parallel over the job's ranks (``mpirun -np N python3 ...``):
gradients are averaged over the ranks (MPI for CPU tensors, NCCL for GPU tensors) before the
wrapped optimizer's update."""
import sys
import traceback

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
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)


class Adam(Optimizer):
    """Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0) with bias correction
    (PyTorch's Adam; weight decay added to the gradient)."""

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr, _singa.AdamUpdater(float(beta_1), float(beta_2), float(epsilon), float(weight_decay)))
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.weight_decay = float(weight_decay)


class DistOpt(Optimizer):
    """Data-parallel training, SINGA's ``DistOpt(opt)``: wraps ``opt`` (SGD by default) so that
    ``backward_and_update(loss)`` (or calling it on the loss) runs backward, averages every
    gradient over the ranks in one collective, then applies ``opt``'s update on each rank.

    Start one process per rank: ``mpirun -np 2 python3 train.py`` (or ``srun --mpi=pmix`` under
    Slurm). ``world_size``, ``global_rank`` and ``local_rank`` tell each process its place: feed
    each rank its own share of every global batch, and use ``local_rank`` to pick its GPU
    (``device.create_cuda_gpu_on(sgd.local_rank)``). The communicator follows the device: MPI for
    CPU tensors, NCCL for GPU tensors (``backend`` "auto"), or name one ("mpi", "nccl", "local").

    The ranks must start from the same parameters: build the model alike on every rank (the same
    ``tensor.manual_seed``) or call ``sync_parameters(model)`` (rank 0's values everywhere) before
    training. The first step checks that every rank has the same parameters, in names, shapes and
    values, and raises naming the difference otherwise. A parameter that gets no gradient on a rank
    in some step counts as a zero gradient there; one that gets none on any rank is left alone, as
    a single process would. The average is rank-ordered, so every rank holds bit-identical
    parameters after each step. When one rank ends with an uncaught exception (Ctrl-C included)
    the whole job is ended, instead of the others waiting in a collective for ``timeout`` seconds.
    """

    def __init__(self, opt=None, backend="auto", device=None, timeout=300.0):
        from .device import get_default_device
        self.opt = opt if opt is not None else SGD()
        if isinstance(self.opt, DistOpt):
            raise TypeError("DistOpt: the optimizer is already distributed")
        self._impl = None
        dev = device if device is not None else get_default_device()
        self.communicator = _singa.communicator(str(backend), dev, float(timeout))
        self.world_size = self.communicator.world_size
        self.global_rank = self.communicator.rank
        self.local_rank = self.communicator.local_rank
        self._exchange = _singa.GradExchange(self.communicator)
        self._params = None  # the parameters of the first step, in order (strong references)
        self._index = {}
        abort_job_on_uncaught_exception(self.communicator)

    def get_lr(self):
        """The wrapped optimizer's learning rate."""
        return self.opt.get_lr()

    @property
    def step_counter(self):
        """The wrapped optimizer's step counter."""
        return self.opt.step_counter

    @step_counter.setter
    def step_counter(self, value):
        self.opt.step_counter = value

    @property
    def lr(self):
        """The wrapped optimizer's learning rate (a number or a callable of the step counter)."""
        return self.opt.lr

    @lr.setter
    def lr(self, value):
        self.opt.lr = value

    def update(self, param, grad):
        """SINGA's DistOpt.update: ``grad``, already summed over the ranks (``all_reduce``), is
        divided by ``world_size`` and applied by the wrapped optimizer."""
        if self.world_size > 1:
            grad = grad / float(self.world_size)
        self.opt.update(param, grad)

    def backward_and_update(self, loss, threshold=None):
        """backward(loss); every gradient averaged over the ranks (one collective); the wrapped
        optimizer's update of every parameter; step(). (``threshold`` is SINGA's fusion size
        hint; every gradient goes in one collective here.)"""
        from .autograd import backward
        from .tensor import Tensor, from_numpy
        import numpy as np
        pairs = list(backward(loss))
        if self._params is None:
            self._first_step([p for p, _ in pairs])
        grads = [None] * len(self._params)
        for p, g in pairs:
            i = self._index.get(p._t.identity())
            if i is None or not self._params[i]._t.same(p._t):
                raise ValueError("DistOpt: parameter %r %s was not among the first step's parameters; every "
                                 "rank must train the same parameters from the first step on"
                                 % (p.name, tuple(p.shape)))
            grads[i] = g
        has = np.array([g is not None for g in grads], np.float32)
        flags = None
        if self._params:  # exchanged with the gradients (same dtype and device): who had one
            first = self._params[0]._t
            flags = Tensor._wrap(from_numpy(has)._t.astype(first.dtype).to_device(first.device))
        for i, g in enumerate(grads):
            if g is None:  # no gradient here this step: zero, so the collective has the same layout
                p = self._params[i]
                grads[i] = Tensor._wrap(_singa.full(list(p.shape), 0.0, p._t.dtype, p._t.device))
        if grads:
            self._exchange.all_reduce_average([flags._t] + [g._t for g in grads])
        present = flags.numpy() if grads else has
        for p, g, h in zip(self._params, grads, present):
            if h > 0:  # some rank had a gradient
                self.opt.update(p, g)
        self.step()

    __call__ = backward_and_update

    def step(self):
        """Ends the iteration (the wrapped optimizer's step())."""
        self.opt.step()

    def all_reduce(self, tensor, average=False):
        """Sums (or averages) ``tensor`` over the ranks, in place."""
        self.communicator.all_reduce(tensor._t, bool(average))

    def broadcast(self, tensor, root=0):
        """Gives every rank ``root``'s values of ``tensor``, in place."""
        self.communicator.broadcast(tensor._t, int(root))

    def wait(self):
        """Collectives complete before they return; kept for SINGA's API."""

    def sync_parameters(self, params):
        """Gives every rank rank 0's values of ``params`` (a model object holding layers, a layer,
        an imported model, or a list of those or of tensors), and makes them the parameters this
        DistOpt trains, so a rank that leaves some of them without a gradient in a step (even the
        first) still takes part. Every rank must call it with the same model."""
        from .tensor import Tensor
        from .trainer import parameters_of
        tensors = []
        for item in (params if isinstance(params, (list, tuple)) else [params]):
            tensors.extend([item] if isinstance(item, Tensor) else parameters_of(item))
        for p in tensors:
            self.broadcast(p)
        self._first_step(tensors)

    def _first_step(self, params):
        """Records the parameters and checks every rank has the same ones (names, shapes,
        dtypes and values)."""
        import hashlib
        import numpy as np
        from .tensor import from_numpy
        self._params = list(params)
        self._index = {p._t.identity(): i for i, p in enumerate(self._params)}
        if self.world_size == 1:
            return
        layout = hashlib.sha256()
        values = hashlib.sha256()
        for p in self._params:
            layout.update(("%s%s%s;" % (p.name, tuple(p.shape), p.dtype)).encode())
            values.update(np.ascontiguousarray(p.numpy()).tobytes())
        mine = np.frombuffer(layout.digest()[:8] + values.digest()[:8], np.int64).copy()
        dev = self._params[0].device if self._params else None
        t = from_numpy(mine) if dev is None else from_numpy(mine).to_device(dev)
        every = _singa.to_numpy(self.communicator.all_gather(t._t))
        for r in range(self.world_size):
            if every[r][0] != every[0][0]:
                raise ValueError("DistOpt: rank %d trains other parameters (names, shapes or dtypes) than rank 0 "
                                 "(%d parameters here); every rank must build the same model, and when a rank may "
                                 "leave some parameters without a gradient in the first step, call "
                                 "sync_parameters(model) before training" % (r, len(self._params)))
            if every[r][1] != every[0][1]:
                raise ValueError("DistOpt: rank %d starts from other parameter values than rank 0; seed every rank "
                                 "alike (tensor.manual_seed) or call sync_parameters(model) before training" % r)


_hook_installed = False


def abort_job_on_uncaught_exception(comm):
    """With more than one rank: an uncaught exception on a rank (KeyboardInterrupt included)
    prints its traceback and ends every rank of the job."""
    global _hook_installed
    if _hook_installed or comm.world_size == 1:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if issubclass(kind, SystemExit):
            return
        sys.stderr.flush()
        comm.abort_job("uncaught Python exception on rank %d: %s"
                       % (comm.rank, "".join(traceback.format_exception_only(kind, value)).strip()))

    sys.excepthook = hook
