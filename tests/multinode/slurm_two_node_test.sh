#!/usr/bin/env bash
# A real two-node Slurm on the simulated hosts (tests/multinode/run.sh): munged and slurmctld on
# node-a, one slurmd per host (node-a, node-b, addresses 198.18.0.1-2), then
#   sbatch --nodes=2 --ntasks=4 --ntasks-per-node=2 launch/slurm/singa_train_cpu.sbatch ...  (srun --mpi=pmix)
# must run 4 ranks as node-a[0,1] node-b[2,3] and finish. Needs root, slurm-wlm and munge.
#   slurm_two_node_test.sh RUN_SH SINGA_TRAIN SBATCH_SCRIPT WORKDIR
set -u
run=$1 train=$2 script=$3 work=$4
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" >/dev/null || { echo "FAIL: $b not found: run launch/setup.sh --tests (installs slurm-wlm and munge)"; exit 1; }
done
rm -rf "$work" && mkdir -p "$work/state"
export SINGA_TRAIN=$train SCRIPT=$script WORK=$work
# The harness ends every daemon started here (all run in the hosts' namespaces) by pid.
"$run" --hosts 2 --slots 2 --timeout 400 -- bash -c '
  fail() { echo "FAIL: $*"; for f in "$WORK"/*.log "$WORK"/job*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 20 "$f"; }; done; exit 1; }
  mkdir -p "$WORK/munge" "$WORK/munge-run"; chown munge: "$WORK/munge" "$WORK/munge-run"
  chmod 700 "$WORK/munge"; chmod 755 "$WORK/munge-run"
  dd if=/dev/urandom bs=1 count=1024 of="$WORK/munge/munge.key" 2>/dev/null
  chown munge: "$WORK/munge/munge.key"; chmod 400 "$WORK/munge/munge.key"
  sock="$WORK/munge-run/munge.socket"
  su -s /bin/sh munge -c "munged -F --key-file=$WORK/munge/munge.key --socket=$sock --pid-file=$WORK/munge-run/munged.pid --log-file=$WORK/munge.log --seed-file=$WORK/munge/seed" >"$WORK/munged.out" 2>&1 &
  conf="$WORK/slurm.conf"
  cat >"$conf" <<CONF
ClusterName=singamn
SlurmctldHost=node-a(198.18.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool-%n
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd-%n.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd-%n.log
TmpFS=$WORK/tmp-%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=node-a NodeAddr=198.18.0.1 CPUs=$(getconf _NPROCESSORS_ONLN) State=UNKNOWN
NodeName=node-b NodeAddr=198.18.0.2 CPUs=$(getconf _NPROCESSORS_ONLN) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
  export SLURM_CONF=$conf
  mkdir -p "$WORK/spool-node-a" "$WORK/spool-node-b" "$WORK/tmp-node-a" "$WORK/tmp-node-b"
  for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.2; done
  [ -S "$sock" ] || fail "munged did not start"
  slurmctld -D -f "$conf" >"$WORK/slurmctld.out" 2>&1 &
  slurmd -D -N node-a -f "$conf" >"$WORK/slurmd-a.out" 2>&1 &
  "$SINGA_MN_EXEC" node-b env SLURM_CONF="$conf" slurmd -D -N node-b -f "$conf" >"$WORK/slurmd-b.out" 2>&1 &
  for i in $(seq 60); do [ "$(sinfo -h -N -o %t 2>/dev/null | grep -Ec "idle|mix")" = 2 ] && break; sleep 1; done
  [ "$(sinfo -h -N -o %t 2>/dev/null | grep -Ec "idle|mix")" = 2 ] || fail "the two nodes did not come up (sinfo: $(sinfo -N 2>&1 | tr "\n" ";"))"
  # The ranks talk over the hosts network; OMP and Open MPI settings travel with sbatch (--export=ALL).
  export OMPI_MCA_btl=tcp,self,vader OMPI_MCA_btl_tcp_if_include=198.18.0.0/15 OMP_NUM_THREADS=1
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SINGA_CHECKPOINT_DIR="$WORK/ck" SINGA_REQUEUE=0
  timeout 300 sbatch --wait --nodes=2 --ntasks=4 --ntasks-per-node=2 --cpus-per-task=1 --output="$WORK/job.out" "$SCRIPT" \
    --model cnn --epochs 1 --batch-size 16 --limit-train 3200 --limit-test 200 --metrics-json "$WORK/metrics.json"
  rc=$?
  [ $rc = 0 ] || fail "sbatch --wait returned $rc"
  grep -q "4 ranks on 2 hosts: node-a\[0,1\] node-b\[2,3\]" "$WORK/job.out" || fail "the start line does not show node-a[0,1] node-b[2,3]"
  grep -q "\"world_size\": 4" "$WORK/metrics.json" || fail "metrics.json lacks world_size 4"
  grep -o "4 ranks on 2 hosts: node-a\[0,1\] node-b\[2,3\]" "$WORK/job.out"
  echo "two-node slurm test passed: $(grep "^final:" "$WORK/job.out")"
'
