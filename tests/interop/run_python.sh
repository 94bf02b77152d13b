#!/bin/sh
# Runs an interop test script with the project's Python venv (Debian torch + PyPI onnx,
# onnxruntime). Exits 77, which ctest reports as skipped, when the venv is missing.
# Usage: run_python.sh PYTHON SCRIPT [ARGS...]
python="$1"
shift
if [ ! -x "$python" ]; then
  echo "SKIPPED: $python not found; these interop tests need the Python venv: run launch/setup.sh --tests"
  exit 77
fi
exec "$python" "$@"
