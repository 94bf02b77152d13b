#!/usr/bin/env bash
# Several "hosts" on one machine, for jobs across nodes: each host is a network namespace plus a
# UTS namespace (its own hostname, so Open MPI and singa see separate nodes), joined through a
# bridge in a "switch" namespace by veth pairs, with addresses in 198.18.0.0/15 (the benchmarking
# range; nothing outside the namespaces uses them). Nothing is added to the machine's own network
# namespace. COMMAND runs on the first host (the "login node"), with:
#   SINGA_MN_MPIRUN   an mpirun wrapper: hostfile of the hosts (slots = --slots), an rsh agent that
#                     enters a host's namespaces (nsenter), TCP between hosts (btl tcp,self,vader,
#                     interfaces in 198.18.0.0/15), shared memory within one; Open MPI's oob
#                     keepalive at 5 s idle + 3 x 1 s (SINGA_MN_KEEPALIVE=SECONDS|default, read
#                     by each call, changes the idle time or keeps Open MPI's defaults)
#   SINGA_MN_HOSTS    the hostnames, space-separated (node-a node-b ...)
#   SINGA_MN_ADDRS    their addresses, space-separated
#   SINGA_MN_DIR      a scratch directory removed at exit
#   SINGA_MN_EXEC     a script: SINGA_MN_EXEC HOST COMMAND... runs COMMAND on that host
#   SINGA_MN_FAULT    a script: SINGA_MN_FAULT kill HOST ends every process on HOST (by pid);
#                     SINGA_MN_FAULT down|up HOST takes HOST's link down or up
# The harness always cleans up (EXIT/INT/TERM trap): every process left in its namespaces is ended
# by pid, the namespaces are deleted. Namespaces of earlier runs whose harness died (SIGKILL) are
# removed at start. Exit code: COMMAND's; 77 when namespaces cannot be made here (not root, no
# `ip netns`), with the reason.
#
#   run.sh [--hosts N] [--slots K] [--link "rate 10gbit delay 0.1ms"] [--timeout S] -- COMMAND...
#
# --link shapes every host's outgoing traffic: `tc qdisc ... netem` when the kernel has it
# (CONFIG_NET_SCH_NETEM); otherwise the rate through `tbf` and the delay is reported as not
# applied. tc comes with iproute2.
set -u

hosts=2 slots=2 link="" limit=600
while [ $# -gt 0 ]; do
  case $1 in
    --hosts) hosts=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --link|--netem) link=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option '$1' (usage: run.sh [--hosts N] [--slots K] [--link SPEC] [--timeout S] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run.sh: no COMMAND after --" >&2; exit 2; }
case $hosts in 2|3|4|5|6|7|8) ;; *) echo "run.sh: --hosts must be 2..8, got '$hosts'" >&2; exit 2 ;; esac

