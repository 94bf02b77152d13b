#!/usr/bin/env python3
"""Kill safety: SIGKILL singa_train at random moments *inside* checkpoint writes.

Each round starts the trainer (which resumes from the newest valid checkpoint and writes one every
step), polls the checkpoint directory until a write is in progress (a ".tmp-step-*" directory
exists), waits a random 0..max-delay microseconds so the kill lands at a random point of the
write (file data, fsync, directory fsync, rename, pruning), then SIGKILLs it. After every kill the
checkpoint_verify tool must find no torn checkpoint and no step regression.

Usage: kill_during_writes.py SINGA_TRAIN CHECKPOINT_VERIFY DIR [--kills-in-write 20] -- TRAINER_ARGS...
(the driver adds --checkpoint-dir DIR to the trainer's arguments)
Prints one line per round and a summary; exits 1 when an assertion fails.
"""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time


def verify(tool, ckdir):
    p = subprocess.run([tool, ckdir], capture_output=True, text=True)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    m = re.search(r"newest valid step (-?\d+); temporaries (\d+)", last)
    if p.returncode != 0 or not m:
        return False, -1, 0, p.stdout + p.stderr
    return True, int(m.group(1)), int(m.group(2)), last


def write_in_progress(ckdir, pid):
    """True while process `pid` has a checkpoint temporary (".tmp-step-NNN-PID") in ckdir."""
    suffix = f"-{pid}"
    try:
        return any(e.name.startswith(".tmp-step-") and e.name.endswith(suffix) for e in os.scandir(ckdir))
    except FileNotFoundError:
        return False


def main():
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser(allow_abbrev=False)
    ap.add_argument("train")
    ap.add_argument("verify")
    ap.add_argument("ckdir")
    ap.add_argument("--kills-in-write", type=int, default=20)
    ap.add_argument("--max-rounds", type=int, default=60)
    ap.add_argument("--max-delay-us", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv[:split])
    trainer_args = argv[split + 1:]
    rng = random.Random(args.seed)
    cmd = [args.train] + trainer_args + ["--checkpoint-dir", args.ckdir]

    in_write = kills = torn = regress = resumed = 0
    last_best = -1
    for rnd in range(1, args.max_rounds + 1):
        if in_write >= args.kills_in_write:
            break
        log = open(os.path.join(os.path.dirname(args.ckdir.rstrip("/")) or ".", "kill_round.err"), "w+")
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        # Skip the first write of a round now and then, so kills also land in later writes.
        skip = rng.randrange(3)
        seen = False
        while time.monotonic() < deadline and p.poll() is None:
            if write_in_progress(args.ckdir, p.pid):
                if skip == 0:
                    seen = True
                    break
                skip -= 1
                while write_in_progress(args.ckdir, p.pid) and p.poll() is None:
                    time.sleep(0.0002)
            else:
                time.sleep(0.0002)
        if seen:
            time.sleep(rng.randrange(args.max_delay_us) / 1e6)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        # The kill hit a write when the killed process left its temporary behind.
        landed_in_write = write_in_progress(args.ckdir, p.pid)
        log.seek(0)
        text = log.read()
        log.close()
        if "resuming from" in text:
            resumed += 1
        ok, best, temps, line = verify(args.verify, args.ckdir)
        hit = landed_in_write and temps > 0 and p.returncode == -signal.SIGKILL
        in_write += int(hit)
        if not ok:
            torn += 1
        if best < last_best:
            regress += 1
        last_best = max(last_best, best)
        print(f"round {rnd:2d}: kill {'inside a write' if hit else 'outside a write'}; {line}", flush=True)

    print(f"kill safety: {kills} SIGKILLs, {in_write} inside checkpoint writes, {resumed} runs resumed, "
          f"{torn} torn, {regress} regressions, newest valid step {last_best}")
    failed = []
    if in_write < args.kills_in_write:
        failed.append(f"only {in_write} kills landed inside writes (want {args.kills_in_write})")
    if torn:
        failed.append(f"{torn} times a checkpoint failed verification after a kill")
    if regress or last_best <= 0:
        failed.append(f"progress lost (regressions {regress}, newest valid step {last_best})")
    if resumed < kills // 2:
        failed.append(f"only {resumed} of {kills} killed runs resumed from a checkpoint")
    for f in failed:
        print("FAIL " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
