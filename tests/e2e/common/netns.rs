//! A "test host" for the egress tests: somewhere an exfiltrating script would send its data
//! if the sandbox let it, with a listener that records everything it receives.
//!
//! - As root: a network namespace of its own (`si-testhost-<pid>-<n>`), joined to the host by
//!   a veth pair, `10.213.<n>.1/30` + `fd00:213:<n>::1/64` on the host side and
//!   `10.213.<n>.2/30` + `fd00:213:<n>::2/64` inside, with `tests/fixtures/egress/testhost.py`
//!   listening on every address inside (TCP and UDP). Without the sandbox these addresses are
//!   routable from the host (checked when the host starts), so a blocked attempt is a real
//!   boundary, not a missing route. Everything is deleted when the [`TestHost`] is dropped.
//! - Not root (the unprivileged pass of scripts/test.sh cannot create network namespaces):
//!   the same listener on the host's `127.0.0.1`. The sandbox cannot reach it either: its
//!   loopback is its own, so a connect there meets nothing (the notifier answers
//!   `ECONNREFUSED` and logs it). IPv6 then targets `fd00:213::2`, an address nothing holds.
//!
//! Either way the tests assert that the listener captured no byte after its self-check.
//!
//! Also here: a Verdaccio whose `@scope` packages need a token to read (the scoped-registry
//! test), and small event-log filters.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::servers::spawn_server;
use super::{fixtures, is_root, require_program, wait_until, World, SYSTEM_PATH};

/// Where the test host lives.
#[derive(Debug)]
pub enum Placement {
    /// Its own network namespace (root).
    Netns { name: String, veth: String },
    /// The host's loopback (unprivileged).
    Loopback,
}

