#!/usr/bin/env python3
"""An include against the layering fails to build.

For each library layer, takes the real compile command of one of its sources from the build's
compile_commands.json and compiles two probes with it (-fsyntax-only): one that includes the
layer's own header and one of a layer below must compile; each one that includes a header of a
layer above (or beside) it must fail because that header is not found (GCC: "No such file or
directory", clang: "file not found").

Usage: layering_test.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

# layer: (a source of the layer, headers that must resolve, headers that must not)
LAYERS = {
    "singa_core": ("src/core/tensor.cc", ["singa/core/tensor.h"],
                   ["singa/ops/ops.h", "singa/autograd/node.h", "singa/kernels/cpu/cpu_kernels.h"]),
    "singa_ops": ("src/ops/elementwise.cc", ["singa/ops/ops.h", "singa/autograd/node.h", "singa/core/tensor.h"],
                  ["singa/nn/module.h", "singa/data/dataset.h"]),
    "singa_nn": ("src/nn/module.cc", ["singa/nn/module.h", "singa/ops/ops.h"],
                 ["singa/optim/optimizer.h", "singa/onnx/import.h"]),
    "singa_optim": ("src/optim/sgd.cc", ["singa/optim/sgd.h", "singa/nn/module.h"],
                    ["singa/checkpoint/checkpoint.h", "singa/comm/communicator.h"]),
    "singa_image": ("src/image/image_decode.cc", ["singa/image/image.h", "singa/core/tensor.h"],
                    ["singa/data/dataset.h", "singa/ops/ops.h"]),
    "singa_data": ("src/data/idx.cc", ["singa/data/idx.h", "singa/core/tensor.h"],
                   ["singa/ops/ops.h", "singa/nn/module.h"]),
    "singa_onnxio": ("src/onnx/export.cc", ["singa/onnx/export.h", "singa/nn/module.h"],
                     ["singa/optim/optimizer.h", "singa/checkpoint/checkpoint.h", "singa/data/dataset.h"]),
    "singa_checkpoint": ("src/checkpoint/checkpoint.cc", ["singa/checkpoint/checkpoint.h", "singa/optim/optimizer.h"],
                         ["singa/onnx/import.h", "singa/comm/communicator.h", "singa/train/trainer.h"]),
    "singa_comm": ("comm/communicator.cc", ["singa/comm/communicator.h", "singa/optim/optimizer.h"],
                   ["singa/train/trainer.h", "singa/checkpoint/checkpoint.h"]),
}


def command_for(entries, source_dir, source):
    path = os.path.realpath(os.path.join(source_dir, source))
    for e in entries:
        if os.path.realpath(os.path.join(e["directory"], e["file"])) == path:
            args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
            return args, e["directory"]
    raise SystemExit(f"layering_test: {source} is not in compile_commands.json")


def probe_args(args, probe):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MT", "-MF", "-c"):
            skip = True
            continue
        if a in ("-MD", "-MMD") or a.endswith("ccache"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", probe]


def main():
    build, source_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for layer, (source, allowed, forbidden) in LAYERS.items():
            args, cwd = command_for(entries, source_dir, source)
            good = os.path.join(tmp, f"{layer}_ok.cc")
            with open(good, "w") as f:
                f.write("".join(f'#include "{h}"\n' for h in allowed) + "int main() { return 0; }\n")
            r = subprocess.run(probe_args(args, good), cwd=cwd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {layer}: its own and lower headers do not compile:\n{r.stderr[:2000]}")
                failures += 1
                continue
            for header in forbidden:
                bad = os.path.join(tmp, f"{layer}_bad.cc")
                with open(bad, "w") as f:
                    f.write(f'#include "{allowed[0]}"\n#include "{header}"\nint main() {{ return 0; }}\n')
                r = subprocess.run(probe_args(args, bad), cwd=cwd, capture_output=True, text=True)
                # GCC: "singa/nn/module.h: No such file or directory"; clang: "'singa/nn/module.h' file not found".
                missing = f"{header}: No such file or directory" in r.stderr or f"'{header}' file not found" in r.stderr
                if r.returncode == 0 or not missing:
                    print(f"FAIL {layer}: including {header} should fail as a missing file"
                          f" (exit {r.returncode}):\n{r.stderr[:2000]}")
                    failures += 1
                else:
                    print(f"ok   {layer}: {header} is out of reach")
    print(f"layering_test: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
