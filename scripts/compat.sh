#!/usr/bin/env bash
# Compatibility check against real packages from the public registries (not part of CI: it
# needs them, reached through npm's and pip's own default configuration).
#
# For each package with an install script or a native build: install it bare, then the
# same lockfile through safe-install (release build) in the same directory, and compare:
#   - bare / sandboxed result (ok, failed with status N, timeout);
#   - the installed tree (node_modules or site-packages): a manifest of paths, sizes and
#     SHA-256. Files that differ between any two builds (locally compiled objects, which
#     embed temporary build paths; .pyc timestamps; RECORD, which hashes them) are compared by
#     path only, and the table says when that happened;
#   - blocked events in safe-install's --log, and the first distinct ones (for a failure, the
#     line that explains it: a host, or a path the script may not write).
# Prints a Markdown table on stdout; the details stay in the work directory it names.
#
# Usage: scripts/compat.sh [PACKAGE...]      (default: all)
# Environment: SAFE_INSTALL_BIN (default: cargo build --release), COMPAT_TIMEOUT (seconds
# per install, default 600), COMPAT_DIR (work directory, default a new one under /tmp).
# Needs node/npm, python3 with venv, gcc and python3-dev (simplejson builds from source), git.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=${COMPAT_TIMEOUT:-600}
say() { printf 'compat.sh: %s\n' "$*" >&2; }

for cmd in node npm python3 gcc git timeout; do
  command -v "$cmd" >/dev/null || { say "$cmd is missing (scripts/setup.sh as root installs it)"; exit 1; }
done
python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' ||
  { say "Python.h is missing: apt-get install python3-dev (simplejson builds a C extension)"; exit 1; }

if [[ -z ${SAFE_INSTALL_BIN:-} ]]; then
  say "building the release binary"
  (cd "$repo" && cargo build --release --locked --quiet)
  SAFE_INSTALL_BIN=$repo/target/release/safe-install
fi
[[ -x $SAFE_INSTALL_BIN ]] || { say "$SAFE_INSTALL_BIN is not executable"; exit 1; }

work=${COMPAT_DIR:-$(mktemp -d /tmp/si-compat.XXXXXX)}
mkdir -p "$work"
chmod 0755 "$work"
say "work directory: $work (as $(id -un); safe-install: $SAFE_INSTALL_BIN)"
results=$work/results.tsv
: >"$results"

export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The manifest of a tree: one JSON object per file, path -> [size, sha256].
manifest() {
  python3 - "$1" >"$2" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
if os.path.isdir(root):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = ["link", os.readlink(p)]
                continue
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.relpath(p, root)] = [os.path.getsize(p), h.hexdigest()]
json.dump(out, sys.stdout, indent=0, sort_keys=True)
PY
}

# "same", "same except N rebuilt file(s) (...)", or "differs: ..." for two manifests.
compare() {
  python3 - "$1" "$2" <<'PY'
import fnmatch, json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
# Differ between two builds of the same source: compiled output embeds the random
# temporary build directory, .pyc files the source's mtime, RECORD hashes both.
volatile = ["*.o", "*.so", "*.node", "*.pyc", "*/RECORD", "*.d", "*/build/config.gypi",
            "*/build/Makefile", "*.mk", "*/build/*.target.mk"]
only_a = sorted(set(a) - set(b))
only_b = sorted(set(b) - set(a))
changed = sorted(p for p in set(a) & set(b) if a[p] != b[p])
loose = [p for p in changed if any(fnmatch.fnmatch(p, v) for v in volatile)]
hard = [p for p in changed if p not in loose]
if not a and not b:
    print("both empty")
elif not (only_a or only_b or hard):
    if not loose:
        print("same")
    else:
        groups = {}
        for p in loose:
            v = next(v for v in volatile if fnmatch.fnmatch(p, v))
            groups[v] = groups.get(v, 0) + 1
        print("same except rebuilt files: " + ", ".join(f"{n} {v.lstrip('*/')}" for v, n in sorted(groups.items())))
else:
    parts = []
    if only_a: parts.append(f"{len(only_a)} only bare ({', '.join(only_a[:3])})")
    if only_b: parts.append(f"{len(only_b)} only sandboxed ({', '.join(only_b[:3])})")
    if hard: parts.append(f"{len(hard)} changed ({', '.join(hard[:3])})")
    print("differs: " + "; ".join(parts))
PY
}

# "N" blocked events and the first distinct ones (action, target, reason, who) from a log.
log_summary() {
  python3 - "$1" <<'PY'
import json, sys
blocked, hosts = 0, []
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("verdict") != "blocked":
        continue
    blocked += 1
    who = " ".join(x for x in (e.get("package"), e.get("script")) if x)
    h = f"{e['action']} {e.get('target')} [{e.get('reason')}]" + (f" by {who}" if who else "")
    if h not in hosts:
        hosts.append(h)
print(f"{blocked}\t{'; '.join(hosts[:4]) or '-'}")
PY
}

# Runs "$@" with the timeout; prints ok / exit N / timeout.
attempt() {
  local out=$1
  shift
  local rc=0
  timeout --kill-after=10 "$TIMEOUT" "$@" >"$out" 2>&1 </dev/null || rc=$?
  case $rc in
    0) echo ok ;;
    124 | 137) echo "timeout (${TIMEOUT}s)" ;;
    *) echo "exit $rc" ;;
  esac
}

