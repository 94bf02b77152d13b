"""The singa Python package against independent references: NumPy for values and memory sharing,
PyTorch for gradients and SGD, onnxruntime for exported models, and the C++ messages in the
Python exceptions."""
import inspect
import threading

import numpy as np
import pytest

import singa
from singa import autograd, device, opt, sonnx, tensor


def test_numpy_round_trip_shares_memory_without_copies():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = tensor.from_numpy(a)
    assert t.shape == (3, 4) and t.dtype == tensor.float32
    a[0, 0] = 42.0  # the tensor views the array
    back = tensor.to_numpy(t)
    assert back[0, 0] == 42.0
    assert np.shares_memory(back, a)
    # A non-contiguous array is copied (the tensor must not see later writes through the view).
    v = a[:, ::2]
    tv = tensor.from_numpy(v)
    v[0, 0] = -1.0
    np.testing.assert_array_equal(tensor.to_numpy(tv), np.array([[42, 2], [4, 6], [8, 10]], np.float32))
    for dt in (np.float64, np.int32, np.int64, np.uint8, np.bool_):
        x = (np.arange(6) % 3).astype(dt).reshape(2, 3)
        np.testing.assert_array_equal(tensor.to_numpy(tensor.from_numpy(x)), x)


def test_tensor_constructors_and_arithmetic_match_numpy():
    dev = device.get_default_device()
    z = tensor.Tensor((2, 3), dev, tensor.float32)
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3), np.float32))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((5,)).astype(np.float32)
    ta, tb = tensor.Tensor(device=dev, data=a), tensor.Tensor(device=dev, data=b)
    np.testing.assert_allclose((ta + tb).numpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose((ta * 3 - tb / 2).numpy(), a * 3 - b / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose((2 - ta).numpy(), 2 - a, rtol=1e-6)
    np.testing.assert_allclose((ta @ tensor.from_numpy(a.T.copy())).numpy(), a @ a.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(autograd.relu(ta).numpy(), np.maximum(a, 0))
    e = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(autograd.softmax(ta).numpy(), e / e.sum(axis=1, keepdims=True), rtol=1e-5)


def _torch():
    return pytest.importorskip("torch")


def test_cnn_gradients_and_sgd_match_pytorch():
    torch = _torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 12, 12)).astype(np.float32)
    labels = rng.integers(0, 10, 6)
    onehot = np.eye(10, dtype=np.float32)[labels]
    conv, fc = autograd.Conv2d(1, 3, 3, padding=1), autograd.Linear(3 * 6 * 6, 10)
    pool = autograd.MaxPool2d(2, 2)
    tconv, tfc = torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Linear(3 * 6 * 6, 10)
    with torch.no_grad():
        for mine, theirs in ((conv, tconv), (fc, tfc)):
            for name, p in mine.get_params().items():
                getattr(theirs, name).copy_(torch.from_numpy(p.numpy().copy()))
    autograd.training = True
    out = fc(autograd.flatten(pool(autograd.relu(conv(tensor.from_numpy(x))))))
    loss = autograd.softmax_cross_entropy(out, tensor.from_numpy(onehot))
    tout = tfc(torch.flatten(torch.max_pool2d(torch.relu(tconv(torch.from_numpy(x))), 2), 1))
    tloss = torch.nn.functional.cross_entropy(tout, torch.from_numpy(labels))
    assert loss.shape == (1,)
    np.testing.assert_allclose(tensor.to_numpy(loss)[0], tloss.item(), rtol=1e-5)
    tloss.backward()
    sgd = opt.SGD(lr=0.1, momentum=0.9, weight_decay=1e-3)
    tsgd = torch.optim.SGD(list(tconv.parameters()) + list(tfc.parameters()), lr=0.1, momentum=0.9,
                           weight_decay=1e-3)
    grads = {p.name: (p, g) for p, g in autograd.backward(loss)}
    assert set(grads) == {"%s.%s" % (layer._name, n) for layer in (conv, fc) for n in ("weight", "bias")}
    for layer, theirs in ((conv, tconv), (fc, tfc)):
        for name, p in layer.get_params().items():
            _, g = grads[p.name]
            np.testing.assert_allclose(g.numpy(), getattr(theirs, name).grad.numpy(), rtol=1e-4, atol=1e-6)
    for step in range(2):  # the second step uses the momentum buffers
        for p, g in grads.values():
            sgd.update(p, g)
        sgd.step()
        tsgd.step()
    for layer, theirs in ((conv, tconv), (fc, tfc)):
        for name, p in layer.get_params().items():
            np.testing.assert_allclose(p.numpy(), getattr(theirs, name).detach().numpy(), rtol=1e-5, atol=1e-6)
    autograd.training = False


def test_adam_steps_match_pytorch():
    torch = _torch()
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
    p = tensor.from_numpy(w0.copy())
    tp = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    adam = opt.Adam(lr=0.01, weight_decay=0.01)
    tadam = torch.optim.Adam([tp], lr=0.01, weight_decay=0.01)
    for g in grads:
        adam.update(p, tensor.from_numpy(g))
        adam.step()
        tp.grad = torch.from_numpy(g)
        tadam.step()
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_export_matches_onnxruntime_and_import_runs_and_cuts():
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(2)
    x = tensor.from_numpy(rng.standard_normal((5, 1, 28, 28)).astype(np.float32))
    conv, fc1, fc2 = autograd.Conv2d(1, 4, 5), autograd.Linear(4 * 12 * 12, 16), autograd.Linear(16, 10)
    pool = autograd.MaxPool2d(2, 2)
    y = fc2(autograd.relu(fc1(autograd.flatten(pool(autograd.relu(conv(x)))))))
    model = sonnx.to_onnx([x], [y])
    import onnx
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    rep = sonnx.prepare(model, device=device.get_default_device())
    np.testing.assert_allclose(rep.run([x])[0].numpy(), ref, rtol=1e-4, atol=1e-5)
    feats = rep.run([x], last_layers=-1)[0]  # without the final Gemm: fc1 after ReLU
    assert feats.shape == (5, 16)
    np.testing.assert_allclose(feats.numpy(), autograd.relu(fc1(autograd.flatten(pool(autograd.relu(conv(x)))))).numpy(),
                               rtol=1e-4, atol=1e-5)
    assert set(rep.tensor_map) == {i.name for i in model.graph.initializer}
    # Bytes and a path work too.
    np.testing.assert_allclose(sonnx.prepare(model.SerializeToString()).run([x])[0].numpy(), ref, rtol=1e-4,
                               atol=1e-5)


def test_cpp_errors_become_python_exceptions_with_the_message():
    with pytest.raises(OSError, match="ONNX"):
        sonnx.prepare(b"not an onnx model")
    with pytest.raises(ValueError, match="reshape|Reshape|elements"):
        tensor.from_numpy(np.zeros((2, 3), np.float32)).reshape((4, 4))
    with pytest.raises(ValueError, match="do not match"):
        autograd.softmax_cross_entropy(tensor.from_numpy(np.zeros((2, 3), np.float32)),
                                       tensor.from_numpy(np.zeros((2, 4), np.float32)))
    with pytest.raises(ValueError, match="label 7"):
        autograd.softmax_cross_entropy(tensor.from_numpy(np.zeros((2, 3), np.float32)),
                                       tensor.from_numpy(np.array([0, 7], np.int64)))
    with pytest.raises(TypeError, match="dtype"):
        tensor.from_numpy(np.zeros(3, np.complex64))
    with pytest.raises(TypeError, match="ModelProto"):
        sonnx.prepare(12)


def test_cuda_device_request_names_why_there_is_none():
    if singa._singa.device_unavailable_reason("cuda") == "":
        pytest.skip("a GPU is usable here")
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        device.create_cuda_gpu()
    with pytest.raises(ValueError):
        device.create_cuda_gpu_on(-1)


def test_kernels_release_the_gil():
    # A large matmul runs in C++ without the GIL: a Python thread keeps running meanwhile.
    a = tensor.from_numpy(np.ones((1500, 1500), np.float32))
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=count)
    t.start()
    for _ in range(3):
        autograd.matmul(a, a)
    done.set()
    t.join()
    assert len(ticks) > 100


