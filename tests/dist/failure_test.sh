#!/usr/bin/env bash
# Failure handling of `mpirun -np 2 singa_train`: one rank raising, one rank SIGKILLed, one rank
# hanging (collective timeout), and a bare collective one rank never joins. Each job must end
# on its own, non-zero, in under 60 s, with a message that names the rank.
#   failure_test.sh MPIRUN SINGA_TRAIN TIMEOUT_PROBE WORKDIR
set -u
mpirun=$1 train=$2 probe=$3 work=$4
mkdir -p "$work"
failures=0
train_args=(--model cnn --epochs 1 --batch-size 32 --limit-train 6400 --limit-test 200 --threads 1)

run_case() {
  local name=$1 expect=$2
  shift 2
  local start rc elapsed
  start=$(date +%s%N)
  timeout 120 "$@" >"$work/$name.log" 2>&1
  rc=$?
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))  # ms
  local ok=1
  if [ "$rc" -eq 0 ]; then echo "FAIL $name: the job exited 0"; ok=0; fi
  if [ "$rc" -eq 124 ]; then echo "FAIL $name: the job hung (killed by timeout 120)"; ok=0; fi
  if [ "$elapsed" -ge 60000 ]; then echo "FAIL $name: took ${elapsed} ms (limit 60 s)"; ok=0; fi
  if ! grep -Eq "$expect" "$work/$name.log"; then echo "FAIL $name: no line matching '$expect'"; ok=0; fi
  if [ "$ok" = 1 ]; then
    echo "ok   $name: exit $rc after ${elapsed} ms: $(grep -Em1 "$expect" "$work/$name.log")"
  else
    echo "---- $name output (last 30 lines):"; tail -n 30 "$work/$name.log"; failures=$((failures + 1))
  fi
}

run_case raise "rank 1 of 2 .*injected failure" \
  env SINGA_FAULT_INJECT=raise:1:5 "$mpirun" --bind-to none -np 2 "$train" "${train_args[@]}"
run_case sigkill "process rank 1 .*signal 9" \
  env SINGA_FAULT_INJECT=kill:1:5 "$mpirun" --bind-to none -np 2 "$train" "${train_args[@]}"
run_case hang "ranks that did not arrive: 1 " \
  env SINGA_FAULT_INJECT=hang:1:5 "$mpirun" --bind-to none -np 2 "$train" "${train_args[@]}" --comm-timeout 5
run_case collective_timeout "rank 0 of 2 .*ranks that did not arrive: 1 " \
  env SINGA_COMM_TIMEOUT=3 "$mpirun" --bind-to none -np 2 "$probe" 1

if [ "$failures" -ne 0 ]; then echo "$failures failure case(s) failed"; exit 1; fi
echo "all failure cases ended the job promptly and named the rank"
