#!/usr/bin/env bash
# Damaged and hostile checkpoints under `singa_train --resume` (crafted by tests/hostile/gen_data.py,
# plus special files made here). --resume skips a checkpoint that does not verify, so these end
# with exit 0, not the error line tests/hostile/run.sh checks for. Each must, under ulimit -v and a
# 20 s timeout:
#   - be reported on one "skipping damaged checkpoint" line naming the file and the damage, with
#     no raw C++ exception text anywhere;
#   - start afresh (exit 0) and write the run's own checkpoint;
#   - leave the damaged checkpoint byte for byte as it was (it may be salvageable: no data lost).
# Then a damaged checkpoint newer than a good one: the good one is resumed from, and pruning
# (--keep-checkpoints 1) deletes neither the checkpoint just written nor the damaged one.
# Usage: hostile_resume_test.sh SINGA_TRAIN SCRATCH_DIR
set -uo pipefail
bin=$(realpath "$1") scratch=$2
in=$(cd "$(dirname "$0")/../hostile/inputs" && pwd)
rm -rf "$scratch" && mkdir -p "$scratch"
cd "$scratch" || exit 1
forbidden='std::|bad_alloc|_M_create|basic_string|unexpected error|terminate called|what\(\)|json.exception|Segmentation|core dumped|AddressSanitizer|runtime error:|Aborted'
common=(--model cnn --epochs 1 --limit-train 64 --limit-test 64 -q --data "$in/data/ok")
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; sed 's/^/     stderr: /' "$1.err" | head -4 | cut -c1-300; }

# check NAME EXPECTED-TEXT: runs --resume on ./NAME (prepared by the caller).
check() {
  local name=$1 expect=$2 before after rc
  before=$(cd "$name" && find . -type f -exec md5sum {} + 2>/dev/null | sort)
  ( ulimit -v 4000000; exec timeout -s KILL 20 "$bin" "${common[@]}" --checkpoint-dir "$name" --resume ) \
    > "$name.out" 2> "$name.err" < /dev/null
  rc=$?
  after=$(cd "$name" && find . -path ./step-000000000001 -prune -o -type f -exec md5sum {} + 2>/dev/null | sort)
  if [ $rc -ne 0 ]; then fail "$name" "exit $rc, expected 0 (skip the damaged checkpoint, start afresh)"; return; fi
  if grep -qE "$forbidden" "$name.err" "$name.out"; then fail "$name" "raw exception text"; return; fi
  if [ "$(grep -c 'skipping damaged checkpoint' "$name.err")" != 1 ] || ! grep -qF -- "$expect" "$name.err"; then
    fail "$name" "no single skip line containing '$expect'"; return
  fi
  if [ "$(grep -c . "$name.err")" != 2 ]; then fail "$name" "expected the skip line and the start-afresh line"; return; fi
  if [ ! -f "$name/step-000000000001/meta.json" ]; then fail "$name" "the run wrote no checkpoint"; return; fi
  if [ "$before" != "$after" ]; then fail "$name" "the damaged checkpoint was changed or deleted"; return; fi
  passed=$((passed + 1)); echo "ok   $name: $(grep -o 'skipping damaged checkpoint.*' "$name.err" | cut -c1-160)"
}

crafted() {  # crafted CASE EXPECTED-TEXT
  cp -r "$in/checkpoints/$1" "$1" && check "$1" "$2"
}
crafted deep_json "meta.json' nests JSON more than 64 levels deep"
crafted meta_not_json "meta.json' is not valid JSON"
crafted meta_epoch_string "'epoch' is not an integer"
crafted meta_negative_step "'global_step' is -5, outside [0, 2^62]"
crafted meta_epoch_past_int64 "'epoch' is 18446744073709551615, beyond any real value"
crafted meta_world_size_huge "records world size 1099511627776"
crafted meta_rng_negative "'seed' is not an unsigned integer"
crafted meta_format_multiline "format 'evil\\x0asecond line'"
crafted meta_files_wrong_types "its entry in meta.json is malformed"
crafted meta_config_not_object "has no 'config' object"
crafted st_header_len_huge "header length 9223372036854775808 exceeds the 100 MB limit"
crafted st_overlapping_offsets "tensor 'b' starts at data byte 200 but the previous tensor ends at 400"
crafted st_shape_overflow "is too large to be real"
crafted st_unknown_dtype "has dtype 'F8_E4M3\\x0a'"
crafted st_duplicate_names "names tensor 'a' twice"
crafted st_control_char_name "holding control characters"
crafted st_deep_header "nests JSON more than 16 levels deep"