def test_every_public_function_has_a_docstring():
    missing = []
    for mod in (singa.device, singa.tensor, singa.autograd, singa.opt, singa.sonnx, singa.data, singa.trainer):
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj):
                missing.append("%s.%s" % (mod.__name__, name))
            if inspect.isclass(obj):  # and their public methods and properties
                for mname, member in vars(obj).items():
                    if mname.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                        continue
                    if not (member.__doc__ or "").strip():
                        missing.append("%s.%s.%s" % (mod.__name__, name, mname))
    assert not missing, "no docstring: " + ", ".join(missing)
    assert "ModelProto" in inspect.getdoc(sonnx.prepare)


def test_weights_written_through_numpy_reach_the_next_inference_call():
    # Inference convolutions (no_grad) keep their weights reordered between calls; a NumPy view
    # of the weight changes it behind the engine's back, so every call must see the new values
    # (PyTorch on the same numbers as the reference).
    torch = _torch()
    conv = autograd.Conv2d(32, 32, 3, padding=1)
    x = np.random.default_rng(0).standard_normal((1, 32, 9, 9)).astype(np.float32)
    w, b = conv.get_params()["weight"], conv.get_params()["bias"]
    view = tensor.to_numpy(w)
    for step in range(3):
        with autograd.no_grad():
            y = tensor.to_numpy(conv(tensor.from_numpy(x)))
        ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(view.copy()),
                                         torch.from_numpy(tensor.to_numpy(b).copy()), padding=1).numpy()
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
        view[step, 0, 1, 1] += 5.0  # through the array: no engine call sees it


