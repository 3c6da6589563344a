//! Landlock: one applier and one rule type for every layer safe-install adds: the full
//! sandbox's second wall (independent of the mount view, with the same split: read and
//! execute beneath the read-only places, everything beneath the writable ones, device access
//! for /dev, directory listing elsewhere), trust level 2's nested layer (the script shell and
//! the python shim), and landlock mode's only filesystem wall ([`host_view`]: the plan's
//! mounts as rules on the host's own paths). Every layer also scopes abstract unix sockets
//! and signals to its domain. Best effort by ABI; the result is reported, never assumed.

pub mod host_view;

use super::report::LandlockStatus;
use crate::plan::LandlockPlan;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::path::PathBuf;

/// The ABI whose features the sandbox relies on: filesystem rights up to device ioctls (V5)
/// plus abstract-socket and signal scoping (V6). Older kernels get what they support, and the
/// supervisor reports the gap.
pub const ABI_PINNED: ABI = ABI::V6;
/// [`ABI_PINNED`] as the number the kernel reports, for messages.
pub const ABI_PINNED_VERSION: i32 = 6;
/// The first ABI with TCP rules (`LANDLOCK_ACCESS_NET_CONNECT_TCP`, Linux 6.7): what keeps
/// trust level 2 off the package manager's proxy port.
pub const ABI_NET: i32 = 4;

/// A Landlock rule could not be built or the ruleset not applied.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LandlockError(String);

fn fail(e: impl std::fmt::Display) -> LandlockError {
    LandlockError(e.to_string())
}

/// The rights one rule gives beneath its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Nothing (a hidden or private place); never applied, only carved out.
    None,
    /// List the directory, nothing beneath it.
    List,
    /// Read and execute.
    Read,
    /// Everything.
    Write,
    /// Read, write and ioctl on a device node.
    Device,
}

impl Grant {
    fn access(self) -> BitFlags<AccessFs> {
        match self {
            Grant::None => BitFlags::empty(),
            Grant::List => AccessFs::ReadDir.into(),
            Grant::Read => AccessFs::from_read(ABI_PINNED),
            Grant::Write => AccessFs::from_all(ABI_PINNED),
            Grant::Device => {
                AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev | AccessFs::ReadDir
            }
        }
    }
}

/// One filesystem rule: `grant` beneath `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathBuf,
    pub grant: Grant,
}

/// What a layer does about TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tcp {
    /// Not handled: the network namespace decides.
    Unhandled,
    /// Connect only to these ports (trust level 2's own proxy port and the DNS stub); handled
    /// only on a kernel with TCP rules (ABI 4): below, this part is dropped, and the proxy,
    /// told so by the supervisor (`egress::scripts_kept_out`), falls back to failing-closed
    /// attribution.
    ConnectOnly(Vec<u16>),
    /// No bind and no connect at all (landlock mode: every permitted connect is made by the
    /// supervisor, which no Landlock domain restricts). Best effort by ABI.
    Closed,
}

/// One layer: its filesystem rules and its TCP rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub rules: Vec<Rule>,
    pub tcp: Tcp,
}

impl Layer {
    /// A planned layer (the full sandbox's, trust level 2's): the root listable, read and
    /// execute beneath `read`, everything beneath `write`, devices usable.
    pub fn from_plan(plan: &LandlockPlan) -> Layer {
        let mut rules = vec![Rule {
            path: PathBuf::from("/"),
            grant: Grant::List,
        }];
        let groups = [
            (&plan.read, Grant::Read),
            (&plan.write, Grant::Write),
            (&plan.devices, Grant::Device),
        ];
        for (paths, grant) in groups {
            rules.extend(paths.iter().map(|p| Rule {
                path: p.clone(),
                grant,
            }));
        }
        Layer {
            rules,
            tcp: match &plan.connect_tcp {
                Some(ports) => Tcp::ConnectOnly(ports.clone()),
                None => Tcp::Unhandled,
            },
        }
    }
}

/// Restrict the calling process (and everything it starts) to the planned layer; the status
/// and the kernel's ABI.
pub fn apply(plan: &LandlockPlan) -> Result<(LandlockStatus, i32), LandlockError> {
    apply_layer(&Layer::from_plan(plan))
}

