#!/usr/bin/env bash
# Newcomer's first command: build safe-install and watch it stop a malicious postinstall in a
# real `npm install`. Installs Node.js/npm with apt when missing (as root) and needs cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "demo.sh: npm is missing; run: sudo apt-get install -y nodejs npm" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo.sh: cargo is missing; install Rust (rustup) or: sudo apt-get install -y cargo" >&2
  exit 1
fi
# Not --quiet: the first build takes minutes, and a silent terminal looks like a hang.
echo "demo.sh: building safe-install (release; the first build takes a few minutes, later ones seconds)..." >&2
cargo build --release --locked
exec target/release/safe-install demo
