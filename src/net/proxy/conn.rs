//! One proxy connection: read and decide the request head, resolve and connect upstream from
//! the supervisor, add the credential the origin is owed (and refuse a placeholder anywhere
//! else), then hand the bytes to the relay or forward one plain request.

use super::{relay, Clients, ProxyConfig, LINGER, MAX_RESPONSE_HEAD};
use crate::events::{Action, Event, Reason, Verdict};
use crate::net::request::{self, escape, Evaluation, RequestHead, RequestKind, Target};
use crate::net::sni::{self, Hello};
use crate::net::{Attribution, Emitter};
use crate::policy::addr::HostKind;
use crate::policy::allow::{AllowList, Decision, Denial, Rule, RuleSource};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One client connection, start to end.
pub(super) fn serve(
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
            let hello = match conn.tunnel_start(&head.target, rest)? {
                None => return Ok(()),
                Some(TunnelStart::Http(early)) => {
                    return conn.plain_in_tunnel(&head.target, rule, &addrs, early, script)
                }
                Some(TunnelStart::Tls(hello)) => hello,
            };
            // The package manager's tunnel to an HTTPS origin that carries a credential is
            // terminated here (the placeholders inside must be seen); every other tunnel
            // stays opaque.
            let host = head.target.host.to_string();
            let host = host.trim_matches(['[', ']']);
            if let Some(tls) = cfg.vault.tls().filter(|_| !script) {
                if cfg.vault.intercepts(host, head.target.port) {
                    return conn.intercept(&head.target, rule, &addrs, hello, tls);
                }
            }
            conn.tunnel(&head.target, rule, &addrs, hello)
        }
        RequestKind::Forward { .. } => {
            let Some(addrs) = conn.resolve(allow, &head.target, rule, true)? else {
                return Ok(());
            };
            conn.send_one(&head, &buf[..head.head_len], rest, rule, &addrs, script)
        }
    }
}

/// How a tunnel starts, once the `200` is sent.
enum TunnelStart {
    /// A TLS ClientHello naming the CONNECT host: its bytes.
    Tls(Vec<u8>),
    /// A plain HTTP request (yarn 2+ tunnels `http://` registries too): the bytes so far.
    Http(Vec<u8>),
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
                        RuleSource::Npm(_)
                            | RuleSource::Pip(_)
                            | RuleSource::Uv(_)
                            | RuleSource::Yarn(_)
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

    /// After the checked ClientHello ([`Conn::tunnel_start`]): the upstream connection and a
    /// two-way relay.
    fn tunnel(
        &self,
        target: &Target,
        rule: &Rule,
        addrs: &[SocketAddr],
        hello: Vec<u8>,
    ) -> io::Result<()> {
        let Some(upstream) = self.connect(target, addrs, false) else {
            return Ok(());
        };
        self.allowed(target, rule);
        self.client.set_read_timeout(None)?;
        (&upstream).write_all(&hello)?;
        relay::relay(&self.client, &upstream, self.cfg.idle_timeout)
    }

