#!/usr/bin/env bash
# A host lost mid-job (tests/multinode/run.sh, 2 hosts x 2 ranks), twice, each once the job's
# first checkpoint is written: node-b's link taken down (nobody is told), then every process on
# node-b SIGKILLed. Each time the job must end on its own, non-zero, within 60 s, with a message
# naming node-b (the start line maps it to its ranks). Then the second job resumes from its last
# checkpoint on node-a alone (2 ranks, the same global batch) and completes.
# Open MPI ends the first two jobs before singa's --comm-timeout (20 s there): a link down through
# the harness's oob keepalive (~10 s: "lost communication with a remote daemon ... on node
# node-b"), a kill at once ("Peer host: node-b" from the ranks that lost their peers; the rsh
# agent's exit also prints a generic "unable to reliably start one or more daemons"). A third
# job has Open MPI's keepalive slower than singa's --comm-timeout (20 s vs 6 s, as on a cluster
# whose keepalive is lowered to well under a minute): singa's ranks must name node-b and its
# ranks, then wait for mpirun to notice the host (an MPI_Abort would leave mpirun waiting on
# node-b's daemon for many minutes).
#   host_loss_test.sh RUN_SH SINGA_TRAIN WORKDIR
set -u
run=$1 train=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
export SINGA_TRAIN=$train WORK=$work
"$run" --hosts 2 --slots 2 --timeout 280 -- bash -c '
  fail() { echo "FAIL: $*"; exit 1; }
  args=(--model cnn --epochs 1 --lr 0.01 --limit-train 6400 --limit-test 500 --threads 1
        --checkpoint-every 20 --log-every 1000)
  # lose FAULT NAME [RETRY]: a 4-rank job checkpointing into $WORK/NAME; FAULT on node-b after its
  # first checkpoint; the job must end promptly, naming node-b (by a line matching $WANT when set).
  # $TIMEOUT: the --comm-timeout (default 20 s). With RETRY set, a job that ended
  # promptly but whose Open MPI message did not name the host returns 2 instead of failing (Open
  # MPI 4.1 sometimes reports a killed daemon only as "ORTE was unable to reliably start one or
  # more daemons").
  lose() {
    local fault=$1 name=$2 retry=${3:-}
    "$SINGA_MN_MPIRUN" -np 4 --bind-to none "$SINGA_TRAIN" "${args[@]}" --checkpoint-dir "$WORK/$name" \
      --batch-size 16 --comm-timeout "${TIMEOUT:-20}" >"$WORK/$name.log" 2>&1 &
    local job=$!
    for _ in $(seq 600); do ls "$WORK/$name" 2>/dev/null | grep -q "^step-" && break; sleep 0.1; done
    ls "$WORK/$name" 2>/dev/null | grep -q "^step-" || { tail -n 30 "$WORK/$name.log"; fail "$name: no checkpoint"; }
    local start=$(date +%s%N)
    "$SINGA_MN_FAULT" "$fault" node-b
    ( sleep 90; kill -KILL $job 2>/dev/null ) & local watchdog=$!  # a bound: the job must end well before
    wait $job; local rc=$?
    kill $watchdog 2>/dev/null
    local elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "$name: node-b $fault after $(ls "$WORK/$name" | grep "^step-" | tail -1): the job exited $rc after $elapsed ms"
    [ $rc != 0 ] || fail "$name: the job exited 0 after losing a host"
    [ $elapsed -lt 60000 ] || { tail -n 30 "$WORK/$name.log"; fail "$name: the job took $elapsed ms to end (limit 60 s)"; }
    grep -q "on 2 hosts: node-a\[0,1\] node-b\[2,3\]" "$WORK/$name.log" || fail "$name: the start line does not map node-b to its ranks"
    local named
    named=$(grep -v "^singa_train: model" "$WORK/$name.log" | grep -Em1 "${WANT:-on node node-b|Peer host: +node-b|node-b\[}")
    if [ -z "$named" ]; then
      tail -n 30 "$WORK/$name.log"
      [ -n "$retry" ] && { echo "$name: Open MPI did not name node-b this time; once more"; return 2; }
      fail "$name: no message names the lost host node-b"
    fi
    echo "$name: named by: $(echo "$named" | sed "s/^ *//")"
  }
  lose down link_down
  "$SINGA_MN_FAULT" kill node-b  # what is left of that job on node-b
  "$SINGA_MN_FAULT" up node-b
  lose kill killed retry || { rm -rf "$WORK/killed"; lose kill killed; }
  "$SINGA_MN_FAULT" kill node-b
  SINGA_MN_KEEPALIVE=20 TIMEOUT=6 WANT="^singa: rank [01] of 4 \(node-a\): .*node-b\[[23,]+\] \((every rank of the host|the host of ranks 2,3)\)" lose down singa_named
  "$SINGA_MN_FAULT" kill node-b
  "$SINGA_MN_FAULT" up node-b
  # Resume on node-a alone: 2 ranks x 32, the same global batch.
  "$SINGA_MN_MPIRUN" -np 2 --host node-a:2 --bind-to none "$SINGA_TRAIN" "${args[@]}" --checkpoint-dir "$WORK/killed" \
    --batch-size 32 --comm-timeout 20 --resume --metrics-json "$WORK/resumed.json" >"$WORK/resumed.log" 2>&1 ||
    { tail -n 30 "$WORK/resumed.log"; fail "the resumed job on node-a failed"; }
  grep -q "resuming from" "$WORK/resumed.log" || fail "the second job did not resume from a checkpoint"
  grep -q "2 ranks on 1 host: node-a\[0,1\]" "$WORK/resumed.log" || fail "the resumed job did not run on node-a alone"
  grep -q "^final: test accuracy" "$WORK/resumed.log" || fail "the resumed job printed no final line"
  grep "resuming from" "$WORK/resumed.log"
  grep "^final:" "$WORK/resumed.log"
  echo ok
'
