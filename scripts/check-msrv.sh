#!/usr/bin/env bash
# The `rust-version` in Cargo.toml must tell the truth. This machine has one Rust toolchain
# (no older one can be fetched to build with), so the check is made of the two facts that
# decide the minimum:
#   1. no locked dependency declares a newer `rust-version` than ours (cargo metadata);
#   2. our own code uses nothing newer: clippy's `incompatible_msrv` lint, which reads
#      `rust-version`, is denied in the clippy run of scripts/test.sh (`-D warnings`).
# Exit status non-zero, with the offending packages named, when (1) fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo metadata --locked --format-version 1 | /usr/bin/python3 -c '
import json, sys

def version(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])

meta = json.load(sys.stdin)
ours = next(p for p in meta["packages"] if p["id"] in meta["workspace_members"])
msrv = ours.get("rust_version")
if not msrv:
    sys.exit("check-msrv.sh: Cargo.toml has no rust-version; add one")
newer = sorted(
    {(p["rust_version"], p["name"]) for p in meta["packages"]
     if p.get("rust_version") and version(p["rust_version"]) > version(msrv)},
    key=lambda t: version(t[0]), reverse=True)
if newer:
    names = ", ".join(f"{n} ({v})" for v, n in newer[:8])
    sys.exit(f"check-msrv.sh: rust-version is {msrv} but locked dependencies need more: "
             f"{names}. Fix: raise rust-version in Cargo.toml to {newer[0][0]}, or pin older "
             "dependencies in Cargo.lock")
print(f"check-msrv.sh: rust-version {msrv} covers every locked dependency", file=sys.stderr)
'
