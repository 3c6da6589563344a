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
//!    CONNECT host (no domain fronting, no plaintext tunnels), then relay both ways;
//!    absolute-form `http://`: forward one request rewritten to origin-form with
//!    `Connection: close`, relay the response with its `Connection` header replaced by
//!    `Connection: close`, and close. One request per client connection keeps the proxy from
//!    having to frame responses, and a client cannot slip a second, unchecked request into a
//!    kept-alive upstream connection.
//!
//! Threads: one accept thread, one thread per connection (at most `max_connections`, small
//! stacks, heap buffers). A tunnel is relayed by its one thread with `poll(2)` over both
//! sockets and a 64 KiB buffer per direction; idle tunnels are closed after `idle_timeout`.

use super::request::{self, escape, Evaluation, RequestHead, RequestKind, Target};
use super::sni::{self, Hello};
use super::{Attribution, Emitter, PeerLookup};
use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::policy::addr::HostKind;
use crate::policy::allow::{AllowList, Decision, Denial, Rule, RuleSource};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// manager's and the attribution scan is skipped. `None`: always attribute (pip, whose
    /// build backends start without a shim).
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

    fn shutdown(&mut self) {
        let _ = (&self.waker).write_all(b"x");
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

/// One client connection, start to end.
fn serve(
    client: TcpStream,
    peer: SocketAddr,
    cfg: &ProxyConfig,
    emitter: &Emitter,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let _ = client.set_nodelay(true);
    let conn = Conn {
        client,
        peer,
        cfg,
        emitter,
    };
    let Some((buf, head)) = conn.read_head()? else {
        return Ok(());
    };
    let Some((head, rule, allow, script)) = conn.check(&buf, head) else {
        return Ok(());
    };
    let rest = &buf[head.head_len..];
    // A placeholder in a CONNECT head (`Proxy-Authorization`) goes to no origin.
    if matches!(head.kind, RequestKind::Connect) {
        if let Some(cred) = cfg.vault.carries_placeholder(&buf[..head.head_len]) {
            let detail = format!(
                "the placeholder for {} was sent in a CONNECT request to {}; it is never forwarded",
                cred.source, head.target
            );
            conn.refuse(
                403,
                head.target.to_string(),
                Reason::CredentialMisuse,
                detail,
            );
            return Ok(());
        }
    }
    match &head.kind {
        // The addresses are checked before the 200 (so a refused address still gets a 403
        // naming the fix), the ClientHello before anything is dialled: a fronting attempt
        // never reaches the allowed host.
        RequestKind::Connect => {
            let Some(addrs) = conn.resolve(allow, &head.target, rule, true)? else {
                return Ok(());
            };
            // The package manager's tunnel to an HTTPS origin that carries a credential is
            // terminated here (the placeholders inside must be seen); every other tunnel
            // stays opaque.
            let host = head.target.host.to_string();
            let host = host.trim_matches(['[', ']']);
            if let Some(tls) = cfg.vault.tls().filter(|_| !script) {
                if cfg.vault.intercepts(host, head.target.port) {
                    return conn.intercept(&head.target, rule, &addrs, rest, tls);
                }
            }
            conn.tunnel(&head.target, rule, &addrs, rest)
        }
        RequestKind::Forward { .. } => {
            let Some(addrs) = conn.resolve(allow, &head.target, rule, true)? else {
                return Ok(());
            };
            // Placeholders are decided before anything is dialled: a misuse never reaches
            // the host it was sent to.
            let Some(sealed) = conn.unseal(&head, crate::creds::Scheme::Http, !script) else {
                return Ok(());
            };
            // A placeholder in a header that is not forwarded (`Proxy-Authorization`) goes
            // to no origin either.
            if let RequestKind::Forward { upstream_head, .. } = &head.kind {
                let raw = &buf[..head.head_len];
                if let Some(cred) = cfg
                    .vault
                    .carries_placeholder(raw)
                    .filter(|_| cfg.vault.carries_placeholder(upstream_head).is_none())
                {
                    let detail = format!(
                        "the placeholder for {} was sent in a header for the proxy; it is never forwarded",
                        cred.source
                    );
                    conn.refuse(
                        403,
                        head.target.to_string(),
                        Reason::CredentialMisuse,
                        detail,
                    );
                    return Ok(());
                }
            }
            let Some(upstream) = conn.connect(&head.target, &addrs, true) else {
                return Ok(());
            };
            conn.forward(&head, sealed, rule, upstream, rest)
        }
    }
}

struct Conn<'a> {
    client: TcpStream,
    peer: SocketAddr,
    cfg: &'a ProxyConfig,
    emitter: &'a Emitter,
}

