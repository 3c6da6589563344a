#!/usr/bin/env bash
# Compatibility check against real packages from the public registries (not part of CI: it
# needs them, reached through npm's and pip's own default configuration).
#
# For each package with an install script or a native build and each package manager (npm
# as installed on the machine, npm 12, pnpm 12 and yarn 4 with `nodeLinker: node-modules`
# from scripts/toolchains.sh, pip for the Python package): install it bare, then the same
# lockfile through safe-install (release build) in the same directory, and compare:
#   - bare / sandboxed result (ok, failed with status N, timeout; or failed although the
#     package manager exited 0, when the case's own check finds its work missing: the
#     patched line for patch-package, the built addon for node-gyp);
#   - the installed tree (node_modules or site-packages): a manifest of paths, sizes and
#     SHA-256. Files that differ between any two builds (locally compiled objects, which
#     embed temporary build paths; .pyc timestamps; RECORD, which hashes them) are compared by
#     path only, and the table says when that happened. The package managers' own state
#     files in node_modules (pnpm's .modules.yaml and workspace state, yarn's .yarn-state.yml:
#     times, absolute paths) are left out. A difference with a known cause that no grant can
#     remove without weakening the sandbox is shown as "explained", with the reason;
#   - blocked events in safe-install's --log, and the first distinct ones (for a failure, the
#     line that explains it: a host, or a path the script may not write).
# Prints a Markdown table on stdout; the details stay in the work directory it names.
#
# Cases (the PACKAGE names below): esbuild, swc-core (@swc/core), sharp, bcrypt (prebuilt
# binaries, some in optional packages), better-sqlite3 (prebuild-install, then node-gyp, under
# the machine's npm), core-js (a postinstall banner), husky (the root project's own `prepare`,
# setting git's core.hooksPath), patch-package (the root project's own `postinstall` running
# patch-package on an exactly pinned is-number with a patch in patches/; the patched line must
# be there afterwards), node-gyp (epoll, whose install script is `node-gyp rebuild` with no
# prebuilt binary: a source build under every package manager, against the running Node's
# local headers; the addon must be there afterwards), puppeteer (a browser download), and
# simplejson (pip, an sdist with a C extension).
#
# The root project's own scripts (husky's `prepare`, patch-package's `postinstall`) are the
# user's: no approval list names them, and npm 12, pnpm 12 and yarn 4 run them without one.
#
# Approvals: npm 12, pnpm 12 and yarn 4 run no dependency's install script unless the project
# approves it, so each of their projects approves, in the package manager's own list, every
# package the resolved tree says has an install script (npm's lockfile `hasInstallScript`, from
# a probe resolution with the machine's npm): npm 12 `allowScripts`, pnpm 12 `allowBuilds` in
# pnpm-workspace.yaml, yarn 4 `dependenciesMeta.<name>.built`. That is what a user who wants the
# package to work does, and it makes the bare and the sandboxed run do the same work.
#
# Usage: scripts/compat.sh [PACKAGE...]      (default: all)
# Environment: SAFE_INSTALL_BIN (default: cargo build --release), COMPAT_TIMEOUT (seconds
# per install, default 600), COMPAT_DIR (work directory, default a new one under /tmp),
# COMPAT_PMS (package managers for the npm packages, default "npm npm12 pnpm12 yarn4";
# simplejson always runs with pip), SAFE_INSTALL_TOOLCHAINS (default /opt/safe-install-toolchains).
# Needs node/npm, python3 with venv, gcc and python3-dev (simplejson builds from source), g++
# and make (node-gyp builds), git, and scripts/toolchains.sh's toolchains for npm12, pnpm12 and
# yarn4.
# The `bash -c` programs are single-quoted on purpose: their values come in as positional
# parameters, never spliced into the program text.
# shellcheck disable=SC2016
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=${COMPAT_TIMEOUT:-600}
say() { printf 'compat.sh: %s\n' "$*" >&2; }

for cmd in node npm python3 gcc g++ make git timeout; do
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