/// A listener somewhere an attacker would like to reach; see the module docs.
pub struct TestHost {
    pub placement: Placement,
    /// The IPv4 address attacks target.
    pub v4: Ipv4Addr,
    /// The IPv6 address attacks target (a listener holds it only as root).
    pub v6: Ipv6Addr,
    pub tcp_port: u16,
    pub udp_port: u16,
    state: PathBuf,
    child: Option<Child>,
    /// Bytes of the capture file written by the self-check.
    baseline: usize,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip_command() -> PathBuf {
    for p in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    require_program(
        "/usr/sbin/ip",
        "apt-get install iproute2 (the egress tests create a network namespace as root)",
    );
    unreachable!()
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(ip_command())
        .args(args)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_output(args: &[&str]) -> String {
    Command::new(ip_command())
        .args(args)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Deletes test-host namespaces left by a test process that no longer exists (a killed run).
fn remove_stale_namespaces() {
    for line in ip_output(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("si-testhost-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl TestHost {
    /// Starts a test host for `world` (a namespace as root, the host's loopback otherwise),
    /// proves that its listener receives TCP and UDP sent from the host, and remembers how
    /// much that self-check wrote.
    pub fn start(world: &World) -> TestHost {
        require_program(
            "/usr/bin/python3",
            "apt-get install python3 (scripts/setup.sh as root)",
        );
        let state = world.root().join("testhost");
        fs::create_dir_all(&state).expect("mkdir testhost state");
        let script = fixtures().join("egress/testhost.py");
        assert!(
            script.is_file(),
            "{} is missing: point SAFE_INSTALL_FIXTURES at the repository's tests/fixtures",
            script.display()
        );
        let mut host = if is_root() {
            Self::start_netns(&state, &script)
        } else {
            Self::start_loopback(&state, &script)
        };
        host.self_check();
        host
    }

    fn start_netns(state: &Path, script: &Path) -> TestHost {
        remove_stale_namespaces();
        let pid = std::process::id();
        let mut last_error = String::new();
        for _ in 0..250 {
            let n = (pid
                .wrapping_mul(7)
                .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
                % 250
                + 1;
            let subnet = format!("10.213.{n}.0/30");
            if !ip_output(&["-4", "addr", "show", "to", &subnet])
                .trim()
                .is_empty()
            {
                continue;
            }
            let name = format!("si-testhost-{pid}-{n}");
            let veth = format!("si-th{n}h");
            let peer = format!("si-th{n}p");
            let (v4_host, v4) = (format!("10.213.{n}.1/30"), format!("10.213.{n}.2/30"));
            let (v6_host, v6) = (format!("fd00:213:{n}::1/64"), format!("fd00:213:{n}::2/64"));
            let steps: Vec<Vec<&str>> = vec![
                vec!["netns", "add", &name],
                vec!["link", "add", &veth, "type", "veth", "peer", "name", &peer],
                vec!["link", "set", &peer, "netns", &name],
                vec!["addr", "add", &v4_host, "dev", &veth],
                vec!["-6", "addr", "add", &v6_host, "dev", &veth, "nodad"],
                vec!["link", "set", &veth, "up"],
                vec!["-n", &name, "addr", "add", &v4, "dev", &peer],
                vec!["-n", &name, "-6", "addr", "add", &v6, "dev", &peer, "nodad"],
                vec!["-n", &name, "link", "set", &peer, "up"],
                vec!["-n", &name, "link", "set", "lo", "up"],
            ];
            let mut failed = None;
            for step in &steps {
                if let Err(e) = ip(step) {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                let _ = ip(&["link", "del", &veth]);
                let _ = ip(&["netns", "del", &name]);
                last_error = e;
                continue;
            }
            let mut cmd = Command::new(ip_command());
            cmd.args(["netns", "exec", &name, "/usr/bin/python3"])
                .arg(script)
                .arg(state)
                .arg("::")
                .env_clear()
                .env("PATH", SYSTEM_PATH);
            let child = spawn_server(cmd, &state.join("listener.log"));
            return TestHost::started(
                Placement::Netns {
                    name,
                    veth: veth.clone(),
                },
                Ipv4Addr::new(10, 213, n as u8, 2),
                format!("fd00:213:{n}::2").parse().expect("v6 literal"),
                state,
                child,
            );
        }
        panic!(
            "cannot create a test-host network namespace as root (last error: {last_error}). \
             Fix: the egress tests need `ip netns` and veth support (iproute2, CONFIG_VETH)"
        );
    }

    fn start_loopback(state: &Path, script: &Path) -> TestHost {
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg(state)
            .arg("127.0.0.1")
            .env_clear()
            .env("PATH", SYSTEM_PATH);
        let child = spawn_server(cmd, &state.join("listener.log"));
        TestHost::started(
            Placement::Loopback,
            Ipv4Addr::LOCALHOST,
            "fd00:213::2".parse().expect("v6 literal"),
            state,
            child,
        )
    }

    /// A host whose listener `child` runs with its state in `state`, once its ports are known.
    fn started(
        placement: Placement,
        v4: Ipv4Addr,
        v6: Ipv6Addr,
        state: &Path,
        child: std::process::Child,
    ) -> TestHost {
        let mut host = TestHost {
            placement,
            v4,
            v6,
            tcp_port: 0,
            udp_port: 0,
            state: state.to_path_buf(),
            child: Some(child),
            baseline: 0,
        };
        host.read_ports();
        host
    }

    fn read_ports(&mut self) {
        let ports = self.state.join("ports.json");
        let ready = wait_until(Duration::from_secs(10), || ports.is_file());
        assert!(
            ready,
            "the test host listener did not start within 10s; its output:\n{}",
            fs::read_to_string(self.state.join("listener.log")).unwrap_or_default()
        );
        let json: Value =
            serde_json::from_str(&fs::read_to_string(&ports).expect("read ports.json"))
                .expect("ports.json is JSON");
        self.tcp_port = json["tcp"].as_u64().expect("tcp port") as u16;
        self.udp_port = json["udp"].as_u64().expect("udp port") as u16;
    }

    /// True when the test host is a network namespace of its own (root).
    pub fn in_netns(&self) -> bool {
        matches!(self.placement, Placement::Netns { .. })
    }

    /// The addresses the self-check sends to from the host (IPv6 only in a namespace).
    fn reachable_addresses(&self) -> Vec<IpAddr> {
        let mut addrs = vec![IpAddr::V4(self.v4)];
        if self.in_netns() {
            addrs.push(IpAddr::V6(self.v6));
        }
        addrs
    }

    /// From the host, without a sandbox: TCP and UDP reach the listener on every address the
    /// tests target (so a blocked attempt is the sandbox's doing, not a missing route).
    fn self_check(&mut self) {
        let addrs = self.reachable_addresses();
        let mut expected = 0;
        for addr in &addrs {
            let marker = format!("si-selfcheck {addr}");
            let mut tcp = TcpStream::connect_timeout(
                &std::net::SocketAddr::new(*addr, self.tcp_port),
                Duration::from_secs(5),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "the test host is not reachable from the host at {addr}:{} ({e}); {:?}",
                    self.tcp_port, self.placement
                )
            });
            std::io::Write::write_all(&mut tcp, marker.as_bytes()).expect("self-check write");
            drop(tcp);
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let udp = UdpSocket::bind(bind).expect("bind udp");
            udp.send_to(marker.as_bytes(), (*addr, self.udp_port))
                .expect("self-check udp send");
            expected += 2;
        }
        let capture = self.state.join("capture");
        let ok = wait_until(Duration::from_secs(10), || {
            fs::read_to_string(&capture)
                .map(|t| t.matches("si-selfcheck").count() >= expected)
                .unwrap_or(false)
        });
        assert!(
            ok,
            "the test host listener did not record the self-check (expected {expected} records):\n{}\n--- listener ---\n{}",
            fs::read_to_string(&capture).unwrap_or_default(),
            fs::read_to_string(self.state.join("listener.log")).unwrap_or_default()
        );
        // Whatever a lagging self-check record adds later would count against the test;
        // give the listener a moment to settle first.
        std::thread::sleep(Duration::from_millis(100));
        self.baseline = fs::read(&capture).map(|b| b.len()).unwrap_or(0);
    }

    /// Bytes the listener recorded after the self-check (empty when nothing arrived).
    pub fn captured(&self) -> String {
        let all = fs::read(self.state.join("capture")).unwrap_or_default();
        String::from_utf8_lossy(all.get(self.baseline..).unwrap_or_default()).into_owned()
    }

    /// TCP connections the listener accepted after the self-check.
    pub fn connections(&self) -> Vec<String> {
        let text = fs::read_to_string(self.state.join("connections")).unwrap_or_default();
        let selfcheck = self.reachable_addresses().len();
        text.lines().skip(selfcheck).map(String::from).collect()
    }

    /// Fails when the listener received any byte after the self-check.
    pub fn assert_nothing_received(&self, context: &str) {
        // Late packets: a datagram in flight lands within milliseconds.
        std::thread::sleep(Duration::from_millis(200));
        let got = self.captured();
        assert!(
            got.is_empty(),
            "the test host ({:?}, {} tcp {} udp {}) received data from the sandbox:\n{got}\n\n{context}",
            self.placement,
            self.v4,
            self.tcp_port,
            self.udp_port
        );
    }

    /// Fails when the listener accepted any TCP connection after the self-check.
    pub fn assert_no_connection(&self, context: &str) {
        let conns = self.connections();
        assert!(
            conns.is_empty(),
            "the test host accepted connections: {conns:?}\n\n{context}"
        );
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Placement::Netns { name, veth } = &self.placement {
            let _ = ip(&["link", "del", veth]);
            let _ = ip(&["netns", "del", name]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Event filters
// ---------------------------------------------------------------------------------------

/// Events with this action, verdict, reason and exactly this target.
pub fn events_for<'a>(
    events: &'a [Value],
    action: &str,
    verdict: &str,
    reason: &str,
    target: &str,
) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            e["action"] == action
                && e["verdict"] == verdict
                && e["reason"] == reason
                && e["target"] == target
        })
        .collect()
}

/// One sandboxed run: its output and its event log.
pub struct LoggedRun {
    pub out: super::Output,
    pub events: Vec<Value>,
    pub log: PathBuf,
}

impl LoggedRun {
    /// The run's output and its event log (empty when none was written), which must follow
    /// the documented schema.
    pub fn read(out: super::Output, log: PathBuf) -> LoggedRun {
        let events = if log.exists() {
            super::read_log(&log)
        } else {
            Vec::new()
        };
        let problems = super::check_event_schema(&events);
        assert!(
            problems.is_empty(),
            "event log schema: {problems:?}\n{}",
            out.describe()
        );
        LoggedRun { out, events, log }
    }

    /// Whether the proxy logged an allowed CONNECT to 127.0.0.1:`port` whose TLS it
    /// terminated (the host carries a credential). Needs `--log-allowed`.
    pub fn intercepted(&self, port: u16) -> bool {
        let target = format!("127.0.0.1:{port}");
        self.events.iter().any(|e| {
            e["verdict"] == "allowed"
                && e["target"] == target.as_str()
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("TLS terminated"))
        })
    }

    /// Whether `secret` appears in the event log or on stderr.
    pub fn shows(&self, secret: &str) -> bool {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .contains(secret)
            || self.out.stderr.contains(secret)
    }

    /// Blocked events of `action` with `reason` whose target contains `target`, made by a
    /// script of `package`: that lifecycle event, or any named script or build step (`None`).
    pub fn blocked_by(
        &self,
        package: &str,
        script: Option<&str>,
        action: &str,
        reason: &str,
        target: &str,
    ) -> usize {
        self.events
            .iter()
            .filter(|e| {
                e["verdict"] == "blocked"
                    && e["action"] == action
                    && e["reason"] == reason
                    && e["target"].as_str().unwrap_or("").contains(target)
                    && e["package"] == package
                    && match script {
                        Some(s) => e["script"] == s,
                        None => e["script"].is_string(),
                    }
            })
            .count()
    }

    /// Output and log, for assertion messages.
    pub fn context(&self) -> String {
        format!(
            "{}\n--- event log {} ---\n{}",
            self.out.describe(),
            self.log.display(),
            show_events(&self.events)
        )
    }
}

/// The log as text, one event per line, for assertion messages.
pub fn show_events(events: &[Value]) -> String {
    if events.is_empty() {
        return "(no events)".into();
    }
    events
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// A Verdaccio whose scoped packages need a token
// ---------------------------------------------------------------------------------------

/// Starts Verdaccio (no uplinks, temporary storage, on a free loopback port) where packages
/// of `@scope` can be read only with a token; see [`super::servers::start_verdaccio_with`].
pub fn start_verdaccio_private_scope(dir: &Path, scope: &str) -> super::servers::Server {
    super::servers::start_verdaccio_with(dir, Some(scope))
}