    /// A credential-bearing HTTPS origin, after the checked ClientHello: TLS terminated with
    /// the run's CA (a leaf for this host only), the upstream re-encrypted and verified, and
    /// each request in between unsealed (`net::intercept`).
    fn intercept(
        &self,
        target: &Target,
        rule: &Rule,
        addrs: &[SocketAddr],
        hello: Vec<u8>,
        tls: &crate::creds::tls::Interceptor,
    ) -> io::Result<()> {
        use crate::net::intercept::{self, Buffered, Ended};
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

    /// Answer `200` and read how the tunnel starts: a ClientHello, whose SNI must equal the
    /// CONNECT host, or a plain HTTP request ([`Conn::plain_in_tunnel`] checks its `Host`).
    /// Anything else is refused. `None` when refused or gone.
    fn tunnel_start(&self, target: &Target, early: &[u8]) -> io::Result<Option<TunnelStart>> {
        (&self.client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        let deadline = Instant::now() + self.cfg.head_timeout;
        let mut hello = early.to_vec();
        let mut chunk = [0u8; 4096];
        let sni = loop {
            match sni::parse_client_hello(&hello) {
                Hello::Complete { sni } => break sni,
                Hello::Incomplete => {}
                Hello::NotTls => match request::starts_like_http(&hello) {
                    Some(true) => return Ok(Some(TunnelStart::Http(hello))),
                    None => {}
                    Some(false) => {
                        self.fronting(
                            target,
                            "the tunnel starts with neither a TLS ClientHello nor a plain HTTP request".into(),
                        )?;
                        return Ok(None);
                    }
                },
                Hello::Malformed => {
                    self.fronting(target, "the TLS ClientHello cannot be parsed".into())?;
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
        Ok(Some(TunnelStart::Tls(hello)))
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

    /// One plain request to the checked `addrs`: its placeholders decided before anything is
    /// dialled (a misuse never reaches the host it was sent to), then forwarded. `raw` is
    /// the head as the client sent it.
    fn send_one(
        &self,
        head: &RequestHead,
        raw: &[u8],
        rest: &[u8],
        rule: &Rule,
        addrs: &[SocketAddr],
        script: bool,
    ) -> io::Result<()> {
        let Some(sealed) = self.unseal(head, crate::creds::Scheme::Http, !script) else {
            return Ok(());
        };
        // A placeholder in a header that is not forwarded (`Proxy-Authorization`) goes to
        // no origin either.
        if let RequestKind::Forward { upstream_head, .. } = &head.kind {
            if let Some(cred) = self
                .cfg
                .vault
                .carries_placeholder(raw)
                .filter(|_| self.cfg.vault.carries_placeholder(upstream_head).is_none())
            {
                let detail = format!(
                    "the placeholder for {} was sent in a header for the proxy; it is never forwarded",
                    cred.source
                );
                self.refuse(
                    403,
                    head.target.to_string(),
                    Reason::CredentialMisuse,
                    detail,
                );
                return Ok(());
            }
        }
        let Some(upstream) = self.connect(&head.target, addrs, true) else {
            return Ok(());
        };
        self.forward(head, sealed, rule, upstream, rest)
    }

    /// A tunnel that carries plain HTTP: its request is read and served exactly as the
    /// absolute-form request to the CONNECT's host and port would be (the same parser and
    /// checks, credentials, log and one request per connection), so a tunnel adds nothing
    /// a plain request could not do. A `Host` naming another host is fronting.
    fn plain_in_tunnel(
        &self,
        target: &Target,
        rule: &Rule,
        addrs: &[SocketAddr],
        early: Vec<u8>,
        script: bool,
    ) -> io::Result<()> {
        let deadline = Instant::now() + self.cfg.head_timeout;
        let mut buf = early;
        let mut chunk = [0u8; 4096];
        let head = loop {
            match request::parse_tunnelled(&buf, target) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(request::RequestError::HostMismatch { header, .. }) => {
                    return self.fronting(
                        target,
                        format!(
                            "the plain HTTP request inside the tunnel names {header}, not the CONNECT host {} (domain fronting)",
                            target.host
                        ),
                    );
                }
                Err(e) => {
                    self.refuse(
                        e.status(),
                        target.to_string(),
                        Reason::MalformedRequest,
                        format!("{e} (a plain HTTP request inside a CONNECT tunnel)"),
                    );
                    return Ok(());
                }
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Ok(());
            };
            self.client.set_read_timeout(Some(left))?;
            match (&self.client).read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        let (raw, rest) = buf.split_at(head.head_len);
        self.send_one(&head, raw, rest, rule, addrs, script)
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
            relay::pump(&upstream, &self.client)?;
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

pub(super) fn plain_response(status: u16, title: &str, detail: &str) -> Vec<u8> {
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
