#!/usr/bin/env bash
# Builds here and packs everything a bare GPU machine needs into ONE archive (at most 60 MiB):
#   tests/gpu/bundle.sh OUT.tar.xz        (or OUT.tar.gz)
# The GPU machine has only the NVIDIA driver and a python3 with torch (+cu130), onnx, onnxruntime
# and the nvidia-* library wheels: no compiler, no Debian -dev packages, no OpenBLAS, protobuf or
# MPI. So the archive holds, under singa-gpu/:
#   bin/      singa_train, singa_onnx, gpu_kernels_test, gpu_device_test, gpu_nccl_test (when built)
#   lib/      libsinga.so.0, the CUDA module libsinga_cuda.so (dlopen'ed by libsinga on first CUDA
#             use) and every shared library they need (found with ldd) except glibc's own
#             (libc, libm, libdl, librt, libpthread, libutil, ld-linux) and the CUDA libraries
#             (cudart, cuBLAS/cuBLASLt, cuDNN, NCCL, nvrtc, nvJitLink, the driver), which come from
#             the GPU machine's nvidia-* wheels (cuBLASLt and NCCL alone are ~700 MiB here)
#   compute-sanitizer/  when one is found here (PATH, /usr/local/cuda, or the nvidia-cuda-sanitizer-api
#             wheel of `python3`: `pip install nvidia-cuda-sanitizer-api==13.0.85`), else left out
#   data/fashion-mnist-10k/  the first 10000 train and 2000 test images of Fashion-MNIST as the four
#             plain IDX files (from /usr/share/datasets/fashion-mnist)
#   scripts/torch_cuda_bench.py, device_check.sh, MANIFEST.txt
#   openmpi/  what an isolated Open MPI singleton (one process, no mpirun) needs to run MPI_Init,
#             which gpu_nccl_test does to bootstrap NCCL: MCA components, help texts, parameters
# Nothing is built on the GPU machine. The build: BUILD_DIR (default build) when it is configured
# with the CUDA backend for sm_90 (the default 80;90 is), else build-gpu-bundle configured with
# -DCMAKE_CUDA_ARCHITECTURES=90; only the shipped targets are built (a no-op after tests/run.sh).
# Then: unpack and run singa-gpu/device_check.sh (see README.md, "CUDA"), or --dry-run it here.
set -euo pipefail

die() { echo "bundle.sh: $*" >&2; exit 1; }
if [ $# -ne 1 ] || [ -z "$1" ]; then die "usage: tests/gpu/bundle.sh OUT.tar.xz|OUT.tar.gz"; fi
case "$1" in
  *.tar.xz | *.txz) compress=(xz -T0 -6) ;;
  *.tar.gz | *.tgz) compress=(gzip -9) ;;
  *) die "OUT must end in .tar.xz or .tar.gz: $1" ;;
esac
out_dir=$(cd "$(dirname "$1")" 2> /dev/null && pwd) || die "the folder of $1 does not exist"
out="$out_dir/$(basename "$1")"
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
limit_mib=60
t_start=$(date +%s)

# --- the build ------------------------------------------------------------------------------------
cuda_build_ok() {  # DIR: configured with the CUDA language enabled, for sm_90 (or all archs)
  local cache="$1/CMakeCache.txt" archs
  [ -f "$cache" ] || return 1
  compgen -G "$1/CMakeFiles/*/CMakeCUDACompiler.cmake" > /dev/null || return 1
  archs=$(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$cache")
  [[ ";$archs;" =~ \;(90a?(-real|-virtual)?|all|all-major)\; ]]
}
build=${BUILD_DIR:-build}
if cuda_build_ok "$build"; then
  echo "bundle.sh: reusing $build ($(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build/CMakeCache.txt"))"
else
  echo "bundle.sh: $build is not configured with CUDA for sm_90; configuring build-gpu-bundle"
  build="build-gpu-bundle"
  launcher=()
  if command -v ccache > /dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSINGA_USE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    "${launcher[@]}" > /dev/null
fi
targets=(singa_train singa_onnx singa_cuda gpu_kernels_test gpu_device_test)
if cmake --build "$build" --target help 2> /dev/null | grep -Eq '(^|\.\.\. )gpu_nccl_test(: |$)'; then
  targets+=(gpu_nccl_test)
else
  echo "bundle.sh: NOTE: $build has no gpu_nccl_test target; the bundle goes without it (device_check.sh fails that step)"
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
readelf -d "$build/libsinga_cuda.so" 2> /dev/null | grep -q 'libcudart' || die "$build has no CUDA module (libsinga_cuda.so)"
! readelf -d "$build/libsinga.so.0" | grep -q 'libcudart' || die "$build/libsinga.so.0 links the CUDA runtime (it belongs to the module)"

