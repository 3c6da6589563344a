#!/usr/bin/env python3
"""Egress proxy benchmarks: safe-install's proxy against a direct connection, same run.

  scripts/bench/proxy.py [--size-mb 200] [--runs 5] [--cpu-mb 2000] [--cpu-runs 5]
                         [--tls-mb 500] [--tunnels 64] [--out FILE]

(scripts/bench.sh proxy runs it and adds its rows to the summary.)

1. throughput: one download of SIZE MB from a local HTTP server on 127.0.0.1, by curl,
   bare (direct) and inside `safe-install` (through the proxy: absolute-URI forwarding),
   alternating, median of RUNS each; the ratio proxied/direct (target >= 0.9).
2. CPU: CPU_MB downloads (longer, so start-up weighs little), direct and proxied,
   alternating, median of CPU_RUNS each: the CPU time of the server's sending thread plus
   that of everything the bench started (curl; proxied, also all of safe-install:
   supervisor, relay, sandbox start-up) per GiB, and how many cores that kept busy during
   curl's transfer. Throughput is cores busy / CPU per byte, so it prints what a proxied
   download could reach with every core busy, and with as many busy as direct. It explains
   the throughput ratio; it is not a target.
3. HTTPS CPU: TLS_MB downloads over HTTPS (a throw-away certificate), alternating, median of
   CPU_RUNS each: direct; through the proxy as an untouched CONNECT tunnel; and intercepted
   (the URL carries a credential, so the proxy terminates TLS with the run's CA, puts the real
   value back and re-encrypts, verifying the server): CPU per GiB of each, as in 2.
4. tunnels: TUNNELS concurrent HTTPS downloads (CONNECT tunnels, TLS to a local server
   with a throw-away certificate) by curl inside one safe-install; every one must succeed,
   and the supervisor's peak resident memory (VmHWM) is reported (target <= 32 MB).

Only 127.0.0.1 is used. Needs curl and openssl. Prints one line per metric and exits 0
whatever the numbers (benchmarks report; they do not gate).
"""

import argparse
import http.server
import os
import queue
import resource
import shutil
import socketserver
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SAFE_INSTALL_BIN", os.path.join(ROOT, "target/release/safe-install"))
CHUNK = 1 << 20


