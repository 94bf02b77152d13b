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

    Ranks must start from the same parameters: the first time DistOpt sees a parameter it
    replaces it with rank 0's value (``sync_parameters`` does that explicitly). The average is
    rank-ordered, so every rank holds bit-identical parameters after each step. When one rank
    ends with an uncaught exception the whole job is ended (instead of the others waiting in a
    collective until ``timeout`` seconds pass).
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
        self._synced = set()
        if self.world_size > 1:
            _abort_job_on_uncaught_exception(self.communicator)

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
        """Averages ``grad`` over the ranks, then updates ``param`` with the wrapped optimizer."""
        self._sync_new([param])
        self._exchange.all_reduce_average([grad._t])
        self.opt.update(param, grad)

    def backward_and_update(self, loss):
        """backward(loss); every gradient averaged over the ranks (one collective); the wrapped
        optimizer's update of every parameter; step()."""
        from .autograd import backward
        pairs = list(backward(loss))
        self._sync_new([p for p, _ in pairs])
        self._exchange.all_reduce_average([g._t for _, g in pairs])
        for p, g in pairs:
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
        """Gives every rank rank 0's values of ``params`` (tensors, a layer, an imported model or
        a model object holding layers)."""
        from .trainer import parameters_of
        tensors = list(params) if isinstance(params, (list, tuple)) else parameters_of(params)
        for p in tensors:
            self.broadcast(p)
            self._synced.add(p._t.identity())

    def _sync_new(self, params):
        for p in params:
            key = p._t.identity()
            if key not in self._synced:
                self.broadcast(p)
                self._synced.add(key)


_hook_installed = False


def _abort_job_on_uncaught_exception(comm):
    """An uncaught exception on one rank prints its traceback and ends every rank of the job."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            return
        sys.stderr.flush()
        comm.abort_job("uncaught Python exception on rank %d: %s: %s"
                       % (comm.rank, kind.__name__, "".join(traceback.format_exception_only(kind, value)).strip()))

    sys.excepthook = hook
