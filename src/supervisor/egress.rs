//! The supervisor's end of egress: derive the allow-list from the package manager's own
//! configuration and the policy, receive the sockets the sandbox opened in its network
//! namespace, and serve the proxy and DNS stub on them.

use crate::events::EventSink;
use crate::net::allow::{AllowList, Rule, RuleError, RuleSource};
use crate::net::dns::{spawn_dns_with, DnsHandle};
use crate::net::proxy::{spawn_proxy, Clients, ProxyConfig, ProxyHandle, ScriptEgress};
use crate::observe::attribution::Attributor;
use crate::plan::Context;
use crate::pm::npmrc::{self, NpmrcError};
use crate::pm::pipconf::{self, PipConfError, PipSources};
use crate::pm::Family;
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("reading npm's configuration to find the registry")]
    Npm(#[from] NpmrcError),
    #[error("reading pip's configuration to find the index")]
    Pip(#[from] PipConfError),
    #[error("the egress rule `{rule}` from {source_name} is invalid")]
    Rule {
        rule: String,
        source_name: String,
        #[source]
        source: RuleError,
    },
}

/// What the package manager's own configuration says about egress: the registry rules, and
/// local paths it reads packages from (pip's `find-links` directories), which must be visible.
#[derive(Default)]
pub struct PmEgress {
    pub rules: Vec<Rule>,
    pub local_paths: Vec<(PathBuf, String)>,
}

/// Read the package manager's configuration the way it would.
pub fn from_package_manager(ctx: &Context) -> Result<PmEgress, EgressError> {
    match ctx.detected.family {
        Family::Npm => Ok(PmEgress {
            rules: npm_rules(ctx)?,
            local_paths: Vec::new(),
        }),
        Family::Pip => pip_egress(ctx),
        Family::Generic => Ok(PmEgress::default()),
    }
}

/// The allow-list: registries from the package manager's configuration, then policy entries
/// (including `--allow-host`).
pub fn allow_list(policy: &Policy, pm: &PmEgress) -> Result<AllowList, EgressError> {
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

/// The arguments pip itself sees: after `pip`, `python -m pip` or `uv pip`.
fn pip_args(argv: &[std::ffi::OsString]) -> Vec<String> {
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let start = words
        .iter()
        .position(|w| w == "pip" || w == "-mpip")
        .map(|i| i + 1)
        .or_else(|| words.iter().position(|w| w == "-m").map(|i| i + 2))
        .unwrap_or(1);
    words.get(start..).unwrap_or_default().to_vec()
}

/// The interpreter behind the pip command: `python -m pip` names it; a `pip` script names it
/// in its `#!` line; else the `python3` on the trusted PATH. Found by reading files only.
fn pip_python(ctx: &Context) -> Option<PathBuf> {
    let program = ctx.resolved.program.as_deref();
    let venv = crate::pm::pip::target_venv(program, ctx.var("VIRTUAL_ENV").map(Path::new));
    crate::plan::trust::pip_interpreters(program, venv.as_deref(), ctx.trusted_path())
        .into_iter()
        .next()
        .or_else(|| {
            let python3 = crate::pm::which("python3".as_ref(), ctx.trusted_path())?;
            let pyenv_version = ctx.var("PYENV_VERSION").and_then(|v| v.to_str());
            Some(crate::pm::pip::pyenv_target(&python3, pyenv_version, &ctx.cwd).unwrap_or(python3))
        })
}

fn pip_egress(ctx: &Context) -> Result<PmEgress, EgressError> {
    let env = string_env(ctx);
    let src = PipSources {
        env: env.clone(),
        home: Some(ctx.home.clone()),
        cwd: ctx.cwd.clone(),
        args: pip_args(&ctx.argv),
        root: PathBuf::new(),
    };
    let configured = pipconf::discover(&src)?;
    let python = pip_python(ctx);
    let endpoints = configured.finish(|| match &python {
        Some(py) => pipconf::pip_defaults_from_source(py, &ctx.home),
        None => Err(PipConfError::NoInterpreter),
    })?;
    let rules = endpoints.rules().map_err(|source| EgressError::Rule {
        rule: "pip index".into(),
        source_name: "pip configuration".into(),
        source,
    })?;
    let local_paths = endpoints
        .local_find_links
        .iter()
        .map(|l| (l.path.clone(), format!("pip find-links from {}", l.origin)))
        .collect();
    Ok(PmEgress { rules, local_paths })
}

fn string_env(ctx: &Context) -> BTreeMap<String, String> {
    ctx.env
        .iter()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
        .collect()
}

fn npm_rules(ctx: &Context) -> Result<Vec<Rule>, EgressError> {
    let src = crate::plan::npm_sources(ctx);
    let configured = npmrc::discover(&src)?;
    let (registries, _auth) =
        configured.finish(|| npmrc::npm_default_from_source(src.npm_package_dir.as_deref()))?;
    registries.rules().map_err(|source| EgressError::Rule {
        rule: registries.default.url.to_string(),
        source_name: "npm configuration".into(),
        source,
    })
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

/// Trust level 2 at the proxy: whether scripts may reach the registries, and each package
/// grant's allow-list (the global list plus its `allow-hosts`), keyed by the package
/// directories the lockfile says are that package (`PackageGrant::installed`). `None` for a command that is
/// not a package manager (there are no scripts to tell apart).
pub fn script_egress(
    policy: &Policy,
    allow: &AllowList,
    family: crate::pm::Family,
) -> Result<Option<ScriptEgress>, EgressError> {
    if family == crate::pm::Family::Generic {
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
