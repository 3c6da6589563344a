//! The supervisor's end of egress: derive the allow-list from the package manager's own
//! configuration and the policy, receive the sockets the sandbox opened in its network
//! namespace, and serve the proxy and DNS stub on them.

use crate::events::EventSink;
use crate::net::dns::{spawn_dns_with, DnsHandle};
use crate::net::proxy::{spawn_proxy, Clients, ProxyConfig, ProxyHandle, ScriptEgress};
use crate::observe::attribution::Attributor;
use crate::pm::Registries;
use crate::policy::allow::{AllowList, RuleError, RuleSource};
use crate::policy::Policy;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error(transparent)]
    Config(#[from] crate::pm::ConfigError),
    #[error("the egress rule `{rule}` from {source_name} is invalid")]
    Rule {
        rule: String,
        source_name: String,
        #[source]
        source: RuleError,
    },
}

/// The allow-list: registries from the package manager's configuration, then policy entries
/// (including `--allow-host`).
pub fn allow_list(policy: &Policy, pm: &Registries) -> Result<AllowList, EgressError> {
    let mut allow = AllowList::new();
    for rule in &pm.rules {
        allow.push(rule.clone());
    }
    for e in &policy.egress.allow {
        let source = if e.origin.source == "--allow-host" {
            RuleSource::AllowHostFlag
        } else {
            RuleSource::Policy(e.origin.to_string())
        };
        allow
            .add(&e.value, source)
            .map_err(|source| EgressError::Rule {
                rule: e.value.clone(),
                source_name: e.origin.to_string(),
                source,
            })?;
    }
    Ok(allow)
}

/// The sockets the sandbox opened in its network namespace.
pub struct Sockets {
    /// The package manager's proxy port (level 1).
    pub proxy: TcpListener,
    pub dns_udp: UdpSocket,
    pub dns_tcp: TcpListener,
    /// The scripts' proxy port (level 2); `None` in landlock mode, which has no second port.
    pub script_proxy: Option<TcpListener>,
}

/// Receive the four sockets; `None` when the sandbox failed before sending them.
pub fn receive(chan: &OwnedFd) -> std::io::Result<Option<Sockets>> {
    let Some(fds) = crate::sys::fd::receive_fds(chan.as_fd(), 4)? else {
        return Ok(None);
    };
    let [proxy, udp, tcp, scripts]: [OwnedFd; 4] = match fds.try_into() {
        Ok(a) => a,
        Err(_) => return Ok(None),
    };
    Ok(Some(Sockets {
        proxy: TcpListener::from(proxy),
        dns_udp: UdpSocket::from(udp),
        dns_tcp: TcpListener::from(tcp),
        script_proxy: Some(TcpListener::from(scripts)),
    }))
}

/// The running egress servers; dropping them stops them.
pub struct Servers {
    pub proxy: ProxyHandle,
    pub script_proxy: Option<ProxyHandle>,
    pub dns: DnsHandle,
}

impl Servers {
    /// Tell every server to stop without waiting for any.
    pub fn begin_stop(&self) {
        self.proxy.begin_stop();
        if let Some(p) = &self.script_proxy {
            p.begin_stop();
        }
        self.dns.begin_stop();
    }
}

impl Drop for Servers {
    /// Every server is told to stop before the first is waited for (each field's own drop
    /// then joins its threads), so their threads end in parallel rather than one after
    /// another at the end of every run.
    fn drop(&mut self) {
        self.begin_stop();
    }
}

/// Trust level 2 at the proxy: whether scripts may reach the registries, and each package
/// grant's allow-list (the global list plus its `allow-hosts`), keyed by the package
/// directories the lockfile says are that package (`PackageGrant::installed`). `None` for a command that is
/// not a package manager (there are no scripts to tell apart).
pub fn script_egress(
    policy: &Policy,
    allow: &AllowList,
    manager: &dyn crate::pm::PackageManager,
) -> Result<Option<ScriptEgress>, EgressError> {
    if !manager.is_package_manager() {
        return Ok(None);
    }
    let mut grants = Vec::new();
    for g in &policy.scripts.packages {
        let mut list = allow.clone();
        for host in &g.value.allow_hosts {
            let source = RuleSource::Policy(format!(
                "{} [[package]] {} allow-hosts",
                g.origin, g.value.name
            ));
            list.add(host, source).map_err(|e| EgressError::Rule {
                rule: host.clone(),
                source_name: g.origin.to_string(),
                source: e,
            })?;
        }
        for dir in &g.value.installed {
            grants.push((dir.clone(), list.clone()));
        }
    }
    Ok(Some(ScriptEgress {
        registry: policy.scripts.network == crate::policy::ScriptsNetwork::Registry,
        grants,
        active: None,
    }))
}

/// Serve the proxy (both ports) and the DNS stub. `scripts_kept_out`: level 2's Landlock
/// domain cannot reach the package manager's port (see [`scripts_kept_out`]).
pub fn serve(
    sockets: Sockets,
    allow: AllowList,
    scripts: Option<ScriptEgress>,
    vault: Arc<crate::creds::Vault>,
    scripts_kept_out: bool,
    sink: &EventSink,
    who: Arc<Attributor>,
) -> std::io::Result<Servers> {
    let tcp_who = Arc::clone(&who);
    let lookup: crate::net::PeerLookup = Arc::new(move |peer| tcp_who.of_peer(peer, false));
    let mut cfg = ProxyConfig::new(allow);
    cfg.vault = vault;
    cfg.peer_lookup = Some(Arc::clone(&lookup));
    cfg.scripts = scripts;
    cfg.clients = Clients::PackageManager { scripts_kept_out };
    // The scripts' port is served only when there are scripts to tell apart; otherwise its
    // socket closes here and a connect is refused.
    let script_cfg = match (&cfg.scripts, sockets.script_proxy) {
        (Some(_), Some(listener)) => {
            let mut c = cfg.clone();
            c.clients = Clients::Scripts;
            Some((listener, c))
        }
        _ => None,
    };
    let proxy = spawn_proxy(sockets.proxy, Arc::new(cfg), sink.clone())?;
    let script_proxy = match script_cfg {
        Some((listener, c)) => Some(spawn_proxy(listener, Arc::new(c), sink.clone())?),
        None => None,
    };
    // A DNS client may have asked over UDP or TCP; the port tells which socket.
    let dns_lookup: crate::net::PeerLookup =
        Arc::new(move |peer| who.of_peer(peer, true).or_else(|| who.of_peer(peer, false)));
    let dns = spawn_dns_with(
        sockets.dns_udp,
        sockets.dns_tcp,
        sink.clone(),
        Some(dns_lookup),
    )?;
    Ok(Servers {
        proxy,
        script_proxy,
        dns,
    })
}

/// Whether level 2 is kept off the package manager's proxy port by the kernel: the shims'
/// nested Landlock domains handle TCP connect (Landlock ABI 4, Linux 6.7) and allow only the
/// scripts' port and the DNS stub. Without it the proxy falls back to attribution, failing
/// closed.
pub fn scripts_kept_out() -> bool {
    crate::sandbox::landlock::kernel_abi() >= crate::sandbox::landlock::ABI_NET
}
