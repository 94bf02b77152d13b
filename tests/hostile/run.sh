#!/usr/bin/env bash
# Runs every crafted hostile input through the command-line programs, as an attacker would hand
# them to a user: models, checkpoints, data files and flag values (tests/hostile/cases_*.tsv).
# Each case runs under `ulimit -v 4000000` and a 20 s timeout and must end with the exit code its
# row names (1: error, 2: bad usage), no signal, and one clear line on stderr that contains the
# row's expected text and no raw C++ exception text.
#   tests/hostile/run.sh BUILD_DIR [NAME_FILTER]
#
# A row is: name <TAB> exit code <TAB> expected text <TAB> bash command. The command sees
#   $TRAIN, $ONNX   build/singa_train, build/singa_onnx
#   $IN             tests/hostile/inputs (committed crafted files; gen_*.py write them)
#   $PY             the project's Python (.venv, with onnx) for inputs too large to commit
#   $TMP            an empty scratch directory of its own (FIFOs, links, copies are made here)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [NAME_FILTER]}" && pwd)
filter=${2:-}
export TRAIN=$build/singa_train ONNX=$build/singa_onnx IN=$here/inputs
PY=$(cd "$here/../.." && pwd)/.venv/bin/python
[ -x "$PY" ] || PY=python3
export PY
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Raw exception text, runtime or sanitizer reports: never what a user should read.
forbidden='std::|bad_alloc|_M_create|basic_string|unexpected error|terminate called|what\(\)|Segmentation|core dumped|AddressSanitizer|runtime error:|Floating point exception|Aborted'
pass=0 fail=0
for table in "$here"/cases_*.tsv; do
  while IFS=$'\t' read -r name want expect cmd; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ -n "$filter" ] && [[ "$name" != *$filter* ]]; then continue; fi
    export TMP=$scratch/$name
    mkdir -p "$TMP"
    out=$TMP.stdout err=$TMP.stderr
    ( ulimit -v 4000000; cd "$TMP" && exec timeout -s KILL 20 bash -c "$cmd" ) >"$out" 2>"$err" </dev/null
    rc=$?
    problem=""
    nlines=$(grep -c . "$err")
    if [ "$rc" -ge 124 ]; then
      problem="exit $rc (timeout, signal or kill)"
    elif [ "$rc" != "$want" ]; then
      problem="exit $rc, expected $want"
    elif grep -qE "$forbidden" "$err" "$out"; then
      problem="raw exception or runtime text: $(grep -hE "$forbidden" "$err" "$out" | head -1)"
    elif [ "$want" = 1 ] && [ "$nlines" != 1 ]; then
      problem="stderr has $nlines lines, expected one error line"
    elif ! grep -qiF -- "$expect" "$err"; then
      problem="stderr does not name '$expect'"
    fi
    if [ -z "$problem" ]; then
      pass=$((pass + 1))
      [ -n "${VERBOSE:-}" ] && echo "ok    $name: $(head -1 "$err")"
    else
      fail=$((fail + 1))
      echo "FAIL  $name ($(basename "$table")): $problem"
      echo "      command: $cmd"
      sed 's/^/      stderr: /' "$err" | head -5
    fi
  done < "$table"
done
echo "hostile inputs: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
