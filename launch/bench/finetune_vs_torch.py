#!/usr/bin/python3
"""Fine-tuning throughput and peak memory of torchvision models: singa_train --onnx vs PyTorch, in one run.

  /usr/bin/python3 launch/bench/finetune_vs_torch.py                       # everything (long: minutes per model)
  /usr/bin/python3 launch/bench/finetune_vs_torch.py --models resnet18 --configs 64x64 --threads 2 --rounds 1
  /usr/bin/python3 launch/bench/finetune_vs_torch.py --models mobilenet_v2 --configs 16x224 --json /tmp/ft.json

For each model (default resnet18, mobilenet_v2, efficientnet_b0; random weights, torch.manual_seed(0)),
the torchvision model is exported once to ONNX opset 13 with BatchNormalization kept (eval(),
TrainingMode.PRESERVE, no constant folding, as ../shared/anchors/export_models.py does for
resnet18_bn) into --out (default /tmp/finetune_vs_torch; reruns reuse the files). Then, for each
configuration BATCHxSIZE (default 16x224 and 64x64):

  singa   singa_train --onnx MODEL.onnx --last-layers -1 --num-classes 10 --benchmark
          --batch-size B --momentum 0.9 --lr 0.01 --threads T [--input-size S]
          (the last layer cut and a new 10-class Linear head appended; every parameter trainable;
          Fashion-MNIST images adapted to the model's 3 x S x S input)
  torch   the same torchvision model with its last Linear replaced by Linear(in_features, 10),
          m.train(), SGD lr 0.01 momentum 0.9, a random B x 3 x S x S batch and random labels,
          torch.set_num_threads(T), as ../shared/anchors/torch_finetune.py does

Both time --steps steps after --warmup untimed ones. Every run is a fresh process, so its peak
resident memory is its own (singa_train's peak_rss_mib, VmHWM; PyTorch's ru_maxrss read inside
the child; this script never imports torch itself). Rounds interleave singa and torch for every
thread count (the first side alternates from round to round) so machine noise hits both alike.
Each side's figure is its best images/s over rounds at its best thread count; the peak RSS is the
largest seen at that thread count. Prints one row per model and configuration with the ratios.
The environment passes through unchanged (OPENBLAS_CORETYPE, SINGA_CONV, ...).
Exits non-zero when a run fails (after printing its output's tail and the remaining results).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"  # Debian's python3-torch and python3-torchvision
DEFAULT_MODELS = "resnet18,mobilenet_v2,efficientnet_b0"
EXPORT_SIZE = 224  # the input size declared in the exported files

# Child programs (run as `PYTHON -c CODE ARGS...` so this process stays small and torch-free).
EXPORT_CHILD = r"""
import sys, torch, torchvision
arch, path = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
m = getattr(torchvision.models, arch)(weights=None).eval()
tmp = path + ".part"
torch.onnx.export(m, torch.rand(1, 3, %d, %d), tmp, opset_version=13, input_names=["input"],
                  output_names=["output"], do_constant_folding=False,
                  training=torch.onnx.TrainingMode.PRESERVE)
import os; os.replace(tmp, path)
""" % (EXPORT_SIZE, EXPORT_SIZE)

TORCH_CHILD = r"""
import resource, sys, time, torch, torchvision
arch, batch, size, warmup, steps, threads = sys.argv[1], *map(int, sys.argv[2:7])
torch.manual_seed(0)
torch.set_num_threads(threads)
m = getattr(torchvision.models, arch)(weights=None)
if hasattr(m, "fc"):
    m.fc = torch.nn.Linear(m.fc.in_features, 10)
elif isinstance(m.classifier, torch.nn.Linear):
    m.classifier = torch.nn.Linear(m.classifier.in_features, 10)
else:
    m.classifier[-1] = torch.nn.Linear(m.classifier[-1].in_features, 10)
m.train()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(batch, 3, size, size)
y = torch.randint(0, 10, (batch,))
for i in range(warmup + steps):
    if i == warmup:
        t0 = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
dt = time.perf_counter() - t0
print(f"torch {torch.__version__} torchvision {torchvision.__version__} threads {torch.get_num_threads()} "
      f"final_loss {loss.item():.4f}")
