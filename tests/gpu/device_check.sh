#!/usr/bin/env bash
# The first checks on a GPU machine, run from a bundle that tests/gpu/bundle.sh built elsewhere
# (nothing is built here; see README.md, "CUDA"):
#   tar xf gpu-bundle.tar.xz -C /tmp && /tmp/singa-gpu/device_check.sh
#   /tmp/singa-gpu/device_check.sh --dry-run    the same steps on the CPU, to prove the bundle
#                                               complete before a GPU is lent (CI runs this)
# Steps, each under `timeout` (limits printed at the top, summing to at most 540 s):
#   nvidia-smi; bundle-libs (every library resolves: the bundle's own, glibc, CUDA from the nvidia-*
#   wheels); the GPU unit tests with SINGA_GPUTEST_REQUIRE=1 (no usable GPU is a failure);
#   compute-sanitizer memcheck on the kernel tests; one CNN epoch on CUDA and on the CPU, same
#   seed, compared; singa_train --benchmark vs PyTorch (TF32 off on both, same momentum): the
#   tutorial CNN at batch 64 and resnet18 exported from PyTorch to ONNX at batch 32; NCCL, one rank.
# Logs: one file per step and summary.txt in $SINGA_CHECK_LOGS, else $OUT (the device tool's
# folder that comes back), else ./device-check-logs. A failing step does not stop the later ones;
# the exit status is non-zero when any step failed.
# Environment: SINGA_PYTHON (the python with torch; default: the first of python3 and
# /usr/bin/python3 that imports torch), SINGA_CUDA_LIB_DIRS (colon-separated folders holding
# libcudart, cuBLAS, cuDNN, NCCL; default: the lib folders of that python's nvidia-* wheels).
set -u
B=$(cd "$(dirname "$0")" && pwd)
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--dry-run]" >&2
    exit 2
    ;;
esac
LOG=${SINGA_CHECK_LOGS:-${OUT:-$PWD/device-check-logs}}
mkdir -p "$LOG" || exit 2
LOG=$(cd "$LOG" && pwd)
SUMMARY="$LOG/summary.txt"
: > "$SUMMARY"
DATA="$B/data/fashion-mnist-10k"
failures=0
t_start=$(date +%s)

note() { echo "$*" | tee -a "$SUMMARY"; }
indent() { sed 's/^/         /' | tee -a "$SUMMARY"; }

# Time limits in seconds, one per step, in the order they run. The steps run one after another,
# so the total is bounded by their sum (plus 3 s of --kill-after per step that ignores TERM).
declare -A LIMIT=(
  [nvidia-smi]=10 [bundle-libs]=20 [gpu-device-test]=30 [gpu-kernels-test]=60 [gpu-nccl-test]=30
  [memcheck-kernels]=135 [cnn-epoch-cuda]=45 [cnn-epoch-cpu]=40 [cnn-compare]=5 [torch-bench]=75
  [bench-cnn]=30 [bench-resnet18]=55 [bench-compare]=5
)
ORDER=(nvidia-smi bundle-libs gpu-device-test gpu-kernels-test gpu-nccl-test memcheck-kernels cnn-epoch-cuda
  cnn-epoch-cpu cnn-compare torch-bench bench-cnn bench-resnet18 bench-compare)
total_limit=0
for s in "${ORDER[@]}"; do total_limit=$((total_limit + LIMIT[$s])); done

SKIP_IF=""  # a pattern that, found in a failed step's log, makes it a skip (set around one step)
record() {  # NAME RC SECONDS [what failed]
  local name=$1 rc=$2 dt=$3
  if [ "$rc" -eq 0 ]; then
    note "[ok]   $name (${dt}s)"
  elif [ -n "$SKIP_IF" ] && grep -q "$SKIP_IF" "$LOG/$name.log" 2> /dev/null; then
    note "[skip] $name (${dt}s; the log says '$SKIP_IF': the tool cannot run here; log $LOG/$name.log)"
  else
    failures=$((failures + 1))
    local why="rc $rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after the ${LIMIT[$name]} s limit"; fi
    note "[FAIL] $name (${dt}s; ${4:-$why}; log $LOG/$name.log)"
    tail -n 20 "$LOG/$name.log" 2> /dev/null | indent
  fi
}
skip() { note "[skip] $1 ($2)"; }
fail_now() {  # NAME MESSAGE: a step that cannot run at all
  echo "$2" > "$LOG/$1.log"
  record "$1" 1 0 "$2"
}
# step NAME CMD...: runs CMD under its limit, output to $LOG/NAME.log, and records the result.
step() {
  local name=$1
  shift
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=3 "${LIMIT[$name]}" "$@" > "$LOG/$name.log" 2>&1 < /dev/null
  rc=$?
  record "$name" "$rc" "$(($(date +%s) - t0))"
  return "$rc"
}
gtest_counts() {  # LOG: "passed N, failed N, skipped N" from gtest's closing lines
  local f=$1 p fl s
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$f" | tail -n 1)
  fl=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$f" | tail -n 1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$f" | tail -n 1)
  echo "passed ${p:-0}, failed ${fl:-0}, skipped ${s:-0}"
}