class BlobHandler(http.server.BaseHTTPRequestHandler):
    """GET /<n> answers n MiB of zeros, streamed (no file, no memory growth)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            mib = int(self.path.strip("/") or "1")
        except ValueError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(mib * CHUNK))
        self.send_header("Connection", "close")
        self.end_headers()
        block = bytes(CHUNK)
        start = time.thread_time()
        for _ in range(mib):
            self.wfile.write(block)
        self.server.sender_cpu.put(time.thread_time() - start)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # CPU seconds each download cost its sending thread, in order.
        self.sender_cpu = queue.Queue()


def serve(tls_dir=None):
    server = Server(("127.0.0.1", 0), BlobHandler)
    if tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def curl_speed(url, sandboxed, port, home):
    """Bytes per second of one curl download; curl's own measure excludes start-up.
    `home` is the work directory, holding the project and the throw-away HOME."""
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}", url]
    if sandboxed:
        cmd = [BIN, "-q", "--allow-host", f"127.0.0.1:{port}", "--project", os.path.join(home, "project")] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, env=env_for(home), timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return float(out.stdout.strip())


def env_for(home):
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["HOME"] = os.path.join(home, "home")
    return env


def throughput(size_mb, runs, work):
    server = serve()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/{size_mb}"
    direct, proxied = [], []
    for _ in range(runs):
        direct.append(curl_speed(url, False, port, work))
        proxied.append(curl_speed(url, True, port, work))
    server.shutdown()
    d, p = statistics.median(direct), statistics.median(proxied)
    ratio = p / d
    mb = 1 << 20
    print(f"proxy throughput, {size_mb} MiB over loopback: direct {d / mb:.0f} MiB/s, "
          f"through the proxy {p / mb:.0f} MiB/s (medians of {runs}); "
          f"ratio {ratio:.2f} (target >= 0.90) {'PASS' if ratio >= 0.9 else 'FAIL'}")
    RESULTS.update(direct_mibs=f"{d / mb:.0f}", proxied_mibs=f"{p / mb:.0f}", ratio=f"{ratio:.3f}")
    return ratio


RESULTS = {}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_run(server, sandboxed, home, size_mb):
    """(CPU seconds, curl's transfer seconds) of one download: the server thread's CPU plus
    the bench's children's (curl, and safe-install with all it ran when sandboxed)."""
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/{size_mb}"
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", url]
    if sandboxed:
        cmd = [BIN, "-q", "--allow-host", f"127.0.0.1:{port}", "--project", os.path.join(home, "project")] + cmd
    before = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env_for(home), timeout=300)
    children = children_cpu() - before
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    sender = server.sender_cpu.get(timeout=30)
    return sender + children, float(out.stdout.strip())


def cpu_cost(size_mb, runs, work):
    server = serve()
    gib = size_mb / 1024
    per = {False: [], True: []}
    for _ in range(runs):
        for sandboxed in (False, True):
            cpu, seconds = cpu_run(server, sandboxed, work, size_mb)
            per[sandboxed].append((cpu / gib, cpu / seconds))
    server.shutdown()
    (cd, bd), (cp, bp) = ((statistics.median(c for c, _ in per[k]),
                           statistics.median(b for _, b in per[k])) for k in (False, True))
    cores = os.cpu_count() or 1
    # Throughput is cores busy / CPU per byte: what the proxied run could reach with every
    # core busy, and with as many busy as the direct run managed.
    full, alike = (cd / cp) * (cores / bd), cd / cp
    print(f"CPU per GiB ({size_mb} MiB downloads; the server's sending thread, curl and, proxied, "
          f"all of safe-install; medians of {runs}): direct {cd:.3f} s ({bd:.2f} of {cores} cores "
          f"busy), through the proxy {cp:.3f} s (+{(cp / cd - 1) * 100:.0f}%, {bp:.2f} busy). "
          f"So proxied can reach {full:.2f} of direct with every core busy, {alike:.2f} with as "
          f"many busy as direct")
    RESULTS.update(cpu_direct=f"{cd:.3f}", cpu_proxied=f"{cp:.3f}", busy_direct=f"{bd:.2f}",
                   busy_proxied=f"{bp:.2f}", cores=cores, ceiling_full=f"{full:.3f}",
                   ceiling_alike=f"{alike:.3f}")


def make_tls(work):
    """A throw-away CA (`ca.pem`) and a server certificate for localhost it signed
    (`cert.pem`, `key.pem`), made once per bench run: the proxy verifies an intercepted
    server as a client would (a CA's own certificate is no server certificate)."""
    tls = os.path.join(work, "tls")
    if os.path.isdir(tls):
        return tls
    os.makedirs(tls)
    f = lambda name: os.path.join(tls, name)
    with open(f("leaf.ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                  "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=si-bench-ca",
         "-keyout", f("ca-key.pem"), "-out", f("ca.pem")],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", f("key.pem"), "-out", f("leaf.csr")],
        ["x509", "-req", "-in", f("leaf.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca-key.pem"),
         "-CAcreateserial", "-days", "1", "-extfile", f("leaf.ext"), "-out", f("cert.pem")],
    ):
        subprocess.run(["openssl"] + cmd, check=True, capture_output=True)
    return tls


def tls_cpu_run(server, kind, work, tls, size_mb):
    """(CPU seconds, curl's transfer seconds) of one HTTPS download of `kind`: direct,
    tunnel (sandboxed, no credential) or intercepted (sandboxed, a credential in the URL)."""
    port = server.server_address[1]
    cert = os.path.join(tls, "ca.pem")
    url = f"https://localhost:{port}/{size_mb}"
    env = env_for(work)
    if kind == "intercepted":
        # A credential in the URL: sealed, so the proxy intercepts this host; curl trusts the
        # run's CA inside, the proxy verifies the server against NODE_EXTRA_CA_CERTS.
        url = f"https://si-bench:bench-secret-{port}@localhost:{port}/{size_mb}"
        cacert = "/.safe-install/ca.pem"
        env["NODE_EXTRA_CA_CERTS"] = cert
    else:
        cacert = cert
    cmd = ["curl", "-sS", "--cacert", cacert, "-o", "/dev/null", "-w", "%{time_total}", url]
    if kind != "direct":
        cmd = [BIN, "-q", "--allow-host", f"localhost:{port}", "--ro", tls, "--project",
               os.path.join(work, "project")] + cmd
    before = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    children = children_cpu() - before
    if out.returncode != 0:
        raise RuntimeError(f"{kind}: {' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    sender = server.sender_cpu.get(timeout=30)
    return sender + children, float(out.stdout.strip())


def tls_cpu_cost(size_mb, runs, work):
    tls = make_tls(work)
    server = serve(tls)
    gib = size_mb / 1024
    kinds = ("direct", "tunnel", "intercepted")
    per = {k: [] for k in kinds}
    for _ in range(runs):
        for kind in kinds:
            cpu, _seconds = tls_cpu_run(server, kind, work, tls, size_mb)
            per[kind].append(cpu / gib)
    server.shutdown()
    med = {k: statistics.median(v) for k, v in per.items()}
    d = med["direct"]
    print(f"HTTPS CPU per GiB ({size_mb} MiB downloads; the server's sending thread, curl and, "
          f"proxied, all of safe-install; medians of {runs}): direct {d:.3f} s, tunnelled "
          f"{med['tunnel']:.3f} s (+{(med['tunnel'] / d - 1) * 100:.0f}%), intercepted (TLS "
          f"terminated and re-encrypted, credential put back) {med['intercepted']:.3f} s "
          f"(+{(med['intercepted'] / d - 1) * 100:.0f}%)")
    RESULTS.update(tls_cpu_direct=f"{d:.3f}", tls_cpu_tunnel=f"{med['tunnel']:.3f}",
                   tls_cpu_intercepted=f"{med['intercepted']:.3f}")


def tunnels(count, work):
    tls = make_tls(work)
    server = serve(tls)
    port = server.server_address[1]
    script = (
        f"for i in $(seq {count}); do "
        f"curl -sS --cacert {tls}/ca.pem -o /dev/null -w '%{{http_code}}\\n' "
        f"https://localhost:{port}/4 & done; wait"
    )
    cmd = [BIN, "-q", "--allow-host", f"localhost:{port}", "--ro", tls, "--project", os.path.join(work, "project"),
           "sh", "-c", script]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(work))
    peak_kb = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    server.shutdown()
    codes = out.split()
    ok = codes.count("200")
    peak_mb = peak_kb / 1024
    good = ok == count and peak_mb <= 32
    print(f"{count} concurrent CONNECT tunnels (4 MiB each): {ok}/{count} succeeded; "
          f"supervisor peak RSS {peak_mb:.1f} MB (target: all succeed, <= 32 MB) "
          f"{'PASS' if good else 'FAIL'}")
    RESULTS.update(tunnels_ok=ok, tunnels=count, peak_mb=f"{peak_mb:.1f}")
    if ok != count:
        print(f"  stderr: {err.strip()[:500]}", file=sys.stderr)
    return good


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cpu-mb", type=int, default=2000)
    ap.add_argument("--cpu-runs", type=int, default=5)
    ap.add_argument("--tls-mb", type=int, default=500)
    ap.add_argument("--tunnels", type=int, default=64)
    ap.add_argument("--out", help="also write KEY=VALUE results here")
    args = ap.parse_args()
    for tool in ("curl", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"bench proxy: {tool} is missing (apt-get install {tool})")
    if not os.access(BIN, os.X_OK):
        sys.exit(f"bench proxy: {BIN} not found; run `cargo build --release`")
    work = tempfile.mkdtemp(prefix="si-bench-proxy-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "home"))
    os.makedirs(os.path.join(work, "project"))
    try:
        throughput(args.size_mb, args.runs, work)
        cpu_cost(args.cpu_mb, args.cpu_runs, work)
        tls_cpu_cost(args.tls_mb, args.cpu_runs, work)
        tunnels(args.tunnels, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as f:
            for k, v in RESULTS.items():
                f.write(f"{k}={v}\n")


if __name__ == "__main__":
    main()
