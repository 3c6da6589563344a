#!/usr/bin/python3
"""Times commands in alternation (A, B, A, B, ...) and prints their medians.

    alternate.py --runs N [--warmup W] [--prepare SHELL] [--cwd DIR] [--out FILE]
                 -- NAME ARGV... ::: NAME ARGV... [::: ...]

Alternating, rather than all runs of A then all of B (what hyperfine does), spreads slow
drifts of the machine (page cache, CPU frequency, another job) over both commands alike.
`--prepare` is a shell command run before every timed run and not timed (rm -rf
node_modules). Each command is started directly (no shell), its stdout discarded and its
stderr kept in a file; a failed run stops everything and shows that stderr.

Wall time is measured with time.perf_counter until the command exits; CPU time (user +
system, of the command and every descendant) from getrusage(RUSAGE_CHILDREN) around each
run. This process is a subreaper: a descendant the command did not wait for (safe-install's
sandbox init, whose namespace teardown may outlast safe-install's exit) is reaped here after
the timed part, so its CPU time is counted too.
CPU time hardly moves with the machine's load, so it is the steadier figure on a busy
machine, while the wall time is what a user waits.

Writes to --out, one per line, `NAME_median_ms=...`, `NAME_min_ms=`, `NAME_max_ms=`,
`NAME_runs=`, `NAME_cpu_median_ms=` (NAME with '-' turned into '_'), for the calling
shell script to read.
"""

import argparse
import ctypes
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--prepare", default=None)
    ap.add_argument("--cwd", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds before a run is killed and everything stops")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    commands, current = [], []
    for word in rest + [":::"]:
        if word == ":::":
            if len(current) < 2:
                ap.error("each command needs a NAME and an ARGV")
            commands.append((current[0], current[1:]))
            current = []
        else:
            current.append(word)
    return args, commands


def run_once(argv, cwd, prepare, errfile, timeout):
    if prepare:
        subprocess.run(prepare, shell=True, cwd=cwd, check=True)
    errfile.seek(0)
    errfile.truncate()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # A session of its own, so that a run that hangs can be killed with everything it
    # started (safe-install's sandbox dies with its supervisor by itself).
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=errfile, start_new_session=True)
    # A blocking wait, with a timer for the time limit: Popen.wait(timeout=...) polls with
    # growing sleeps (0.5, 1, 2, 4, 8 ms ...), which would round a 10 ms run up to 16 ms.
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    proc.wait()
    elapsed = time.perf_counter() - start
    timer.cancel()
    reap_orphans()
    if timed_out.is_set():
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
        sys.stderr.write(f"alternate.py: `{' '.join(argv)}` did not finish within {timeout:.0f}s; "
                         f"killed it. Its stderr (last 4000 characters):\n{err[-4000:]}\n")
        sys.exit(1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
        sys.stderr.write(f"alternate.py: `{' '.join(argv)}` exited with {proc.returncode}; "
                         f"its stderr (last 4000 characters):\n{err[-4000:]}\n")
        sys.exit(1)
    return elapsed * 1000.0, cpu * 1000.0


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        sys.exit(f"alternate.py: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def reap_orphans():
    """Wait for every descendant reparented here (none is left running for long: each
    command's processes are gone or exiting when it exits)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def main():
    become_subreaper()
    args, commands = parse()
    samples = {name: [] for name, _ in commands}
    cpu = {name: [] for name, _ in commands}
    with tempfile.TemporaryFile() as errfile:
        for i in range(args.warmup + args.runs):
            for name, argv in commands:
                ms, cpu_ms = run_once(argv, args.cwd, args.prepare, errfile, args.timeout)
                if i >= args.warmup:
                    samples[name].append(ms)
                    cpu[name].append(cpu_ms)
    lines = []
    for name, _ in commands:
        xs = samples[name]
        key = name.replace("-", "_")
        lines += [f"{key}_median_ms={statistics.median(xs):.3f}",
                  f"{key}_min_ms={min(xs):.3f}",
                  f"{key}_max_ms={max(xs):.3f}",
                  f"{key}_runs={len(xs)}",
                  f"{key}_cpu_median_ms={statistics.median(cpu[name]):.3f}"]
        line = (f"  {name:<10} wall median {statistics.median(xs):9.1f} ms   "
                f"min {min(xs):9.1f}   max {max(xs):9.1f}   "
                f"cpu (user+sys) median {statistics.median(cpu[name]):9.1f} ms   runs {len(xs)}")
        if len(xs) <= 12:
            line += "   all: " + " ".join(f"{x:.1f}" for x in xs)
        print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
