"""``singa.Trainer``: the library's training loop (src/train/trainer.h) from Python.

The loop, the data loading threads, the optimizer, LR schedules, checkpoints with exact resume,
validation and early stopping all run in C++ with the GIL released; a model written in Python
(any object with ``forward(x)`` whose layers are attributes) is called back for its forward pass
only. Ctrl-C stops training after the current step (writing a checkpoint when ``checkpoint_dir``
is set) and raises KeyboardInterrupt; SIGTERM (a Slurm preemption) does the same but returns the
result with ``preempted`` set.

    trainer = singa.Trainer(model, opt.SGD(lr=0.01, momentum=0.9), epochs=2, batch_size=64)
    result = trainer.fit(data.from_numpy(x, y), validation=data.from_numpy(vx, vy))
    print(result.validation.accuracy)

Under ``mpirun -np N``, or with ``opt.DistOpt``, each rank trains on its shard of the data and
gradients are averaged over the ranks (MPI for CPU tensors, NCCL for GPU tensors).
"""
import threading
import weakref

from . import _singa
from . import data as _data
from . import opt as _opt
from .autograd import Layer
from . import autograd as _autograd
from .sonnx import SingaRep
from .tensor import Tensor

_live = weakref.WeakSet()

_OPTION_NAMES = sorted(n for n in dir(_singa.TrainerOptions) if not n.startswith("_"))


def _children(model):
    """(name, C++ module) of the layers and imported models ``model`` holds, found through its
    attributes, lists, tuples and dicts (nested objects too), each once."""
    found, seen = [], set()

    def visit(obj, path, depth):
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, (Layer, SingaRep)):
            found.append((path or "layer", obj._m))
            return
        if isinstance(obj, _singa.Module):
            found.append((path or "module", obj))
            return
        if isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                visit(v, "%s_%d" % (path, i) if path else str(i), depth + 1)
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                visit(v, "%s_%s" % (path, k) if path else str(k), depth + 1)
            return
        attrs = getattr(obj, "__dict__", None)
        if attrs is None or isinstance(obj, type):
            return
        for k, v in list(attrs.items()):
            if not k.startswith("__"):
                visit(v, "%s_%s" % (path, k.lstrip("_")) if path else k.lstrip("_"), depth + 1)

    visit(model, "", 0)
    return found


def as_module(model):
    """The C++ module for ``model``: a layer's or an imported model's own, or one that calls a
    Python model's ``forward`` (its layers registered as children, so their parameters train)."""
    if isinstance(model, (Layer, SingaRep)):
        return model._m
    if isinstance(model, _singa.Module):
        return model
    forward = getattr(model, "forward", None)
    if forward is None:
        if not callable(model):
            raise TypeError("Trainer: the model must be a layer, an imported model (sonnx.prepare), or an "
                            "object with forward(x); got %s" % type(model).__name__)
        forward = model
    children = _children(model)
    if not any(m.named_parameters() for _, m in children):
        raise ValueError("Trainer: found no layers with parameters in %s (keep the layers, e.g. autograd.Conv2d, "
                         "or the sonnx.prepare result, as attributes of the model)" % type(model).__name__)

    def call(ct, training):
        before = _autograd.training
        _autograd.training = bool(training)
        try:
            out = forward(Tensor._wrap(ct))
        finally:
            _autograd.training = before
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out._t

    return _singa.python_module(call, children)


def parameters_of(model):
    """The parameters (Tensors) of a layer, an imported model or a Python model holding them."""
    return [Tensor._wrap(p) for _, p in as_module(model).named_parameters()]


def _dataset(d, what):
    if d is None or isinstance(d, _singa.Dataset):
        return d
    if isinstance(d, (tuple, list)) and len(d) == 2:
        return _data.from_numpy(d[0], d[1], what)
    raise TypeError("Trainer: %s must be a singa.data data set, a data spec string or an (images, labels) pair, "
                    "got %s" % (what, type(d).__name__))


