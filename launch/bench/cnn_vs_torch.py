#!/usr/bin/python3
"""Training throughput and peak memory of the tutorial CNN: singa_train vs PyTorch, in one run.

  /usr/bin/python3 launch/bench/cnn_vs_torch.py [--singa build/singa_train] [--threads 1 2] [--rounds 2]

Runs `singa_train --model cnn --benchmark` and ../shared/anchors/torch_cnn.py (PyTorch, the same
CNN, batch 64, plain SGD) for every thread count, interleaved over rounds so machine noise hits
both alike. Reports each peer's best images/s over thread counts and rounds (PyTorch at its
fastest thread setting), the ratio, and each program's peak resident memory (ru_maxrss of the
child process, measured the same way for both).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_measured(cmd):
    """Like run(), but reaps the child itself so ru_maxrss is that child's alone."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"cnn_vs_torch: {' '.join(cmd)} failed (exit {code}):\n{out}")
    return out, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--singa", default=os.path.join(ROOT, "build", "singa_train"))
    ap.add_argument("--anchor", default=os.path.join(ROOT, "..", "shared", "anchors", "torch_cnn.py"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300, help="timed singa_train steps")
    args = ap.parse_args()
    for path in (args.singa, args.anchor):
        if not os.path.exists(path):
            sys.exit(f"cnn_vs_torch: {path} not found (build singa_train first; the anchor is in ../shared/anchors)")

    singa, torch = {}, {}
    for r in range(args.rounds):
        for t in args.threads:
            out, rss = run_measured([args.singa, "--model", "cnn", "--benchmark", "--threads", str(t),
                                     "--benchmark-steps", str(args.steps), "--warmup-steps", "20"])
            ips = float(re.search(r"train_images_per_sec ([0-9.]+)", out).group(1))
            singa.setdefault(t, []).append((ips, rss))
            print(f"round {r + 1} singa_train threads {t}: {ips:8.1f} img/s, peak RSS {rss:6.1f} MiB", flush=True)
            out, rss = run_measured(["/usr/bin/python3", args.anchor, "--threads", str(t)])
            ips = float(re.search(r"steady ([0-9.]+) img/s", out).group(1))
            torch.setdefault(t, []).append((ips, rss))
            print(f"round {r + 1} pytorch     threads {t}: {ips:8.1f} img/s, peak RSS {rss:6.1f} MiB", flush=True)

    def best(d):
        t, runs = max(d.items(), key=lambda kv: max(x[0] for x in kv[1]))
        return t, max(x[0] for x in runs), max(x[1] for x in runs)

    st, sips, srss = best(singa)
    tt, tips, trss = best(torch)
    print(f"singa_train best: {sips:.1f} img/s at {st} thread(s), peak RSS {srss:.1f} MiB")
    print(f"pytorch best:     {tips:.1f} img/s at {tt} thread(s), peak RSS {trss:.1f} MiB")
    print(f"throughput ratio singa/pytorch: {sips / tips:.2f}x   peak RSS ratio singa/pytorch: {srss / trss:.2f}")


if __name__ == "__main__":
    main()