print(f"train_images_per_sec {steps * batch / dt:.2f}")
print(f"ms_per_step {1000 * dt / steps:.3f}")
print(f"peak_rss_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
"""


class RunFailed(Exception):
    """A child that exited non-zero or printed no figure: what ran, and the tail of its output."""

    def __init__(self, label, what, output):
        lines = [ln for ln in output.rstrip().splitlines() if ln.strip()]
        self.last = lines[-1].strip() if lines else what
        super().__init__(f"{label}\n{what}; output tail:\n{tail(output)}")
        self.label = label


def tail(text, lines=25):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(cmd, label=None):
    """Runs cmd (environment unchanged) and returns (combined output, ru_maxrss MiB of that child)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RunFailed(label or " ".join(cmd), f"failed (exit {code})", out)
    return out, usage.ru_maxrss / 1024.0


def figure(out, key, label):
    m = re.search(rf"^{key} ([0-9.eE+-]+)", out, re.M)
    if not m:
        raise RunFailed(label, f"printed no '{key}' line", out)
    return float(m.group(1))


def cpu_description():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k in ("model name", "cpu family", "model", "vendor_id") and k not in info:
                    info[k] = v.strip()
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return (f"{info.get('model name', '?')} ({info.get('vendor_id', '?')} family {info.get('cpu family', '?')} "
            f"model {info.get('model', '?')}), {cores} usable cores")


def export(arch, out_dir):
    path = os.path.join(out_dir, f"{arch}_bn_op13.onnx")
    if os.path.exists(path):
        print(f"export {arch}: cached {path}", flush=True)
        return path
    t0 = time.time()
    run([PYTHON, "-c", EXPORT_CHILD, arch, path], f"export of torchvision {arch} to {path}")
    print(f"export {arch}: {path} ({os.path.getsize(path) / 1e6:.1f} MB, {time.time() - t0:.1f} s)", flush=True)
    return path


def singa_cmd(args, onnx_path, batch, size, warmup, steps, threads):
    cmd = [args.singa_train, "--onnx", onnx_path, "--last-layers", "-1", "--num-classes", "10", "--benchmark",
           "--warmup-steps", str(warmup), "--benchmark-steps", str(steps), "--batch-size", str(batch),
           "--momentum", "0.9", "--lr", "0.01", "--threads", str(threads),
           "--limit-train", str(batch * (warmup + steps + 2))]
    if size != EXPORT_SIZE:
        cmd += ["--input-size", str(size)]
    return cmd


def parse_configs(text):
    configs = []
    for c in text.split(","):
        b, _, s = c.strip().lower().partition("x")
        if not (b.isdigit() and s.isdigit()):
            sys.exit(f"finetune_vs_torch: bad config '{c}' (want BATCHxSIZE, e.g. 16x224)")
        configs.append((int(b), int(s)))
    return configs


def default_threads():
    cores = len(os.sched_getaffinity(0))
    ts, t = [], 1
    while t < cores:
        ts.append(t)
        t *= 2
    return ts + [cores]


def best(runs):
    """runs: {threads: [(ips, rss), ...]} -> (threads, best ips, peak rss at that thread count)."""
    t, rs = max(runs.items(), key=lambda kv: max(r[0] for r in kv[1]))
    return t, max(r[0] for r in rs), max(r[1] for r in rs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--singa-train", default=os.path.join(ROOT, "build", "singa_train"),
                    help="the singa_train binary (default ROOT/build/singa_train)")
    ap.add_argument("--models", default=DEFAULT_MODELS, help=f"torchvision architectures (default {DEFAULT_MODELS})")
    ap.add_argument("--configs", default="16x224,64x64", help="BATCHxSIZE list (default 16x224,64x64)")
    ap.add_argument("--threads", default=",".join(map(str, default_threads())),
                    help="thread counts to try (default: 1, 2, 4, ... up to the usable cores)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds per thread count (default 2)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (default 3)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps (default 6 for inputs of 128 pixels and more, 10 below)")
    ap.add_argument("--out", default="/tmp/finetune_vs_torch", help="where the exported .onnx files are kept")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    configs = parse_configs(args.configs)
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    if not os.access(args.singa_train, os.X_OK):
        sys.exit(f"finetune_vs_torch: {args.singa_train} not found (build singa_train first)")
    os.makedirs(args.out, exist_ok=True)

    print(f"cpu: {cpu_description()}")
    env_keys = [k for k in ("OPENBLAS_CORETYPE", "SINGA_CONV", "OMP_NUM_THREADS") if k in os.environ]
    if env_keys:
        print("environment: " + " ".join(f"{k}={os.environ[k]}" for k in env_keys))
    print(f"models {','.join(models)}; configs {args.configs}; threads {','.join(map(str, threads))}; "
          f"{args.rounds} interleaved round(s); warm-up {args.warmup} steps", flush=True)

    results, failures, kernels_line = [], [], None
    for arch in models:
        try:
            onnx_path = export(arch, args.out)
        except RunFailed as e:
            failures.append(e)
            print(f"FAILED export {arch}:\n{e}", file=sys.stderr, flush=True)
            for batch, size in configs:
                results.append({"model": arch, "config": f"{batch}x{size}", "error": f"export failed: {e.last}"})
            continue
        for batch, size in configs:
            steps = args.steps if args.steps is not None else (6 if size >= 128 else 10)
            cfg = f"{batch}x{size}"
            singa, torch = {}, {}
            shown_cmd = False
            try:
                for r in range(args.rounds):
                    for t in threads:
                        sides = ("singa", "torch") if r % 2 == 0 else ("torch", "singa")
                        for side in sides:
                            if side == "singa":
                                cmd = singa_cmd(args, onnx_path, batch, size, args.warmup, steps, t)
                                if not shown_cmd:
                                    print(f"singa_train command: {' '.join(cmd)}", flush=True)
                                    shown_cmd = True
                                label = " ".join(cmd)
                                out, child_rss = run(cmd)
                                if kernels_line is None:
                                    m = re.search(r"^cpu: .*$", out, re.M)
                                    if m:
                                        kernels_line = m.group(0)
                                        print(f"singa_train {kernels_line}", flush=True)
                                rss = figure(out, "peak_rss_mib", label) if "peak_rss_mib" in out else child_rss
                            else:
                                cmd = [PYTHON, "-c", TORCH_CHILD, arch, str(batch), str(size), str(args.warmup),
                                       str(steps), str(t)]
                                label = f"pytorch {arch} batch {batch} size {size} threads {t} (child of {PYTHON})"
                                out, _ = run(cmd, label)
                                rss = figure(out, "peak_rss_mib", label)
                            ips = figure(out, "train_images_per_sec", label)
                            ms = figure(out, "ms_per_step", label)
                            (singa if side == "singa" else torch).setdefault(t, []).append((ips, rss))
                            print(f"  {arch} {cfg} round {r + 1} threads {t} {side:5s}: {ips:8.2f} img/s "
                                  f"{ms:9.1f} ms/step  peak RSS {rss:7.1f} MiB", flush=True)
            except RunFailed as e:
                failures.append(e)
                print(f"FAILED {arch} {cfg}:\n{e}", file=sys.stderr, flush=True)
                results.append({"model": arch, "config": cfg, "error": f"{os.path.basename(e.label.split()[0])}: {e.last}"[:300]})
                continue
            st, sips, srss = best(singa)
            tt, tips, trss = best(torch)
            results.append({"model": arch, "config": cfg, "batch": batch, "size": size, "steps": steps,
                            "warmup": args.warmup, "singa_images_per_sec": sips, "singa_threads": st,
                            "singa_peak_rss_mib": srss, "torch_images_per_sec": tips, "torch_threads": tt,
                            "torch_peak_rss_mib": trss, "ratio": sips / tips, "rss_ratio": srss / trss,
                            "runs": {"singa": singa, "torch": torch}})

    print()
    print(f"{'model':16s} {'config':7s} {'singa img/s (thr)':>18s} {'torch img/s (thr)':>18s} {'singa/torch':>11s} "
          f"{'singa RSS':>10s} {'torch RSS':>10s} {'RSS ratio':>9s}")
    for res in results:
        if "error" in res:
            print(f"{res['model']:16s} {res['config']:7s} FAILED: {res['error']}")
            continue
        print(f"{res['model']:16s} {res['config']:7s} {res['singa_images_per_sec']:12.2f} ({res['singa_threads']:>2d})  "
              f"{res['torch_images_per_sec']:12.2f} ({res['torch_threads']:>2d})  {res['ratio']:10.2f}x "
              f"{res['singa_peak_rss_mib']:7.0f} MiB {res['torch_peak_rss_mib']:6.0f} MiB {res['rss_ratio']:8.2f}")
    print("(img/s: best over rounds at the best thread count; RSS: peak at that thread count, MiB)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "singa_kernels": kernels_line, "argv": sys.argv[1:],
                       "results": results, "failures": [str(e) for e in failures]}, f, indent=2)
        print(f"wrote {args.json}")
    if failures:
        sys.stdout.flush()
        print(f"\n{len(failures)} failure(s):", file=sys.stderr)
        for e in failures:
            print(f"  {e.label}: {e.last}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