npm_case() {
  local name=$1 spec=$2 kind=${3:-dependency}
  # `npm ci`, except where npm's own lockfile handling breaks it (both bare and sandboxed).
  local verb=ci
  [[ -n ${NPM_VERB[$name]:-} ]] && verb=${NPM_VERB[$name]}
  local dir=$work/$name
  rm -rf "$dir"
  mkdir -p "$dir/project"
  local p=$dir/project
  if [[ $kind == prepare ]]; then
    # A root `prepare` script (husky's setup), run by npm in the project itself.
    printf '{ "name": "compat-%s", "version": "1.0.0", "private": true,\n  "scripts": { "prepare": "husky" },\n  "devDependencies": { "%s": "%s" } }\n' \
      "$name" "${spec%@*}" "${spec##*@}" >"$p/package.json"
  else
    printf '{ "name": "compat-%s", "version": "1.0.0", "private": true,\n  "dependencies": { "%s": "%s" } }\n' \
      "$name" "${spec%@*}" "${spec##*@}" >"$p/package.json"
  fi
  # Husky needs a git repository; every project gets one, as real projects have.
  git -C "$p" init -q
  say "$name: resolving $spec"
  # A full install, not --package-lock-only: that mode leaves other platforms' optional
  # dependencies (@swc/core-darwin-arm64, ...) out of the lockfile, which `npm ci` refuses.
  if [[ $(attempt "$dir/lock.txt" bash -c 'cd "$1" && npm install --ignore-scripts && rm -rf node_modules' _ "$p") != ok ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "lockfile failed" "-" "-" "-" "$(tail -n1 "$dir/lock.txt")" >>"$results"
    return
  fi
  say "$name: bare npm $verb"
  local bare
  bare=$(attempt "$dir/bare.txt" bash -c 'cd "$1" && npm "$2"' _ "$p" "$verb")
  manifest "$p/node_modules" "$dir/bare.json"
  local bare_hooks
  bare_hooks=$(git -C "$p" config core.hooksPath || echo unset)
  rm -rf "$p/node_modules"
  git -C "$p" config --unset core.hooksPath || true
  say "$name: npm $verb through safe-install"
  local boxed
  boxed=$(attempt "$dir/sandboxed.txt" bash -c 'cd "$1" && exec "$2" --log "$3" npm "$4"' _ "$p" "$SAFE_INSTALL_BIN" "$dir/events.jsonl" "$verb")
  manifest "$p/node_modules" "$dir/sandboxed.json"
  local boxed_hooks
  boxed_hooks=$(git -C "$p" config core.hooksPath || echo unset)
  local tree
  tree=$(compare "$dir/bare.json" "$dir/sandboxed.json")
  local events blocked hosts
  events=$(log_summary "$dir/events.jsonl")
  blocked=${events%%$'\t'*}
  hosts=${events#*$'\t'}
  if [[ $kind == prepare ]]; then
    hosts="$hosts; git core.hooksPath bare: $bare_hooks, sandboxed: $boxed_hooks"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$bare" "$boxed" "$tree" "$blocked" "$hosts" >>"$results"
}

pip_case() {
  local name=$1 spec=$2
  local dir=$work/$name
  rm -rf "$dir"
  mkdir -p "$dir/project"
  local p=$dir/project
  local args=(install --no-cache-dir --no-binary :all: "$spec")
  say "$name: bare pip ${args[*]}"
  python3 -m venv "$p/venv"
  local site
  site=$("$p/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  local bare
  bare=$(attempt "$dir/bare.txt" bash -c 'cd "$1" && exec venv/bin/pip "${@:2}"' _ "$p" "${args[@]}")
  manifest "$site" "$dir/bare.json"
  rm -rf "$p/venv"
  python3 -m venv "$p/venv"
  say "$name: the same through safe-install"
  local boxed
  boxed=$(attempt "$dir/sandboxed.txt" bash -c 'cd "$1" && exec "$2" --log "$3" venv/bin/pip "${@:4}"' _ "$p" "$SAFE_INSTALL_BIN" "$dir/events.jsonl" "${args[@]}")
  manifest "$site" "$dir/sandboxed.json"
  local tree events
  tree=$(compare "$dir/bare.json" "$dir/sandboxed.json")
  events=$(log_summary "$dir/events.jsonl")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$bare" "$boxed" "$tree" "${events%%$'\t'*}" "${events#*$'\t'}" >>"$results"
}

declare -A NPM=(
  [esbuild]=esbuild@latest
  [swc-core]=@swc/core@latest
  [sharp]=sharp@latest
  [bcrypt]=bcrypt@latest
  # 12 and later need Node 22; 11 is what Node 20 projects use (prebuild-install, then node-gyp).
  [better-sqlite3]=better-sqlite3@^11
  [core-js]=core-js@latest
  [puppeteer]=puppeteer@latest
)
# npm 11 writes a lockfile without the other platforms' optional @swc/core-* packages and
# then refuses it in `npm ci` ("Missing: @swc/core-darwin-arm64@ from lock file"), bare too.
declare -A NPM_VERB=([swc-core]=install)
ORDER=(esbuild swc-core sharp bcrypt better-sqlite3 core-js husky puppeteer simplejson)
wanted=("$@")
((${#wanted[@]})) || wanted=("${ORDER[@]}")

for name in "${wanted[@]}"; do
  case $name in
    husky) npm_case husky husky@latest prepare ;;
    simplejson) pip_case simplejson simplejson ;;
    *)
      [[ -n ${NPM[$name]:-} ]] || { say "unknown package $name (known: ${ORDER[*]})"; exit 2; }
      npm_case "$name" "${NPM[$name]}"
      ;;
  esac
done

printf '| package | bare | safe-install | installed tree | blocked events | blocked (distinct, first 4) / notes |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
while IFS=$'\t' read -r name bare boxed tree blocked hosts; do
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$bare" "$boxed" "$tree" "$blocked" "${hosts//|/\\|}"
done <"$results"
say "details (outputs, logs, manifests): $work"
