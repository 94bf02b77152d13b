#!/usr/bin/env bash
# A host lost mid-job (tests/multinode/run.sh, 2 hosts x 2 ranks): once the first checkpoint is
# written, every process on node-b is SIGKILLed. The job must end on its own, non-zero, within
# 60 s, with a message naming node-b (the start line maps it to its ranks); then the job resumes
# from the last checkpoint on node-a alone (2 ranks, the same global batch) and completes.
# Open MPI ends the job (exit 9, ~2 s) before singa's own timeout: the message naming node-b is
# Open MPI's ("Peer host: node-b" from the ranks that lost their peers, or "lost communication
# with a remote daemon ... on node node-b"); the rsh agent's exit also prints a generic "unable
# to reliably start one or more daemons".
#   host_loss_test.sh RUN_SH SINGA_TRAIN WORKDIR
set -u
run=$1 train=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
export SINGA_TRAIN=$train WORK=$work
"$run" --hosts 2 --slots 2 --timeout 240 -- bash -c '
  fail() { echo "FAIL: $*"; exit 1; }
  args=(--model cnn --epochs 1 --lr 0.01 --limit-train 6400 --limit-test 500 --threads 1
        --checkpoint-dir "$WORK/ck" --checkpoint-every 20 --comm-timeout 20 --log-every 1000)
  "$SINGA_MN_MPIRUN" -np 4 --bind-to none "$SINGA_TRAIN" "${args[@]}" --batch-size 16 >"$WORK/lost.log" 2>&1 &
  job=$!
  for _ in $(seq 600); do ls "$WORK/ck" 2>/dev/null | grep -q "^step-" && break; sleep 0.1; done
  ls "$WORK/ck" 2>/dev/null | grep -q "^step-" || { tail -n 30 "$WORK/lost.log"; fail "no checkpoint was written"; }
  start=$(date +%s%N)
  "$SINGA_MN_FAULT" kill node-b
  # A bound on the wait: the job must end on its own well before it.
  ( sleep 90; kill -KILL $job 2>/dev/null ) & watchdog=$!
  wait $job; rc=$?
  kill $watchdog 2>/dev/null
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "host node-b killed after $(ls "$WORK/ck" | grep "^step-" | tail -1): the job exited $rc after $elapsed ms"
  [ $rc != 0 ] || fail "the job exited 0 after losing a host"
  [ $elapsed -lt 60000 ] || { tail -n 30 "$WORK/lost.log"; fail "the job took $elapsed ms to end (limit 60 s)"; }
  grep -q "on 2 hosts: node-a\[0,1\] node-b\[2,3\]" "$WORK/lost.log" || fail "the start line does not map node-b to its ranks"
  grep -Eq "on node node-b|Peer host: +node-b|node-b\[" <(grep -v "^singa_train: model" "$WORK/lost.log") ||
    { tail -n 30 "$WORK/lost.log"; fail "no message names the lost host node-b"; }
  echo "named: $(grep -Em1 "on node node-b|Peer host: +node-b" "$WORK/lost.log" | sed "s/^ *//")"
  # Resume on node-a alone: 2 ranks x 32, the same global batch.
  "$SINGA_MN_MPIRUN" -np 2 --host node-a:2 --bind-to none "$SINGA_TRAIN" "${args[@]}" --batch-size 32 --resume \
    --metrics-json "$WORK/resumed.json" >"$WORK/resumed.log" 2>&1 ||
    { tail -n 30 "$WORK/resumed.log"; fail "the resumed job on node-a failed"; }
  grep -q "resuming from" "$WORK/resumed.log" || fail "the second job did not resume from a checkpoint"
  grep -q "2 ranks on 1 host: node-a\[0,1\]" "$WORK/resumed.log" || fail "the resumed job did not run on node-a alone"
  grep -q "^final: test accuracy" "$WORK/resumed.log" || fail "the resumed job printed no final line"
  grep "resuming from" "$WORK/resumed.log"
  grep "^final:" "$WORK/resumed.log"
  echo ok
'
