#!/usr/bin/env bash
# Benchmarks of safe-install against the same command run bare.
#
#   scripts/bench.sh [BENCH...]       no argument: every benchmark; --list: their names
#
# Each benchmark times the bare command and the sandboxed one in ALTERNATION (bare,
# sandboxed, bare, sandboxed, ...; scripts/bench/alternate.py), so that drifts of the
# machine hit both alike (hyperfine runs all of one command, then all of the other, so it
# is not used), and reports medians of wall-clock time and of CPU time (user + system of
# the whole process tree; steadier on a busy machine) and the overhead against a target. The
# summary at the end says PASS/FAIL per metric, but the exit status is 0 whatever the
# numbers: benchmarks report, they do not gate (a benchmark that could not run at all is
# shown as ERROR; the script exits 2 only for a usage error).
#
# Benchmarks:
#   startup  `safe-install /bin/true` and bubblewrap's `bwrap ... /bin/true` vs `/bin/true`, the
#            three in one alternating run: the milliseconds each adds, and safe-install's as a
#            ratio of bubblewrap's (target <= 5 ms added). bwrap gets every namespace
#            (--unshare-all: user, ipc, pid, net, uts, cgroup; --die-with-parent) and a
#            minimal view comparable to safe-install's: /usr, /bin, /sbin, /lib*, /etc read-only,
#            its own /proc, /dev and /tmp, the project bound read-write as the working
#            directory. Without bwrap (scripts/setup.sh installs it) only safe-install is timed.
#            Where perf can count instructions (not in most virtual machines), the
#            instructions safe-install adds are printed too: steadier than times on a busy host
#   npm-ci   `npm ci` of a generated project of ~360 packages (~10 with install scripts),
#            warm cache, node_modules removed before each run (target: ratio <= 1.05)
#   npm-ci-auth      the same `npm ci` against a Verdaccio that serves nothing without a
#            token, online (the proxy puts the real token into every request; the sandbox
#            holds a placeholder): `--secret-env` with `${VAR}` in the project's .npmrc
#   npm-ci-auth-tls  the same over HTTPS (Verdaccio with a CA of the benchmark's own, npm's
#            `cafile`): the proxy terminates TLS for the registry and re-encrypts
#   npm12-ci, pnpm10-install, pnpm12-install, yarn1-install, yarn4-install
#            one row per JavaScript package manager (scripts/toolchains.sh's toolchains, on
#            Node 24): the same generated project as npm-ci from Verdaccio, warm cache or
#            store, node_modules removed before each run, every package with an install
#            script approved in the package manager's own list (npm 12 `allowScripts`, pnpm
#            `allowBuilds`, yarn 4 `dependenciesMeta.<name>.built`; yarn 1 runs them all):
#              npm 12   `npm ci --offline`
#              pnpm     `pnpm install --frozen-lockfile --offline` from the user's global store
#                       (~/.local/share/pnpm/store), side-effects cache off so the scripts run
#                       every time. ERROR if pnpm did not hard-link from that store: another
#                       storeDir in node_modules/.modules.yaml, a node_modules/.pnpm-store,
#                       "copied" in its output, or fewer package files sharing an inode with
#                       a store file than after the bare install
#              yarn 1   `yarn install --frozen-lockfile --offline` (YARN_CACHE_FOLDER in HOME)
#              yarn 4   `yarn install --immutable`, `nodeLinker: node-modules`, global cache
#                       (node_modules and .yarn/install-state.gz removed before each run)
#            Each is an ERROR too if the last sandboxed run ran fewer scripts than bare
#   pip-install, uv-pip-install, uv-sync
#            a generated Python project (scripts/bench/py-fixture.py: ~80 pure wheels and a
#            few sdists with an in-tree PEP 517 backend) from a local pypiserver, warm cache
#            (the sdists' wheels built by the warm-up, as for a user), the index online:
#              pip      `venv/bin/pip install -r requirements.txt` into a new venv each run
#              uv pip   `uv pip install --python venv/bin/python -r requirements.txt`, new venv
#              uv sync  `uv sync --frozen` (uv.lock from the warm-up), .venv removed each run
#            The uv rows are an ERROR if uv did not hard-link from its cache as it does bare
#            ("Failed to hardlink" in its output, or fewer installed files sharing an inode
#            with a cache file than after the bare install)
#            Bare uv has a cache of its own (~/.cache/uv-bare, warmed the same way): uv keeps
#            what it learnt of an interpreter keyed by its path and ctime, and inside the
#            sandbox that file is the python shim, so one shared cache made every run of
#            each side query the interpreter again (about 40 ms, in both the bare and the
#            sandboxed median), which neither does when run alone
#            uv sync also runs, in the same alternation, as bare does but inside `bwrap
#            --unshare-all --share-net --bind / /` (new namespaces and one mount, nothing
#            else): an INFO row, the floor any namespace sandbox adds to a command this short
#            All of these: target ratio <= 1.05 (wall), CPU ratio beside it
#   proxy    one 200 MiB download over loopback through the egress proxy vs direct
#            (target: throughput ratio >= 0.9), the CPU each kind of download costs per
#            GiB (explains the ratio), the CPU per GiB of an HTTPS download direct, as an
#            untouched CONNECT tunnel and intercepted (a credentialed host: TLS terminated,
#            the credential put back, re-encrypted), and 64 concurrent CONNECT tunnels (target: all
#            succeed, supervisor RSS <= 32 MB); scripts/bench/proxy.py
#
# Settings (environment):
#   SAFE_INSTALL_BIN       the binary (default: target/release/safe-install; build it
#                          with `cargo build --release`)
#   SAFE_INSTALL_TEST_ROOT where scripts/setup.sh installed Verdaccio (/opt/safe-install-test)
#   BENCH_STARTUP_RUNS     timed runs of each command for `startup` (default 30, min 20)
#   BENCH_NPM_RUNS         timed runs of each command for `npm-ci` (default 15: fewer are
#                          too noisy on a 2-core machine for a 5% target)
#   BENCH_PROXY_RUNS       alternating downloads of each kind for `proxy` (default 11: the
#                          direct baseline itself varies by a third between runs on 2 cores)
#   BENCH_NPM_PACKAGES     packages in the npm fixture (default 360)
#   BENCH_PM_RUNS          timed runs of each command for the package-manager rows
#                          (default: BENCH_NPM_RUNS)
#   BENCH_PY_PACKAGES      packages in the Python fixture (default 80)
#   SAFE_INSTALL_TOOLCHAINS  where scripts/toolchains.sh installed the package managers
#                          (default /opt/safe-install-toolchains)
#   BENCH_NPM_NETWORK      offline (default): both runs pass --offline and install from the
#                          warm cache only; registry: no --offline, npm may talk to the
#                          local Verdaccio (through safe-install's egress proxy when sandboxed)
#   BENCH_RUN_TIMEOUT      seconds before one run is killed and its benchmark reported as
#                          an ERROR (default 300; startup runs get 30)
#   BENCH_KEEP=1           keep the work directory (printed) instead of deleting it
#
# Runs as any user; needs node, npm and python3 (scripts/setup.sh installs them,
# Verdaccio and pypiserver) and, for the package-manager rows, scripts/toolchains.sh's
# toolchains. Everything it starts listens on 127.0.0.1 only and is stopped on exit; its
# files live in one temporary directory, removed on exit. Adding a benchmark: write a
# function `bench_NAME` (a '-' in NAME becomes '_') that calls `record` for each metric,
# and add NAME to BENCHES.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/bench
BIN=${SAFE_INSTALL_BIN:-$ROOT/target/release/safe-install}
TEST_ROOT=${SAFE_INSTALL_TEST_ROOT:-/opt/safe-install-test}
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PYTHON=/usr/bin/python3
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-30}
NPM_RUNS=${BENCH_NPM_RUNS:-15}
NPM_PACKAGES=${BENCH_NPM_PACKAGES:-360}
NPM_NETWORK=${BENCH_NPM_NETWORK:-offline}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
# Arguments only the bare side of a package-manager row gets (pm_timed).
BARE_ARGS=()
TOOLCHAINS=${SAFE_INSTALL_TOOLCHAINS:-/opt/safe-install-toolchains}
PM_RUNS=${BENCH_PM_RUNS:-$NPM_RUNS}
PY_PACKAGES=${BENCH_PY_PACKAGES:-80}

