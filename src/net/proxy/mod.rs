//! The egress proxy: HTTP/1.1 served on a listening socket that lives inside the sandbox's
//! network namespace, dialling out from the supervisor's namespace to allowed destinations.
//!
//! Per connection, in order (each refusal answers `403`/`4xx` with a one-line hint and emits
//! one `blocked` event, action `proxy`):
//! 1. read the request head (at most [`MAX_HEAD`](super::request::MAX_HEAD) bytes within
//!    `head_timeout`) and parse/decide it with [`request::evaluate`] — the same pure code the
//!    tests and the fuzzer drive;
//! 2. resolve the name here, in the supervisor, drop loopback/private/metadata/… results no
//!    rule names ([`AllowList::check_resolved`]) and connect to the checked address itself, so
//!    there is no second lookup an attacker's DNS could answer differently;
//! 3. `CONNECT`: answer `200`, read the TLS ClientHello and require its SNI to equal the
//!    CONNECT host (no domain fronting), then relay both ways; a tunnel that starts with a
//!    plain HTTP request instead (yarn 2+ tunnels `http://` registries) is served exactly as
//!    the absolute-form request to the CONNECT host and port (its `Host` must name it), and
//!    anything else is refused;
//!    absolute-form `http://`: forward one request rewritten to origin-form with
//!    `Connection: close`, relay the response with its `Connection` header replaced by
//!    `Connection: close`, and close. One request per client connection keeps the proxy from
//!    having to frame responses, and a client cannot slip a second, unchecked request into a
//!    kept-alive upstream connection.
//!
//! Threads: one accept thread, one thread per connection (at most `max_connections`, small
//! stacks, heap buffers). A tunnel is relayed by its one thread with `poll(2)` over both
//! sockets and a 64 KiB buffer per direction; idle tunnels are closed after `idle_timeout`.
//!
//! The accept loop and the configuration are here; one connection's handling (request,
//! decision, credential, upstream) is in `conn`, moving bytes both ways in `relay`.

mod conn;
mod relay;

use conn::{plain_response, serve};

use super::{Emitter, PeerLookup};
use crate::events::EventSink;
use crate::policy::allow::AllowList;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest upstream response head relayed for absolute-form requests.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// How long a closing connection's unread input is drained so the client sees our answer
/// rather than a reset.
const LINGER: Duration = Duration::from_secs(2);

