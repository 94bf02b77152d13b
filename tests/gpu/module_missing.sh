#!/bin/sh
# A CUDA build without a usable CUDA module (libsinga_cuda.so not beside libsinga, as when only
# libsinga was copied; or a file there that does not load): CPU work runs, and asking for
# a GPU fails naming the module and where it belongs, not a crash.
# Usage: module_missing.sh LIBSINGA GPU_KERNELS_TEST
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -L "$1" "$tmp/libsinga.so.0"  # the binaries' RUNPATH yields to LD_LIBRARY_PATH
fail=0
out=$(LD_LIBRARY_PATH="$tmp" SINGA_GPUTEST_DEVICE=cpu "$2" --gtest_filter='CudaCopy.*' 2>&1)
rc=$?
if [ $rc -ne 0 ] || ! echo "$out" | grep -q 'PASSED'; then
  echo "$out"; echo "FAIL: CPU work without the CUDA module (exit $rc)"; fail=1
fi
out=$(LD_LIBRARY_PATH="$tmp" SINGA_GPUTEST_REQUIRE=1 "$2" --gtest_filter=CudaCopy.FillCastsAndLargeTransfers 2>&1)
echo "$out" | grep 'CUDA module'
if ! echo "$out" | grep -q "the CUDA module $tmp/libsinga_cuda.so is not there (a CUDA build installs it beside libsinga.so.0"; then
  echo "$out"; echo "FAIL: a GPU asked for without the module must name it and where it belongs"; fail=1
fi
# A file that is not a loadable module (a truncated copy, another build's leftovers): the loader's words.
head -c 4096 /dev/zero | tr '\0' x > "$tmp/libsinga_cuda.so"
out=$(LD_LIBRARY_PATH="$tmp" SINGA_GPUTEST_REQUIRE=1 "$2" --gtest_filter=CudaCopy.FillCastsAndLargeTransfers 2>&1)
echo "$out" | grep 'CUDA module'
if ! echo "$out" | grep -q "the CUDA module $tmp/libsinga_cuda.so cannot be loaded (.*invalid ELF header).*ldd $tmp/libsinga_cuda.so"; then
  echo "$out"; echo "FAIL: an unloadable module must be named with the loader's reason"; fail=1
fi
[ $fail -eq 0 ] && echo "ok"
exit $fail
