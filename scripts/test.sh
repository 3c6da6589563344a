#!/usr/bin/env bash
# The project's test command (README: "How to test"); CI runs it through .ci/run.
#
#   1. scripts/setup.sh: installs the prerequisites as root, only checks them otherwise;
#   2. the rust-version check, the layer rule of docs/architecture.md, shellcheck of every
#      shell script, cargo fmt --check,
#      cargo clippy --all-targets -D warnings (which also denies code newer than
#      rust-version), cargo build, cargo test, as the caller;
#   3. when the caller is root: the same unit and integration test executables again as
#      the unprivileged user `si-tester` (created if missing), from a fresh world-readable
#      copy, since real users are not root and root hides permission bugs.
#
# Needs no stdin. Every stage runs even when an earlier check fails (so one run shows
# everything); the exit status is non-zero if anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec </dev/null

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
  PATH=${HOME:-/root}/.cargo/bin:$PATH
fi
command -v cargo >/dev/null 2>&1 || {
  echo "test.sh: cargo is not on PATH; install Rust (rustup) first" >&2
  exit 1
}

UNPRIV_USER=si-tester
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
failures=()

stage() { printf '\n==> %s\n' "$*" >&2; }
record() {
  local name=$1
  shift
  if "$@"; then
    return 0
  else
    local rc=$?
    failures+=("$name (exit $rc)")
    return 0
  fi
}

stage "setup (scripts/setup.sh)"
scripts/setup.sh

stage "rust-version tells the truth (scripts/check-msrv.sh)"
record "check-msrv" scripts/check-msrv.sh

stage "imports run down the layer order (scripts/check-layers.py, docs/architecture.md)"
record "check-layers" /usr/bin/python3 scripts/check-layers.py

stage "shellcheck (every shell script in the repository)"
mapfile -t shell_scripts < <(
  git ls-files -z | while IFS= read -r -d '' f; do
    [[ -f $f ]] || continue
    case $f in
    *.sh) printf '%s\n' "$f" ;;
    *) head -c 64 "$f" 2>/dev/null | head -n1 | grep -Eq '^#!.*\b(ba|da)?sh\b' && printf '%s\n' "$f" ;;
    esac
  done
)
record "shellcheck" shellcheck -S warning "${shell_scripts[@]}"

stage "cargo fmt --check"
record "cargo fmt --check" cargo fmt --all -- --check

stage "cargo clippy --all-targets -- -D warnings"
record "cargo clippy" cargo clippy --all-targets --locked -- -D warnings

stage "cargo build"
if ! cargo build --locked; then
  echo "test.sh: cargo build failed; no test can run" >&2
  exit 1
fi

stage "cargo test (as $(id -un))"
record "cargo test as $(id -un)" cargo test --locked --no-fail-fast

if [[ $(id -u) -eq 0 ]]; then
  stage "the same test executables as the unprivileged user $UNPRIV_USER"
  if ! id -u "$UNPRIV_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$UNPRIV_USER"
  fi
  work=$(mktemp -d /tmp/si-unprivileged.XXXXXX)
  cleanup() { rm -rf "$work"; }
  trap cleanup EXIT
  chmod 0755 "$work"
  mkdir -p "$work/bin" "$work/home"
  chown "$UNPRIV_USER:" "$work/home"

  # The test executables cargo built, as `cargo test` would run them.
  cargo test --locked --no-run --message-format=json 2>/dev/null >"$work/cargo-test.json"
  /usr/bin/python3 - "$work/cargo-test.json" >"$work/executables" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
        continue
    exe = msg.get("executable")
    if exe and exe not in seen:
        seen.add(exe)
        print(msg["target"]["name"] + "\t" + exe)
PY
  if [[ ! -s $work/executables ]]; then
    echo "test.sh: cargo test --no-run listed no test executable" >&2
    failures+=("listing test executables")
  fi
  # The binary cargo built for these tests (CARGO_TARGET_DIR when the caller set one).
  cp "${CARGO_TARGET_DIR:-target}/debug/safe-install" "$work/bin/safe-install"
  cp -r tests/fixtures "$work/fixtures"
  while IFS=$'\t' read -r name exe; do
    cp "$exe" "$work/bin/test-$name"
  done <"$work/executables"
  chmod -R a+rX "$work/bin" "$work/fixtures"

  while IFS=$'\t' read -r name exe; do
    stage "as $UNPRIV_USER: $name"
    record "$name as $UNPRIV_USER" \
      runuser -u "$UNPRIV_USER" -- env -i \
      PATH="$SYSTEM_PATH" \
      HOME="$work/home" \
      USER="$UNPRIV_USER" \
      LANG=C.UTF-8 \
      ${CI:+CI="$CI"} \
      SAFE_INSTALL_BIN="$work/bin/safe-install" \
      SAFE_INSTALL_FIXTURES="$work/fixtures" \
      bash -c 'cd "$1" && exec "$2"' _ "$work/home" "$work/bin/test-$name"
  done <"$work/executables"
fi

if ((${#failures[@]})); then
  printf '\ntest.sh: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
printf '\ntest.sh: all checks passed\n' >&2
