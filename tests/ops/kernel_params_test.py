#!/usr/bin/env python3
"""Kernels read typed parameters, never string-keyed Attrs.

Every kernel under kernels/ takes its options as a struct of src/ops/kernel_params.h
(ctx.paramsAs<P>("Kernel")), parsed once by its op function; Attrs stay at the ONNX edge (trace,
exporter, converters). This fails, naming file and line, when code under kernels/ (comments aside)
reads Attrs again: a get*() lookup, a has("key") test, or a variable of type Attrs. Forwarding
ctx.attrs unread into a sub-KernelContext is allowed.

Usage: kernel_params_test.py SOURCE_DIR
"""
import os
import re
import sys

READS = [
    (re.compile(r"\.\s*get(Int|Ints|Float|Floats|String|Tensor)\s*\("), "an Attrs get*() lookup"),
    (re.compile(r"\.\s*has\s*\(\s*\""), "an Attrs has(\"key\") test"),
    (re.compile(r"\battrs\s*\.\s*\w+\s*\("), "a call on attrs"),
    (re.compile(r"\bAttrs\b"), "the Attrs type"),
]

# Lines the patterns must catch (so a broken pattern cannot pass silently) and must let through.
MUST_FLAG = [
    'const double eps = ctx.attrs.getFloat("epsilon", 1e-5);',
    'const auto& pads = a.getInts("pads");',
    'p.hasLo = a.has("min");',
    "const Attrs& at = ctx.attrs;",
    "for (auto& kv : ctx.attrs.all()) {}",
]
MUST_PASS = [
    'const double eps = ctx.paramsAs<BatchNormParams>("BatchNormInference").epsilon;',
    "KernelContext sub{dyIn, dbOut, ctx.attrs, ctx.params};",
    "const int64_t n = x.numel();",
]

EXTENSIONS = (".h", ".cc", ".cu", ".cuh")


def strip_comments(text):
    """Blanks // and /* */ comments, keeping line numbers (string literals are not special-cased)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def offences(line):
    return [what for pattern, what in READS if pattern.search(line)]


def main():
    source_dir = sys.argv[1]
    failures = 0
    for line in MUST_FLAG:
        if not offences(line):
            print(f"FAIL kernel_params_test: the patterns miss a known Attrs read: {line}")
            failures += 1
    for line in MUST_PASS:
        if offences(line):
            print(f"FAIL kernel_params_test: the patterns flag an allowed line: {line}")
            failures += 1
    root = os.path.join(source_dir, "kernels")
    checked = 0
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(EXTENSIONS):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                code = strip_comments(f.read())
            checked += 1
            for number, line in enumerate(code.split("\n"), 1):
                found = offences(line)
                if found:
                    rel = os.path.relpath(path, source_dir)
                    print(f"FAIL {rel}:{number}: {', '.join(found)}: {line.strip()}")
                    failures += 1
    if failures:
        print("Kernels take typed parameters: add or extend a struct in src/ops/kernel_params.h, fill it in the "
              "op function and read it with ctx.paramsAs<P>(\"Kernel\").")
    if checked == 0:
        print(f"FAIL kernel_params_test: no kernel sources under {root}")
        failures += 1
    print(f"kernel_params_test: {checked} kernel files checked, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