impl<'a> Conn<'a> {
    fn event(&self, verdict: Verdict, target: String, reason: Reason, detail: String) {
        let ev = Event::new(Action::Proxy, verdict, target, reason).with_detail(detail);
        let script = self.cfg.clients == Clients::Scripts || reason == Reason::ScriptOffline;
        if script {
            self.emitter.emit_as_script(self.peer, ev);
        } else {
            self.emitter.emit(self.peer, ev);
        }
    }

    /// Refuse: log one blocked event, answer `status`, close gracefully.
    fn refuse(&self, status: u16, target: String, reason: Reason, detail: String) {
        let title = match status {
            403 => "Forbidden",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            _ => "Bad Request",
        };
        // Logged before the answer: the client may exit (and the supervisor finish the log)
        // as soon as it reads it, and attribution needs the client's socket still open.
        let body = plain_response(status, title, &detail);
        self.event(Verdict::Blocked, target, reason, detail);
        let _ = (&self.client).write_all(&body);
        close_gracefully(&self.client);
    }

    fn deny(&self, target: &Target, d: &Denial) {
        self.refuse(403, target.to_string(), d.reason, d.detail());
    }

    /// Read until the head is complete or refused. `None`: the client went away or timed out.
    fn read_head(&self) -> io::Result<Option<(Vec<u8>, Evaluation<'a>)>> {
        let deadline = Instant::now() + self.cfg.head_timeout;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            let eval = request::evaluate(&buf, &self.cfg.allow);
            if !matches!(eval, Evaluation::Incomplete) {
                return Ok(Some((buf, eval)));
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                tracing::debug!(peer = %self.peer, "egress proxy: request head timed out");
                return Ok(None);
            };
            self.client.set_read_timeout(Some(left))?;
            match (&self.client).read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The parser's and the allow-list's verdict, then trust level 2's; refusals are answered
    /// here. Also returns the list the rule came from (a package's grant list, or the global one).
    fn check(
        &self,
        buf: &[u8],
        eval: Evaluation<'a>,
    ) -> Option<(RequestHead, &'a Rule, &'a AllowList, bool)> {
        let (head, decision) = match eval {
            Evaluation::Incomplete => return None,
            Evaluation::Malformed(e) => {
                self.refuse(
                    e.status(),
                    request::raw_target(buf),
                    Reason::MalformedRequest,
                    e.to_string(),
                );
                return None;
            }
            Evaluation::Decided { head, decision } => (head, decision),
        };
        let cfg: &'a ProxyConfig = self.cfg;
        let Some(who) = self.script_of_peer() else {
            return match decision {
                Decision::Allow(rule) => Some((head, rule, &cfg.allow, false)),
                Decision::Deny(d) => {
                    self.deny(&head.target, &d);
                    None
                }
            };
        };
        let (package, script_name) = (who.package, who.script);
        let scripts = cfg.scripts.as_ref()?;
        let bare = package.as_deref().map(crate::policy::package_name);
        if let Some((_, list)) = scripts
            .grants
            .iter()
            .find(|(dir, _)| who.package_dir.as_deref() == Some(dir.as_path()))
        {
            if let Decision::Allow(rule) = list.check(&head.target.host, head.target.port) {
                return Some((head, rule, list, true));
            }
        }
        match decision {
            Decision::Allow(rule)
                if scripts.registry
                    && matches!(
                        rule.source,
                        RuleSource::Npm(_) | RuleSource::Pip(_) | RuleSource::Yarn(_)
                    ) =>
            {
                Some((head, rule, &cfg.allow, true))
            }
            Decision::Allow(_) => {
                let who = match (&package, &script_name) {
                    (Some(p), Some(s)) => format!("{p} ({s})"),
                    (Some(p), None) => p.clone(),
                    (None, Some(s)) => s.clone(),
                    (None, None) => "a script".into(),
                };
                let name = bare.unwrap_or("NAME");
                let detail = format!(
                    "lifecycle scripts and build backends are offline: {who} may not reach {}. If it must, grant it to this package only: [[package]] name = \"{name}\" allow-hosts = [\"{}\"] reason = \"...\" in .safe-install.toml (or --scripts-network registry for the registries)",
                    head.target, head.target
                );
                self.refuse(403, head.target.to_string(), Reason::ScriptOffline, detail);
                None
            }
            Decision::Deny(d) => {
                self.deny(&head.target, &d);
                None
            }
        }
    }

    /// Who, when a lifecycle script or build backend is behind this connection; `None` for
    /// the package manager, or when scripts are not told apart.
    fn script_of_peer(&self) -> Option<Attribution> {
        let scripts = self.cfg.scripts.as_ref()?;
        let unattributed = |who: Option<Attribution>| {
            let mut who = who.unwrap_or_default();
            who.package = None;
            who.package_dir = None;
            who.script = Some(crate::events::UNATTRIBUTED.to_string());
            who
        };
        let lookup = || self.cfg.peer_lookup.as_ref().and_then(|l| l(self.peer));
        match self.cfg.clients {
            Clients::Scripts => Some(match lookup() {
                Some(who) if who.script.is_some() => who,
                other => unattributed(other),
            }),
            Clients::PackageManager { scripts_kept_out } => {
                // With the shim, every script registers before it runs: while none is alive,
                // every request is the package manager's.
                if scripts
                    .active
                    .as_ref()
                    .is_some_and(|a| a.load(Ordering::SeqCst) == 0)
                {
                    return None;
                }
                match lookup() {
                    // A script always has a name (the lifecycle event, the build hook,
                    // "orphaned"); a package without one is the package manager's own
                    // helper (pip installing build dependencies).
                    Some(who) => match who.script.as_deref() {
                        // The kernel keeps level 2 off this port; a process attribution
                        // cannot place (npm's git, its helpers) is level 1.
                        Some(crate::events::UNATTRIBUTED) if scripts_kept_out => None,
                        Some(_) => Some(who),
                        None => None,
                    },
                    None if scripts_kept_out => None,
                    // Fire-and-forget (the socket closed before the lookup), ownerless:
                    // nothing proves it was the package manager.
                    None => Some(unattributed(None)),
                }
            }
        }
    }

    /// Answer a failure: 502 before a tunnel's 200 (`answer`), else just close.
    fn fail(&self, answer: bool, why: &str) {
        if answer {
            self.bad_gateway(why);
        } else {
            let _ = self.client.shutdown(Shutdown::Both);
        }
    }

    /// Resolve (unless an address) and check the addresses against the rule.
    fn resolve(
        &self,
        allow: &AllowList,
        target: &Target,
        rule: &Rule,
        answer: bool,
    ) -> io::Result<Option<Vec<SocketAddr>>> {
        let addrs = match &target.host {
            HostKind::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
            HostKind::Name(name) => match (self.cfg.resolver)(name, target.port) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%target, error = %e, "egress proxy: cannot resolve");
                    self.fail(answer, &format!("cannot resolve {target}: {e}"));
                    return Ok(None);
                }
            },
        };
        match allow.check_resolved(rule, &target.host, target.port, &addrs) {
            Ok(a) => Ok(Some(a)),
            Err(d) => {
                self.deny(target, &d);
                Ok(None)
            }
        }
    }

    /// Connect to the first checked address that answers.
    fn connect(&self, target: &Target, addrs: &[SocketAddr], answer: bool) -> Option<TcpStream> {
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(addr, self.cfg.connect_timeout) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Some(s);
                }
                Err(e) => last = Some(e),
            }
        }
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        tracing::warn!(%target, error = %why, "egress proxy: cannot connect");
        self.fail(answer, &format!("cannot connect to {target}: {why}"));
        None
    }

    fn bad_gateway(&self, why: &str) {
        let _ = (&self.client).write_all(&plain_response(502, "Bad Gateway", why));
        close_gracefully(&self.client);
    }

    fn allowed(&self, target: &Target, rule: &Rule) {
        let detail = format!("rule {rule} from {}", rule.source);
        self.event(
            Verdict::Allowed,
            target.to_string(),
            rule.source.reason(),
            detail,
        );
    }

    /// `200`, the ClientHello's SNI check, then the upstream connection and a two-way relay.
    fn tunnel(
        &self,
        target: &Target,
        rule: &Rule,
        addrs: &[SocketAddr],
        early: &[u8],
    ) -> io::Result<()> {
        let Some(hello) = self.client_hello(target, early)? else {
            return Ok(());
        };
        let Some(upstream) = self.connect(target, addrs, false) else {
            return Ok(());
        };
        self.allowed(target, rule);
        self.client.set_read_timeout(None)?;
        (&upstream).write_all(&hello)?;
        relay(&self.client, &upstream, self.cfg.idle_timeout)
    }

    /// A credential-bearing HTTPS origin: `200`, the same SNI check, then TLS terminated with
    /// the run's CA (a leaf for this host only), the upstream re-encrypted and verified, and
    /// each request in between unsealed (`net::intercept`).
    fn intercept(
        &self,
        target: &Target,
        rule: &Rule,
        addrs: &[SocketAddr],
        early: &[u8],
        tls: &crate::creds::tls::Interceptor,
    ) -> io::Result<()> {
        use super::intercept::{self, Buffered, Ended};
        let Some(hello) = self.client_hello(target, early)? else {
            return Ok(());
        };
        let Some(upstream) = self.connect(target, addrs, false) else {
            return Ok(());
        };
        let host = target.host.to_string();
        let host = host.trim_matches(['[', ']']).to_string();
        let idle = Some(self.cfg.idle_timeout);
        for s in [&self.client, &upstream] {
            s.set_read_timeout(idle)?;
            s.set_write_timeout(idle)?;
        }
        let as_io = |e: crate::creds::tls::TlsError| io::Error::other(e.to_string());
        let server = rustls::ServerConnection::new(tls.server_config(&host).map_err(as_io)?)
            .map_err(io::Error::other)?;
        let client_io = Replay {
            early: io::Cursor::new(hello),
            stream: self.client.try_clone()?,
        };
        let mut client = Buffered::new(rustls::StreamOwned::new(server, client_io));
        let mut up = rustls::StreamOwned::new(tls.client(&host).map_err(as_io)?, upstream);
        // The upstream handshake first: a certificate that does not verify is answered as
        // a 502 naming the reason, inside the client's TLS session.
        while up.conn.is_handshaking() {
            if let Err(e) = up.conn.complete_io(&mut up.sock) {
                let why = format!("TLS to {target} failed: {e}");
                tracing::warn!("egress proxy: {why}");
                let body = plain_response(502, "Bad Gateway", &why);
                let _ = client.inner.write_all(&body);
                let _ = client.inner.flush();
                self.event(
                    Verdict::Blocked,
                    target.to_string(),
                    Reason::UpstreamTls,
                    why,
                );
                return Ok(());
            }
        }
        let detail = format!(
            "rule {rule} from {}; TLS terminated by the proxy (the host carries a credential)",
            rule.source
        );
        self.event(
            Verdict::Allowed,
            target.to_string(),
            rule.source.reason(),
            detail,
        );
        let mut up = Buffered::new(up);
        let origin = intercept::Origin {
            host: &host,
            port: target.port,
            vault: &self.cfg.vault,
        };
        match intercept::serve(&mut client, &mut up, &origin)? {
            Ended::Done => {}
            Ended::Misuse(m) => self.event(
                Verdict::Blocked,
                target.to_string(),
                Reason::CredentialMisuse,
                format!("{m}; refused, nothing was forwarded"),
            ),
            Ended::Refused(why) => self.event(
                Verdict::Blocked,
                target.to_string(),
                Reason::MalformedRequest,
                why,
            ),
        }
        client.inner.conn.send_close_notify();
        let _ = client.inner.flush();
        Ok(())
    }

    /// Answer `200` and read the ClientHello; its SNI must equal the CONNECT host. The bytes
    /// read, or `None` when refused or gone.
    fn client_hello(&self, target: &Target, early: &[u8]) -> io::Result<Option<Vec<u8>>> {
        (&self.client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        let deadline = Instant::now() + self.cfg.head_timeout;
        let mut hello = early.to_vec();
        let mut chunk = [0u8; 4096];
        let sni = loop {
            match sni::parse_client_hello(&hello) {
                Hello::Complete { sni } => break sni,
                Hello::Incomplete => {}
                verdict => {
                    let what = if verdict == Hello::NotTls {
                        "the tunnel does not start with a TLS ClientHello"
                    } else {
                        "the TLS ClientHello cannot be parsed"
                    };
                    self.fronting(target, what.into())?;
                    return Ok(None);
                }
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Ok(None);
            };
            self.client.set_read_timeout(Some(left))?;
            match (&self.client).read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => hello.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if !sni::sni_matches(sni.as_deref(), &target.host) {
            let what = match &sni {
                Some(s) => format!(
                    "TLS server name {} differs from the CONNECT host {} (domain fronting)",
                    escape(s),
                    target.host
                ),
                None => format!(
                    "TLS ClientHello names no server; CONNECT host is {}",
                    target.host
                ),
            };
            self.fronting(target, what)?;
            return Ok(None);
        }
        Ok(Some(hello))
    }

    fn fronting(&self, target: &Target, what: String) -> io::Result<()> {
        self.event(
            Verdict::Blocked,
            target.to_string(),
            Reason::SniMismatch,
            what,
        );
        let _ = self.client.shutdown(Shutdown::Both);
        Ok(())
    }

    /// The upstream head with placeholders replaced by real values (the package manager's
    /// request to the credential's own origin), or refused as `credential-misuse` (`None`).
    fn unseal(
        &self,
        head: &RequestHead,
        scheme: crate::creds::Scheme,
        level1: bool,
    ) -> Option<Sealed> {
        let RequestKind::Forward { upstream_head, .. } = &head.kind else {
            return None;
        };
        let host = head.target.host.to_string();
        let host = host.trim_matches(['[', ']']);
        match self
            .cfg
            .vault
            .rewrite_request(scheme, host, head.target.port, upstream_head, level1)
        {
            Ok(r) => Some(Sealed {
                head: r.head,
                masked: r.substituted > 0,
            }),
            Err(misuse) => {
                let detail = format!("{misuse}; refused, nothing was forwarded");
                self.refuse(
                    403,
                    head.target.to_string(),
                    Reason::CredentialMisuse,
                    detail,
                );
                None
            }
        }
    }

    /// One absolute-form request: head and body upstream, response head rewritten, body
    /// relayed until the upstream closes (through the masker when a real credential was
    /// sent, so an echo of it never comes back in).
    fn forward(
        &self,
        head: &RequestHead,
        sealed: Sealed,
        rule: &Rule,
        upstream: TcpStream,
        early: &[u8],
    ) -> io::Result<()> {
        let RequestKind::Forward {
            content_length,
            expect_continue,
            ..
        } = &head.kind
        else {
            return Ok(());
        };
        self.allowed(&head.target, rule);
        let idle = Some(self.cfg.idle_timeout);
        self.client.set_read_timeout(idle)?;
        self.client.set_write_timeout(idle)?;
        upstream.set_read_timeout(idle)?;
        upstream.set_write_timeout(idle)?;
        if *expect_continue {
            (&self.client).write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        (&upstream).write_all(&sealed.head)?;
        // The body: what came with the head, then the rest from the client. Anything after
        // it (a pipelined request) is never forwarded.
        let early_len = early
            .len()
            .min(usize::try_from(*content_length).unwrap_or(usize::MAX));
        (&upstream).write_all(&early[..early_len])?;
        let remaining = content_length.saturating_sub(early_len as u64);
        let copied = io::copy(&mut (&self.client).take(remaining), &mut &upstream)?;
        if copied < remaining {
            return Ok(());
        }
        let (resp_head, rest) = match read_response_head(&upstream, &self.client) {
            Ok(x) => x,
            Err(e) => {
                self.bad_gateway(&format!("invalid response from {}: {e}", head.target));
                return Ok(());
            }
        };
        if sealed.masked {
            let mut masker = self.cfg.vault.masker();
            let mut resp_head = resp_head;
            masker.mask_all(&mut resp_head);
            (&self.client).write_all(&resp_head)?;
            (&self.client).write_all(&masker.push(&rest))?;
            copy_masked(&upstream, &self.client, &mut masker)?;
        } else {
            (&self.client).write_all(&resp_head)?;
            (&self.client).write_all(&rest)?;
            pump(&upstream, &self.client)?;
        }
        close_gracefully(&self.client);
        Ok(())
    }
}

/// The client's socket with the bytes already read (the ClientHello) put back in front, for
/// the TLS server session.
struct Replay {
    early: io::Cursor<Vec<u8>>,
    stream: TcpStream,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.early.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        (&self.stream).read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.stream).flush()
    }
}