# --- environment ------------------------------------------------------------------------------------
# The python with torch: explicit, since `python3` first on PATH may be another interpreter.
py_info() { timeout 60 "$1" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2> /dev/null; }
PY=${SINGA_PYTHON:-}
PY_INFO=""
for p in ${PY:-python3 /usr/bin/python3}; do
  if command -v "$p" > /dev/null && PY_INFO=$(py_info "$p"); then
    PY=$p
    break
  fi
done
PY=${PY:-python3}
PY_INFO=${PY_INFO:-no torch}

# CUDA libraries (cudart, cuBLAS, cuDNN, NCCL) are not in the bundle: on the GPU machine they are
# the lib folders of the nvidia-* wheels of that python (nvidia/<pkg>/lib, nvidia/cu13/lib).
cuda_dirs=()
if [ -n "${SINGA_CUDA_LIB_DIRS:-}" ]; then
  IFS=: read -r -a cuda_dirs <<< "$SINGA_CUDA_LIB_DIRS"
elif [ $DRY -eq 1 ]; then
  # The one exception to "only the bundle's libraries" in the dry run: this build machine has no
  # nvidia-* wheels, so the CUDA libraries come from the toolkit the bundle was linked against.
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
    if [ -d "$d" ]; then cuda_dirs+=("$d"); fi
  done
