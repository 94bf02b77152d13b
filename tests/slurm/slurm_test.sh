#!/usr/bin/env bash
# A real single-node Slurm (Debian's slurm-wlm + munge, no systemd): starts munged as the munge
# user, then slurmctld and slurmd with a private config, submits launch/slurm/singa_train_cpu.sbatch
# with 2 tasks (a short singa_train run), waits for it with a timeout and checks its output; then
# preempts a second job with SIGTERM (checkpoint, exit 3) and resumes it in a third.
# Every daemon started here is stopped by PID at the end, also on failure.
#   slurm_test.sh SINGA_TRAIN SBATCH_SCRIPT WORKDIR
set -u
train=$1 script=$2 work=$3
rm -rf "$work"; mkdir -p "$work/state" "$work/spool"
pids=()
cleanup() {
  # munged forks under su: stop it by the PID it wrote, the others by the PIDs started here.
  [ -f "$work/munge-run/munged.pid" ] && pids+=("$(cat "$work/munge-run/munged.pid")")
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log "$work"/job*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 30 "$f"; }; done; exit 1; }

for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" >/dev/null || fail "$b not found: run launch/setup.sh --tests (installs slurm-wlm and munge)"
done
host=$(hostname -s)

# munge: its own key and socket, run as the munge user.
mkdir -p "$work/munge" "$work/munge-run"; chown munge: "$work/munge" "$work/munge-run"
chmod 700 "$work/munge"; chmod 755 "$work/munge-run"
dd if=/dev/urandom bs=1 count=1024 of="$work/munge/munge.key" 2>/dev/null
chown munge: "$work/munge/munge.key"; chmod 400 "$work/munge/munge.key"
sock="$work/munge-run/munge.socket"
su -s /bin/sh munge -c "munged -F --key-file=$work/munge/munge.key --socket=$sock --pid-file=$work/munge-run/munged.pid --log-file=$work/munge.log --seed-file=$work/munge/seed" >"$work/munged.out" 2>&1 &
pids+=($!)

conf="$work/slurm.conf"
cat >"$conf" <<CONF
ClusterName=singatest
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(getconf _NPROCESSORS_ONLN) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
export SLURM_CONF=$conf
for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.2; done
[ -S "$sock" ] || fail "munged did not start"
slurmctld -D -f "$conf" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$conf" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 60); do sinfo -h -o %t 2>/dev/null | grep -Eq "idle|mix" && break; sleep 1; done
sinfo -h -o %t 2>/dev/null | grep -Eq "idle|mix" || fail "the node did not come up (sinfo: $(sinfo 2>&1 | tail -1))"

export SINGA_TRAIN=$train OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
SINGA_CHECKPOINT_DIR="$work/ck1" timeout 240 sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$work/job.out" "$script" \
  --model cnn --epochs 1 --batch-size 32 --limit-train 1280 --limit-test 200 --quiet \
  --metrics-json "$work/metrics.json"
rc=$?
[ "$rc" -eq 0 ] || fail "sbatch --wait returned $rc"
grep -q '"world_size": 2' "$work/metrics.json" 2>/dev/null || fail "metrics.json lacks world_size 2"
grep -q "final: test accuracy" "$work/job.out" || fail "no final line in the job output"
[ "$(grep -c "final: test accuracy" "$work/job.out")" -eq 1 ] || fail "more than one rank printed the final line"
echo "job 1: $(grep "final:" "$work/job.out")"

# Preemption: SIGTERM to the job's tasks (what --signal=TERM@120 and preemption deliver) stops
# both ranks at the same step with a checkpoint and exit code 3 (requeue off here, so the job
# ends); a second submission with the same checkpoint directory resumes and finishes.
export SINGA_CHECKPOINT_DIR="$work/ck2" SINGA_REQUEUE=0
pargs=(--model cnn --epochs 2 --batch-size 32 --limit-train 3200 --limit-test 200 --log-every 1 --seed 3)
timeout 240 sbatch --wait --parsable --ntasks=2 --cpus-per-task=1 --output="$work/job2.out" "$script" "${pargs[@]}" \
  > "$work/job2.id" &
waiter=$!
for i in $(seq 1200); do grep -q "epoch 1/2 step 10/" "$work/job2.out" 2>/dev/null && break; sleep 0.1; done
grep -q "epoch 1/2 step 10/" "$work/job2.out" 2>/dev/null || fail "job 2 did not start training"
scancel --signal=TERM "$(cat "$work/job2.id")"
wait $waiter; rc=$?
[ "$rc" -eq 3 ] || fail "job 2 ended with $rc after SIGTERM, expected 3 (stopped, resumable)"
grep -q "stopping on signal 15" "$work/job2.out" || fail "job 2: no orderly stop on SIGTERM"
ls -d "$work/ck2"/step-* >/dev/null 2>&1 || fail "job 2 left no checkpoint"
echo "job 2: $(grep "stopping on signal" "$work/job2.out" | head -1) (sbatch --wait returned $rc)"
timeout 240 sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$work/job3.out" "$script" "${pargs[@]}"
rc=$?
[ "$rc" -eq 0 ] || fail "job 3 (resume) returned $rc"
grep -q "resuming from $work/ck2/step-" "$work/job3.out" || fail "job 3 did not resume from job 2's checkpoint"
echo "job 3: $(grep "resuming from" "$work/job3.out" | cut -c1-160)"
echo "slurm test passed: $(grep "final:" "$work/job3.out")"

