"""Data parallel from Python under mpirun: examples/python/train_dist.py with 2 ranks against one
process with the same global batch (the Python loop with opt.DistOpt, and singa.Trainer), ranks
holding identical parameters, and an uncaught exception on one rank ending the whole job."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "python", "train_dist.py")
DATA = os.environ.get("SINGA_DATA_DIR", "/usr/share/datasets/fashion-mnist")
LIMIT = "12800"


def _mpirun(n, args, timeout=600):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not found (openmpi-bin)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [mpirun, "-np", str(n), "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS", sys.executable] + args
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _single(args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable] + args, env=env, capture_output=True, text=True, timeout=600)


def _result(run):
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # Lines of two ranks may run together in mpirun's output: no anchors.
    acc = re.search(r"accuracy ([0-9.]+) \(", run.stdout)
    digests = dict(re.findall(r"rank (\d+) parameters ([0-9a-f]{16})", run.stdout))
    assert acc, run.stdout[-2000:]
    return float(acc.group(1)), digests


@pytest.mark.parametrize("mode", [[], ["--trainer"]], ids=["python_loop", "trainer"])
def test_two_ranks_reach_one_process_accuracy_with_the_global_batch(mode):
    if not os.path.isdir(DATA):
        pytest.skip("no Fashion-MNIST at %s (install dataset-fashion-mnist)" % DATA)
    args = [EXAMPLE, "--data", DATA, "--limit", LIMIT, "--global-batch", "64"] + mode
    two_acc, two_digests = _result(_mpirun(2, args))
    one_acc, _ = _result(_single(args))
    assert sorted(two_digests) == ["0", "1"], two_digests
    assert len(set(two_digests.values())) == 1, "the ranks ended with different parameters: %s" % two_digests
    # The same steps up to float rounding (averaged half-batch gradients vs whole-batch ones),
    # which 200 SGD steps with momentum amplify a little.
    assert abs(two_acc - one_acc) <= 0.01, "2 ranks %.4f vs 1 process %.4f" % (two_acc, one_acc)
    assert one_acc > 0.70  # it learned (chance is 0.10)


def test_an_uncaught_exception_on_one_rank_ends_the_job():
    script = ("from singa import opt, tensor\n"
              "import numpy as np\n"
              "d = opt.DistOpt()\n"
              "if d.global_rank == 1:\n"
              "    raise RuntimeError('boom on purpose')\n"
              "d.all_reduce(tensor.from_numpy(np.ones(4, np.float32)))\n")
    run = _mpirun(2, ["-c", script], timeout=120)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "boom on purpose" in out and "uncaught Python exception on rank 1" in out, out[-3000:]


SCRIPT_CHECKS = """
import json, numpy as np
from singa import autograd, opt, tensor
tensor.manual_seed(0)
d = opt.DistOpt(opt.SGD(lr=0.1, momentum=0.9))
r = d.global_rank
used, extra, unused = autograd.Linear(4, 3), autograd.Linear(3, 3), autograd.Linear(3, 3)
before_unused = [p.numpy().copy() for p in unused.get_params().values()]
d.sync_parameters([used, extra, unused])
rng = np.random.default_rng(r)  # each rank its own data
autograd.training = True
for step in range(3):
    x = tensor.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
    y = used(x)
    if r == 0:  # rank 1 never uses `extra`: no gradient there
        y = extra(y)
    d(autograd.mse_loss(y, tensor.from_numpy(np.zeros((5, 3), np.float32))))
# SINGA's update: the user sums with all_reduce, update divides by world_size
g = tensor.from_numpy(np.full((2,), float(r + 1), np.float32))
p = tensor.from_numpy(np.zeros((2,), np.float32))
d.all_reduce(g)
plain = opt.SGD(lr=1.0)
d.opt = plain
d.update(p, g)
print("RESULT " + json.dumps({
    "rank": r,
    "params": [float(np.sum(v.numpy().astype(np.float64) ** 2)) for l in (used, extra)
               for v in l.get_params().values()],
    "unused_same": all(np.array_equal(a, b.numpy()) for a, b in zip(before_unused, unused.get_params().values())),
    "update": p.numpy().tolist()}))
"""


def test_gradients_missing_on_a_rank_and_singa_update_semantics():
    import json
    run = _mpirun(2, ["-c", SCRIPT_CHECKS], timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = {r["rank"]: r for r in (json.loads(m) for m in re.findall(r"RESULT (\{.*?\})(?=RESULT|\n|$)", run.stdout))}
    assert sorted(res) == [0, 1], run.stdout
    assert res[0]["params"] == res[1]["params"]  # `extra` trained on rank 1 too, from rank 0's gradients
    assert res[0]["unused_same"] and res[1]["unused_same"]  # no gradient anywhere: untouched
    # all_reduce sums 1 + 2 = 3, update divides by 2 ranks: p = 0 - 1.0 * 1.5
    assert res[0]["update"] == res[1]["update"] == [-1.5, -1.5]


def test_ranks_starting_from_different_parameters_are_stopped():
    script = ("import numpy as np\n"
              "from singa import autograd, opt, tensor\n"
              "d = opt.DistOpt()\n"
              "tensor.manual_seed(d.global_rank)\n"  # different initial weights on each rank
              "l = autograd.Linear(4, 2)\n"
              "autograd.training = True\n"
              "x = tensor.from_numpy(np.ones((3, 4), np.float32))\n"
              "d(autograd.mse_loss(l(x), tensor.from_numpy(np.zeros((3, 2), np.float32))))\n")
    run = _mpirun(2, ["-c", script], timeout=120)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "starts from other parameter values than rank 0" in out and "sync_parameters" in out, out[-3000:]