# --- staging --------------------------------------------------------------------------------------
stage=$(mktemp -d "${TMPDIR:-/tmp}/singa-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
b="$stage/singa-gpu"
mkdir -p "$b/bin" "$b/lib" "$b/scripts" "$b/data/fashion-mnist-10k"
cp -L "$build/singa_train" "$build/singa_onnx" "$b/bin/"
for t in gpu_kernels_test gpu_device_test gpu_nccl_test; do
  if [ -x "$build/tests/$t" ]; then cp -L "$build/tests/$t" "$b/bin/"; fi
done
cp -L "$build/libsinga.so.0" "$b/lib/libsinga.so.0"
cp -L "$build/libsinga_cuda.so" "$b/lib/libsinga_cuda.so"

# Every library the binaries and libsinga need, as ldd resolves it here, less glibc and CUDA.
is_glibc() { [[ $1 =~ ^(linux-vdso|linux-gate|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libutil\.so|libresolv\.so|libnsl\.so|libanl\.so|libmvec\.so) ]]; }
is_cuda() { [[ $1 =~ ^lib(cuda|cudart|cublas|cublasLt|cudnn[a-z_]*|nccl|nvrtc|nvJitLink|nvidia-ml)\.so ]]; }
declare -A shipped=()
ship_needed() {  # FILE: copies what FILE needs (as ldd resolves it here) into lib/
  local name arrow path rest
  while read -r name arrow path rest; do
    [ "$arrow" = "=>" ] || continue
    if is_glibc "$name" || is_cuda "$name" || [ "$name" = libsinga.so.0 ]; then continue; fi
    [ "$path" != "not" ] || die "$(basename "$1") needs $name, which is not found here"
    [ -n "${shipped[$name]:-}" ] && continue
    cp -L "$path" "$b/lib/$name"
    shipped[$name]=$path
  done < <(env -u LD_LIBRARY_PATH ldd "$1")
}
for f in "$b"/bin/* "$b/lib/libsinga.so.0" "$b/lib/libsinga_cuda.so"; do ship_needed "$f"; done

# Open MPI: gpu_nccl_test bootstraps NCCL over MPI, so MPI_Init must work from the bundle. One
# process without mpirun is an Open MPI singleton; device_check.sh makes it an isolated one
# (OMPI_MCA_ess_singleton_isolated=1: no orted daemon to ship) and points Open MPI's install
# folders (OPAL_PREFIX, OPAL_PKGLIBDIR, ...) at openmpi/ here: the MCA components of the frameworks
# a one-node MPI_Init opens, less those that need fabric libraries (UCX, verbs, libfabric, PSM,
# PMI), with the libraries they need in lib/; the help texts; the MCA parameter file.
if [ -n "${shipped[libmpi.so.40]:-}" ]; then
  ompi_path() { ompi_info --path "$1" 2> /dev/null | sed -n 's/^ *[A-Za-z]*: *//p' | head -n 1; }
  pkglib=$(ompi_path pkglibdir)
  pkgdata=$(ompi_path pkgdatadir)
  sysconf=$(ompi_path sysconfdir)
  pkglib=${pkglib:-/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3}
  [ -d "$pkglib" ] || die "Open MPI's components are not in $pkglib (is openmpi-bin installed? ompi_info finds them)"
  mkdir -p "$b/openmpi/lib" "$b/openmpi/share" "$b/openmpi/etc"
  frameworks='allocator|bml|btl|coll|errmgr|ess|mpool|op|osc|pmix|pml|rcache|reachable|schizo|shmem|state|vprotocol'
  plain_deps='libmpi|libopen-pal|libopen-rte|libmca_common_sm|libmca_common_monitoring|libevent_core-[0-9.]*|libevent_pthreads-[0-9.]*|libhwloc|libudev|libz'
  n_components=0
  for c in "$pkglib"/mca_*.so; do
    fw=$(basename "$c" .so)
    fw=${fw#mca_}
    fw=${fw%%_*}
    [[ $fw =~ ^($frameworks)$ ]] || continue
    ok=1
    while read -r name arrow path _; do
      [ "$arrow" = "=>" ] || continue
      if is_glibc "$name"; then continue; fi
      if [ "$path" = "not" ] || ! [[ $name =~ ^($plain_deps)\.so ]]; then ok=0; fi
    done < <(env -u LD_LIBRARY_PATH ldd "$c")
    [ $ok -eq 1 ] || continue
    cp -L "$c" "$b/openmpi/lib/"
    ship_needed "$c"
    n_components=$((n_components + 1))
  done
  if [ -n "$pkgdata" ] && [ -d "$pkgdata" ]; then cp -rL "$pkgdata"/. "$b/openmpi/share/"; fi
  if [ -f "${sysconf:-/etc/openmpi}/openmpi-mca-params.conf" ]; then
    cp -L "${sysconf:-/etc/openmpi}/openmpi-mca-params.conf" "$b/openmpi/etc/"
  fi
  echo "bundle.sh: Open MPI: $n_components components from $pkglib, help texts from ${pkgdata:-nowhere}"
fi

# compute-sanitizer: the toolkit's folder, or the wheel's bin/ with the libraries from its lib/.
sanitizer=""
for c in "${SINGA_COMPUTE_SANITIZER:-}" "$(command -v compute-sanitizer || true)" \
  /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  if [ -n "$c" ] && [ -x "$c" ]; then sanitizer=$(readlink -f "$c"); break; fi
done
if [ -z "$sanitizer" ]; then
  for py in python3 /usr/bin/python3; do
    for d in $("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2> /dev/null); do
      for c in "$d"/*/bin/compute-sanitizer "$d"/*/compute-sanitizer/compute-sanitizer; do
        if [ -x "$c" ]; then sanitizer=$(readlink -f "$c"); break 3; fi
      done
    done
  done
fi
if [ -n "$sanitizer" ] && file -b "$sanitizer" | grep -q ELF; then
  sdir=$(dirname "$sanitizer")
  mkdir -p "$b/compute-sanitizer/bin"
  cp -L "$sdir"/compute-sanitizer "$sdir"/*.so "$b/compute-sanitizer/bin/" 2> /dev/null || true
  if [ -d "$sdir/x86" ]; then cp -rL "$sdir/x86" "$b/compute-sanitizer/bin/"; fi
  if [ "$(basename "$sdir")" = bin ] && [ -d "$sdir/../lib" ]; then  # the wheel's layout: bin/ and lib/
    mkdir -p "$b/compute-sanitizer/lib"
    for l in "$sdir"/../lib/lib{sanitizer,TreeLauncher,InterceptorInjection}*.so*; do
      [ -f "$l" ] || continue
      if [ -f "$b/compute-sanitizer/bin/$(basename "$l")" ] && cmp -s "$l" "$b/compute-sanitizer/bin/$(basename "$l")"; then
        ln "$b/compute-sanitizer/bin/$(basename "$l")" "$b/compute-sanitizer/lib/"  # tar stores it once
      else
        cp -L "$l" "$b/compute-sanitizer/lib/"
      fi
    done
  fi
  echo "bundle.sh: compute-sanitizer from $sdir ($(du -sh "$b/compute-sanitizer" | cut -f1))"
else
  echo "bundle.sh: NOTE: no compute-sanitizer found here (pip install nvidia-cuda-sanitizer-api==13.0.85 gives one); not shipped"
fi

# A Fashion-MNIST subset as the four plain IDX files (xz packs them better than their .gz).
/usr/bin/python3 - "$b/data/fashion-mnist-10k" << 'EOF'
import gzip, os, struct, sys
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
for stem, n in (("train-images-idx3-ubyte", 10000), ("train-labels-idx1-ubyte", 10000),
                ("t10k-images-idx3-ubyte", 2000), ("t10k-labels-idx1-ubyte", 2000)):
    path = os.path.join(src, stem + ".gz")
    opener = gzip.open if os.path.exists(path) else open
    with opener(path if os.path.exists(path) else os.path.join(src, stem), "rb") as f:
        magic, count = struct.unpack(">II", f.read(8))
        ndim = magic & 0xFF
        dims = struct.unpack(">%dI" % (ndim - 1), f.read(4 * (ndim - 1)))
        per = 1
        for d in dims:
            per *= d
        if count < n:
            sys.exit(f"{path}: {count} items, fewer than {n}")
        body = f.read(n * per)
    with open(os.path.join(dst, stem), "wb") as g:
        g.write(struct.pack(">II", magic, n) + struct.pack(">%dI" % (ndim - 1), *dims) + body)
EOF

cp tests/gpu/device_check.sh "$b/device_check.sh"
cp tests/gpu/torch_cuda_bench.py "$b/scripts/"
chmod +x "$b/device_check.sh" "$b/scripts/torch_cuda_bench.py"

glibc_needed=$(for f in "$b"/bin/* "$b"/lib/*; do objdump -T "$f" 2> /dev/null; done |
  grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -n 1)
{
  echo "singa GPU bundle, built $(date -u +%FT%TZ) on $(uname -n)"
  echo "commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown)$(git diff --quiet HEAD -- 2> /dev/null || echo ' (work tree differs from it)')"
  echo "build $build, CUDA architectures $(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build/CMakeCache.txt")"
  echo "needs glibc >= ${glibc_needed#GLIBC_} (this machine has $(getconf GNU_LIBC_VERSION))"
  echo "CUDA libraries expected on the GPU machine (nvidia-* wheels):" \
    "$(readelf -d "$b/lib/libsinga_cuda.so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | while read -r n; do
      if is_cuda "$n"; then printf '%s ' "$n"; fi
    done)"
  echo "files:"
  (cd "$stage" && find singa-gpu -type f -printf '%s\t%p\n' | sort -k2)
} > "$b/MANIFEST.txt"

rm -f "$out"
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name -cf - singa-gpu | "${compress[@]}" > "$out"
bytes=$(stat -c %s "$out")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "bundle.sh: $out: $mib MiB ($bytes bytes; $(du -sh "$b" | cut -f1) unpacked; ${#shipped[@]} libraries shipped) in $(($(date +%s) - t_start)) s"
if [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
  die "$out is $mib MiB, over the $limit_mib MiB limit"
fi
