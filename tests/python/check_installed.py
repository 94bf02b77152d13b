"""The `singa` package as `pip install .` installed it into the project's venv (tests/run.sh does
that), used from outside the source tree: it is the current sources, it loads its own copy of
libsinga (no build tree, no LD_LIBRARY_PATH), and it trains, exports and re-imports a model whose
outputs agree with the model it came from. Exits 77 (skipped) when the package is not installed.
Usage: check_installed.py SOURCE_DIR"""
import filecmp
import os
import sys
import sysconfig
import tempfile

src = os.path.abspath(sys.argv[1])
site = os.path.abspath(sysconfig.get_paths()["platlib"])
# Only the interpreter's own folders: not the working directory, the sources or a build tree.
sys.path = [p for p in sys.path if p and (not os.path.abspath(p).startswith(src) or p.startswith(sys.prefix))]
try:
    import singa
except ImportError as e:
    print("SKIPPED: singa is not installed in %s (%s); tests/run.sh installs it with pip install ." % (sys.prefix, e))
    sys.exit(77)
import numpy as np
from singa import autograd, opt, sonnx, tensor

pkg = os.path.dirname(os.path.abspath(singa.__file__))
assert pkg == os.path.join(site, "singa"), "imported %s, not the package installed in %s" % (pkg, site)
stale = [f for f in sorted(os.listdir(os.path.join(src, "src", "python", "singa"))) if f.endswith(".py") and
         not filecmp.cmp(os.path.join(src, "src", "python", "singa", f), os.path.join(pkg, f), shallow=False)]
assert not stale, ("the installed package (%s) is older than the sources (%s differ): rerun tests/run.sh or "
                   "`pip install .`" % (pkg, ", ".join(stale)))
libs = {line.split()[-1] for line in open("/proc/self/maps") if "libsinga.so" in line}
assert libs == {os.path.join(pkg, "lib", "libsinga.so.0")}, "libsinga loaded from %s" % libs


class Net:
    def __init__(self):
        self.conv = autograd.Conv2d(1, 4, 3, padding=1)
        self.fc = autograd.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(autograd.flatten(autograd.MaxPool2d(2, 2)(autograd.relu(self.conv(x)))))


rng = np.random.default_rng(0)
x, y = rng.standard_normal((64, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 64)
net = Net()
before = singa.Trainer(net, opt.SGD(lr=0.05, momentum=0.9), epochs=1, batch_size=16, quiet=True).evaluate((x, y))
after = singa.Trainer(net, opt.SGD(lr=0.05, momentum=0.9), epochs=20, batch_size=16, quiet=True).fit((x, y))
assert after.final_train_loss < 0.5 * before.loss, (before.loss, after.final_train_loss)  # it fits the batch
tx = tensor.from_numpy(x)
model = sonnx.to_onnx([tx], [net.forward(tx)])
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "net.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    out = sonnx.prepare(path).run([tx])[0].numpy()
np.testing.assert_allclose(out, net.forward(tx).numpy(), rtol=1e-5, atol=1e-5)

# CPU work maps none of the CUDA libraries; the CUDA module, when the build has one, is the
# package's own copy beside its libsinga, loaded when a GPU is first asked for.
def mapped(part):
    return {line.split()[-1] for line in open("/proc/self/maps") if part in line.rsplit("/", 1)[-1]}


cuda_libs = set().union(*(mapped(p) for p in ("libsinga_cuda", "libcudart", "libcublas", "libcudnn", "libnccl")))
assert not cuda_libs, "CPU training mapped CUDA libraries: %s" % sorted(cuda_libs)
cuda_module = os.path.join(pkg, "lib", "libsinga_cuda.so")
if os.path.exists(cuda_module):
    from singa import device
    try:
        device.create_cuda_gpu()
    except RuntimeError:
        pass  # no GPU here: the module is loaded all the same, to ask the CUDA runtime
    assert mapped("libsinga_cuda") == {cuda_module}, "CUDA module loaded from %s" % mapped("libsinga_cuda")
print("installed package ok: %s (loss %.3f -> %.3f)" % (pkg, before.loss, after.final_train_loss))