/// Resolves a name to socket addresses (the system resolver by default; tests substitute).
pub type Resolver = Arc<dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system resolver (`getaddrinfo(3)` in the supervisor's namespace).
pub fn system_resolver() -> Resolver {
    Arc::new(|host: &str, port: u16| Ok((host, port).to_socket_addrs()?.collect()))
}

/// What the proxy allows and how patient it is.
#[derive(Clone)]
pub struct ProxyConfig {
    pub allow: AllowList,
    /// Time for the whole request head, and for the ClientHello after `200`.
    pub head_timeout: Duration,
    /// A tunnel or forwarded exchange with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Time to establish each upstream connection attempt.
    pub connect_timeout: Duration,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Stack size of connection threads (buffers live on the heap; `getaddrinfo` needs some
    /// stack of its own, so not less than 128 KiB).
    pub thread_stack_size: usize,
    pub resolver: Resolver,
    /// Attribution of connections to processes, when available.
    pub peer_lookup: Option<PeerLookup>,
    /// Trust level 2: what lifecycle scripts and build backends may reach (`None`: requests
    /// are not told apart by who makes them). Needs `peer_lookup`.
    pub scripts: Option<ScriptEgress>,
    /// Which trust level reaches this listener.
    pub clients: Clients,
    /// The run's registry credentials: placeholders inside, real values put back here for
    /// the package manager's requests to the origin each belongs to (see `crate::creds`).
    pub vault: Arc<crate::creds::Vault>,
}

/// Which trust level reaches a proxy listener, as the kernel decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// The package manager's port. `scripts_kept_out`: level 2's nested Landlock domain
    /// cannot connect to it (Landlock TCP rules, ABI 4), so a client is the package manager
    /// unless attribution positively names a script. Without that (an older kernel, landlock
    /// mode), a client attribution cannot place is a script: fail closed.
    PackageManager { scripts_kept_out: bool },
    /// The scripts' port: every client is a lifecycle script or build backend, whatever
    /// attribution finds (it only names which one, for the log and the package's grants).
    Scripts,
}

/// The proxy's view of trust level 2. Scripts are offline by default: an allowed registry is
/// itself an exfiltration channel (publish the loot under the attacker's account), and the
/// package manager, not its scripts, is what needs it.
#[derive(Clone, Default)]
pub struct ScriptEgress {
    /// Scripts may reach the package manager's registries (`--scripts-network registry`).
    pub registry: bool,
    /// Per package directory (the lockfile entry a grant applies to; see
    /// `policy::ScriptsPolicy::bind_to_lockfile`): the global allow-list plus that package's
    /// own `allow-hosts`. Matched against the directory the script's shim registered from,
    /// never against a name the package gives itself.
    pub grants: Vec<(std::path::PathBuf, AllowList)>,
    /// Scripts alive now (the shims' listeners); while zero every request is the package
    /// manager's and the attribution scan is skipped. `None`: always attribute (a tool whose
    /// package code starts without a shim that registers).
    pub active: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl ProxyConfig {
    /// Defaults: 10 s head, 60 s idle, 10 s connect, 512 connections, 256 KiB stacks.
    pub fn new(allow: AllowList) -> Self {
        ProxyConfig {
            allow,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_connections: 512,
            thread_stack_size: 256 * 1024,
            resolver: system_resolver(),
            peer_lookup: None,
            scripts: None,
            clients: Clients::PackageManager {
                scripts_kept_out: false,
            },
            vault: Arc::new(crate::creds::Vault::default()),
        }
    }
}

/// Open client connections, so [`ProxyHandle::stop`] can close them.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, TcpStream>>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a connection if there is room; the guard unregisters it.
    fn register(self: &Arc<Self>, stream: &TcpStream, max: usize) -> Option<ConnGuard> {
        let mut open = self.lock();
        if open.len() >= max {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        open.insert(id, clone);
        Some(ConnGuard {
            id,
            conns: Arc::clone(self),
        })
    }

    fn count(&self) -> usize {
        self.lock().len()
    }
}

struct ConnGuard {
    id: u64,
    conns: Arc<Connections>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
    }
}

/// The running proxy. Dropping it stops it.
pub struct ProxyHandle {
    waker: UnixStream,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Connections>,
    local_addr: SocketAddr,
}

impl ProxyHandle {
    /// The address the proxy listens on (inside the sandbox's namespace).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections being served right now.
    pub fn open_connections(&self) -> usize {
        self.conns.count()
    }

    /// Stop accepting, close every open client connection (their threads end on the next
    /// read or write) and wait for the accept thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Tell the accept thread to stop without waiting for it: several servers stopped at
    /// once end in parallel, then each drop only joins (a second wake-up is harmless).
    pub fn begin_stop(&self) {
        let _ = (&self.waker).write_all(b"x");
    }

    fn shutdown(&mut self) {
        self.begin_stop();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for stream in self.conns.lock().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serve the proxy on `listener` (already bound and listening) until the handle is stopped.
pub fn spawn_proxy(
    listener: TcpListener,
    cfg: Arc<ProxyConfig>,
    sink: EventSink,
) -> io::Result<ProxyHandle> {
    let local_addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let (waker, wake_rx) = UnixStream::pair()?;
    let conns = Arc::new(Connections::default());
    let emitter = Emitter {
        sink,
        lookup: cfg.peer_lookup.clone(),
    };
    let accept_conns = Arc::clone(&conns);
    let accept = std::thread::Builder::new()
        .name("egress-proxy".into())
        .spawn(move || accept_loop(&listener, &wake_rx, &cfg, &emitter, &accept_conns))?;
    Ok(ProxyHandle {
        waker,
        accept: Some(accept),
        conns,
        local_addr,
    })
}

fn accept_loop(
    listener: &TcpListener,
    wake: &UnixStream,
    cfg: &Arc<ProxyConfig>,
    emitter: &Emitter,
    conns: &Arc<Connections>,
) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                tracing::error!(error = %e, "egress proxy: poll failed; stopping");
                return;
            }
        }
        if fds[1].any().unwrap_or(false) {
            return;
        }
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "egress proxy: accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Some(guard) = conns.register(&stream, cfg.max_connections) else {
            tracing::warn!(%peer, "egress proxy: too many connections; answering 503");
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write_all(&plain_response(
                503,
                "Service Unavailable",
                "too many connections",
            ));
            continue;
        };
        let cfg = Arc::clone(cfg);
        let emitter = emitter.clone();
        let spawned = std::thread::Builder::new()
            .name("egress-conn".into())
            .stack_size(cfg.thread_stack_size)
            .spawn(move || {
                let _guard = guard;
                if let Err(e) = serve(stream, peer, &cfg, &emitter) {
                    tracing::debug!(%peer, error = %e, "egress proxy: connection ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "egress proxy: cannot start a connection thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;
    use crate::events::{Action, Event, Reason, Verdict};
    use crate::net::sni::client_hello;
    use crate::policy::allow::RuleSource;
    use std::io::Read;
    use std::sync::Barrier;

    struct Fixture {
        proxy: Option<ProxyHandle>,
        log: EventLog,
    }

    impl Fixture {
        fn addr(&self) -> SocketAddr {
            self.proxy
                .as_ref()
                .map(|p| p.local_addr())
                .expect("running proxy")
        }

        fn events(&self) -> Vec<Event> {
            self.log.events()
        }

        /// Every event including repeats (the log records a repeated attempt once, counted).
        fn total(&self) -> u64 {
            self.log.counted().iter().map(|(_, n)| n).sum()
        }
    }

    /// A proxy on 127.0.0.1:0 allowing `rules`; every name resolves to 127.0.0.1.
    fn start(rules: &[String]) -> Fixture {
        start_with(rules, |_| {})
    }

    /// [`start`], with `tweak` applied to the configuration first.
    fn start_with(rules: &[String], tweak: impl FnOnce(&mut ProxyConfig)) -> Fixture {
        let mut allow = AllowList::new();
        for r in rules {
            allow
                .add(r, RuleSource::Npm("registry in test".into()))
                .expect("test rule");
        }
        let mut cfg = ProxyConfig::new(allow);
        cfg.head_timeout = Duration::from_secs(5);
        cfg.idle_timeout = Duration::from_secs(10);
        cfg.resolver =
            Arc::new(|_: &str, port: u16| Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]));
        tweak(&mut cfg);
        let log = EventLog::open(None, true).expect("in-memory log");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let proxy = spawn_proxy(listener, Arc::new(cfg), log.sink()).expect("spawn proxy");
        Fixture {
            proxy: Some(proxy),
            log,
        }
    }

    /// An upstream on 127.0.0.1 that echoes every connection back.
    fn echo_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind echo");
        let port = l.local_addr().expect("echo addr").port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = io::copy(&mut &s, &mut &s);
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        port
    }

    /// An upstream HTTP server answering one request per connection; sends each request head
    /// it receives to the returned channel.
    fn http_server() -> (u16, std::sync::mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind http");
        let port = l.local_addr().expect("http addr").port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match (&s).read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                // Read the body too when the head announces one.
                let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let want = text
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let head_end = buf
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(buf.len(), |p| p + 4);
                while buf.len() < head_end + want {
                    match (&s).read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
                let _ = (&s).write_all(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello",
                );
            }
        });
        (port, rx)
    }

    fn connect(fx: &Fixture) -> TcpStream {
        let s = TcpStream::connect(fx.addr()).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    fn read_to_end(s: &TcpStream) -> String {
        let mut out = Vec::new();
        let _ = (&*s).read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Read the proxy's answer to CONNECT (up to the blank line).
    fn read_head(s: &TcpStream) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n\r\n") {
            match (&*s).read(&mut b) {
                Ok(1) => out.push(b[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn blocked(fx: &Fixture) -> Vec<(String, Reason)> {
        fx.events()
            .into_iter()
            .filter(|e| e.verdict == Verdict::Blocked)
            .map(|e| (e.target, e.reason))
            .collect()
    }

    #[test]
    fn connect_tunnels_to_an_allowed_address() {
        let port = echo_server();
        let fx = start(&[format!("127.0.0.1:{port}")]);
        let s = connect(&fx);
        (&s).write_all(
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
        assert_eq!(read_head(&s), "HTTP/1.1 200 Connection established\r\n\r\n");
        let mut sent = client_hello(None, 16384);
        sent.extend_from_slice(b"application data");
        (&s).write_all(&sent).expect("write");
        s.shutdown(Shutdown::Write).expect("half close");
        let mut back = Vec::new();
        (&s).read_to_end(&mut back).expect("echo");
        assert_eq!(back, sent);
        let events = fx.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].verdict, Verdict::Allowed);
        assert_eq!(events[0].action, Action::Proxy);
        assert_eq!(events[0].reason, Reason::RegistryRequest);
        assert_eq!(events[0].target, format!("127.0.0.1:{port}"));
    }

    #[test]
    fn connect_with_matching_sni_and_early_client_hello() {
        let port = echo_server();
        let fx = start(&[format!("localhost:{port}")]);
        let s = connect(&fx);
        // The ClientHello arrives in the same segment as the CONNECT head.
        let hello = client_hello(Some("LocalHost."), 100);
        let mut req = format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n").into_bytes();
        req.extend_from_slice(&hello);
        (&s).write_all(&req).expect("write");
        assert!(read_head(&s).starts_with("HTTP/1.1 200"));
        let mut back = vec![0u8; hello.len()];
        (&s).read_exact(&mut back).expect("echo");
        assert_eq!(back, hello);
        assert!(blocked(&fx).is_empty());
    }

    #[test]
    fn sni_mismatch_is_domain_fronting() {
        let port = echo_server();
        let fx = start(&[format!("localhost:{port}")]);
        for hello in [
            client_hello(Some("evil.example"), 16384),
            client_hello(None, 16384),
            b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n".to_vec(),
        ] {
            let s = connect(&fx);
            (&s).write_all(format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n").as_bytes())
                .expect("write");
            assert!(read_head(&s).starts_with("HTTP/1.1 200"));
            (&s).write_all(&hello).expect("write");
            // Closed without a byte of the hello echoed back.
            assert_eq!(read_to_end(&s), "");
        }
        let b = blocked(&fx);
        assert_eq!(fx.total(), 3, "{b:?}");
        assert!(b
            .iter()
            .all(|(t, r)| *r == Reason::SniMismatch && *t == format!("localhost:{port}")));
        let detail = fx.events()[0].detail.clone().unwrap_or_default();
        assert!(detail.contains("evil.example"), "{detail}");
        assert!(fx.events().iter().all(|e| e.verdict == Verdict::Blocked));
    }

    #[test]
    fn not_allowed_host_gets_403_with_a_hint() {
        let fx = start(&["registry.example.com:443".into()]);
        let s = connect(&fx);
        (&s).write_all(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
            .expect("write");
        let answer = read_to_end(&s);
        assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
        assert!(answer.contains("--allow-host evil.example:443"), "{answer}");
        assert_eq!(
            blocked(&fx),
            vec![("evil.example:443".into(), Reason::EgressNotAllowed)]
        );
        let ev = &fx.events()[0];
        assert_eq!(ev.action, Action::Proxy);
        assert!(ev.pid.is_none());
    }

    #[test]
    fn names_resolving_to_loopback_are_refused_unless_named() {
        let port = echo_server();
        // The test resolver answers 127.0.0.1 for every name.
        let fx = start(&[format!("registry.example.com:{port}")]);
        let s = connect(&fx);
        (&s).write_all(format!("CONNECT registry.example.com:{port} HTTP/1.1\r\n\r\n").as_bytes())
            .expect("write");
        let answer = read_to_end(&s);
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(
            answer.contains(&format!("--allow-host 127.0.0.1:{port}")),
            "{answer}"
        );
        assert_eq!(
            blocked(&fx),
            vec![(
                format!("registry.example.com:{port}"),
                Reason::PrivateAddress
            )]
        );

        let fx = start(&[
            format!("registry.example.com:{port}"),
            format!("127.0.0.1:{port}"),
        ]);
        let s = connect(&fx);
        (&s).write_all(format!("CONNECT registry.example.com:{port} HTTP/1.1\r\n\r\n").as_bytes())
            .expect("write");
        assert!(read_head(&s).starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn ip_literal_in_another_notation_is_refused_as_ip_literal() {
        let fx = start(&["registry.example.com:443".into()]);
        let s = connect(&fx);
        (&s).write_all(b"GET http://2852039166/latest/meta-data/ HTTP/1.1\r\n\r\n")
            .expect("write");
        assert!(read_to_end(&s).starts_with("HTTP/1.1 403"));
        assert_eq!(
            blocked(&fx),
            vec![("169.254.169.254:80".into(), Reason::IpLiteral)]
        );
    }

    #[test]
    fn malformed_requests_get_4xx_and_one_event() {
        let fx = start(&["registry.example.com:443".into()]);
        let cases: [(&[u8], &str); 4] = [
            (
                b"CONNECT registry.example.com\0.evil.example:443 HTTP/1.1\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                b"GET /pkg HTTP/1.1\r\nHost: registry.example.com\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                b"CONNECT user@registry.example.com:443 HTTP/1.1\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                b"CONNECT registry.example.com:443 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                "HTTP/1.1 400",
            ),
        ];
        for (req, status) in cases {
            let s = connect(&fx);
            (&s).write_all(req).expect("write");
            let answer = read_to_end(&s);
            assert!(answer.starts_with(status), "{answer}");
        }
        let b = blocked(&fx);
        assert_eq!(b.len(), 4, "{b:?}");
        assert!(b.iter().all(|(_, r)| *r == Reason::MalformedRequest));
        assert_eq!(b[0].0, "registry.example.com\\u{0}.evil.example:443");
        // An oversize head is refused once it passes the limit, without waiting for its end.
        let s = connect(&fx);
        let mut big = b"GET http://registry.example.com/ HTTP/1.1\r\nX: ".to_vec();
        big.extend_from_slice(&[b'a'; 20 * 1024]);
        let _ = (&s).write_all(&big);
        assert!(read_to_end(&s).starts_with("HTTP/1.1 431"));
    }

    /// The trust level a client gets on each kind of listener when attribution finds nothing
    /// (a socket closed before the lookup, a process too deep to place).
    #[test]
    fn who_is_a_script_is_decided_by_the_port_and_fails_closed() {
        let cases = [
            (Clients::Scripts, true),
            (
                Clients::PackageManager {
                    scripts_kept_out: false,
                },
                true,
            ),
            (
                Clients::PackageManager {
                    scripts_kept_out: true,
                },
                false,
            ),
        ];
        for (clients, refused) in cases {
            let (port, _heads) = http_server();
            let fx = start_with(&[format!("127.0.0.1:{port}")], |cfg| {
                cfg.clients = clients;
                cfg.scripts = Some(ScriptEgress::default());
                cfg.peer_lookup = Some(Arc::new(|_| None));
            });
            let s = connect(&fx);
            (&s).write_all(
                format!("PUT http://127.0.0.1:{port}/loot HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            )
            .expect("write");
            let answer = read_to_end(&s);
            let events = fx.events();
            if refused {
                assert!(answer.starts_with("HTTP/1.1 403"), "{clients:?}: {answer}");
                assert_eq!(events.len(), 1, "{clients:?}");
                assert_eq!(events[0].reason, Reason::ScriptOffline, "{clients:?}");
                assert_eq!(
                    events[0].script.as_deref(),
                    Some(crate::events::UNATTRIBUTED),
                    "{clients:?}"
                );
                assert_eq!(events[0].package, None, "{clients:?}");
            } else {
                assert!(answer.contains("200 OK"), "{clients:?}: {answer}");
            }
        }
    }

    #[test]
    fn absolute_uri_is_forwarded_in_origin_form() {
        let (port, heads) = http_server();
        let fx = start(&[format!("127.0.0.1:{port}")]);
        let s = connect(&fx);
        (&s).write_all(
            format!(
                "GET http://127.0.0.1:{port}/pkg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: keep-alive\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("write");
        let answer = read_to_end(&s);
        let seen = heads
            .recv_timeout(Duration::from_secs(5))
            .expect("upstream request");
        assert_eq!(
            seen,
            format!("GET /pkg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        );
        assert_eq!(
            answer,
            "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        let events = fx.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].verdict, Verdict::Allowed);
        assert_eq!(events[0].target, format!("127.0.0.1:{port}"));
    }

    fn vault_for(port: u16) -> Arc<crate::creds::Vault> {
        let mut v = crate::creds::Vault::default();
        v.push(crate::creds::Credential {
            source: "//127.0.0.1/:_authToken".into(),
            origins: vec![crate::creds::Origin {
                scheme: crate::creds::Scheme::Http,
                host: "127.0.0.1".into(),
                port: Some(port),
                path: "/".into(),
            }],
            carrier: crate::creds::Carrier::Bearer,
            real: crate::creds::Secret::new("npm_REALTOKEN_123".into()),
            placeholder: "si-placeholder-0123456789abcdef".into(),
        });
        Arc::new(v)
    }

    #[test]
    fn placeholders_become_real_only_for_their_origin() {
        let (port, heads) = http_server();
        let (other, other_heads) = http_server();
        let vault = vault_for(port);
        let fx = start_with(
            &[format!("127.0.0.1:{port}"), format!("127.0.0.1:{other}")],
            |c| c.vault = vault,
        );
        let ask = |p: u16, extra: &str| {
            let s = connect(&fx);
            (&s).write_all(
                format!(
                    "GET http://127.0.0.1:{p}/pkg HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{extra}\r\n"
                )
                .as_bytes(),
            )
            .expect("write");
            read_to_end(&s)
        };
        let answer = ask(
            port,
            "Authorization: Bearer si-placeholder-0123456789abcdef\r\n",
        );
        assert!(answer.ends_with("hello"), "{answer}");
        let seen = heads
            .recv_timeout(Duration::from_secs(5))
            .expect("upstream");
        assert!(seen.contains("Bearer npm_REALTOKEN_123\r\n"), "{seen}");
        // Elsewhere, or in a header for the proxy: refused, logged, nothing forwarded.
        for (p, extra) in [
            (
                other,
                "Authorization: Bearer si-placeholder-0123456789abcdef\r\n",
            ),
            (
                port,
                "Proxy-Authorization: Bearer si-placeholder-0123456789abcdef\r\n",
            ),
        ] {
            let answer = ask(p, extra);
            assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
            assert!(!answer.contains("npm_REALTOKEN_123"), "{answer}");
        }
        assert!(other_heads
            .recv_timeout(Duration::from_millis(300))
            .is_err());
        assert!(heads.recv_timeout(Duration::from_millis(300)).is_err());
        let misuse = fx
            .events()
            .iter()
            .filter(|e| e.reason == Reason::CredentialMisuse && e.verdict == Verdict::Blocked)
            .count();
        assert_eq!(misuse, 2);
    }

    /// yarn 2+ sends its `http://` registry's requests through a CONNECT tunnel: served as
    /// the absolute-form request would be, with the credential for that origin only.
    #[test]
    fn plain_http_inside_a_tunnel_is_served_as_a_forwarded_request() {
        let (port, heads) = http_server();
        let (other, other_heads) = http_server();
        let vault = vault_for(port);
        let fx = start_with(
            &[format!("127.0.0.1:{port}"), format!("127.0.0.1:{other}")],
            |c| c.vault = vault,
        );
        let ask = |p: u16, request: String| {
            let s = connect(&fx);
            (&s).write_all(
                format!("CONNECT 127.0.0.1:{p} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n").as_bytes(),
            )
            .expect("write");
            assert!(read_head(&s).starts_with("HTTP/1.1 200"));
            (&s).write_all(request.as_bytes()).expect("write");
            read_to_end(&s)
        };
        let answer = ask(
            port,
            format!("GET /pkg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer si-placeholder-0123456789abcdef\r\nConnection: keep-alive\r\n\r\nGET /second HTTP/1.1\r\n\r\n"),
        );
        assert_eq!(
            answer,
            "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        let seen = heads
            .recv_timeout(Duration::from_secs(5))
            .expect("upstream request");
        assert_eq!(
            seen,
            // A request carrying the real value asks for an uncompressed answer (the masker).
            format!("GET /pkg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer npm_REALTOKEN_123\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n")
        );
        // The placeholder inside a tunnel to another origin: refused, nothing forwarded.
        let answer = ask(
            other,
            format!("GET /pkg HTTP/1.1\r\nHost: 127.0.0.1:{other}\r\nAuthorization: Bearer si-placeholder-0123456789abcdef\r\n\r\n"),
        );
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(other_heads
            .recv_timeout(Duration::from_millis(300))
            .is_err());
        // Neither TLS nor HTTP: refused as before.
        assert_eq!(ask(port, "SSH-2.0-OpenSSH_9.6\r\n".into()), "");
        assert!(heads.recv_timeout(Duration::from_millis(300)).is_err());
        let events = fx.events();
        let reasons: Vec<(Verdict, Reason)> =
            events.iter().map(|e| (e.verdict, e.reason)).collect();
        assert_eq!(
            reasons
                .iter()
                .filter(|(v, _)| *v == Verdict::Allowed)
                .count(),
            1,
            "{reasons:?}"
        );
        assert!(reasons.contains(&(Verdict::Blocked, Reason::CredentialMisuse)));
        assert!(reasons.contains(&(Verdict::Blocked, Reason::SniMismatch)));
    }

    #[test]
    fn one_request_per_connection_pipelined_requests_are_dropped() {
        let (port, heads) = http_server();
        let fx = start(&[format!("127.0.0.1:{port}")]);
        let s = connect(&fx);
        // The second request targets the same upstream but names another Host: it must never
        // reach the upstream unchecked.
        (&s).write_all(
            format!(
                "GET http://127.0.0.1:{port}/a HTTP/1.1\r\n\r\nGET http://127.0.0.1:{port}/b HTTP/1.1\r\nHost: evil.example\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("write");
        let answer = read_to_end(&s);
        assert!(answer.ends_with("hello"), "{answer}");
        let first = heads
            .recv_timeout(Duration::from_secs(5))
            .expect("first request");
        assert!(first.starts_with("GET /a HTTP/1.1\r\n"), "{first}");
        assert!(!first.contains("/b"), "{first}");
        assert!(heads.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn request_bodies_are_forwarded_and_expect_is_answered() {
        let (port, heads) = http_server();
        let fx = start(&[format!("127.0.0.1:{port}")]);
        let s = connect(&fx);
        (&s).write_all(
            format!(
                "POST http://127.0.0.1:{port}/-/npm/v1/security/audits HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("write");
        assert_eq!(read_head(&s), "HTTP/1.1 100 Continue\r\n\r\n");
        (&s).write_all(b"{\"a\":\"b\"}xx").expect("write body");
        let answer = read_to_end(&s);
        assert!(answer.ends_with("hello"), "{answer}");
        let seen = heads
            .recv_timeout(Duration::from_secs(5))
            .expect("upstream request");
        assert_eq!(
            seen,
            format!(
                "POST /-/npm/v1/security/audits HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{{\"a\":\"b\"}}xx"
            )
        );
    }

    #[test]
    fn many_concurrent_tunnels() {
        const N: usize = 64;
        let port = echo_server();
        let fx = start(&[format!("127.0.0.1:{port}")]);
        let barrier = Arc::new(Barrier::new(N + 1));
        let addr = fx.addr();
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(20)))
                        .expect("timeout");
                    (&s).write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())
                        .expect("write");
                    assert!(read_head(&s).starts_with("HTTP/1.1 200"));
                    let mut payload = client_hello(None, 16384);
                    payload.extend((0..200_000u32).map(|x| (x as usize * 31 + i) as u8));
                    barrier.wait(); // every tunnel is open at once...
                    barrier.wait(); // ...and counted
                    let writer = s.try_clone().expect("clone");
                    let sent = payload.clone();
                    let w = std::thread::spawn(move || {
                        (&writer).write_all(&sent).expect("write");
                        writer.shutdown(Shutdown::Write).expect("half close");
                    });
                    let mut back = Vec::new();
                    (&s).read_to_end(&mut back).expect("read");
                    w.join().expect("writer");
                    assert_eq!(back.len(), payload.len());
                    assert!(back == payload, "tunnel {i} corrupted data");
                })
            })
            .collect();
        barrier.wait();
        let open = fx.proxy.as_ref().map(|p| p.open_connections()).unwrap_or(0);
        barrier.wait();
        assert_eq!(open, N);
        for c in clients {
            c.join().expect("client thread");
        }
        assert_eq!(fx.total(), N as u64);
    }

    #[test]
    fn stop_closes_the_listener_and_open_tunnels() {
        let port = echo_server();
        let mut fx = start(&[format!("127.0.0.1:{port}")]);
        let s = connect(&fx);
        (&s).write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())
            .expect("write");
        assert!(read_head(&s).starts_with("HTTP/1.1 200"));
        let addr = fx.addr();
        if let Some(p) = fx.proxy.take() {
            p.stop();
        }
        assert_eq!(read_to_end(&s), "");
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn connection_limit_answers_503() {
        let port = echo_server();
        let mut allow = AllowList::new();
        allow
            .add(&format!("127.0.0.1:{port}"), RuleSource::AllowHostFlag)
            .expect("rule");
        let mut cfg = ProxyConfig::new(allow);
        cfg.max_connections = 1;
        let log = EventLog::open(None, true).expect("log");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy = spawn_proxy(listener, Arc::new(cfg), log.sink()).expect("spawn");
        let first = TcpStream::connect(proxy.local_addr()).expect("connect");
        (&first)
            .write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())
            .expect("write");
        assert!(read_head(&first).starts_with("HTTP/1.1 200"));
        let second = TcpStream::connect(proxy.local_addr()).expect("connect");
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert!(read_to_end(&second).starts_with("HTTP/1.1 503"));
    }
}