# Special files and a nesting too deep to commit, made here.
special() {  # special NAME FILE EXPECTED-TEXT COMMAND...: a copy of wrong_shapes with FILE replaced
  local name=$1 file=$2 expect=$3; shift 3
  mkdir -p "$name" && cp -r "$in/checkpoints/wrong_shapes/step-1" "$name/" && rm -f "$name/step-1/$file" &&
    "$@" "$name/step-1/$file" && check "$name" "$expect"
}
special model_dev_zero model.safetensors "model.safetensors' is not a regular file (it is a character device)" ln -s /dev/zero
special meta_fifo meta.json "meta.json' is not a regular file (it is a FIFO)" mkfifo
special optimizer_directory optimizer.safetensors "optimizer.safetensors' is not a regular file (it is a directory)" mkdir
deep_meta() { { printf '{"checksum": "0x00000000", "config": '; head -c 1000000 /dev/zero | tr '\0' '[';
                head -c 1000000 /dev/zero | tr '\0' ']'; printf '}'; } > "$1"; }
special deep_json_1m meta.json "nests JSON more than 64 levels deep" deep_meta
sparse_meta() { truncate -s 100M "$1"; }
special meta_100mb meta.json "meta.json' is 100 MiB, more than the 64 MiB" sparse_meta

# A name whose step overflows int64 is not a checkpoint: nothing to skip, nothing deleted.
mkdir -p overflow && cp -r "$in/checkpoints/wrong_shapes/step-1" overflow/step-99999999999999999999
( ulimit -v 4000000; exec timeout -s KILL 20 "$bin" "${common[@]}" --checkpoint-dir overflow --resume ) > overflow.out 2> overflow.err
rc=$?
if [ $rc -eq 0 ] && grep -q "no valid checkpoint" overflow.err && [ -d overflow/step-99999999999999999999 ] &&
   [ -d overflow/step-000000000001 ]; then passed=$((passed + 1)); echo "ok   overflow: ignored and kept"
else fail overflow "rc $rc"; fi

# A damaged checkpoint newer than a good one: resume from the good one; with --keep-checkpoints 1
# the checkpoint just written survives pruning, and so does the damaged one.
two=(--model cnn --limit-train 64 --limit-test 64 -q --data "$in/data/ok" --checkpoint-dir mixed --keep-checkpoints 1)
"$bin" "${two[@]}" --epochs 1 > mixed1.out 2> mixed1.err
cp -r "$in/checkpoints/st_duplicate_names/step-1" mixed/step-000000000050
( ulimit -v 4000000; exec timeout -s KILL 20 "$bin" "${two[@]}" --epochs 2 --resume ) > mixed.out 2> mixed.err
rc=$?
if [ $rc -eq 0 ] && grep -q "skipping damaged checkpoint mixed/step-000000000050" mixed.err &&
   grep -q "resuming from mixed/step-000000000001" mixed.err && [ -f mixed/step-000000000002/meta.json ] &&
   [ -d mixed/step-000000000050 ] && [ ! -e mixed/step-000000000001 ]; then
  passed=$((passed + 1)); echo "ok   mixed: resumed from the good checkpoint; the new one and the damaged one kept"
else
  fail mixed "rc $rc; kept: $(ls mixed | tr '\n' ' ')"
fi

echo "hostile_resume_test: $passed passed, $failed failed"
[ $failed -eq 0 ]