TOOLCHAINS=${SAFE_INSTALL_TOOLCHAINS:-/opt/safe-install-toolchains}
read -r -a PMS <<<"${COMPAT_PMS:-npm npm12 pnpm12 yarn4}"
# The command and the bin directory (first on PATH; empty: the machine's) of each package manager.
declare -A PM_CMD=([npm]=npm [npm12]=npm [pnpm12]=pnpm [yarn4]=yarn)
declare -A PM_BIN=([npm]="" [npm12]=$TOOLCHAINS/npm12/bin [pnpm12]=$TOOLCHAINS/pnpm12/bin [yarn4]=$TOOLCHAINS/yarn4/bin)
for pm in "${PMS[@]}"; do
  [[ -n ${PM_CMD[$pm]:-} ]] || { say "unknown package manager $pm (known: ${!PM_CMD[*]})"; exit 2; }
  [[ -z ${PM_BIN[$pm]} || -x ${PM_BIN[$pm]}/${PM_CMD[$pm]} ]] ||
    { say "${PM_BIN[$pm]}/${PM_CMD[$pm]} is missing (scripts/toolchains.sh as root installs it)"; exit 1; }
done

work=${COMPAT_DIR:-$(mktemp -d /tmp/si-compat.XXXXXX)}
mkdir -p "$work"
chmod 0755 "$work"
say "work directory: $work (as $(id -un); safe-install: $SAFE_INSTALL_BIN)"
results=$work/results.tsv
: >"$results"

