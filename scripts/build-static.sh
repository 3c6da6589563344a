#!/usr/bin/env bash
# A statically linked release build of safe-install, for machines and containers whose C
# library differs from the build host's (or that have none: distroless, scratch).
#
#   1. musl (x86_64-unknown-linux-musl, or the host architecture's musl target): preferred.
#      Used when rustup has the target or can add it (`rustup target add` needs the Rust
#      distribution server; where only package registries are reachable it may fail).
#   2. otherwise glibc linked statically (`-C target-feature=+crt-static` on the gnu target:
#      a static-pie binary). It runs anywhere, with one caveat: looking up the caller's home
#      directory by uid (getpwuid, used only when $HOME is unset or relative) goes through
#      glibc's NSS, which a static glibc loads at run time from the host's own glibc and
#      which can fail when that differs. safe-install then falls back to /nonexistent.
#
# Prints which one it built, `file`'s description, the size, and runs the binary's
# `--version` and a sandboxed `/bin/true` as a smoke test.
#
# Usage: scripts/build-static.sh [--gnu]     (--gnu: skip musl, build the glibc variant)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'build-static.sh: %s\n' "$*" >&2; }

arch=$(uname -m)
musl=$arch-unknown-linux-musl
gnu=$arch-unknown-linux-gnu
force_gnu=false
[[ ${1:-} == --gnu ]] && force_gnu=true

have_musl() {
  command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$musl"
}

variant=
if ! $force_gnu; then
  if have_musl; then
    variant=musl
  elif command -v rustup >/dev/null 2>&1; then
    say "trying: rustup target add $musl"
    if timeout 300 rustup target add "$musl" >&2 && have_musl; then
      variant=musl
    else
      say "the musl target cannot be installed here; building glibc statically instead"
    fi
  fi
fi

if [[ $variant == musl ]]; then
  target=$musl
  say "building for $target (musl, statically linked)"
  if ! cargo build --release --locked --target "$target" 2>"${TMPDIR:-/tmp}/build-static-musl.err"; then
    grep -E '^(error|warning: unused)' -A3 "${TMPDIR:-/tmp}/build-static-musl.err" | head -n 20 >&2
    say "THE MUSL BUILD FAILED (full output: ${TMPDIR:-/tmp}/build-static-musl.err); building glibc statically instead"
    variant=
  fi
fi
if [[ $variant != musl ]]; then
  variant=glibc-static-pie
  target=$gnu
  [[ -f /usr/lib/$arch-linux-gnu/libc.a || -f /usr/lib64/libc.a ]] ||
    { say "no static glibc (libc.a): apt-get install libc6-dev"; exit 1; }
  say "building for $target with +crt-static (glibc, static-pie)"
  # --target keeps RUSTFLAGS off build scripts and proc-macros, which must stay dynamic.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$target"
fi

bin=target/$target/release/safe-install
[[ -x $bin ]] || { say "the build produced no $bin"; exit 1; }
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
  say "$bin is dynamically linked:"
  ldd "$bin" >&2
  exit 1
fi
size=$(stat -c %s "$bin")
echo "variant: $variant ($target)"
echo "binary:  $bin"
echo "file:    $(file -b "$bin")"
echo "size:    $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
echo "version: $("$bin" --version)"
if "$bin" -q /bin/true; then
  echo "smoke:   safe-install /bin/true ran in the sandbox"
else
  rc=$?
  echo "smoke:   safe-install /bin/true exited $rc (see \`$bin doctor\`)"
  exit 1
fi