skip() { echo "SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "network namespaces need root (ip netns add); run the multinode tests as root or in a root container with CAP_SYS_ADMIN and CAP_NET_ADMIN"
for tool in ip nsenter unshare; do
  command -v $tool >/dev/null || skip "'$tool' not found: install iproute2 and util-linux (launch/setup.sh does)"
done

prefix=singa-mn
id=$prefix-$$
names=(a b c d e f g h)
sw=$id-sw
dir=$(mktemp -d "/tmp/$id.XXXXXX")
made=()   # namespaces made by this run
utsfiles=()

# Namespaces of harness runs that died without cleaning up (their pid is gone).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix-[0-9]*-" || true); do
  owner=${ns#"$prefix-"}; owner=${owner%%-*}
  if ! kill -0 "$owner" 2>/dev/null; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  fi
done

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Processes left in the namespaces (orted, ranks of a failed job): ended by pid.
  local ns p pids
  for sig in TERM KILL; do
    pids=""
    for ns in "${made[@]}"; do pids="$pids $(ip netns pids "$ns" 2>/dev/null)"; done
    [ -z "${pids// /}" ] && break
    for p in $pids; do kill -$sig "$p" 2>/dev/null; done
    [ $sig = TERM ] && sleep 1
  done
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # Open MPI's shared-memory segments of ranks that were killed (a real host's /dev/shm goes with
  # it; these hosts share the machine's): those created since this run started that no process
  # has mapped any more.
  local f
  for f in $(find /dev/shm -maxdepth 1 -name 'vader_segment.node-*' -newer "$dir/hostfile" 2>/dev/null); do
    grep -qsF "$f" /proc/[0-9]*/maps || rm -f "$f"
  done
  for f in "${utsfiles[@]}"; do umount "$f" 2>/dev/null; done
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$sw" 2>"$dir/err" || skip "ip netns add failed: $(cat "$dir/err") (needs root with CAP_SYS_ADMIN; in a container: --privileged or --cap-add SYS_ADMIN,NET_ADMIN)"
made+=("$sw")
ip -n "$sw" link add br0 type bridge || skip "no bridge device in a network namespace (CONFIG_BRIDGE)"
ip -n "$sw" link set br0 up
ip -n "$sw" link set lo up

hostnames=() addrs=()
: >"$dir/hosts.map"
: >"$dir/hostfile"
for ((i = 0; i < hosts; i++)); do
  n=${names[$i]} ns=$id-${names[$i]} addr=198.18.0.$((i + 1))
  ip netns add "$ns" || { echo "run.sh: ip netns add $ns failed" >&2; exit 1; }
  made+=("$ns")
  utsfile=$dir/$n.uts
  touch "$utsfile"
  unshare --uts="$utsfile" hostname "node-$n" || skip "unshare --uts failed (needs CAP_SYS_ADMIN)"
  utsfiles+=("$utsfile")
  ip link add eth0 netns "$ns" type veth peer name "p$n" netns "$sw" ||
    skip "no veth pair between namespaces (CONFIG_VETH)"
  ip -n "$sw" link set "p$n" master br0
  ip -n "$sw" link set "p$n" up
  ip -n "$ns" addr add "$addr/15" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [ -n "$link" ]; then
    if ! ip netns exec "$ns" tc qdisc add dev eth0 root netem $link 2>"$dir/err"; then
      rate=$(echo "$link" | sed -n 's/.*rate \([^ ]*\).*/\1/p')
      [ $i = 0 ] && echo "run.sh: netem unavailable ($(head -1 "$dir/err"); the kernel lacks CONFIG_NET_SCH_NETEM):" \
        "${rate:+rate $rate through tbf; }delay NOT applied" >&2
      if [ -n "$rate" ]; then
        ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 1mb latency 50ms ||
          { echo "run.sh: tc tbf rate $rate failed" >&2; exit 1; }
      fi
    fi
  fi
  hostnames+=("node-$n") addrs+=("$addr")
  echo "$addr $ns $utsfile node-$n" >>"$dir/hosts.map"
  echo "node-$n $ns $utsfile node-$n" >>"$dir/hosts.map"
  echo "node-$n slots=$slots" >>"$dir/hostfile"
done

# SINGA_MN_EXEC HOST COMMAND...: COMMAND in HOST's namespaces (HOST: address or hostname).
cat >"$dir/exec" <<EOF
#!/bin/sh
h=\$1; shift
line=\$(grep "^\$h " "$dir/hosts.map" | head -1)
[ -n "\$line" ] || { echo "singa-mn exec: unknown host '\$h' (hosts: ${hostnames[*]})" >&2; exit 255; }
set -- "\$line" "\$@"
ns=\$(echo "\$1" | cut -d' ' -f2); uts=\$(echo "\$1" | cut -d' ' -f3); shift
exec nsenter --net=/run/netns/\$ns --uts=\$uts -- "\$@"
EOF
# Open MPI's rsh agent: `rsh [OPTIONS] HOST COMMAND-STRING`; the remote command is one shell string.
cat >"$dir/rsh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case \$1 in -*) shift ;; *) break ;; esac; done
h=\$1; shift
exec "$dir/exec" "\$h" /bin/sh -c "\$*"
EOF
# The keepalive settings let mpirun notice a host whose link went down within ~10 s (Open MPI's
# defaults: 300 s idle + 9 x 20 s) and end the job naming it. SINGA_MN_KEEPALIVE (read by each
# mpirun call) sets the idle seconds (default 5; `default` keeps Open MPI's own settings).
cat >"$dir/mpirun" <<EOF
#!/bin/sh
case \${SINGA_MN_KEEPALIVE:-5} in
  default) ;;
  *) set -- --mca oob_tcp_keepalive_time "\${SINGA_MN_KEEPALIVE:-5}" --mca oob_tcp_keepalive_intvl 1 \\
       --mca oob_tcp_keepalive_probes 3 "\$@" ;;
esac
exec mpirun --hostfile "$dir/hostfile" --mca plm_rsh_agent "$dir/rsh" \\
  --mca btl tcp,self,vader --mca btl_tcp_if_include 198.18.0.0/15 --mca oob_tcp_if_include 198.18.0.0/15 \\
  --mca orte_keep_fqdn_hostnames 1 "\$@"
EOF
# SINGA_MN_FAULT kill|down|up HOST: a host lost (every process in its namespaces SIGKILLed, by pid)
# or cut off (its link down: nobody is told; its peers find out by their timeouts).
cat >"$dir/fault" <<EOF
#!/bin/sh
what=\$1 h=\$2
ns=\$(grep "^\$h " "$dir/hosts.map" | head -1 | cut -d' ' -f2)
[ -n "\$ns" ] || { echo "singa-mn fault: unknown host '\$h' (hosts: ${hostnames[*]})" >&2; exit 2; }
case \$what in
  kill) for p in \$(ip netns pids "\$ns"); do kill -KILL "\$p" 2>/dev/null; done ;;
  down) ip -n "\$ns" link set eth0 down ;;
  up) ip -n "\$ns" link set eth0 up ;;
  *) echo "singa-mn fault: kill, down or up, not '\$what'" >&2; exit 2 ;;
esac
EOF
chmod +x "$dir/exec" "$dir/rsh" "$dir/mpirun" "$dir/fault"

export SINGA_MN_MPIRUN=$dir/mpirun SINGA_MN_EXEC=$dir/exec SINGA_MN_FAULT=$dir/fault SINGA_MN_DIR=$dir
export SINGA_MN_HOSTS="${hostnames[*]}" SINGA_MN_ADDRS="${addrs[*]}"
echo "run.sh: $hosts hosts (${hostnames[*]}: ${addrs[*]}), $slots slots each${link:+, link $link}" >&2
# The command on the first host, in the background so that a signal reaches the trap at once.
timeout --kill-after=10 "$limit" "$dir/exec" "${addrs[0]}" "$@" &
wait $!
rc=$?
[ $rc = 124 ] && echo "run.sh: COMMAND did not finish within --timeout $limit s" >&2
exit $rc