def test_dlpack_shares_memory_with_numpy_and_pytorch():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = tensor.from_dlpack(a)  # NumPy's __dlpack__: no copy
    a[1, 1] = 100.0
    assert t.numpy()[1, 1] == 100.0
    b = np.from_dlpack(t)  # singa's __dlpack__: no copy
    assert np.shares_memory(b, a)
    assert t.__dlpack_device__() == (1, 0)
    torch = _torch()
    x = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    xt = x.t()  # a strided view stays a view
    s = tensor.from_dlpack(xt)
    assert s.shape == (6, 4) and s.dtype == tensor.float64
    x[0, 5] = -7.0
    np.testing.assert_array_equal(s.numpy(), xt.numpy())
    np.testing.assert_array_equal((s * 2).numpy(), (xt * 2).numpy())
    back = torch.from_dlpack(tensor.from_numpy(np.ones((2, 3), np.int64)))
    assert back.dtype == torch.int64 and back.sum().item() == 6
    with pytest.raises(ValueError, match="consumed once"):
        cap = t.__dlpack__()
        tensor.from_dlpack(cap)
        tensor.from_dlpack(cap)
    with pytest.raises(TypeError, match="no DLPack"):
        tensor.from_numpy(np.array([True, False])).__dlpack__()


def test_elementwise_functions_match_numpy_and_their_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    a = rng.uniform(0.2, 0.8, (3, 4)).astype(np.float64)  # inside every function's domain
    b = rng.uniform(-1, 1, (3, 4)).astype(np.float64)
    ta, tb = tensor.from_numpy(a), tensor.from_numpy(b)
    cases = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan,
             "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
             "asinh": np.arcsinh, "atanh": np.arctanh, "softplus": lambda v: np.log1p(np.exp(v)),
             "abs": np.abs, "reciprocal": lambda v: 1 / v}
    for name, ref in cases.items():
        fn = getattr(autograd, name)
        np.testing.assert_allclose(fn(ta).numpy(), ref(a), rtol=1e-12, err_msg=name)
        # d/dx sum(f(x)) by central differences
        x = tensor.from_numpy(a.copy())
        x.requires_grad = True
        (g,) = [gr.numpy() for _, gr in autograd.backward(autograd.sum(fn(x)))]
        h = 1e-6
        np.testing.assert_allclose(g, (ref(a + h) - ref(a - h)) / (2 * h), rtol=1e-5, atol=1e-8, err_msg=name)
    np.testing.assert_array_equal(autograd.greater(ta, tb).numpy(), a > b)
    np.testing.assert_array_equal(autograd.logical_xor(autograd.less(ta, tb), autograd.greater(tb, tensor.from_numpy(
        np.zeros_like(b)))).numpy(), (a < b) ^ (b > 0))
    np.testing.assert_array_equal(autograd.where(autograd.greater(ta, tb), ta, tb).numpy(), np.where(a > b, a, b))
    np.testing.assert_allclose(autograd.clip(tb, -0.5, None).numpy(), np.clip(b, -0.5, None))
    np.testing.assert_allclose(autograd.max(tb, [1]).numpy(), b.max(axis=1))
    np.testing.assert_array_equal(autograd.argmax(tb, 1).numpy(), b.argmax(axis=1))
    loss = autograd.softmax_cross_entropy(tensor.from_numpy(b.astype(np.float32)),
                                          tensor.from_numpy(np.eye(4, dtype=np.float32)[[0, 1, 2]]))
    assert loss.shape == (1,)  # the module's max/min do not shadow the builtins it uses