export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The manifest of a tree: one JSON object per file, path -> [size, sha256] (a symbolic link,
# also one to a directory as pnpm makes them: ["link", target]). The package managers' own
# state files are left out: they hold times and absolute paths, not installed content.
manifest() {
  python3 - "$1" >"$2" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
state = {".modules.yaml", ".pnpm-workspace-state-v1.json", ".yarn-state.yml"}
out = {}
if os.path.isdir(root):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for sub in [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out[os.path.relpath(os.path.join(d, sub), root)] = ["link", os.readlink(os.path.join(d, sub))]
        for f in sorted(files):
            if d == root and f in state:
                continue
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
# Known differences no grant can remove without weakening the sandbox: (file, the file the
# bare install made it a copy of, why). Counted as explained only when the bare file really
# is that other file's content and the sandboxed one is not.
explained_rules = [
    ("*esbuild/bin/esbuild", "*@esbuild/linux-x64/bin/esbuild",
     "esbuild's postinstall hard-links @esbuild/linux-x64's binary into its own folder "
     "(link(), then rename() over its JS shim); a level-2 script may write only its own "
     "package's folder, and a link of another package's file there would let it write that "
     "file (one inode), so Landlock refuses the link (EXDEV; a link inside its own package "
     "works) and esbuild keeps its shim, which runs the same binary. No grant makes it equal "
     "without letting the script write another package's file; yarn is spared (esbuild skips "
     "the link under yarn)"),
]
# Files only the bare install has, with a known cause: (pattern, why).
explained_only_bare = [
    ("*/node_modules/.tmp/*",
     "pnpm points a script's TMPDIR at its package's own node_modules/.tmp (bare, even with "
     "TMPDIR set); inside safe-install the script gets the sandbox's temporary directory "
     "instead, so a file a script leaves in os.tmpdir() (core-js's banner throttle) is not in "
     "the tree; nothing was refused"),
]
only_a = sorted(set(a) - set(b))
only_b = sorted(set(b) - set(a))
changed = sorted(p for p in set(a) & set(b) if a[p] != b[p])
loose = [p for p in changed if any(fnmatch.fnmatch(p, v) for v in volatile)]
explained = {}
for p in changed:
    for pattern, source, why in explained_rules:
        if not fnmatch.fnmatch(p, pattern):
            continue
        sources = [q for q in a if fnmatch.fnmatch(q, source)]
        if any(a[q] == a[p] for q in sources) and not any(b.get(q) == b[p] for q in sources):
            explained[p] = why
# Files that follow from an explained difference: (pattern, the explained file's pattern, why).
consequences = [
    ("*.bin/esbuild", "*esbuild/bin/esbuild",
     "pnpm writes the .bin shim after the build, for what esbuild/bin/esbuild then is (the "
     "native binary bare, the JS shim sandboxed)"),
]
for p in changed:
    for pattern, cause, why in consequences:
        if fnmatch.fnmatch(p, pattern) and any(fnmatch.fnmatch(q, cause) for q in list(explained)):
            explained[p] = why
for p in only_a:
    why = next((w for pat, w in explained_only_bare if fnmatch.fnmatch(p, pat)), None)
    if why:
        explained[p] = why
only_a = [p for p in only_a if p not in explained]
hard = [p for p in changed if p not in loose and p not in explained]
# One note per reason, naming its files.
by_reason = {}
for p, why in sorted(explained.items()):
    by_reason.setdefault(why, []).append(p)
notes = "".join(f"; explained: {', '.join(ps)}: {why}" for why, ps in by_reason.items())
if not a and not b:
    print("both empty")
elif not (only_a or only_b or hard):
    if not loose:
        print(("same except explained" if explained else "same") + notes)
    else:
        groups = {}
        for p in loose:
            v = next(v for v in volatile if fnmatch.fnmatch(p, v))
            groups[v] = groups.get(v, 0) + 1
        print("same except rebuilt files: " + ", ".join(f"{n} {v.lstrip('*/')}" for v, n in sorted(groups.items())) + notes)
else:
    parts = []
    if only_a: parts.append(f"{len(only_a)} only bare ({', '.join(only_a[:3])})")
    if only_b: parts.append(f"{len(only_b)} only sandboxed ({', '.join(only_b[:3])})")
    if hard: parts.append(f"{len(hard)} changed ({', '.join(hard[:3])})")
    print("differs: " + "; ".join(parts) + notes)
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

# The packages of a case's resolved tree that have an install script, one name a line: what a
# project must approve for npm 12, pnpm 12 and yarn 4 to run them (never the root project
# itself: its own scripts are the user's and need no approval). Resolved once per package
# with the machine's npm, from the case's own package.json (a full install without scripts:
# its lockfile keeps this platform's optional packages and marks `hasInstallScript`, also for
# an implicit node-gyp build).
scripted_packages() {
  local name=$1 spec=$2 kind=$3 probe=$work/$1/probe
  if [[ ! -f $probe/scripted.txt ]]; then
    rm -rf "$probe"
    mkdir -p "$probe"
    write_js_project npm "$probe" "$name" "$spec" "$kind" ""
    [[ $(attempt "$probe/lock.txt" bash -c 'cd "$1" && npm install --ignore-scripts && rm -rf node_modules' _ "$probe") == ok ]] ||
      return 1
    node -e 'const l = require(process.argv[1]).packages;
      const names = new Set();
      for (const [k, v] of Object.entries(l)) if (k && v.hasInstallScript) names.add(k.replace(/^.*node_modules\//, ""));
      console.log([...names].sort().join("\n"))' "$probe/package-lock.json" >"$probe/scripted.txt"
  fi
  cat "$probe/scripted.txt"
}

# The project of one case: package.json (the dependency; for `prepare` husky's setup as a root
# script; for `patch` a root `postinstall` running patch-package on is-number 7.0.0, with the
# patch in patches/) with the package manager's approval of APPROVED, and its configuration
# files.
write_js_project() {
  local pm=$1 p=$2 name=$3 spec=$4 kind=$5 approved=$6
  PATCH_LINE=$PATCH_LINE node - "$pm" "$p" "$name" "${spec%@*}" "${spec##*@}" "$kind" "$approved" <<'JS'
const fs = require('fs');
const [pm, p, name, dep, range, kind, approved] = process.argv.slice(2);
const names = approved.split('\n').filter(Boolean);
const pkg = { name: `compat-${name}`, version: '1.0.0', private: true };
if (kind === 'prepare') {
  // A root `prepare` script (husky's setup), run by the package manager in the project itself.
  pkg.scripts = { prepare: 'husky' };
  pkg.devDependencies = { [dep]: range };
} else if (kind === 'patch') {
  // patch-package as the root project's `postinstall` (its own script, which no approval list
  // covers: the package managers run it as the user's code) patching a small pure-JS
  // dependency, pinned exactly so the patch's context always matches. The patch is what
  // `npx patch-package is-number` writes after the edit: a git diff of the file under
  // node_modules/, named <package>+<version>.patch. Under pnpm, the bare run's patch-package
  // writes the file in place, and it is a hard link into pnpm's store: the store's copy gets
  // patched too, pnpm notices at the next install and downloads the package again. The
  // sandboxed pnpm copies from its store (see the note), so there it patches a copy.
  pkg.scripts = { postinstall: 'patch-package' };
  pkg.dependencies = { 'is-number': '7.0.0' };
  pkg.devDependencies = { [dep]: range };
  fs.mkdirSync(`${p}/patches`, { recursive: true });
  fs.writeFileSync(`${p}/patches/is-number+7.0.0.patch`, [
    'diff --git a/node_modules/is-number/index.js b/node_modules/is-number/index.js',
    // git's blob hashes of the file before and after: informational, patch-package checks the
    // hunks' context instead.
    'index 27f19b7..34fdd85 100644',
    '--- a/node_modules/is-number/index.js',
    '+++ b/node_modules/is-number/index.js',
    '@@ -8,6 +8,7 @@',
    " 'use strict';",
    ' ',
    ' module.exports = function(num) {',
    `+  ${process.env.PATCH_LINE}`,
    "   if (typeof num === 'number') {",
    '     return num - num === 0;',
    '   }',
    '',
  ].join('\n'));
} else {
  pkg.dependencies = { [dep]: range };
}
if (pm === 'npm12' && names.length) {
  pkg.allowScripts = Object.fromEntries(names.map((n) => [n, true]));
}
if (pm === 'yarn4' && names.length) {
  pkg.dependenciesMeta = Object.fromEntries(names.map((n) => [n, { built: true }]));
}
fs.writeFileSync(`${p}/package.json`, JSON.stringify(pkg, null, 2) + '\n');
if (pm === 'pnpm12') {
  // Without the side-effects cache: with it, the second install (the sandboxed one) takes the
  // package as the bare install's scripts left it in the store and runs no script at all.
  fs.writeFileSync(`${p}/pnpm-workspace.yaml`, 'sideEffectsCache: false\n' +
    (names.length ? 'allowBuilds:\n' + names.map((n) => `  ${JSON.stringify(n)}: true\n`).join('') : ''));
}
if (pm === 'yarn4') {
  // The node-modules linker, so the tree compares file by file like npm's; no age gate, so
  // yarn installs the same fresh `latest` as the other package managers.
  fs.writeFileSync(`${p}/.yarnrc.yml`, 'nodeLinker: node-modules\nnpmMinimalAgeGate: 0\n');
}
JS
}

# RESULT of an install (attempt's), unless the case's work is missing from the tree: for
# `patch`, the patched line in the dependency's file; for `build`, the addon node-gyp builds.
# A missing one turns an exit 0 into a failure.
verified() {
  local result=$1 kind=$2 p=$3 spec=$4 missing=
  case $kind in
    patch)
      grep -qF "$PATCH_LINE" "$p/node_modules/is-number/index.js" 2>/dev/null ||
        missing="node_modules/is-number/index.js not patched"
      ;;
    build)
      local addon=$p/node_modules/${spec%@*}/build/Release/${spec%@*}.node
      [[ -f $addon ]] || missing="no ${addon#"$p"/}"
      ;;
  esac
  if [[ -z $missing ]]; then
    echo "$result"
  elif [[ $result == ok ]]; then
    echo "failed (exit 0): $missing"
  else
    echo "$result; $missing"
  fi
}

# The node-gyp that configured SPEC's build (its Makefile's node_gyp_dir), or "none".
node_gyp_dir() {
  local makefile=$1/node_modules/${2%@*}/build/Makefile
  { grep -o -m1 -- '-Dnode_gyp_dir=[^" ]*' "$makefile" 2>/dev/null || echo none; } | sed 's/^-Dnode_gyp_dir=//'
}

# One npm-registry package through one JavaScript package manager: resolve (lockfile), install
# bare from it, remove what the install made, install the same lockfile through safe-install.
js_case() {
  local pm=$1 name=$2 spec=$3 kind=${4:-dependency}
  local cmd=${PM_CMD[$pm]} path=$PATH
  [[ -n ${PM_BIN[$pm]} ]] && path=${PM_BIN[$pm]}:$PATH
  local dir=$work/$name/$pm
  rm -rf "$dir"
  mkdir -p "$dir/project"
  local p=$dir/project
  local approved=
  if [[ $pm != npm ]]; then
    approved=$(scripted_packages "$name" "$spec" "$kind") || {
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pm" "probe failed" "-" "-" "-" "$(tail -n1 "$work/$name/probe/lock.txt")" >>"$results"
      return
    }
  fi
  write_js_project "$pm" "$p" "$name" "$spec" "$kind" "$approved"
  local notes=
  # The environment of both runs, and what safe-install needs to pass it on.
  local envs=(PATH="$path") allow=()
  if [[ $kind == build ]]; then
    # node-gyp builds against the headers of the Node that runs it; without a local copy it
    # downloads them, which nothing but the package registries can reach here (and a script
    # may not reach at all). The toolchains' Node and the machine's come with their headers
    # (include/node), so both runs point node-gyp at them, as docs/ci.md tells CI users to:
    # `npm_config_nodedir` (node-gyp reads it from the environment under every package
    # manager), passed into the sandbox with --allow-env.
    local nodedir
    # node-gyp also runs python3: where that is a bash script (pyenv's shim), bash's start-up
    # opens /dev/tty, which the sandbox refuses and logs (controlling-terminal), as the kernel
    # refuses it to the bare run, which has no terminal either.
    nodedir=$(PATH=$path node -p 'require("path").resolve(process.execPath, "../..")')
    envs+=(npm_config_nodedir="$nodedir")
    allow=(--allow-env npm_config_nodedir)
    notes="npm_config_nodedir=$nodedir for both runs, --allow-env npm_config_nodedir"
  fi
  # Husky needs a git repository; every project gets one, as real projects have.
  git -C "$p" init -q
  # Resolve, then the install both runs do from that lockfile. npm: a full install, not
  # --package-lock-only: that mode leaves other platforms' optional dependencies
  # (@swc/core-darwin-arm64, ...) out of the lockfile, which `npm ci` refuses.
  local lock install
  case $pm in
    npm | npm12)
      lock='npm install --ignore-scripts && rm -rf node_modules'
      install="npm ${NPM_VERB[$name]:-ci}"
      ;;
    pnpm12)
      lock='pnpm install --lockfile-only'
      install='pnpm install --frozen-lockfile'
      ;;
    yarn4)
      lock='yarn install --mode=update-lockfile'
      install='yarn install --immutable'
      ;;
  esac
  say "$name ($pm): resolving $spec${approved:+; approved: ${approved//$'\n'/ }}"
  if [[ $(attempt "$dir/lock.txt" env PATH="$path" bash -c 'cd "$1" && eval "$2"' _ "$p" "$lock") != ok ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pm" "lockfile failed" "-" "-" "-" "$(tail -n1 "$dir/lock.txt")" >>"$results"
    return
  fi
  say "$name ($pm): bare $install"
  local bare
  bare=$(attempt "$dir/bare.txt" env "${envs[@]}" bash -c 'cd "$1" && exec $2' _ "$p" "$install")
  bare=$(verified "$bare" "$kind" "$p" "$spec")
  manifest "$p/node_modules" "$dir/bare.json"
  local bare_hooks bare_gyp
  bare_hooks=$(git -C "$p" config core.hooksPath || echo unset)
  bare_gyp=$(node_gyp_dir "$p" "$spec")
  # yarn's install state records which packages were built: without node_modules but with it,
  # a second yarn would not build them again.
  rm -rf "$p/node_modules" "$p/.yarn/install-state.gz"
  git -C "$p" config --unset core.hooksPath || true
  say "$name ($pm): $install through safe-install"
  local boxed
  boxed=$(attempt "$dir/sandboxed.txt" env "${envs[@]}" bash -c 'cd "$1" && exec "$2" --log "$3" "${@:5}" $4' _ "$p" "$SAFE_INSTALL_BIN" "$dir/events.jsonl" "$install" "${allow[@]}")
  boxed=$(verified "$boxed" "$kind" "$p" "$spec")
  manifest "$p/node_modules" "$dir/sandboxed.json"
  local boxed_hooks boxed_gyp
  boxed_hooks=$(git -C "$p" config core.hooksPath || echo unset)
  boxed_gyp=$(node_gyp_dir "$p" "$spec")
  local tree
  tree=$(compare "$dir/bare.json" "$dir/sandboxed.json")
  local events blocked hosts
  events=$(log_summary "$dir/events.jsonl")
  blocked=${events%%$'\t'*}
  hosts=${events#*$'\t'}
  if [[ $kind == prepare ]]; then
    hosts="$hosts; git core.hooksPath bare: $bare_hooks, sandboxed: $boxed_hooks"
  fi
  # The build's Makefile differs between any two builds only by paths; which node-gyp made it
  # is not such a difference, so the row says when the two runs used different ones.
  if [[ $kind == build && $bare_gyp != "$boxed_gyp" ]]; then
    hosts="$hosts; node-gyp bare: $bare_gyp, sandboxed: $boxed_gyp"
  fi
  # pnpm says so when it cannot hard-link from its store (store and project on two mounts).
  if grep -q 'copied from the content-addressable store' "$dir/sandboxed.txt" &&
    ! grep -q 'copied from the content-addressable store' "$dir/bare.txt"; then
    notes="${notes:+$notes; }sandboxed pnpm copied from its store (bare: hard links)"
  fi
  [[ -z $notes ]] || hosts="$hosts; $notes"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pm" "$bare" "$boxed" "$tree" "$blocked" "$hosts" >>"$results"
}

pip_case() {
  local name=$1 spec=$2
  local dir=$work/$name/pip
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
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" pip "$bare" "$boxed" "$tree" "${events%%$'\t'*}" "${events#*$'\t'}" >>"$results"
}

declare -A NPM=(
  [esbuild]=esbuild@latest
  [swc-core]=@swc/core@latest
  [sharp]=sharp@latest
  [bcrypt]=bcrypt@latest
  # 12 and later need Node 22; 11 is what Node 20 projects use (prebuild-install, then node-gyp).
  # Only the machine's npm builds it with node-gyp (prebuild-install's download is refused, so
  # it falls back to `node-gyp rebuild --release`); 12, under the toolchains' Node 24, ships
  # its binaries in the package and has no install script. node-gyp below builds everywhere.
  [better-sqlite3]=better-sqlite3@^11
  [core-js]=core-js@latest
  [husky]=husky@latest
  [patch-package]=patch-package@latest
  # A native addon with no prebuilt binary at all: its install script is `node-gyp rebuild`
  # (a small nan-based C++ file, built in seconds), so every package manager builds it from
  # source, bare and sandboxed.
  [node-gyp]=epoll@4.0.2
  [puppeteer]=puppeteer@latest
)
# What a case's project does besides depending on the package (write_js_project, verified):
# prepare: husky@latest as the root project's `prepare`; patch: patch-package as the root
# project's `postinstall`, patching is-number 7.0.0, which must come out patched; build: the
# addon must come out built, with node-gyp pointed at the running Node's headers.
declare -A KIND=([husky]=prepare [patch-package]=patch [node-gyp]=build)
# The line patch-package adds to is-number's index.js (the patch's hunk), checked afterwards.
PATCH_LINE='// patched by compat.sh through patch-package'
# npm 11 writes a lockfile without the other platforms' optional @swc/core-* packages and
# then refuses it in `npm ci` ("Missing: @swc/core-darwin-arm64@ from lock file"), bare too.
declare -A NPM_VERB=([swc-core]=install)
# The toolchains' package managers run on Node 24, where better-sqlite3 12 is the current line.
declare -A NPM_NODE24=([better-sqlite3]=better-sqlite3@latest)
ORDER=(esbuild swc-core sharp bcrypt better-sqlite3 core-js husky patch-package node-gyp puppeteer simplejson)
wanted=("$@")
((${#wanted[@]})) || wanted=("${ORDER[@]}")

for name in "${wanted[@]}"; do
  case $name in
    simplejson) pip_case simplejson simplejson ;;
    *)
      [[ -n ${NPM[$name]:-} ]] || { say "unknown package $name (known: ${ORDER[*]})"; exit 2; }
      for pm in "${PMS[@]}"; do
        spec=${NPM[$name]}
        [[ $pm != npm ]] && spec=${NPM_NODE24[$name]:-$spec}
        js_case "$pm" "$name" "$spec" "${KIND[$name]:-dependency}"
      done
      ;;
  esac
done

printf '| package | package manager | bare | safe-install | installed tree | blocked events | blocked (distinct, first 4) / notes |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
while IFS=$'\t' read -r name pm bare boxed tree blocked hosts; do
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$pm" "$bare" "$boxed" "$tree" "$blocked" "${hosts//|/\\|}"
done <"$results"
say "details (outputs, logs, manifests): $work"
