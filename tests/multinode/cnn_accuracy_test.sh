#!/usr/bin/env bash
# 2 hosts x 2 ranks (tests/multinode/run.sh) train the tutorial CNN to one process's test accuracy
# with the same global batch (4 x 16 against 1 x 64, within 0.3 points), and singa_train's start
# line names the hosts and their ranks. 12,800 training images: with 6,400 the two runs' small
# differences in summation order still moved the accuracy by 0.2 points.
#   cnn_accuracy_test.sh RUN_SH SINGA_TRAIN WORKDIR
set -u
run=$1 train=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
args=(--model cnn --epochs 1 --lr 0.01 --seed 0 --limit-train 12800 --limit-test 2000 --threads 1)
fail() { echo "FAIL: $*"; exit 1; }

"$train" "${args[@]}" --batch-size 64 --quiet --metrics-json "$work/one.json" >"$work/one.log" 2>&1 ||
  { cat "$work/one.log"; fail "one process exited $?"; }
"$run" --hosts 2 --slots 2 --timeout 240 -- \
  sh -c '"$SINGA_MN_MPIRUN" -np 4 --bind-to none "$@"' sh \
  "$train" "${args[@]}" --batch-size 16 --log-every 1000 --metrics-json "$work/four.json" >"$work/four.log" 2>&1
rc=$?
[ $rc = 77 ] && { cat "$work/four.log"; exit 77; }
[ $rc = 0 ] || { tail -n 40 "$work/four.log"; fail "2 hosts x 2 ranks exited $rc"; }

grep -q "4 ranks on 2 hosts: node-a\[0,1\] node-b\[2,3\]" "$work/four.log" ||
  { grep "singa_train:" "$work/four.log"; fail "the start line does not name the hosts and their ranks"; }
value() { sed -n "s/^ *\"$2\": *\([0-9.e+-]*\),*$/\1/p" "$1" | head -1; }
one=$(value "$work/one.json" test_accuracy) four=$(value "$work/four.json" test_accuracy)
world=$(value "$work/four.json" world_size)
[ "$world" = 4 ] || fail "world_size in the metrics is '$world', not 4"
[ -n "$one" ] && [ -n "$four" ] || fail "no test_accuracy in the metrics (one: '$one', four: '$four')"
echo "test accuracy: 1 process batch 64 ${one}, 2 hosts x 2 ranks batch 16 ${four}"
awk -v a="$one" -v b="$four" 'BEGIN { d = (a - b) * 100; if (d < 0) d = -d; printf "difference %.2f points (limit 0.3)\n", d; exit !(d <= 0.3) }' ||
  fail "2 hosts x 2 ranks are more than 0.3 points from one process"
echo "ok"
