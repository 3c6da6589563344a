#!/usr/bin/env python3
"""Open and close one file N times; print opens per second (scripts/bench.sh notify).

Run as a lifecycle script under safe-install, every open is a seccomp notification the
supervisor handles (and judges) before the kernel goes on, so the rate is the notifier's.
"""
import os
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
path = sys.argv[2] if len(sys.argv) > 2 else "/etc/hostname"
start = time.perf_counter()
for _ in range(n):
    os.close(os.open(path, os.O_RDONLY))
elapsed = time.perf_counter() - start
print(f"OPENS_PER_SECOND={n / elapsed:.0f}")
