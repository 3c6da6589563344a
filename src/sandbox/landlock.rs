//! Landlock: a second wall, independent of the mount view, with the same split: read and
//! execute beneath the read-only places, everything beneath the writable ones, device access
//! for /dev, directory listing elsewhere. Also scopes abstract unix sockets and signals to the
//! sandbox. Best effort by ABI; the result is reported, never assumed.

use super::report::{LandlockStatus, SetupError, Stage};
use crate::plan::LandlockPlan;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::path::Path;

/// The ABI whose features the sandbox relies on: filesystem rights up to device ioctls (V5)
/// plus abstract-socket and signal scoping (V6). Older kernels get what they support, and the
/// supervisor reports the gap.
pub const ABI_PINNED: ABI = ABI::V6;
/// [`ABI_PINNED`] as the number the kernel reports, for messages.
pub const ABI_PINNED_VERSION: i32 = 6;
/// The first ABI with TCP rules (`LANDLOCK_ACCESS_NET_CONNECT_TCP`, Linux 6.7): what keeps
/// trust level 2 off the package manager's proxy port.
pub const ABI_NET: i32 = 4;

fn fail(e: impl std::fmt::Display) -> SetupError {
    SetupError::new(Stage::Landlock, e.to_string())
}

/// Restrict the calling process (and everything it starts).
pub fn apply(rules: &LandlockPlan) -> Result<(LandlockStatus, i32), SetupError> {
    let abi = ABI_PINNED;
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev | AccessFs::ReadDir;

    let mut ruleset = Ruleset::default().handle_access(all).map_err(fail)?;
    // TCP connect is handled only where the plan limits it (trust level 2); on a kernel
    // without TCP rules this part is dropped (best effort), and the proxy, told so by the
    // supervisor (`egress::scripts_kept_out`), falls back to failing-closed attribution.
    if rules.connect_tcp.is_some() && kernel_abi() >= ABI_NET {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp).map_err(fail)?;
    }
    let mut ruleset = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    if let Some(ports) = rules
        .connect_tcp
        .as_ref()
        .filter(|_| kernel_abi() >= ABI_NET)
    {
        for port in ports {
            ruleset = ruleset
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(fail)?;
        }
    }
    ruleset = ruleset
        .add_rule(PathBeneath::new(
            PathFd::new("/").map_err(fail)?,
            AccessFs::ReadDir,
        ))
        .map_err(fail)?;
    let groups: [(&[std::path::PathBuf], BitFlags<AccessFs>); 3] = [
        (&rules.read, read),
        (&rules.write, all),
        (&rules.devices, device),
    ];
    for (paths, access) in groups {
        for p in paths {
            let Some(access) = fit(p, access, abi) else {
                continue;
            };
            let fd = PathFd::new(p).map_err(fail)?;
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(fail)?;
        }
    }
    let status = ruleset.restrict_self().map_err(fail)?;
    let ours = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockStatus::Full,
        RulesetStatus::PartiallyEnforced => LandlockStatus::Partial,
        RulesetStatus::NotEnforced => LandlockStatus::NotEnforced,
    };
    Ok((ours, kernel_abi()))
}

/// Files only take file rights; missing paths take none.
fn fit(p: &Path, access: BitFlags<AccessFs>, abi: ABI) -> Option<BitFlags<AccessFs>> {
    let meta = std::fs::metadata(p).ok()?;
    Some(if meta.is_dir() {
        access
    } else {
        access & AccessFs::from_file(abi)
    })
}

/// The Landlock ABI version the running kernel offers (0 when it has none).
pub fn kernel_abi() -> i32 {
    crate::sys::landlock::abi_version()
}
