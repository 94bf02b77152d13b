#!/usr/bin/env bash
# The CPU image for real: builds docker/cpu/Dockerfile with podman, on a debian:12 base made
# locally (mmdebstrap + podman import: no registry is reachable from CI), then runs inside it, as
# its non-root user, the README's main job (launch/quickstart.sh --installed: train the tutorial
# CNN on Fashion-MNIST, export, inspect, re-import, fine-tune) and a 2-rank mpirun job. CI runs
# it after the test tiers (about 10 minutes on 2 cores, most of it compiling singa in the image).
#   tests/container/image_test.sh            (root; installs podman etc. through setup.sh --container)
# IMAGE (default localhost/singa:cpu-test) names the image built; it is removed at the end unless
# KEEP_IMAGE=1. The debian:12 base is kept for the next run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
image=${IMAGE:-localhost/singa:cpu-test}
if [ "$(id -u)" -ne 0 ]; then
  echo "image_test.sh: needs root (rootful podman with the runc runtime)" >&2
  exit 77
fi
launch/setup.sh --container
# runc: crun fails on this kind of machine's cgroups. The ulimits: podman's defaults (the host's
# limits, ~1M open files) make Open MPI's daemons close every possible descriptor at start.
podman=(podman --runtime runc)
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if [ "${KEEP_IMAGE:-0}" != 1 ]; then
    "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    "${podman[@]}" image prune -f >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$(date +%s)
if ! "${podman[@]}" image exists debian:12; then
  echo "== debian:12 base: mmdebstrap --variant=minbase bookworm, podman import"
  mmdebstrap --quiet --variant=minbase bookworm "$work/base.tar"
  "${podman[@]}" import --quiet "$work/base.tar" localhost/debian:12 >/dev/null
  rm -f "$work/base.tar"
fi
based=$(date +%s)
echo "== build $image from docker/cpu/Dockerfile"
"${podman[@]}" build --pull=never "${limits[@]}" -f docker/cpu/Dockerfile -t "$image" . >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log"; fail "podman build of docker/cpu/Dockerfile failed"; }
built=$(date +%s)
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
run() { "${podman[@]}" run --rm "${limits[@]}" --shm-size=1g "$image" "$@"; }

echo "== the README's main job inside the image (quickstart.sh --installed)"
run sh -c 'whoami; OUT_DIR=$HOME/out /opt/singa/launch/quickstart.sh --installed && ls $HOME/out' \
  >"$work/quickstart.log" 2>&1 || { tail -n 40 "$work/quickstart.log"; fail "the quickstart failed in the image"; }
[ "$(head -n 1 "$work/quickstart.log")" = singa ] || fail "the image does not run as its user singa"
# Steps 1, 3 and 4 each end with a final line; step 3 evaluates the re-imported model (0 epochs).
finals=$(grep -c "^final: test accuracy" "$work/quickstart.log" || true)
[ "$finals" = 3 ] || { cat "$work/quickstart.log"; fail "expected 3 final lines from the quickstart, got $finals"; }
grep -q "^cnn_finetuned.onnx$" "$work/quickstart.log" || fail "the fine-tuned model was not exported"
first=$(grep -m1 "^final: test accuracy" "$work/quickstart.log" | sed 's/^final: test accuracy \([0-9.]*\)%.*/\1/')
reimported=$(grep "^final: test accuracy" "$work/quickstart.log" | sed -n 2p | sed 's/^final: test accuracy \([0-9.]*\)%.*/\1/')
# The exported model, re-imported, must score what it scored when exported.
[ "$first" = "$reimported" ] || fail "exported at $first%, re-imported at $reimported%"
awk -v a="$first" 'BEGIN { exit !(a > 75) }' || fail "one epoch of the tutorial CNN reached only $first%"

echo "== a 2-rank job inside the image (mpirun, shared-memory gradient exchange)"
run mpirun -np 2 singa_train --model cnn --epochs 1 --limit-train 12800 --threads 1 --seed 0 \
  >"$work/mpirun.log" 2>&1 || { tail -n 40 "$work/mpirun.log"; fail "the 2-rank job failed in the image"; }
grep -q "2 ranks on 1 host" "$work/mpirun.log" || { cat "$work/mpirun.log"; fail "the 2-rank job did not run 2 ranks"; }
grep -q "^gradient exchange: 2 ranks" "$work/mpirun.log" || fail "the 2-rank job exchanged no gradients"
grep -q "^final: test accuracy" "$work/mpirun.log" || fail "the 2-rank job printed no final line"

grep "^final:" "$work/quickstart.log" | sed 's/^/quickstart: /'
grep "^final:" "$work/mpirun.log" | sed 's/^/mpirun -np 2: /'
echo "image_test: ok (base $((based - start)) s, build $((built - based)) s, runs $(($(date +%s) - built)) s;" \
  "image $(awk -v b="$size" 'BEGIN { printf "%.0f", b / 1048576 }') MiB)"
