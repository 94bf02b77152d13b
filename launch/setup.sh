#!/usr/bin/env bash
# Installs what the build, the main job and the tests need on Debian 12, idempotently.
#
#   launch/setup.sh            build dependencies + the Fashion-MNIST data set
#   launch/setup.sh --tests    the above + test data and Python peers (torch, onnx, onnxruntime)
#   launch/setup.sh --container  the above + podman, runc and mmdebstrap (tests/container)
#
# Python peers live in a venv at .venv (created from /usr/bin/python3 with system site packages,
# so it sees Debian's python3-torch and PyPI's newest onnx / onnxruntime).
# The Docker images run this same script.
set -euo pipefail

want_tests=0 want_container=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    --container) want_container=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (use --tests, --container or nothing)" >&2; exit 2 ;;
  esac
done

root_dir=$(cd "$(dirname "$0")/.." && pwd)
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

pkgs=(build-essential cmake pkg-config ninja-build
      libopenblas-dev libprotobuf-dev protobuf-compiler libonnx-dev
      libopenmpi-dev openmpi-bin libcli11-dev nlohmann-json3-dev zlib1g-dev
      libturbojpeg0-dev libspng-dev libdnnl-dev
      libgtest-dev dataset-fashion-mnist
      pybind11-dev python3-dev python3-numpy libdlpack-dev)
if [ "$want_tests" = 1 ]; then
  pkgs+=(libonnx-testdata python3-venv python3-pip python3-pytest python3-torch python3-torchvision python3-pil
        clang-14 libclang-rt-14-dev)
  # A single-node Slurm for the slurm test (tests/slurm): daemons started by hand, no systemd.
  pkgs+=(slurm-wlm munge)
  # Simulated hosts for the multinode tests (tests/multinode): ip and tc (nsenter: util-linux).
  pkgs+=(iproute2)
fi

if [ "$want_container" = 1 ]; then
  # Rootful podman with the runc runtime (crun fails on some hosts' cgroups), netavark networking,
  # and mmdebstrap for a debian:12 base image made locally (no registry needed).
  pkgs+=(podman runc mmdebstrap netavark aardvark-dns iptables catatonit uidmap fuse-overlayfs slirp4netns)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: Debian packages already present"
fi

if [ "$want_tests" = 1 ]; then
  venv="$root_dir/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$venv"
  fi
  # Debian's torch 1.13 is built against NumPy 1.x: keep NumPy below 2 in the venv.
  # scikit-build-core: the build backend tests/run.sh uses to pip-install the singa package there.
  if ! "$venv/bin/python" -c 'import numpy, onnx, onnxruntime, safetensors, scikit_build_core, ml_dtypes
assert int(numpy.__version__.split(".")[0]) < 2' 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "numpy<2" onnx onnxruntime safetensors ml_dtypes \
      "scikit-build-core>=0.10"
  fi
  echo "setup.sh: Python peers ready in $venv"
fi