else
  roots=$(timeout 60 "$PY" -c '
import site, sys
paths = []
try:
    import nvidia
    paths += list(nvidia.__path__)
except Exception:
    pass
for s in site.getsitepackages() + [site.getusersitepackages()]:
    paths.append(s + "/nvidia")
print("\n".join(dict.fromkeys(paths)))' 2> /dev/null)
  while read -r r; do
    for d in "$r"/*/lib "$r"/*/lib64; do
      if [ -d "$d" ] && compgen -G "$d/lib*.so*" > /dev/null; then cuda_dirs+=("$(cd "$d" && pwd -P)"); fi
    done
  done <<< "$roots"
  if [ ${#cuda_dirs[@]} -eq 0 ]; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
      if [ -d "$d" ]; then cuda_dirs+=("$d"); fi
    done
  fi
fi
mapfile -t cuda_dirs < <(printf '%s\n' "${cuda_dirs[@]}" | awk 'NF && !seen[$0]++')
LIBPATH="$B/lib"
for d in "${cuda_dirs[@]}"; do LIBPATH="$LIBPATH:$d"; done

# How the singa binaries run: the bundle's libraries first, then CUDA's; TF32 off (singa's default).
# Open MPI (gpu_nccl_test bootstraps NCCL over it) runs from the bundle's openmpi/ (components,
# help texts, parameter file) as an isolated singleton: one process without mpirun or an orted
# daemon. hwloc gets an empty plugin folder, as on a machine without Debian's hwloc plugins.
# singa_train with one rank uses its local communicator and never initialises MPI.
SENV=(env -u SINGA_CUDA_ALLOW_TF32 "LD_LIBRARY_PATH=$LIBPATH"
  "OPAL_PREFIX=$B/openmpi" "OPAL_PKGLIBDIR=$B/openmpi/lib" "OPAL_PKGDATADIR=$B/openmpi/share"
  "OPAL_SYSCONFDIR=$B/openmpi/etc" "OMPI_MCA_mca_base_component_path=$B/openmpi/lib"
  "OMPI_MCA_ess_singleton_isolated=1" "HWLOC_PLUGINS_PATH=$B/openmpi/no-hwloc-plugins"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
THREADS=$(nproc 2> /dev/null || echo 2)
if [ "$THREADS" -gt 8 ]; then THREADS=8; fi

if [ $DRY -eq 1 ]; then
  DEV=cpu
  mode="DRY RUN on the CPU (no GPU steps: the bundle's completeness)"
else
  DEV=cuda
  mode="GPU"
fi
note "singa device check, $mode, $(date -u +%FT%TZ), on $(uname -n)"
note "bundle $B: $(sed -n 2p "$B/MANIFEST.txt" 2> /dev/null); $(sed -n 4p "$B/MANIFEST.txt" 2> /dev/null)"
note "glibc here $(getconf GNU_LIBC_VERSION 2> /dev/null); python $(command -v "$PY" || echo "$PY") ($PY_INFO)"
note "CUDA libraries from: ${cuda_dirs[*]:-(none found)}"
note "logs in $LOG; time limits (s):$(for s in "${ORDER[@]}"; do printf ' %s %s,' "$s" "${LIMIT[$s]}"; done) total $total_limit"
if [ "$total_limit" -gt 540 ]; then
  note "[FAIL] the step limits add up to $total_limit s, over 540 s"
  exit 1
fi

# --- 1. the GPU -------------------------------------------------------------------------------------
if [ $DRY -eq 1 ]; then
  skip nvidia-smi "dry run"
elif step nvidia-smi nvidia-smi; then
  timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1 |
    head -n 4 | indent
fi

# --- 2. the bundle's libraries resolve ----------------------------------------------------------------
check_libs() {  # lists what every shipped file loads; the findings come last (the log's tail)
  local f name arrow path rest cudnn
  local -a found=()
  for f in "$B"/bin/* "$B"/lib/*.so* "$B"/openmpi/lib/*.so; do
    [ -f "$f" ] || continue
    echo "== $f"
    while read -r name arrow path rest; do
      echo "  $name $arrow $path $rest"
      if [[ "$name $arrow $path $rest" == *"not found"* ]]; then
        found+=("MISSING: $(basename "$f") needs $name: $arrow $path $rest")
        continue
      fi
      [ "$arrow" = "=>" ] || continue
      case "$name" in
        linux-vdso* | ld-linux* | libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | libutil.so* | \
          libresolv.so* | libmvec.so*) ;;
        libcuda.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | libcudnn*.so* | libnccl.so* | libnvrtc*.so* | \
          libnvJitLink.so* | libnvidia-ml.so*)
          found+=("CUDA: $name -> $(readlink -f "$path")") ;;
        *)
          if [ "$(dirname "$(readlink -f "$path")")" != "$(readlink -f "$B/lib")" ]; then
            found+=("OUTSIDE THE BUNDLE: $(basename "$f") takes $name from $path")
          fi
          ;;
      esac
    done < <(ldd "$f" 2>&1)
  done
  # cuDNN 9 loads its engines with dlopen: they must sit beside libcudnn.so.9.
  cudnn=$(ldd "$B/lib/libsinga_cuda.so" | awk '$1 ~ /^libcudnn\.so/ { print $3 }')
  if [ -n "$cudnn" ] && [ -f "$cudnn" ]; then
    echo "cuDNN sub-libraries beside $cudnn: $(find "$(dirname "$cudnn")" -maxdepth 1 -name 'libcudnn_*.so.*' -printf '%f ')"
    if ! compgen -G "$(dirname "$cudnn")/libcudnn_engines_precompiled.so*" > /dev/null; then
      found+=("MISSING: libcudnn_engines_precompiled beside $cudnn (cuDNN dlopens it)")
    fi
  fi
  echo "== findings"
  printf '%s\n' "${found[@]}" | sort -u
  ! printf '%s\n' "${found[@]}" | grep -q '^\(MISSING\|OUTSIDE\)'
}
export -f check_libs
if step bundle-libs "${SENV[@]}" B="$B" bash -c check_libs; then
  grep -E '^CUDA: lib(cudart|cublas|cudnn|nccl)\.' "$LOG/bundle-libs.log" | indent
fi

# --- 3. GPU unit tests: a missing binary, or a test that finds no GPU, is a failure ----------------
gtest_step() {  # NAME BINARY [env assignments...]
  local name=$1 bin="$B/bin/$2" rc counts
  shift 2
  if [ ! -x "$bin" ]; then
    fail_now "$name" "$(basename "$bin") is not in the bundle (it was not built when bundle.sh ran)"
    return
  fi
  step "$name" "${SENV[@]}" "$@" "$bin"
  rc=$?
  counts=$(gtest_counts "$LOG/$name.log")
  note "         gtest: $counts"
  # On the GPU a binary whose tests all skipped has checked nothing.
  if [ $DRY -eq 0 ] && [ $rc -eq 0 ] && [[ $counts == "passed 0,"* ]]; then
    failures=$((failures + 1))
    note "[FAIL] $name: no test passed (all skipped?)"
  fi
}
if [ $DRY -eq 1 ]; then
  # No GPU here: with SINGA_GPUTEST_DEVICE=cpu the kernel tests compare the CPU with itself and
  # the communicator test runs on the MPI backend (MPI_Init from the bundle's Open MPI); the
  # device-layer test has nothing to run on a CPU and must skip cleanly.
  gtest_step gpu-device-test gpu_device_test
  gtest_step gpu-kernels-test gpu_kernels_test SINGA_GPUTEST_DEVICE=cpu
  gtest_step gpu-nccl-test gpu_nccl_test SINGA_GPUTEST_DEVICE=cpu
else
  gtest_step gpu-device-test gpu_device_test SINGA_GPUTEST_REQUIRE=1
  gtest_step gpu-kernels-test gpu_kernels_test SINGA_GPUTEST_REQUIRE=1
  gtest_step gpu-nccl-test gpu_nccl_test SINGA_GPUTEST_REQUIRE=1  # NCCL with one rank
fi

# --- 4. compute-sanitizer memcheck on the kernel tests ----------------------------------------------
sanitizer=""
# The machine's own first (this workplace's CUDA image has one), else the one the bundle carries.
for c in "$(command -v compute-sanitizer 2> /dev/null)" /usr/local/cuda/bin/compute-sanitizer \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer "$B/compute-sanitizer/bin/compute-sanitizer"; do
  if [ -n "$c" ] && [ -x "$c" ]; then
    sanitizer=$c
    break
  fi
done
if [ -z "$sanitizer" ]; then
  skip memcheck-kernels "compute-sanitizer: not available (not in the bundle, not on this machine)"
elif [ ! -x "$B/bin/gpu_kernels_test" ]; then
  fail_now memcheck-kernels "gpu_kernels_test is not in the bundle"
elif [ $DRY -eq 1 ]; then
  # No GPU to check: prove only that the sanitizer starts from the bundle.
  if timeout 20 "$sanitizer" --version > "$LOG/memcheck-kernels.log" 2>&1; then
    skip memcheck-kernels "dry run; $sanitizer starts: $(grep -m1 Version "$LOG/memcheck-kernels.log")"
  else
    record memcheck-kernels 1 0 "$sanitizer --version fails"
  fi
else
  note "         compute-sanitizer: $sanitizer"
  # Seen on this workplace's gVisor machines: the sanitizer refuses the GPU before any test runs.
  SKIP_IF="Device not supported"
  if step memcheck-kernels "${SENV[@]}" SINGA_GPUTEST_REQUIRE=1 "$sanitizer" --tool memcheck --error-exitcode 1 \
    --print-limit 20 "$B/bin/gpu_kernels_test"; then
    grep -E '^========= ERROR SUMMARY' "$LOG/memcheck-kernels.log" | indent
  fi
  SKIP_IF=""
  note "         gtest under memcheck: $(gtest_counts "$LOG/memcheck-kernels.log")"
fi

# --- 5. one CNN epoch on CUDA and on the CPU, same seed ---------------------------------------------
TRAIN="$B/bin/singa_train"
limits=()
if [ $DRY -eq 1 ]; then limits=(--limit-train 4000); fi  # the dry run proves the bundle, not the model
epoch() {  # NAME DEVICE JSON
  step "$1" "${SENV[@]}" "$TRAIN" --model cnn --epochs 1 --data "$DATA" --seed 1 --momentum 0.9 --lr 0.01 \
    --device "$2" --threads "$THREADS" "${limits[@]}" --metrics-json "$3"
  grep -E '^final:' "$LOG/$1.log" | indent
}
rm -f "$LOG/cnn_cuda.json" "$LOG/cnn_cpu.json"
epoch cnn-epoch-cuda "$DEV" "$LOG/cnn_cuda.json"  # --device cpu in the dry run
epoch cnn-epoch-cpu cpu "$LOG/cnn_cpu.json"
# Both runs start from the same weights (initialised on the CPU from --seed) and see the batches in
# the same order; only the float summation order differs (cuBLAS/cuDNN vs OpenBLAS/oneDNN, ~1e-7
# relative per op). Over 156 SGD steps with momentum 0.9 that drifts the weights apart, but to
# equally good ones: a test accuracy within 1.5 points (30 of the 2000 test images) is agreement;
# a wrong kernel (gradient, layout, stride) costs far more than that, or gives NaN.
read -r -d '' COMPARE_EPOCHS << 'EOF'
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = []
for key in ("test_accuracy", "test_loss", "final_train_loss"):
    x, y = float(a[key]), float(b[key])
    print(f"{key}: --device {sys.argv[3]} {x:.6f}, --device cpu {y:.6f}, difference {x - y:+.6f}")
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        bad.append(f"{key} is not finite")
diff = 100 * abs(float(a["test_accuracy"]) - float(b["test_accuracy"]))
if diff > 1.5:
    bad.append(f"test accuracy differs by {diff:.2f} points (> 1.5)")
print("MISMATCH: " + "; ".join(bad) if bad else f"agree: accuracy within {diff:.2f} points (bound 1.5)")
sys.exit(1 if bad else 0)
EOF
if [ -f "$LOG/cnn_cuda.json" ] && [ -f "$LOG/cnn_cpu.json" ]; then
  if step cnn-compare "$PY" -c "$COMPARE_EPOCHS" "$LOG/cnn_cuda.json" "$LOG/cnn_cpu.json" "$DEV"; then
    indent < "$LOG/cnn-compare.log"
  fi
else
  fail_now cnn-compare "an epoch wrote no metrics (see cnn-epoch-cuda.log, cnn-epoch-cpu.log)"
fi

# --- 6. singa_train --benchmark vs PyTorch, TF32 off, momentum 0.9 on both --------------------------
# 45 MiB: kept out of the log folder (what comes back from the device tool has size limits).
mkdir -p "$B/work"
R18="$B/work/resnet18.onnx"
rm -f "$R18" "$LOG"/bench_*.json
if [ $DRY -eq 1 ]; then
  torch_args=(--device cpu --steps 1 --warmup 1 --threads "$THREADS")
  cnn_steps=(--benchmark-steps 20 --warmup-steps 2)
  r18_steps=(--benchmark-steps 1 --warmup-steps 1)
else
  torch_args=(--device cuda --steps 50 --warmup 10)
  cnn_steps=(--benchmark-steps 200 --warmup-steps 20)
  r18_steps=(--benchmark-steps 50 --warmup-steps 10)
fi
# PyTorch runs in this machine's own environment (not the bundle's libraries); it also writes the
# resnet18 ONNX file that singa_train fine-tunes below.
if step torch-bench env -u LD_LIBRARY_PATH "$PY" "$B/scripts/torch_cuda_bench.py" --export "$R18" --momentum 0.9 \
  "${torch_args[@]}"; then
  grep -E '^(gpu|torch_|exported|export failed)' "$LOG/torch-bench.log" | indent
fi
step bench-cnn "${SENV[@]}" "$TRAIN" --model cnn --benchmark --device "$DEV" --batch-size 64 --momentum 0.9 \
  --lr 0.01 --data "$DATA" --threads "$THREADS" "${cnn_steps[@]}" --metrics-json "$LOG/bench_cnn.json"
grep -E '^(train_images_per_sec|ms_per_step)' "$LOG/bench-cnn.log" | sed 's/^/singa cnn /' | indent
if [ -f "$R18" ]; then
  # The export keeps torchvision's 1000-class fc: cut it (--last-layers -1) and append a 10-class
  # head, the network PyTorch trains.
  step bench-resnet18 "${SENV[@]}" "$TRAIN" --onnx "$R18" --last-layers -1 --num-classes 10 --benchmark \
    --device "$DEV" --batch-size 32 --momentum 0.9 --lr 0.01 --data "$DATA" --threads "$THREADS" \
    --limit-train 2048 "${r18_steps[@]}" --metrics-json "$LOG/bench_resnet18.json"
  grep -E '^(train_images_per_sec|ms_per_step)' "$LOG/bench-resnet18.log" | sed 's/^/singa resnet18 /' |
    indent
else
  fail_now bench-resnet18 "no $R18: the torch-bench step did not export it"
fi
read -r -d '' COMPARE_BENCH << 'EOF'
import json, os, re, sys
log, dev = sys.argv[1], sys.argv[2]
torch = {}
for line in open(os.path.join(log, "torch-bench.log")):
    m = re.match(r"torch_(cnn|resnet18)_train_images_per_sec ([0-9.]+)", line)
    if m:
        torch[m.group(1)] = float(m.group(2))
bad = 0
for model in ("cnn", "resnet18"):
    path = os.path.join(log, f"bench_{model}.json")
    singa = json.load(open(path))["train_images_per_sec"] if os.path.exists(path) else None
    t = torch.get(model)
    if singa is None or t is None:
        print(f"{model}: a figure is missing (singa {singa}, torch {t})")
        bad = 1
        continue
    print(f"{model} on {dev}: singa {singa:.1f} images/s, torch {t:.1f} images/s, singa/torch {singa / t:.2f}x")
sys.exit(bad)
EOF
if step bench-compare "$PY" -c "$COMPARE_BENCH" "$LOG" "$DEV"; then
  indent < "$LOG/bench-compare.log"
fi

note "total $(($(date +%s) - t_start)) s, $failures failed step(s); summary $SUMMARY"
[ $failures -eq 0 ]
