#!/usr/bin/env bash
# Checks that safe-install installs the way users install it (not part of scripts/test.sh:
# it builds the release profile, minutes on two cores):
#   1. `cargo package --list`: every file the code embeds (include_str!/include_bytes!) is in
#      the package, so `cargo install` from a registry or a git URL builds;
#   2. `cargo install --locked --path .` into a temporary root; the installed binary prints
#      its version, its shell integration, and runs `/bin/true` in the sandbox.
#
# Usage: scripts/check-packaging.sh [--fresh]
#   --fresh: build in a new target directory (as a user's first install does) instead of
#            reusing this checkout's target/ (cargo install --path's default).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'check-packaging.sh: %s\n' "$*" >&2; }

work=$(mktemp -d /tmp/si-packaging.XXXXXX)
trap 'rm -rf "$work"' EXIT

say "cargo package --list"
cargo package --list --locked --allow-dirty >"$work/list" 2>"$work/package.err" ||
  { cat "$work/package.err" >&2; exit 1; }
missing=0
# Paths in include_str!/include_bytes!, relative to the file that names them.
while IFS=: read -r file _ rel; do
  path=$(realpath -m --relative-to=. "$(dirname "$file")/$rel")
  if ! grep -qxF "$path" "$work/list"; then
    say "$file embeds $path, which the package does not contain"
    missing=1
  fi
done < <(grep -roE --include='*.rs' 'include_(str|bytes)!\("[^"]+"\)' src |
  sed -E 's/^([^:]+):include_(str|bytes)!\("([^"]+)"\)$/\1::\3/')
((missing == 0)) || exit 1
say "$(wc -l <"$work/list") files packaged; every embedded file among them"

extra=()
if [[ ${1:-} == --fresh ]]; then
  extra=(--target-dir "$work/target")
fi
say "cargo install --locked --path . --root $work/root ${extra[*]}"
start=$(date +%s)
cargo install --locked --path . --root "$work/root" "${extra[@]}" --quiet
say "installed in $(($(date +%s) - start)) s"

bin=$work/root/bin/safe-install
"$bin" --version
"$bin" shell-init bash | grep -q 'command safe-install npm' ||
  { say "the installed binary's shell-init output lacks the npm function"; exit 1; }
if "$bin" -q /bin/true; then
  say "the installed binary ran /bin/true in the sandbox"
else
  say "the installed binary could not run /bin/true in the sandbox (exit $?); see \`$bin doctor\`"
  exit 1
fi
say "ok: $(stat -c %s "$bin") bytes, $(file -b "$bin" | cut -d, -f1-2)"