/// Restrict the calling process (and everything it starts) to `layer`; the status and the
/// kernel's ABI. A path missing (or gone since the rules were computed) gets no rule; files
/// only take file rights.
pub fn apply_layer(layer: &Layer) -> Result<(LandlockStatus, i32), LandlockError> {
    prepare_layer(layer)?.restrict_self()
}

/// A ruleset with every rule added, not yet in force.
pub struct Prepared {
    ruleset: landlock::RulesetCreated,
    abi: i32,
}

impl Prepared {
    /// Put the ruleset in force for the calling process (and everything it starts); the
    /// status and the kernel's ABI. Opens no file.
    pub fn restrict_self(self) -> Result<(LandlockStatus, i32), LandlockError> {
        let status = self.ruleset.restrict_self().map_err(fail)?;
        let ours = match status.ruleset {
            RulesetStatus::FullyEnforced => LandlockStatus::Full,
            RulesetStatus::PartiallyEnforced => LandlockStatus::Partial,
            RulesetStatus::NotEnforced => LandlockStatus::NotEnforced,
        };
        Ok((ours, self.abi))
    }
}

/// [`apply`] in two steps: the ruleset built now (every rule's path opened), in force with
/// [`Prepared::restrict_self`]. A shim builds it before it installs its seccomp listener,
/// whose every `open` would otherwise be a round trip to the supervisor.
pub fn prepare(plan: &LandlockPlan) -> Result<Prepared, LandlockError> {
    prepare_layer(&Layer::from_plan(plan))
}

/// [`prepare`] for a layer.
pub fn prepare_layer(layer: &Layer) -> Result<Prepared, LandlockError> {
    let abi = kernel_abi();
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_PINNED))
        .map_err(fail)?;
    match &layer.tcp {
        Tcp::Unhandled => {}
        Tcp::ConnectOnly(_) if abi < ABI_NET => {}
        Tcp::ConnectOnly(_) => {
            ruleset = ruleset.handle_access(AccessNet::ConnectTcp).map_err(fail)?;
        }
        Tcp::Closed => {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(ABI_PINNED))
                .map_err(fail)?;
        }
    }
    let mut ruleset = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    if let Tcp::ConnectOnly(ports) = &layer.tcp {
        if abi >= ABI_NET {
            for port in ports {
                ruleset = ruleset
                    .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                    .map_err(fail)?;
            }
        }
    }
    for rule in &layer.rules {
        let Ok(meta) = std::fs::metadata(&rule.path) else {
            continue;
        };
        let mut rights = rule.grant.access();
        if !meta.is_dir() {
            rights &= AccessFs::from_file(ABI_PINNED);
        }
        if rights.is_empty() {
            continue;
        }
        let fd = match PathFd::new(&rule.path) {
            Ok(fd) => fd,
            // Vanished since it was looked at: no rule, as for a missing path.
            Err(_) if std::fs::symlink_metadata(&rule.path).is_err() => continue,
            Err(e) => return Err(fail(e)),
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(fail)?;
    }
    Ok(Prepared { ruleset, abi })
}

/// The Landlock ABI version the running kernel offers (0 when it has none).
pub fn kernel_abi() -> i32 {
    crate::sys::landlock::abi_version()
}

#[cfg(test)]
mod tests {
    //! In-child tests: each layer is applied in a forked child (`sys::process::in_child`),
    //! which then attempts what the layer refuses and checks the errno. Landlock needs no
    //! privilege, only no_new_privs.
    use super::*;
    use std::io::ErrorKind;
    use std::path::Path;

    fn restrict(layer: &Layer) -> Result<i32, String> {
        crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
        let (status, abi) = apply_layer(layer).map_err(|e| e.to_string())?;
        if status == LandlockStatus::NotEnforced {
            return Err(format!("Landlock not enforced (kernel ABI {abi})"));
        }
        Ok(abi)
    }