class Trainer:
    """Trains ``model`` with the library's loop.

    ``model``: a Python model (an object with ``forward(x)`` whose layers are attributes), a layer,
    or an imported ONNX model (``sonnx.prepare``). ``optimizer``: ``opt.SGD`` (default
    ``SGD(lr=0.01)``) or ``opt.Adam`` (their default betas and epsilon), or ``opt.DistOpt`` of one
    for data-parallel training. ``device``: where to train (default: the CPU).
    ``checkpoint_dir``/``checkpoint_every``/``resume``: checkpoints at each epoch end (and every
    N steps) with exact resume. Any other keyword sets the option of that name
    (``singa._singa.TrainerOptions``: epochs, batch_size, seed, lr_schedule, warmup_epochs,
    freeze, head_lr, clip_grad_norm, label_smoothing, early_stopping_patience, workers, ...).
    ``batch_size`` is per rank.
    """

    def __init__(self, model, optimizer=None, device=None, checkpoint_dir=None, checkpoint_every=0, resume=False,
                 **options):
        from .device import get_default_device
        o = _singa.TrainerOptions()
        o.program_name = "singa.Trainer"
        comm = None
        optimizer = optimizer if optimizer is not None else _opt.SGD(lr=0.01)
        if isinstance(optimizer, _opt.DistOpt):
            comm = optimizer.communicator
            optimizer = optimizer.opt
        elif _singa.detect_world_size() > 1:
            comm = _singa.communicator("auto", device if device is not None else get_default_device(), 300.0)
            _opt.abort_job_on_uncaught_exception(comm)
        self._set_optimizer(o, optimizer)
        for k, v in options.items():
            if k not in _OPTION_NAMES or k == "checkpoint":
                raise TypeError("Trainer: unknown option '%s' (known: %s)" % (k, ", ".join(_OPTION_NAMES)))
            setattr(o, k, v)
        if checkpoint_dir is not None:
            o.checkpoint.dir = str(checkpoint_dir)
            o.checkpoint.every = int(checkpoint_every)
            o.checkpoint.resume = bool(resume)
        elif resume:
            raise ValueError("Trainer: resume=True needs checkpoint_dir")
        self.device = device if device is not None else get_default_device()
        self.model = model
        self._module = as_module(model)
        self._module.to(self.device)
        self._t = _singa.CTrainer(self._module, o, comm)
        self.options = o
        _live.add(self)

    @staticmethod
    def _set_optimizer(o, optimizer):
        if callable(optimizer.lr):
            raise ValueError("Trainer: give a number as the learning rate and choose a schedule with lr_schedule= "
                             "('step', 'cosine') and warmup_epochs=")
        o.lr = float(optimizer.lr)
        if type(optimizer) is _opt.SGD:
            if optimizer.dampening != 0:
                raise NotImplementedError("Trainer: SGD dampening is not offered by the library's loop; use 0")
            o.optimizer, o.momentum, o.nesterov = "sgd", optimizer.momentum, optimizer.nesterov
            o.weight_decay = optimizer.weight_decay
        elif type(optimizer) is _opt.Adam:
            if (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) != (0.9, 0.999, 1e-8):
                raise NotImplementedError("Trainer: the library's Adam uses beta_1=0.9, beta_2=0.999, epsilon=1e-8")
            o.optimizer, o.weight_decay = "adam", optimizer.weight_decay
        else:
            raise TypeError("Trainer: the optimizer must be opt.SGD, opt.Adam or opt.DistOpt of one, got %s"
                            % type(optimizer).__name__)

    @property
    def rank(self):
        """This process's rank (0 in a single process)."""
        return self._t.rank

    @property
    def world_size(self):
        """The number of ranks training together."""
        return self._t.world_size

    def on_step(self, fn):
        """Calls ``fn(info)`` after every step (info: epoch, step, steps_per_epoch, loss, lr)."""
        self._t.on_step(fn)

    def fit(self, train, validation=None):
        """Trains for ``epochs`` and returns a TrainResult (validation, best_accuracy, epochs_run,
        final_train_loss, train_images_per_sec, preempted, last_checkpoint, ...).

        ``train``/``validation``: singa.data data sets, (images, labels) NumPy pairs, or a data spec
        string (``"fashion-mnist"``; its test split validates when ``validation`` is None).
        Raises KeyboardInterrupt after the current step on Ctrl-C."""
        if isinstance(train, str):
            train, test = _data.load(train)
            validation = test if validation is None else validation
        if isinstance(validation, str):
            vtrain, vtest = _data.load(validation)
            validation = vtest if vtest is not None else vtrain
        main = threading.current_thread() is threading.main_thread()
        return self._t.fit(_dataset(train, "train"), _dataset(validation, "validation"), main)

    def evaluate(self, data):
        """Loss, accuracy and top-5 accuracy of the model on ``data`` (no gradients)."""
        if isinstance(data, str):
            train, test = _data.load(data)
            data = test if test is not None else train
        return self._t.evaluate(_dataset(data, "data"))

    def benchmark(self, train):
        """Times ``benchmark_steps`` training steps after ``benchmark_warmup_steps``; returns
        images_per_sec, ms_per_step and peak_rss_mib."""
        if isinstance(train, str):
            train = _data.load(train)[0]
        main = threading.current_thread() is threading.main_thread()
        return self._t.benchmark(_dataset(train, "train"), main)

    def close(self):
        """Releases the C++ trainer (its data loader threads and gradient buffers)."""
        self._t.close()


def _close_all():
    for t in list(_live):
        t.close()
