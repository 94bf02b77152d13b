"""singa.Trainer (the library's loop from Python) against PyTorch on the same batches, for a
Python model and for an imported ONNX model; Ctrl-C and SIGTERM stops; exact resume after Ctrl-C
against an uninterrupted run; errors as Python exceptions."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import singa
from singa import autograd, data, opt, sonnx, tensor

N, BATCH, EPOCHS = 48, 16, 2


class Small:
    def __init__(self):
        self.conv = autograd.Conv2d(1, 4, 3, padding=1)
        self.pool = autograd.MaxPool2d(2, 2)
        self.fc = autograd.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(autograd.flatten(self.pool(autograd.relu(self.conv(x)))))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, N)


def _torch_twin(torch, model):
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for mine, theirs in ((model.conv, t[0]), (model.fc, t[4])):
            for name, p in mine.get_params().items():
                getattr(theirs, name).copy_(torch.from_numpy(p.numpy().copy()))
    return t


def _torch_train(torch, net, x, y, lr=0.1, momentum=0.9, wd=1e-3):
    sgd = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):  # file order (shuffle=False)
            sgd.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x[i:i + BATCH])),
                                                     torch.from_numpy(y[i:i + BATCH]))
            loss.backward()
            sgd.step()
    return net


def _options(**kw):
    o = dict(epochs=EPOCHS, batch_size=BATCH, shuffle=False, workers=0, quiet=True)
    o.update(kw)
    return o


def test_python_model_trains_like_pytorch():
    torch = pytest.importorskip("torch")
    x, y = _data()
    model = Small()
    net = _torch_train(torch, _torch_twin(torch, model), x, y)
    trainer = singa.Trainer(model, opt.SGD(lr=0.1, momentum=0.9, weight_decay=1e-3), **_options())
    result = trainer.fit((x, y))
    assert result.epochs_run == EPOCHS and not result.preempted
    for mine, theirs in ((model.conv, net[0]), (model.fc, net[4])):
        for name, p in mine.get_params().items():
            np.testing.assert_allclose(p.numpy(), getattr(theirs, name).detach().numpy(), rtol=1e-4, atol=1e-5)
    # evaluate: the same loss and accuracy as PyTorch's model on the data
    ev = trainer.evaluate(data.from_numpy(x, y))
    with torch.no_grad():
        logits = net(torch.from_numpy(x))
        tloss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
        tacc = float((logits.argmax(1).numpy() == y).mean())
    assert ev.samples == N and abs(ev.loss - tloss) < 1e-4 and abs(ev.accuracy - tacc) < 1e-9


def test_imported_onnx_model_trains_like_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    x, y = _data(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(64, 10))
    path = str(tmp_path / "small.onnx")
    torch.onnx.export(net, torch.from_numpy(x[:1]), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13)
    autograd.training = True
    rep = sonnx.prepare(path)
    autograd.training = False
    trainer = singa.Trainer(rep, opt.SGD(lr=0.05, momentum=0.9), **_options())
    trainer.fit((x, y))
    _torch_train(torch, net, x, y, lr=0.05, wd=0.0)
    out = rep.run([tensor.from_numpy(x)])[0].numpy()
    with torch.no_grad():
        np.testing.assert_allclose(out, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)


def _params(model):
    return [p.numpy().copy() for p in singa.trainer.parameters_of(model)]


def _copy_params(src, dst):
    for a, b in zip(singa.trainer.parameters_of(src), singa.trainer.parameters_of(dst)):
        b.copy_from_numpy(a.numpy().copy())


def _interrupt_at(trainer, step, sig):
    """Sends `sig` to this process after global step `step`; returns the list of steps run."""
    steps = []

    def hook(info):
        steps.append(info.global_batch)
        if info.global_batch == step:
            os.kill(os.getpid(), sig)
    trainer.on_step(hook)
    return steps


def test_ctrl_c_stops_after_the_step_and_resume_is_exact(tmp_path):
    x, y = _data(2)
    o = _options(shuffle=True, seed=7, epochs=3)
    reference, interrupted, resumed = Small(), Small(), Small()
    _copy_params(reference, interrupted)
    singa.Trainer(reference, opt.SGD(lr=0.05, momentum=0.9), **o).fit((x, y))

    before = signal.getsignal(signal.SIGINT)
    t = singa.Trainer(interrupted, opt.SGD(lr=0.05, momentum=0.9), checkpoint_dir=tmp_path, **o)
    _interrupt_at(t, 4, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
        t.fit((x, y))
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # Python's own handler is back at the OS level
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    assert t._t.last_signal == signal.SIGINT
    assert os.listdir(tmp_path), "no checkpoint was written on Ctrl-C"

    r = singa.Trainer(resumed, opt.SGD(lr=0.05, momentum=0.9), checkpoint_dir=tmp_path, resume=True, **o).fit((x, y))
    assert r.epochs_run == 3 and not r.preempted
    for a, b in zip(_params(reference), _params(resumed)):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_without_checkpoints_and_sigterm():
    x, y = _data(3)
    model = Small()
    t = singa.Trainer(model, opt.SGD(lr=0.05), **_options(epochs=2))
    steps = _interrupt_at(t, 1, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        t.fit((x, y))
    assert steps == [0, 1]  # stopped right after the step that saw the signal
    # The stop is not remembered: the next fit runs to the end.
    t2 = singa.Trainer(model, opt.SGD(lr=0.05), **_options(epochs=1))
    assert t2.fit((x, y)).epochs_run == 1


SIGTERM_SCRIPT = """
import os, signal, sys, time
sys.path.insert(0, %r)
import numpy as np
import singa
from singa import opt
from test_trainer import Small, _data, _interrupt_at, _options
x, y = _data(3)
t = singa.Trainer(Small(), opt.SGD(lr=0.05), **_options(epochs=2))
steps = _interrupt_at(t, 2, signal.SIGTERM)
r = t.fit((x, y))  # a preemption: the result says so, no exception
print("preempted", r.preempted, r.epochs_run, steps, flush=True)
os.kill(os.getpid(), signal.SIGTERM)  # the default action is back: the process ends
time.sleep(5)
print("still alive", flush=True)
"""


def test_sigterm_returns_preempted_and_restores_the_default_action():
    run = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT % os.path.dirname(os.path.abspath(__file__))],
                         capture_output=True, text=True, timeout=120)
    assert "preempted True 0 [0, 1, 2]" in run.stdout, run.stdout + run.stderr
    assert run.returncode == -signal.SIGTERM and "still alive" not in run.stdout


def test_errors_name_the_problem():
    x, y = _data()
    with pytest.raises(TypeError, match="unknown option 'epoch'"):
        singa.Trainer(Small(), epoch=3)
    with pytest.raises(ValueError, match="no layers with parameters"):
        singa.Trainer(lambda t: t)
    with pytest.raises(ValueError, match="48 images|labels"):
        singa.Trainer(Small(), **_options()).fit((x, y[:10]))
    with pytest.raises(NotImplementedError, match="dampening"):
        singa.Trainer(Small(), opt.SGD(dampening=0.5))

    class Broken(Small):
        def forward(self, x):
            raise ZeroDivisionError("from the model")

    with pytest.raises(ZeroDivisionError, match="from the model"):
        singa.Trainer(Broken(), **_options()).fit((x, y))
    t = singa.Trainer(Small(), **_options())
    t.close()
    with pytest.raises(ValueError, match="closed"):
        t.fit((x, y))


def test_dist_opt_in_one_process_is_the_wrapped_optimizer():
    x, y = _data(4)
    a, b = Small(), Small()
    _copy_params(a, b)
    plain, dist = opt.SGD(lr=0.1, momentum=0.9), opt.DistOpt(opt.SGD(lr=0.1, momentum=0.9))
    assert (dist.world_size, dist.global_rank, dist.local_rank) == (1, 0, 0)
    autograd.training = True
    for i in range(0, N, BATCH):
        xt, yt = tensor.from_numpy(x[i:i + BATCH]), tensor.from_numpy(y[i:i + BATCH])
        plain(autograd.softmax_cross_entropy(a.forward(xt), yt))
        dist(autograd.softmax_cross_entropy(b.forward(xt), yt))
    autograd.training = False
    assert dist.step_counter == plain.step_counter == N // BATCH
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(p, q)