    fn denied(what: &str, r: std::io::Result<impl Sized>) -> Result<(), String> {
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            Err(e) => Err(format!("{what}: {e}, expected EACCES")),
            Ok(_) => Err(format!("{what}: allowed, expected EACCES")),
        }
    }

    fn allowed(what: &str, r: std::io::Result<impl Sized>) -> Result<(), String> {
        r.map(drop).map_err(|e| format!("{what}: {e}"))
    }

    #[test]
    fn in_a_child_a_planned_layer_gives_read_write_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rw, ro, other) = (
            dir.path().join("rw"),
            dir.path().join("ro"),
            dir.path().join("other"),
        );
        for d in [&rw, &ro, &other] {
            std::fs::create_dir(d).expect("mkdir");
            std::fs::write(d.join("f"), "x").expect("write");
        }
        let plan = LandlockPlan {
            read: vec![ro.clone()],
            write: vec![rw.clone()],
            devices: vec![PathBuf::from("/dev/null")],
            connect_tcp: None,
        };
        crate::sys::process::in_child(|| {
            restrict(&Layer::from_plan(&plan))?;
            allowed("read in rw", std::fs::read(rw.join("f")))?;
            allowed("write in rw", std::fs::write(rw.join("g"), "y"))?;
            allowed("read in ro", std::fs::read(ro.join("f")))?;
            denied("write in ro", std::fs::write(ro.join("g"), "y"))?;
            denied("read elsewhere", std::fs::read(other.join("f")))?;
            allowed("write a device", std::fs::write("/dev/null", "y"))?;
            // The root is listable, nothing beneath it readable.
            allowed("list /", std::fs::read_dir("/"))?;
            match std::fs::read(Path::new("/etc/hostname")) {
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                r => denied("read /etc", r),
            }
        })
        .expect("in the child");
    }

    #[test]
    fn in_a_child_tcp_rules_allow_only_the_listed_ports() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let (open_port, closed_port) = (
            open.local_addr().expect("addr").port(),
            closed.local_addr().expect("addr").port(),
        );
        let connect = |port| std::net::TcpStream::connect(("127.0.0.1", port));
        crate::sys::process::in_child(|| {
            let abi = restrict(&Layer {
                rules: Vec::new(),
                tcp: Tcp::ConnectOnly(vec![open_port]),
            })?;
            allowed("connect to the listed port", connect(open_port))?;
            if abi >= ABI_NET {
                denied("connect to another port", connect(closed_port))
            } else {
                // Below ABI 4 the TCP part is dropped (the supervisor reports it).
                allowed("connect without TCP rules", connect(closed_port))
            }
        })
        .expect("in the child");
        crate::sys::process::in_child(|| {
            let abi = restrict(&Layer {
                rules: Vec::new(),
                tcp: Tcp::Closed,
            })?;
            if abi >= ABI_NET {
                denied("connect in landlock mode", connect(open_port))?;
                denied(
                    "bind in landlock mode",
                    std::net::TcpListener::bind("127.0.0.1:0"),
                )
            } else {
                allowed("connect without TCP rules", connect(open_port))
            }
        })
        .expect("in the child");
    }

    #[test]
    fn in_a_child_landlock_modes_host_view_carves_out_hidden_files() {
        use crate::plan::test_fixtures::{npm_ci, npm_policy, Project};
        let (_dir, ctx) = npm_ci(Project::BesideHome);
        std::fs::create_dir_all(ctx.project.join("node_modules")).expect("mkdir");
        let tmp = tempfile::tempdir().expect("tempdir");
        let host = crate::plan::HostPlaces {
            proxy: "127.0.0.1:40000".parse().expect("address"),
            tmp: tmp.path().to_path_buf(),
            config: tmp.path().join("config"),
        };
        let plan = crate::plan::build(&npm_policy(), &ctx, &crate::plan::Mode::Landlock(host))
            .expect("plan");
        let layer = host_view::layer(&plan, tmp.path());
        let project = ctx.project.clone();
        crate::sys::process::in_child(|| {
            restrict(&layer)?;
            denied("read .env", std::fs::read(project.join(".env")))?;
            allowed(
                "read package.json",
                std::fs::read(project.join("package.json")),
            )?;
            allowed(
                "write in node_modules",
                std::fs::write(project.join("node_modules/x"), "y"),
            )?;
            // The project root holds carve-outs: it accepts no new entries.
            denied(
                "create in the root",
                std::fs::write(project.join("new"), "y"),
            )?;
            allowed("write TMPDIR", std::fs::write(tmp.path().join("t"), "y"))?;
            denied("list ~/.ssh", std::fs::read_dir(ctx.home.join(".ssh")))
        })
        .expect("in the child");
    }
}