/// A request head ready for the upstream.
struct Sealed {
    head: Vec<u8>,
    /// A real credential went out: the response passes through the masker.
    masked: bool,
}

/// Copy one way until end of stream, real credentials masked (same length, so the framing
/// the upstream chose stays right).
fn copy_masked(
    from: &TcpStream,
    to: &TcpStream,
    masker: &mut crate::creds::Masker,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match (&*from).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        (&*to).write_all(&masker.push(&buf[..n]))?;
    }
    (&*to).write_all(&masker.finish())
}

/// Read the upstream's response head (forwarding interim 1xx responses), rewritten with
/// `Connection: close`; returns it and the body bytes already read.
fn read_response_head(upstream: &TcpStream, client: &TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let code = resp.code.unwrap_or(0);
                if (100..200).contains(&code) && code != 101 {
                    (&*client).write_all(&buf[..n])?;
                    buf.drain(..n);
                    continue;
                }
                if code == 101 {
                    return Err(invalid("upstream switched protocols"));
                }
                let mut out = Vec::with_capacity(n + 32);
                out.extend_from_slice(
                    format!("HTTP/1.1 {code} {}\r\n", resp.reason.unwrap_or("")).as_bytes(),
                );
                request::end_head_with_close(&mut out, resp.headers, |name| {
                    matches!(name, "connection" | "keep-alive" | "proxy-connection")
                });
                let rest = buf[n..].to_vec();
                return Ok((out, rest));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(invalid(&e.to_string())),
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(invalid("response head too large"));
        }
        match (&*upstream).read(&mut chunk) {
            Ok(0) => return Err(invalid("upstream closed before a response")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn plain_response(status: u16, title: &str, detail: &str) -> Vec<u8> {
    let body = format!("safe-install: {detail}\n");
    format!(
        "HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Send FIN, then read and discard what the client still sends for a moment, so closing with
/// unread input does not turn into a reset that destroys the answer in flight.
fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while Instant::now() < deadline && drained < 1 << 20 {
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// One direction of a relay, moved through a kernel pipe with splice(2): the bytes never
/// enter the supervisor's memory, which keeps per-connection memory fixed and the copy cost
/// close to a direct connection's.
struct Pipe {
    read_end: OwnedFd,
    write_end: OwnedFd,
    /// Bytes sitting in the kernel pipe.
    queued: usize,
    /// The source reached end of stream.
    eof: bool,
    /// The destination's write side is shut down.
    shut: bool,
}

/// How much one splice call moves, and the pipe size asked for.
const SPLICE_CHUNK: usize = 1 << 20;

fn splice_once(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    use nix::fcntl::{splice, SpliceFFlags};
    // No offsets: "use the file position", as sockets and pipes require.
    Ok(splice(
        from,
        None,
        to,
        None,
        len,
        SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
    )?)
}

impl Pipe {
    fn new() -> io::Result<Self> {
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        // A larger pipe moves more per call; the default (64 KiB) still works if refused.
        let _ = nix::fcntl::fcntl(
            &write_end,
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(SPLICE_CHUNK as libc::c_int),
        );
        Ok(Pipe {
            read_end,
            write_end,
            queued: 0,
            eof: false,
            shut: false,
        })
    }

    fn pending(&self) -> bool {
        self.queued > 0
    }

    fn wants_read(&self) -> bool {
        !self.eof && !self.pending()
    }

    fn done(&self) -> bool {
        self.eof && !self.pending()
    }

    fn fill(&mut self, src: &TcpStream) -> io::Result<()> {
        match splice_once(src.as_fd(), self.write_end.as_fd(), SPLICE_CHUNK) {
            Ok(0) => self.eof = true,
            Ok(n) => self.queued += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn flush(&mut self, dst: &TcpStream) -> io::Result<()> {
        while self.pending() {
            match splice_once(self.read_end.as_fd(), dst.as_fd(), self.queued) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.queued -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.done() && !self.shut {
            self.shut = true;
            let _ = dst.shutdown(Shutdown::Write);
        }
        Ok(())
    }
}

/// Copy one way until end of stream, through a kernel pipe (blocking sockets: their read
/// timeouts bound a stalled peer).
fn pump(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let pipe = Pipe::new()?;
    loop {
        let n = match splice_once(from.as_fd(), pipe.write_end.as_fd(), SPLICE_CHUNK) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "upstream idle"))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            match splice_once(pipe.read_end.as_fd(), to.as_fd(), left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client stalled"))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copy both ways until both sides have closed (half-closes are passed on), an error, or
/// `idle` without any traffic.
fn relay(client: &TcpStream, upstream: &TcpStream, idle: Duration) -> io::Result<()> {
    client.set_nonblocking(true)?;
    upstream.set_nonblocking(true)?;
    let timeout = PollTimeout::try_from(idle).unwrap_or(PollTimeout::MAX);
    let mut up = Pipe::new()?;
    let mut down = Pipe::new()?;
    while !(up.done() && down.done()) {
        let mut client_ev = PollFlags::empty();
        let mut upstream_ev = PollFlags::empty();
        if up.wants_read() {
            client_ev |= PollFlags::POLLIN;
        }
        if up.pending() {
            upstream_ev |= PollFlags::POLLOUT;
        }
        if down.wants_read() {
            upstream_ev |= PollFlags::POLLIN;
        }
        if down.pending() {
            client_ev |= PollFlags::POLLOUT;
        }
        // A socket with nothing to wait for stays out of the set: its HUP would otherwise
        // wake the loop over and over while the other side drains.
        let mut fds = Vec::with_capacity(2);
        if !client_ev.is_empty() {
            fds.push(PollFd::new(client.as_fd(), client_ev));
        }
        if !upstream_ev.is_empty() {
            fds.push(PollFd::new(upstream.as_fd(), upstream_ev));
        }
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle")),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        drop(fds);
        // Try every transfer: non-blocking reads and writes that cannot progress return
        // WouldBlock, which is cheaper than mapping revents back to sockets.
        if up.wants_read() {
            up.fill(client)?;
        }
        if down.wants_read() {
            down.fill(upstream)?;
        }
        up.flush(upstream)?;
        down.flush(client)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;
    use crate::net::sni::client_hello;
    use crate::policy::allow::RuleSource;
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