BENCHES=(startup npm-ci npm-ci-auth npm-ci-auth-tls npm12-ci pnpm10-install pnpm12-install yarn1-install
  yarn4-install pip-install uv-pip-install uv-sync notify proxy)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------- plumbing

WORK=
cleanup() {
  local rc=$?
  if [[ -n $WORK && -f $WORK/pids ]]; then
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done <"$WORK/pids"
  fi
  if [[ -n $WORK ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      say "kept the work directory $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# The clean environment every measured command runs in (bare and sandboxed alike):
# a system PATH and the benchmark's own HOME, nothing of the caller's.
clean_env() {
  local home=$1
  shift
  env -i PATH="$SYSTEM_PATH" HOME="$home" LANG=C.UTF-8 TZ=UTC TERM=dumb \
    npm_config_update_notifier=false "$@"
}

# record METRIC BARE SANDBOXED OVERHEAD TARGET RESULT CPU: one row of the final summary
# (times are wall-clock medians; CPU is the same overhead in user+system CPU time).
record() {
  local IFS='|'
  printf '%s\n' "$*" >>"$WORK/summary"
}

# verdict VALUE OP LIMIT -> PASS or FAIL (floating point).
verdict() {
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "PASS" : "FAIL" }'
}

# calc EXPR: floating-point arithmetic, printed with the given format (default %.3f).
calc() {
  awk "BEGIN { printf \"${2:-%.3f}\", $1 }"
}

# alternate OUTFILE ARGS...: scripts/bench/alternate.py, its KEY=VALUE results in OUTFILE.
alternate() {
  local out=$1
  shift
  "$PYTHON" "$HERE/alternate.py" --out "$out" "$@"
}

# value FILE KEY: one KEY=VALUE of an alternate.py result file.
value() {
  sed -n "s/^$2=//p" "$1"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOG ARGV...: starts a background server and sets SERVER_PID, also recorded
# for the cleanup on exit. With util-linux's setpriv the server also dies with the shell
# that started it, even if this script is SIGKILLed. Not to be called in $(...): the
# server would be the child of that short-lived subshell.
start_server() {
  local log=$1
  shift
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --pdeathsig KILL -- "$@" </dev/null >"$log" 2>&1 &
  else
    "$@" </dev/null >"$log" 2>&1 &
  fi
  SERVER_PID=$!
  echo "$SERVER_PID" >>"$WORK/pids"
}

stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

need_binary() {
  [[ -x $BIN ]] || die "$BIN does not exist. Fix: cargo build --release (or set SAFE_INSTALL_BIN)"
  local newer
  newer=$(find "$ROOT/src" "$ROOT/policies" -newer "$BIN" -type f -print -quit 2>/dev/null || true)
  if [[ -n $newer ]]; then
    say "warning: $newer is newer than $BIN; rebuild with cargo build --release to measure the current code"
  fi
}

# ---------------------------------------------------------------------------- proxy

bench_proxy() {
  need_binary
  local out=$WORK/proxy.result
  SAFE_INSTALL_BIN=$BIN "$PYTHON" "$HERE/proxy.py" --size-mb 200 --runs "${BENCH_PROXY_RUNS:-11}" --tunnels 64 --out "$out"
  local ratio peak ok total
  ratio=$(value "$out" ratio)
  peak=$(value "$out" peak_mb)
  ok=$(value "$out" tunnels_ok)
  total=$(value "$out" tunnels)
  record "proxy throughput (200 MiB, median of ${BENCH_PROXY_RUNS:-11})" "$(value "$out" direct_mibs) MiB/s" \
    "$(value "$out" proxied_mibs) MiB/s" "x$ratio" ">= 0.90x" "$(verdict "$ratio" '>=' 0.9)" -
  record "proxy CPU per GiB (2000 MiB, median of 5)" "$(value "$out" cpu_direct) s" "$(value "$out" cpu_proxied) s" \
    "$(value "$out" busy_direct) vs $(value "$out" busy_proxied) cores busy" \
    "explains the ratio" "reach $(value "$out" ceiling_full) at full CPU" -
  record "proxy HTTPS CPU per GiB (500 MiB, median of 5): tunnelled" "$(value "$out" tls_cpu_direct) s" \
    "$(value "$out" tls_cpu_tunnel) s" "-" "beside intercepted" INFO -
  record "proxy HTTPS CPU per GiB (500 MiB, median of 5): intercepted" "$(value "$out" tls_cpu_direct) s" \
    "$(value "$out" tls_cpu_intercepted) s" "TLS terminated + re-encrypted" "beside tunnelled" INFO -
  local tunnels_ok=PASS
  [[ $ok == "$total" ]] || tunnels_ok=FAIL
  [[ $(verdict "$peak" '<=' 32) == PASS ]] || tunnels_ok=FAIL
  record "proxy: $total concurrent tunnels" "-" "$ok/$total ok" "RSS $peak MB" "all ok, <= 32 MB" "$tunnels_ok" -
}

# ---------------------------------------------------------------------------- startup

# `safe-install /bin/true` vs `/bin/true`: the fixed cost of setting up the sandbox
# (namespaces, mounts, Landlock, seccomp, supervisor threads), beside bubblewrap's for the
# same command with every namespace, timed in the same alternation. Run in an empty project
# directory, so the hidden-file search has nothing to walk.
STARTUP_TARGET_MS=5
# instructions DIR ARGV...: the instructions (user and kernel, the whole process tree) of
# one run of ARGV in DIR, the mean of 10 from `perf stat`; nothing where there is no perf or
# no hardware counter (most virtual machines).
instructions() {
  local dir=$1
  shift
  command -v perf >/dev/null 2>&1 || return 0
  (cd "$dir" && clean_env "$dir/../home" perf stat -x, -e instructions -r 10 -- "$@" 2>&1 >/dev/null) |
    awk -F, '$3 ~ /^instructions/ && $1 ~ /^[0-9]+$/ { print $1 }'
}

# startup_instructions DIR BIN: the instructions safe-install adds to /bin/true, steadier
# than any time on a busy machine, printed beside the times when the CPU counts them.
startup_instructions() {
  local bare sandboxed
  bare=$(instructions "$1/project" /bin/true)
  sandboxed=$(instructions "$1/project" "$2" /bin/true)
  if [[ -z $bare || -z $sandboxed ]]; then
    say "startup: no instruction counts (perf or a hardware counter is missing here); compare the CPU times"
    return 0
  fi
  printf '  startup: instructions bare %s, sandboxed %s, added %s\n' "$bare" "$sandboxed" \
    "$(calc "$sandboxed - $bare" %.0f)"
}

bench_startup() {
  need_binary
  ((STARTUP_RUNS >= 20)) || die "BENCH_STARTUP_RUNS must be at least 20"
  local dir=$WORK/startup
  mkdir -p "$dir/home" "$dir/project"
  chmod 755 "$dir" "$dir/home" "$dir/project"
  local target="<= $STARTUP_TARGET_MS ms added"
  # The sandboxed command must work before it is timed (a failure would be fast).
  local out rc=0
  out=$(cd "$dir/project" && clean_env "$dir/home" timeout -k 5 30 "$BIN" /bin/true 2>&1) || rc=$?
  if ((rc != 0)); then
    say "safe-install /bin/true failed with exit status $rc$( ((rc == 124 || rc == 137)) && echo ' (killed after 30 s)'):"
    printf '%s\n' "$out" >&2
    record startup - - "sandboxed run fails" "$target" ERROR -
    return 0
  fi
  # bubblewrap with every namespace and a view like safe-install's (see the header).
  local bwrap=() dir_ro
  if command -v bwrap >/dev/null 2>&1; then
    bwrap=(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --ro-bind /etc /etc)
    for dir_ro in /bin /sbin /lib /lib32 /lib64 /libx32; do
      bwrap+=(--ro-bind-try "$dir_ro" "$dir_ro")
    done
    bwrap+=(--proc /proc --dev /dev --tmpfs /tmp --bind "$dir/project" "$dir/project"
      --chdir "$dir/project" /bin/true)
    out=$(cd "$dir/project" && clean_env "$dir/home" timeout -k 5 30 "${bwrap[@]}" 2>&1) || {
      say "bwrap cannot run here, so startup is timed without it: $out"
      bwrap=()
    }
  else
    say "bwrap is not installed (scripts/setup.sh installs bubblewrap): startup is timed without it"
  fi
  local commands=(bare /bin/true ::: sandboxed "$BIN" /bin/true)
  ((${#bwrap[@]})) && commands+=(::: bwrap "${bwrap[@]}")
  say "startup: $STARTUP_RUNS alternating runs of /bin/true, safe-install /bin/true${bwrap:+ and bwrap /bin/true} (3 warm-up each)"
  (cd "$dir/project" && clean_env "$dir/home" "$PYTHON" "$HERE/alternate.py" --out "$dir/result" \
    --runs "$STARTUP_RUNS" --warmup 3 --timeout 30 -- "${commands[@]}")
  local bare sandboxed added ratio cpu_added
  bare=$(value "$dir/result" bare_median_ms)
  sandboxed=$(value "$dir/result" sandboxed_median_ms)
  added=$(calc "$sandboxed - $bare" %.1f)
  ratio=$(calc "$sandboxed / $bare" %.1f)
  cpu_added=$(calc "$(value "$dir/result" sandboxed_cpu_median_ms) - $(value "$dir/result" bare_cpu_median_ms)" %.1f)
  printf '  startup: bare %.1f ms, sandboxed %.1f ms, added %s ms (x%s); CPU time added %s ms\n' \
    "$bare" "$sandboxed" "$added" "$ratio" "$cpu_added"
  startup_instructions "$dir" "$BIN"
  local overhead="+$added ms"
  if ((${#bwrap[@]})); then
    local wrapped bwrap_added bwrap_cpu_added of_bwrap
    wrapped=$(value "$dir/result" bwrap_median_ms)
    bwrap_added=$(calc "$wrapped - $bare" %.1f)
    bwrap_cpu_added=$(calc "$(value "$dir/result" bwrap_cpu_median_ms) - $(value "$dir/result" bare_cpu_median_ms)" %.1f)
    # Below 0.1 ms added, bubblewrap's cost is noise and a ratio would mean nothing.
    of_bwrap=$(awk -v s="$added" -v b="$bwrap_added" 'BEGIN { if (b >= 0.1) printf "%.2f", s / b; else print "-" }')
    printf '  startup: bwrap %.1f ms, added %s ms; CPU time added %s ms; safe-install adds x%s of what bwrap adds\n' \
      "$wrapped" "$bwrap_added" "$bwrap_cpu_added" "$of_bwrap"
    overhead+=" (x$of_bwrap of bwrap's +$bwrap_added ms)"
    record "startup: bwrap --unshare-all (same runs)" "$(calc "$bare" %.1f) ms" \
      "$(calc "$wrapped" %.1f) ms" "+$bwrap_added ms" "reference" INFO "+$bwrap_cpu_added ms"
  fi
  record "startup (/bin/true, median of $STARTUP_RUNS)" "$(calc "$bare" %.1f) ms" \
    "$(calc "$sandboxed" %.1f) ms" "$overhead" "$target" \
    "$(verdict "$added" '<=' "$STARTUP_TARGET_MS")" "+$cpu_added ms"
}

# ---------------------------------------------------------------------------- npm ci

# Starts Verdaccio like tests/e2e/common/servers.rs does: its own storage, htpasswd auth,
# no uplinks (it never reaches another registry), no web UI, a free loopback port.
# Sets VERDACCIO_PID and VERDACCIO_URL.
start_verdaccio() {
  local dir=$1
  local bin=$TEST_ROOT/verdaccio/node_modules/.bin/verdaccio
  [[ -x $bin ]] || die "Verdaccio is not installed at $bin. Fix: run scripts/setup.sh as root"
  local port
  port=$(free_port)
  mkdir -p "$dir/storage"
  cat >"$dir/config.yaml" <<YAML
# Written by scripts/bench.sh: a registry of its own, no uplinks.
storage: $dir/storage
auth:
  htpasswd:
    file: $dir/htpasswd
    max_users: 100
uplinks: {}
packages:
  '**':
    access: ${VERDACCIO_ACCESS:-\$all}
    publish: \$authenticated
    unpublish: \$authenticated
publish:
  allow_offline: true
# Tokens as signed JWTs: checking a legacy token re-runs bcrypt on the htpasswd entry,
# about 0.4 s per request here, which made publishing the fixture take over a minute.
security:
  api:
    jwt:
      sign:
        expiresIn: 1h
max_body_size: 100mb
web:
  enable: false
log: { type: stdout, format: pretty, level: warn }
YAML
  VERDACCIO_URL=http://127.0.0.1:$port/
  local listen=127.0.0.1:$port
  if [[ -n ${VERDACCIO_TLS:-} ]]; then
    printf 'https:\n  key: %s\n  cert: %s\n' "$VERDACCIO_TLS/key.pem" "$VERDACCIO_TLS/cert.pem" \
      >>"$dir/config.yaml"
    VERDACCIO_URL=https://127.0.0.1:$port/
    listen=https://$listen
  fi
  start_server "$dir/verdaccio.log" env -i -C "$dir" PATH="$SYSTEM_PATH" HOME="$dir" \
    "$bin" --config "$dir/config.yaml" --listen "$listen"
  VERDACCIO_PID=$SERVER_PID
  local i
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$VERDACCIO_PID" 2>/dev/null; then
      cat "$dir/verdaccio.log" >&2
      die "Verdaccio exited before serving (its log is above)"
    fi
    if "$PYTHON" -c 'import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[2] else None
urllib.request.urlopen(sys.argv[1], timeout=2, context=ctx)' \
      "${VERDACCIO_URL}-/ping" "${VERDACCIO_TLS:+$VERDACCIO_TLS/ca.pem}" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$dir/verdaccio.log" >&2
  die "Verdaccio did not answer on $VERDACCIO_URL within 60 s"
}

# quietly LOG ARGV...: runs ARGV in $project with its output appended to LOG, shown only
# when it fails.
quietly() {
  local log=$1
  shift
  if ! (cd "$project" && "$@") >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "failed: $* (output above)"
  fi
}

# installed_packages PROJECT: how many packages npm's hidden lockfile says are installed.
installed_packages() {
  node -e 'const l = require(process.argv[1] + "/node_modules/.package-lock.json");
    console.log(Object.keys(l.packages).filter((k) => k.includes("node_modules/")).length)' "$1"
}

# `npm ci` of a generated project, warm cache, bare vs sandboxed. The cache lives in the
# benchmark's HOME (~/.npm, which safe-install binds read-write) and is named with --cache
# in both runs.
bench_npm_ci() {
  need_binary
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed. Fix: run scripts/setup.sh as root"
  local offline=()
  case $NPM_NETWORK in
    offline) offline=(--offline) ;;
    registry) ;;
    *) die "BENCH_NPM_NETWORK must be offline or registry, not '$NPM_NETWORK'" ;;
  esac
  local dir=$WORK/npm-ci
  local home=$dir/home project=$dir/project
  mkdir -p "$dir/verdaccio" "$home/.npm" "$project"
  chmod 755 "$dir" "$home" "$project"

  start_verdaccio "$dir/verdaccio"
  say "npm-ci: Verdaccio on $VERDACCIO_URL; publishing $NPM_PACKAGES generated packages"
  node "$HERE/npm-fixture.js" --registry "$VERDACCIO_URL" --project "$project" \
    --packages "$NPM_PACKAGES" | sed 's/^/  /'

  local npm_flags=(--no-audit --no-fund --cache "$home/.npm")
  say "npm-ci: lockfile and warm cache (bare npm)"
  quietly "$dir/warm-up.log" clean_env "$home" npm install --package-lock-only --ignore-scripts \
    "${npm_flags[@]}"
  quietly "$dir/warm-up.log" clean_env "$home" npm ci "${npm_flags[@]}"
  local installed expected_stamps
  installed=$(installed_packages "$project")
  expected_stamps=$(find "$project/node_modules" -name build-stamp.json | wc -l)
  say "npm-ci: $installed packages and $expected_stamps lifecycle scripts run by the warm-up; ${offline[*]:-online (registry)} mode"
  rm -rf "$project/node_modules"

  local ci=(npm ci "${npm_flags[@]}" "${offline[@]}")
  # One sandboxed run first, untimed, to report a failure with safe-install's own words.
  local out rc=0
  out=$(cd "$project" && clean_env "$home" timeout -k 5 "$RUN_TIMEOUT" "$BIN" "${ci[@]}" 2>&1) || rc=$?
  if ((rc != 0)); then
    say "the sandboxed npm ci failed with exit status $rc$( ((rc == 124 || rc == 137)) && echo " (killed after $RUN_TIMEOUT s)"); its output (last 60 lines):"
    printf '%s\n' "$out" | tail -n 60 >&2
    say "to investigate: cd $project && $BIN -v ${ci[*]}   (BENCH_KEEP=1 keeps the directory)"
    record "npm-ci ($NPM_NETWORK)" - - "sandboxed npm ci fails" "<= 1.05x" ERROR -
    stop_server "$VERDACCIO_PID"
    return 0
  fi

  say "npm-ci: $NPM_RUNS alternating runs of bare and sandboxed: ${ci[*]} (1 warm-up each; rm -rf node_modules before each)"
  (cd "$project" && clean_env "$home" "$PYTHON" "$HERE/alternate.py" --out "$dir/result" \
    --runs "$NPM_RUNS" --warmup 1 --prepare 'rm -rf node_modules' --timeout "$RUN_TIMEOUT" \
    -- bare "${ci[@]}" ::: sandboxed "$BIN" "${ci[@]}")

  # The last run was sandboxed: check that it really installed everything and ran the
  # lifecycle scripts (each writes build-stamp.json into its package).
  local stamps
  stamps=$(find "$project/node_modules" -name build-stamp.json | wc -l)
  say "npm-ci: after the last sandboxed run, $stamps of $expected_stamps lifecycle scripts left their build-stamp.json"
  if ((stamps != expected_stamps)); then
    say "warning: the sandboxed npm ci did not run every lifecycle script, so it did less work than the bare one"
  fi
  stop_server "$VERDACCIO_PID"

  local bare sandboxed ratio cpu_ratio
  bare=$(value "$dir/result" bare_median_ms)
  sandboxed=$(value "$dir/result" sandboxed_median_ms)
  ratio=$(calc "$sandboxed / $bare" %.3f)
  cpu_ratio=$(calc "$(value "$dir/result" sandboxed_cpu_median_ms) / $(value "$dir/result" bare_cpu_median_ms)" %.3f)
  printf '  npm-ci: bare %.0f ms, sandboxed %.0f ms, ratio %s; CPU time ratio %s\n' \
    "$bare" "$sandboxed" "$ratio" "$cpu_ratio"
  record "npm-ci ($NPM_NETWORK, $installed pkgs, median of $NPM_RUNS)" "$(calc "$bare" %.0f) ms" \
    "$(calc "$sandboxed" %.0f) ms" "x$ratio" "<= 1.05x" "$(verdict "$ratio" '<=' 1.05)" "x$cpu_ratio"
}

# A CA of the benchmark's own and a certificate for 127.0.0.1 signed by it, in DIR
# (ca.pem, cert.pem, key.pem): what a private registry over HTTPS looks like to its users.
make_ca() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=safe-install bench CA" -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature \
    2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/key.pem" \
    -out "$dir/req.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext"
  openssl x509 -req -in "$dir/req.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/cert.pem" -days 2 -extfile "$dir/ext" 2>/dev/null
}

# `npm ci` of the generated project from a registry that serves nothing without a token,
# cold cache (every packument and tarball goes through the proxy, which puts the real token
# into each request; the sandbox holds a placeholder), bare vs sandboxed. TLS=1: over HTTPS
# with the benchmark's CA as npm's `cafile` (the proxy terminates TLS and re-encrypts).
npm_ci_credentialed() {
  local tls=$1 name=$2
  need_binary
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed. Fix: run scripts/setup.sh as root"
  local dir=$WORK/$name
  local home=$dir/home project=$dir/project cache=$dir/cache
  mkdir -p "$dir/verdaccio" "$home" "$project"
  chmod 755 "$dir" "$home" "$project"
  VERDACCIO_ACCESS='$authenticated' start_verdaccio "$dir/verdaccio"
  say "$name: Verdaccio on $VERDACCIO_URL (token required); publishing $NPM_PACKAGES generated packages"
  node "$HERE/npm-fixture.js" --registry "$VERDACCIO_URL" --project "$project" \
    --packages "$NPM_PACKAGES" --token-out "$dir/token" | sed 's/^/  /'
  if ((tls)); then
    stop_server "$VERDACCIO_PID"
    command -v openssl >/dev/null || die "openssl is needed for $name"
    make_ca "$dir/ca"
    VERDACCIO_ACCESS='$authenticated' VERDACCIO_TLS=$dir/ca start_verdaccio "$dir/verdaccio"
    say "$name: the same storage served over HTTPS on $VERDACCIO_URL"
  fi
  local token port
  token=$(cat "$dir/token")
  port=${VERDACCIO_URL##*:}
  port=${port%/}
  {
    printf 'registry=%s\n' "$VERDACCIO_URL"
    printf '//127.0.0.1:%s/:_authToken=${BENCH_NPM_TOKEN}\n' "$port"
    ((tls)) && printf 'cafile=%s\n' "$dir/ca/ca.pem"
  } >"$project/.npmrc"
  local npm_flags=(--no-audit --no-fund --cache "$cache")
  quietly "$dir/warm-up.log" clean_env "$home" BENCH_NPM_TOKEN="$token" npm install \
    --package-lock-only --ignore-scripts "${npm_flags[@]}"
  local ci=(npm ci "${npm_flags[@]}")
  local out rc=0
  rm -rf "$cache"
  out=$(cd "$project" && clean_env "$home" BENCH_NPM_TOKEN="$token" timeout -k 5 "$RUN_TIMEOUT" \
    "$BIN" --secret-env BENCH_NPM_TOKEN "${ci[@]}" 2>&1) || rc=$?
  if ((rc != 0)); then
    say "the sandboxed npm ci failed with exit status $rc; its output (last 60 lines):"
    printf '%s\n' "$out" | tail -n 60 >&2
    record "$name" - - "sandboxed npm ci fails" "<= 1.05x" ERROR -
    stop_server "$VERDACCIO_PID"
    return 0
  fi
  local installed
  installed=$(installed_packages "$project")
  say "$name: $NPM_RUNS alternating runs of bare and sandboxed: ${ci[*]} (cold cache, online; rm -rf node_modules and the cache before each)"
  (cd "$project" && clean_env "$home" BENCH_NPM_TOKEN="$token" "$PYTHON" "$HERE/alternate.py" \
    --out "$dir/result" --runs "$NPM_RUNS" --warmup 1 \
    --prepare "rm -rf node_modules $cache" --timeout "$RUN_TIMEOUT" \
    -- bare "${ci[@]}" ::: sandboxed "$BIN" --secret-env BENCH_NPM_TOKEN "${ci[@]}")
  stop_server "$VERDACCIO_PID"
  local bare sandboxed ratio cpu_ratio
  bare=$(value "$dir/result" bare_median_ms)
  sandboxed=$(value "$dir/result" sandboxed_median_ms)
  ratio=$(calc "$sandboxed / $bare" %.3f)
  cpu_ratio=$(calc "$(value "$dir/result" sandboxed_cpu_median_ms) / $(value "$dir/result" bare_cpu_median_ms)" %.3f)
  printf '  %s: bare %.0f ms, sandboxed %.0f ms, ratio %s; CPU time ratio %s\n' \
    "$name" "$bare" "$sandboxed" "$ratio" "$cpu_ratio"
  record "$name ($installed pkgs, cold cache, median of $NPM_RUNS)" "$(calc "$bare" %.0f) ms" \
    "$(calc "$sandboxed" %.0f) ms" "x$ratio" "<= 1.05x" "$(verdict "$ratio" '<=' 1.05)" "x$cpu_ratio"
}

bench_npm_ci_auth() { npm_ci_credentialed 0 npm-ci-auth; }
bench_npm_ci_auth_tls() { npm_ci_credentialed 1 npm-ci-auth-tls; }

# ---------------------------------------------------------------------------- package managers

# One row per package manager (issue 16): npm 12, pnpm 10 and 12, yarn 1 and 4 install the
# npm fixture from Verdaccio (offline from a warm cache/store where the tool has an offline
# mode); pip, `uv pip install` and `uv sync` install the Python fixture from a local
# pypiserver with a warm cache. Each from the toolchains of scripts/toolchains.sh.

# toolchain_path NAME PROGRAM: PATH with toolchain NAME's bin first, then the system's.
toolchain_path() {
  local bin=$TOOLCHAINS/$1/bin
  [[ -x $bin/$2 ]] || die "$bin/$2 is missing. Fix: run scripts/toolchains.sh as root"
  printf '%s:%s' "$bin" "$SYSTEM_PATH"
}

# in_project ARGV...: ARGV in $project with the clean environment and RUN_ENV; output to
# $dir/warm-up.log, shown only when it fails.
in_project() {
  quietly "$dir/warm-up.log" clean_env "$home" "${RUN_ENV[@]}" "$@"
}

# pm_timed ROW DESCRIPTION: RUN_CMD bare (followed by BARE_ARGS) vs `safe-install RUN_CMD`
# in $project, both with
# the clean environment and RUN_ENV, RUN_PREPARE (a shell command: remove the install
# directory) before every run, alternating, PM_RUNS times each. One untimed sandboxed run
# first: a failure is reported in safe-install's own words, and its output is kept in
# $dir/first-sandboxed.log for the checks. After the timed runs (the last one was sandboxed)
# each function named in RUN_CHECKS prints a problem or nothing; a problem makes the row an
# ERROR whatever the ratio, with the problem in the row.
pm_timed() {
  local row=$1 what=$2
  local out rc=0
  (cd "$project" && clean_env "$home" "${RUN_ENV[@]}" bash -c "$RUN_PREPARE")
  out=$(cd "$project" && clean_env "$home" "${RUN_ENV[@]}" timeout -k 5 "$RUN_TIMEOUT" "$BIN" "${RUN_CMD[@]}" 2>&1) || rc=$?
  printf '%s\n' "$out" >"$dir/first-sandboxed.log"
  if ((rc != 0)); then
    say "the sandboxed ${RUN_CMD[*]} failed with exit status $rc$( ((rc == 124 || rc == 137)) && echo " (killed after $RUN_TIMEOUT s)"); its output (last 60 lines):"
    printf '%s\n' "$out" | tail -n 60 >&2
    say "to investigate: BENCH_KEEP=1 scripts/bench.sh $row, then cd $project && $BIN -v ${RUN_CMD[*]}"
    record "$row" - - "sandboxed run fails" "<= 1.05x" ERROR -
    return 0
  fi
  local commands=(bare "${RUN_CMD[@]}" "${BARE_ARGS[@]}")
  # The floor (RUN_FLOOR=1): the bare command in bubblewrap's namespaces, with the whole root
  # bound and the network shared so that it works as bare does. Before the sandboxed command,
  # whose run is the last one, which RUN_CHECKS look at.
  local floor=()
  if [[ ${RUN_FLOOR:-} == 1 ]] && command -v bwrap >/dev/null 2>&1; then
    floor=(bwrap --unshare-all --share-net --die-with-parent --bind / / --proc /proc --dev /dev)
    if (cd "$project" && clean_env "$home" "${RUN_ENV[@]}" bash -c "$RUN_PREPARE" &&
      clean_env "$home" "${RUN_ENV[@]}" timeout -k 5 "$RUN_TIMEOUT" "${floor[@]}" "${RUN_CMD[@]}" "${BARE_ARGS[@]}") >"$dir/floor.log" 2>&1; then
      commands+=(::: floor "${floor[@]}" "${RUN_CMD[@]}" "${BARE_ARGS[@]}")
    else
      say "$row: bwrap cannot run ${RUN_CMD[*]} here (see $dir/floor.log): no floor"
      floor=()
    fi
  fi
  commands+=(::: sandboxed "$BIN" "${RUN_CMD[@]}")
  say "$row: $PM_RUNS alternating runs of bare and sandboxed${floor:+ and bwrap}: ${RUN_CMD[*]} (1 warm-up each; before each: $RUN_PREPARE)"
  (cd "$project" && clean_env "$home" "${RUN_ENV[@]}" "$PYTHON" "$HERE/alternate.py" --out "$dir/result" \
    --runs "$PM_RUNS" --warmup 1 --prepare "$RUN_PREPARE" --timeout "$RUN_TIMEOUT" \
    -- "${commands[@]}")
  local problems=() check problem
  for check in "${RUN_CHECKS[@]}"; do
    problem=$("$check")
    [[ -z $problem ]] || problems+=("$problem")
  done
  local bare sandboxed ratio cpu_ratio result
  bare=$(value "$dir/result" bare_median_ms)
  sandboxed=$(value "$dir/result" sandboxed_median_ms)
  ratio=$(calc "$sandboxed / $bare" %.3f)
  cpu_ratio=$(calc "$(value "$dir/result" sandboxed_cpu_median_ms) / $(value "$dir/result" bare_cpu_median_ms)" %.3f)
  printf '  %s: bare %.0f ms, sandboxed %.0f ms, ratio %s; CPU time ratio %s\n' \
    "$row" "$bare" "$sandboxed" "$ratio" "$cpu_ratio"
  result=$(verdict "$ratio" '<=' 1.05)
  local overhead="x$ratio"
  if ((${#problems[@]})); then
    result=ERROR
    overhead+=" (ERROR: $(IFS=';'; echo "${problems[*]}"))"
    for problem in "${problems[@]}"; do say "$row: ERROR: $problem"; done
  fi
  record "$row ($what, median of $PM_RUNS)" "$(calc "$bare" %.0f) ms" \
    "$(calc "$sandboxed" %.0f) ms" "$overhead" "<= 1.05x" "$result" "x$cpu_ratio"
  if ((${#floor[@]})); then
    local floored floor_ratio floor_cpu
    floored=$(value "$dir/result" floor_median_ms)
    floor_ratio=$(calc "$floored / $bare" %.3f)
    floor_cpu=$(calc "$(value "$dir/result" floor_cpu_median_ms) / $(value "$dir/result" bare_cpu_median_ms)" %.3f)
    printf '  %s: in bwrap %.1f ms, ratio %s (+%s ms); safe-install +%s ms\n' "$row" "$floored" \
      "$floor_ratio" "$(calc "$floored - $bare" %.1f)" "$(calc "$sandboxed - $bare" %.1f)"
    record "$row: bwrap --unshare-all --bind / / (same runs)" "$(calc "$bare" %.0f) ms" \
      "$(calc "$floored" %.0f) ms" "x$floor_ratio" "reference" INFO "x$floor_cpu"
  fi
}

# --- the npm fixture through npm 12, pnpm and yarn

# js_fixture: Verdaccio and the generated npm project in $dir (as bench_npm_ci), and the
# names of its packages with an install script in $dir/scripted.
js_fixture() {
  mkdir -p "$dir/verdaccio" "$home" "$project"
  chmod 755 "$dir" "$home" "$project"
  start_verdaccio "$dir/verdaccio"
  say "$row: Verdaccio on $VERDACCIO_URL; publishing $NPM_PACKAGES generated packages"
  node "$HERE/npm-fixture.js" --registry "$VERDACCIO_URL" --project "$project" \
    --packages "$NPM_PACKAGES" --scripted-out "$dir/scripted" | sed 's/^/  /'
}

# approve FIELD: adds to package.json the package manager's approval of every package with an
# install script (allowScripts for npm 12, dependenciesMeta for yarn 4).
approve() {
  node -e 'const fs = require("fs"), [file, field, list] = process.argv.slice(1);
    const pkg = JSON.parse(fs.readFileSync(file));
    const names = fs.readFileSync(list, "utf8").split("\n").filter(Boolean);
    pkg[field] = Object.fromEntries(names.map((n) => [n, field === "allowScripts" ? true : { built: true }]));
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");' "$project/package.json" "$1" "$dir/scripted"
}

# The lifecycle scripts' build-stamp.json files in node_modules (`find` does not follow pnpm's
# symbolic links, so each package counts once).
stamps() {
  find "$project/node_modules" -name build-stamp.json 2>/dev/null | wc -l
}

# Check: the last sandboxed run ran as many lifecycle scripts as the bare warm-up.
check_stamps() {
  local got
  got=$(stamps)
  ((got == EXPECTED_STAMPS)) ||
    echo "the sandboxed run left $got of $EXPECTED_STAMPS build stamps: it did not run every script bare ran"
  say "$row: after the last sandboxed run, $got lifecycle scripts left their build-stamp.json (bare: $EXPECTED_STAMPS)"
}

bench_npm12_ci() {
  need_binary
  local row=npm12-ci dir=$WORK/npm12-ci
  local home=$dir/home project=$dir/project
  js_fixture
  approve allowScripts
  RUN_ENV=("PATH=$(toolchain_path npm12 npm)")
  local flags=(--no-audit --no-fund --cache "$home/.npm")
  say "$row: lockfile and warm cache (bare npm $(clean_env "$home" "${RUN_ENV[@]}" npm --version))"
  in_project npm install --package-lock-only --ignore-scripts "${flags[@]}"
  in_project npm ci "${flags[@]}"
  EXPECTED_STAMPS=$(stamps)
  RUN_CMD=(npm ci "${flags[@]}" --offline)
  RUN_PREPARE='rm -rf node_modules'
  RUN_CHECKS=(check_stamps)
  pm_timed "$row" "offline, $(wc -l <"$dir/scripted") approved scripts"
  stop_server "$VERDACCIO_PID"
}

# Check: pnpm installed from the user's global store by hard links, as bare pnpm does (the
# content-addressable store under ~/.local/share/pnpm): .modules.yaml names that store, no
# store inside the project, and as many files of the packages in the virtual store are links
# to store files (same inode) as after the bare warm-up. pnpm 10 copies silently when it
# cannot link, so the link count is the proof; pnpm 12 also says it copied.
check_pnpm_store() {
  local store=$home/.local/share/pnpm/store/$PNPM_LAYOUT linked
  if [[ -e $project/node_modules/.pnpm-store ]]; then
    echo "pnpm fell back to a store inside the project (node_modules/.pnpm-store)"
    return
  fi
  # .modules.yaml is YAML for pnpm 10 and JSON for pnpm 12.
  if ! grep -qE "^ *\"?storeDir\"?: \"?$store\"?,?\$" "$project/node_modules/.modules.yaml"; then
    echo "pnpm used another store: $(grep storeDir "$project/node_modules/.modules.yaml" || echo 'no storeDir in .modules.yaml')"
    return
  fi
  if grep -qi 'copied from the content-addressable store' "$dir/first-sandboxed.log"; then
    echo "pnpm said it copied from the store instead of hard-linking"
    return
  fi
  linked=$(store_links)
  say "$row: files hard-linked from the store after the last sandboxed run: $linked (bare warm-up: $BARE_LINKS)"
  # Not every file is a link even bare: pnpm copies the packages it builds (so that a build
  # does not change the store) and writes their node_modules/.bin shims.
  ((${linked%% *} >= ${BARE_LINKS%% *} && ${BARE_LINKS%% *} > 0)) ||
    echo "only $linked package files are hard links into the store $store (bare: $BARE_LINKS)"
}

# "LINKED of TOTAL": the package files in pnpm's virtual store that share an inode with a file
# of the store.
store_links() {
  "$PYTHON" - "$project/node_modules/.pnpm" "$home/.local/share/pnpm/store/$PNPM_LAYOUT" <<'PY'
import os, stat, sys
virtual, store = sys.argv[1:3]
inodes = set()
for d, _, files in os.walk(store):
    for f in files:
        st = os.lstat(os.path.join(d, f))
        if stat.S_ISREG(st.st_mode):
            inodes.add((st.st_dev, st.st_ino))
linked = total = 0
for entry in os.listdir(virtual):
    for d, _, files in os.walk(os.path.join(virtual, entry, "node_modules")):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            if f == "build-stamp.json" or not stat.S_ISREG(st.st_mode):
                continue
            total += 1
            linked += (st.st_dev, st.st_ino) in inodes
print(f"{linked} of {total}")
PY
}

# pnpm 10 or 12 (toolchain $1, store layout $2): `pnpm install --frozen-lockfile --offline`
# from the warm global store. The side-effects cache is off, so every run runs the approved
# build scripts as a first install in a project does (with it on, pnpm would take the built
# packages from the store and run no script at all).
pnpm_bench() {
  local toolchain=$1
  PNPM_LAYOUT=$2
  need_binary
  local row=$toolchain-install dir=$WORK/$toolchain-install
  local home=$dir/home project=$dir/project
  js_fixture
  {
    printf 'allowBuilds:\n'
    sed 's/.*/  "&": true/' "$dir/scripted"
    printf 'minimumReleaseAge: 0\nsideEffectsCache: false\nupdateNotifier: false\n'
  } >"$project/pnpm-workspace.yaml"
  RUN_ENV=("PATH=$(toolchain_path "$toolchain" pnpm)")
  say "$row: lockfile and warm store (bare pnpm $(clean_env "$home" "${RUN_ENV[@]}" pnpm --version))"
  in_project pnpm install
  EXPECTED_STAMPS=$(stamps)
  BARE_LINKS=$(store_links)
  say "$row: the bare install hard-linked $BARE_LINKS package files from the store"
  RUN_CMD=(pnpm install --frozen-lockfile --offline)
  RUN_PREPARE='rm -rf node_modules'
  RUN_CHECKS=(check_stamps check_pnpm_store)
  pm_timed "$row" "offline, global store, $(wc -l <"$dir/scripted") approved scripts"
  stop_server "$VERDACCIO_PID"
}

bench_pnpm10_install() { pnpm_bench pnpm10 v10; }
bench_pnpm12_install() { pnpm_bench pnpm12 v11; }

# yarn 1 runs every dependency's script (it has no approval list). Its cache is named with
# YARN_CACHE_FOLDER in both runs: as root yarn 1 would use /usr/local/share/.cache/yarn.
bench_yarn1_install() {
  need_binary
  local row=yarn1-install dir=$WORK/yarn1-install
  local home=$dir/home project=$dir/project
  js_fixture
  RUN_ENV=("PATH=$(toolchain_path yarn1 yarn)" "YARN_CACHE_FOLDER=$home/.cache/yarn")
  say "$row: lockfile and warm cache (bare yarn $(clean_env "$home" "${RUN_ENV[@]}" yarn --version))"
  in_project yarn install --non-interactive --no-progress
  EXPECTED_STAMPS=$(stamps)
  RUN_CMD=(yarn install --frozen-lockfile --offline --non-interactive --no-progress)
  RUN_PREPARE='rm -rf node_modules'
  RUN_CHECKS=(check_stamps)
  pm_timed "$row" "offline, every script runs"
  stop_server "$VERDACCIO_PID"
}

# yarn 4 with `nodeLinker: node-modules` from its warm global cache (~/.yarn/berry), the
# scripts approved in dependenciesMeta. Before each run node_modules and yarn's install state
# go: with the state but no node_modules yarn would not run the builds again.
bench_yarn4_install() {
  need_binary
  local row=yarn4-install dir=$WORK/yarn4-install
  local home=$dir/home project=$dir/project
  js_fixture
  approve dependenciesMeta
  cat >"$project/.yarnrc.yml" <<YAML
nodeLinker: node-modules
npmRegistryServer: "${VERDACCIO_URL%/}"
unsafeHttpWhitelist: ["127.0.0.1"]
npmMinimalAgeGate: 0
enableTelemetry: false
YAML
  RUN_ENV=("PATH=$(toolchain_path yarn4 yarn)")
  say "$row: lockfile and warm cache (bare yarn $(clean_env "$home" "${RUN_ENV[@]}" yarn --version))"
  in_project yarn install
  EXPECTED_STAMPS=$(stamps)
  RUN_CMD=(yarn install --immutable)
  RUN_PREPARE='rm -rf node_modules .yarn/install-state.gz'
  RUN_CHECKS=(check_stamps)
  pm_timed "$row" "warm cache, $(wc -l <"$dir/scripted") approved scripts"
  stop_server "$VERDACCIO_PID"
}

# --- the Python fixture through pip and uv

# Starts pypiserver (scripts/setup.sh) on the generated packages in $dir/packages, never
# falling back to another index; sets PYPI_PID and INDEX_URL (…/simple/).
py_fixture() {
  local bin=$TEST_ROOT/pypiserver/bin/pypi-server
  [[ -x $bin ]] || die "pypiserver is not installed at $bin. Fix: run scripts/setup.sh as root"
  mkdir -p "$home" "$project"
  chmod 755 "$dir" "$home" "$project"
  "$PYTHON" "$HERE/py-fixture.py" --packages-dir "$dir/packages" --project "$project" \
    --packages "$PY_PACKAGES" | sed 's/^/  /'
  local port i
  port=$(free_port)
  start_server "$dir/pypiserver.log" env -i -C "$dir" PATH="$SYSTEM_PATH" HOME="$dir" \
    "$bin" run --interface 127.0.0.1 --port "$port" --backend simple-dir --disable-fallback \
    -a . -P . "$dir/packages"
  PYPI_PID=$SERVER_PID
  INDEX_URL=http://127.0.0.1:$port/simple/
  for ((i = 0; i < 300; i++)); do
    kill -0 "$PYPI_PID" 2>/dev/null || { cat "$dir/pypiserver.log" >&2; die "pypiserver exited (its log is above)"; }
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$INDEX_URL" 2>/dev/null && break
    sleep 0.1
  done
  ((i < 300)) || die "pypiserver did not answer on $INDEX_URL within 30 s"
  say "$row: pypiserver on $INDEX_URL"
}

# The site-packages of the virtual environment $1 (relative to $project).
site_packages() {
  echo "$project/$1/lib/python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages"
}

# Check: as many packages built by their in-tree backend (a _build_stamp.py each) are installed
# after the last sandboxed run as after the bare warm-up.
check_py_stamps() {
  local got
  got=$(find "$(site_packages "$VENV")" -name _build_stamp.py | wc -l)
  ((got == EXPECTED_STAMPS)) ||
    echo "the sandboxed run installed $got of $EXPECTED_STAMPS packages built from an sdist"
  say "$row: after the last sandboxed run, $got of $EXPECTED_STAMPS packages built from sdists are installed"
}

# "LINKED of TOTAL": the files of installed packages in the venv $VENV that share an inode with
# a file of uv's cache (uv links them from `archive-v0`; the dist-info files uv writes itself
# are not counted).
uv_links() {
  "$PYTHON" - "$(site_packages "$VENV")" "$home/.cache/uv" <<'PY'
import os, stat, sys
site, cache = sys.argv[1:3]
inodes = set()
for d, _, files in os.walk(cache):
    for f in files:
        st = os.lstat(os.path.join(d, f))
        if stat.S_ISREG(st.st_mode):
            inodes.add((st.st_dev, st.st_ino))
linked = total = 0
for d, _, files in os.walk(site):
    if ".dist-info" in d or "__pycache__" in d:
        continue
    for f in files:
        st = os.lstat(os.path.join(d, f))
        if not stat.S_ISREG(st.st_mode) or f.endswith(".pth"):
            continue
        total += 1
        linked += (st.st_dev, st.st_ino) in inodes
print(f"{linked} of {total}")
PY
}

# Check: uv hard-linked from its cache as it does bare (no "Failed to hardlink … falling back
# to full copy", and as many linked files as bare).
check_uv_links() {
  local linked
  linked=$(uv_links)
  say "$row: files hard-linked from uv's cache after the last sandboxed run: $linked (bare warm-up: $BARE_LINKS)"
  if grep -q 'Failed to hardlink' "$dir/first-sandboxed.log"; then
    echo "uv fell back to a full copy (it said: Failed to hardlink files); $linked files linked from its cache, bare $BARE_LINKS"
  elif [[ ${linked%% *} != "${BARE_LINKS%% *}" || ${BARE_LINKS%% *} == 0 ]]; then
    echo "uv hard-linked $linked files from its cache, bare $BARE_LINKS"
  fi
}

# pip into a new virtual environment (made before each run, untimed), warm HTTP and wheel cache
# (~/.cache/pip; the sdists' wheels were built by the warm-up), the local index online.
bench_pip_install() {
  need_binary
  local row=pip-install dir=$WORK/pip-install
  local home=$dir/home project=$dir/project
  py_fixture
  VENV=venv
  RUN_ENV=(PIP_DISABLE_PIP_VERSION_CHECK=1)
  RUN_PREPARE="rm -rf venv && $PYTHON -m venv venv"
  local pip=(venv/bin/pip install --no-input --index-url "$INDEX_URL" -r requirements.txt)
  in_project bash -c "$RUN_PREPARE"
  say "$row: warm cache (bare $("$project/venv/bin/pip" --version | cut -d' ' -f1-2))"
  in_project "${pip[@]}"
  EXPECTED_STAMPS=$(find "$(site_packages venv)" -name _build_stamp.py | wc -l)
  RUN_CMD=("${pip[@]}")
  RUN_CHECKS=(check_py_stamps)
  pm_timed "$row" "warm cache, $PY_PACKAGES pkgs"
  stop_server "$PYPI_PID"
}

# uv's environment in both runs: its index, the system's Python, no downloads of one.
uv_env() {
  RUN_ENV=("PATH=$(toolchain_path uv uv)" "UV_DEFAULT_INDEX=$INDEX_URL" "UV_PYTHON=$PYTHON"
    UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1)
}

# Bare uv's own cache (see the header): BARE_ARGS points bare runs at it, and RUN_CMD warms it
# as the shared one was (the sdists' wheels built, the interpreter queried).
uv_bare_cache() {
  BARE_ARGS=(--cache-dir "$home/.cache/uv-bare")
  in_project bash -c "$RUN_PREPARE"
  in_project "${RUN_CMD[@]}" "${BARE_ARGS[@]}"
}

# `uv pip install` into a new virtual environment (made before each run, untimed), warm cache
# (~/.cache/uv, the sdists' wheels built by the warm-up); uv links from its cache.
bench_uv_pip_install() {
  need_binary
  local row=uv-pip-install dir=$WORK/uv-pip-install
  local home=$dir/home project=$dir/project
  py_fixture
  uv_env
  VENV=venv
  RUN_PREPARE="rm -rf venv && $PYTHON -m venv --without-pip venv"
  say "$row: warm cache (bare $(clean_env "$home" "${RUN_ENV[@]}" uv --version))"
  in_project bash -c "$RUN_PREPARE"
  in_project uv pip install --python venv/bin/python -r requirements.txt
  EXPECTED_STAMPS=$(find "$(site_packages venv)" -name _build_stamp.py | wc -l)
  BARE_LINKS=$(uv_links)
  say "$row: the bare install hard-linked $BARE_LINKS package files from uv's cache"
  RUN_CMD=(uv pip install --python venv/bin/python -r requirements.txt)
  uv_bare_cache
  RUN_CHECKS=(check_py_stamps check_uv_links)
  pm_timed "$row" "warm cache, $PY_PACKAGES pkgs"
  BARE_ARGS=()
  stop_server "$PYPI_PID"
}

# `uv sync --frozen` of the project (uv.lock from the warm-up), .venv removed before each run.
bench_uv_sync() {
  need_binary
  local row=uv-sync dir=$WORK/uv-sync
  local home=$dir/home project=$dir/project
  py_fixture
  uv_env
  VENV=.venv
  say "$row: lockfile and warm cache (bare $(clean_env "$home" "${RUN_ENV[@]}" uv --version))"
  in_project uv lock
  in_project uv sync --frozen
  EXPECTED_STAMPS=$(find "$(site_packages .venv)" -name _build_stamp.py | wc -l)
  BARE_LINKS=$(uv_links)
  say "$row: the bare install hard-linked $BARE_LINKS package files from uv's cache"
  RUN_CMD=(uv sync --frozen)
  RUN_PREPARE='rm -rf .venv'
  uv_bare_cache
  RUN_CHECKS=(check_py_stamps check_uv_links)
  RUN_FLOOR=1
  pm_timed "$row" "warm cache, $PY_PACKAGES pkgs"
  BARE_ARGS=() RUN_FLOOR=
  stop_server "$PYPI_PID"
}

# ---------------------------------------------------------------------------- main

# Wall-clock ratios mean little on a machine busy with other work: say so.
# ---------------------------------------------------------------------------- notify

# Notifications per second: a lifecycle script (run by `npm run`, so through the script shell
# and its seccomp listener) opens one file N times; every open is a notification the
# supervisor receives, judges and answers. Bare, the same script without safe-install.
bench_notify() {
  need_binary
  command -v npm >/dev/null || die "npm is missing (apt-get install npm, or Node.js with npm)"
  local dir=$WORK/notify n=20000
  mkdir -p "$dir/home" "$dir/project"
  chmod 755 "$dir" "$dir/home" "$dir/project"
  cp "$HERE/opens.py" "$dir/project/opens.py"
  printf '{ "name": "si-bench-notify", "version": "1.0.0", "private": true,\n  "scripts": { "opens": "%s %s %d" } }\n' \
    "$PYTHON" "$dir/project/opens.py" "$n" >"$dir/project/package.json"
  local bare=() sandboxed=() i out
  for i in 1 2 3 4 5; do
    out=$(cd "$dir/project" && clean_env "$dir/home" npm run -s opens 2>&1) || die "bare npm run failed: $out"
    bare+=("$(sed -n 's/^OPENS_PER_SECOND=//p' <<<"$out")")
    out=$(cd "$dir/project" && clean_env "$dir/home" "$BIN" -q npm run -s opens 2>&1) || die "sandboxed npm run failed: $out"
    sandboxed+=("$(sed -n 's/^OPENS_PER_SECOND=//p' <<<"$out")")
  done
  local b s
  b=$(printf '%s\n' "${bare[@]}" | sort -n | sed -n 3p)
  s=$(printf '%s\n' "${sandboxed[@]}" | sort -n | sed -n 3p)
  printf '  notify: %d opens by a lifecycle script, median of 5: bare %s/s, observed %s/s (= notifications per second the supervisor handles, one client)\n' "$n" "$b" "$s"
  record "notifications/s (script opens, median of 5)" "$b/s" "$s/s" "x$(calc "$b / $s" %.0f) per open" "reported" "INFO" -
}

check_load() {
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    say "warning: load average $load on $(nproc) cores: other work competes for the CPU, so the wall-clock numbers are noisy; the CPU-time column is steadier"
  fi
}

print_summary() {
  # Column widths from the content, then the rows.
  local -a head=(metric bare sandboxed overhead target result "cpu overhead") widths=(0 0 0 0 0 0 0) row
  local line i
  while IFS='|' read -r -a row; do
    for i in "${!row[@]}"; do ((${#row[i]} > widths[i])) && widths[i]=${#row[i]}; done
  done < <(IFS='|'; printf '%s\n' "${head[*]}"; cat "$WORK/summary")
  printf '\n== summary\n'
  while IFS='|' read -r -a row; do
    line=
    for i in "${!head[@]}"; do line+=$(printf '%-*s  ' "${widths[i]}" "${row[i]:-}"); done
    printf '%s\n' "${line%"${line##*[! ]}"}"
  done < <(IFS='|'; printf '%s\n' "${head[*]}"; cat "$WORK/summary")
}

main() {
  local selected=() name known
  for name in "$@"; do
    case $name in
      -h | --help) usage; exit 0 ;;
      --list) printf '%s\n' "${BENCHES[@]}"; exit 0 ;;
    esac
    known=0
    for b in "${BENCHES[@]}"; do [[ $b == "$name" ]] && known=1; done
    ((known)) || { say "unknown benchmark '$name' (known: ${BENCHES[*]})"; exit 2; }
    selected+=("$name")
  done
  ((${#selected[@]})) || selected=("${BENCHES[@]}")
  [[ -x $PYTHON ]] || die "$PYTHON is needed to time the runs. Fix: apt-get install python3"

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/si-bench-XXXXXX")
  chmod 755 "$WORK"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  : >"$WORK/summary"

  local built=
  if [[ $BIN == "$ROOT"/* ]]; then
    built=", tree at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    git -C "$ROOT" diff --quiet HEAD -- src policies 2>/dev/null || built+=" with src/ or policies/ modified"
  fi
  say "safe-install $("$BIN" --version 2>/dev/null | awk '{print $2}') ($BIN, built $(date -r "$BIN" '+%F %T' 2>/dev/null || echo '?')$built)"
  say "machine: $(nproc) cores, kernel $(uname -r), node $(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none), uid $(id -u)"
  check_load
  for name in "${selected[@]}"; do
    printf '\n== %s\n' "$name"
    # A subshell per benchmark: `set -e` stays in force inside (it would not in an `if`),
    # and a failing benchmark becomes an ERROR row instead of ending the others.
    set +e
    (bench_"${name//-/_}")
    local rc=$?
    set -e
    if ((rc != 0)); then
      record "$name" - - "failed (exit $rc), see above" - ERROR -
    fi
  done
  check_load
  print_summary
  exit 0
}

main "$@"
