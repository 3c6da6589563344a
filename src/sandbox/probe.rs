//! The mode ladder, decided by probing: which rung this machine offers, found by trying each
//! setup stage in a forked child rather than trusting version numbers or sysctls. Shared by
//! `run` (to choose the mode) and `doctor` (to show it).
//!
//! Ubuntu 24.04's AppArmor restriction lets `unshare(CLONE_NEWUSER)` succeed and fails a
//! later stage; Docker's default seccomp profile refuses the `unshare` itself. Either way the
//! full sandbox cannot be built, and the stage that failed is what the user needs to know.

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

/// The user-namespace setup stages, probed in order.
pub const STAGES: &[&str] = &[
    "unshare(CLONE_NEWUSER|CLONE_NEWNS)",
    "setgroups deny",
    "uid_map",
    "gid_map",
    "mount tmpfs",
];

/// The lowest Landlock ABI the landlock rung accepts: ABI 3 is the first that controls
/// truncation, without which a hidden file could be emptied through `truncate(2)`.
pub const LANDLOCK_RUNG_MIN_ABI: i32 = 3;

/// How far the user-namespace probe got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsernsProbe {
    /// How many of [`STAGES`] succeeded, in order.
    pub passed: usize,
    /// Why the first failing stage failed.
    pub errno: Option<Errno>,
}

impl UsernsProbe {
    pub fn usable(&self) -> bool {
        self.passed == STAGES.len()
    }

    /// `uid_map (Operation not permitted)`, for messages.
    pub fn failure(&self) -> Option<String> {
        let stage = STAGES.get(self.passed)?;
        Some(format!(
            "{stage} failed ({})",
            self.errno.map(|e| e.desc()).unwrap_or("unknown error")
        ))
    }
}

/// A rung of the ladder, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    /// Namespaces + mount view + Landlock + seccomp + proxy.
    Full,
    /// Landlock + seccomp + proxy, no namespaces; only when the user opts in.
    Landlock,
    /// Nothing safe can run: refuse.
    None,
}

impl Rung {
    pub fn name(self) -> &'static str {
        match self {
            Rung::Full => "full",
            Rung::Landlock => "landlock",
            Rung::None => "none",
        }
    }
}

/// What the probes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ladder {
    pub userns: UsernsProbe,
    /// The kernel's Landlock ABI (0: none).
    pub landlock_abi: i32,
}

impl Ladder {
    /// Probe this machine. Forks: call before any thread exists.
    pub fn probe() -> Ladder {
        Ladder {
            userns: probe_userns(),
            landlock_abi: crate::sandbox::landlock::kernel_abi(),
        }
    }

    /// The best rung this machine offers.
    pub fn rung(&self) -> Rung {
        if self.userns.usable() {
            Rung::Full
        } else if self.landlock_abi >= LANDLOCK_RUNG_MIN_ABI {
            Rung::Landlock
        } else {
            Rung::None
        }
    }

    /// Why the full rung is unavailable, or `None` when it is available.
    pub fn why_not_full(&self) -> Option<String> {
        self.userns
            .failure()
            .map(|f| format!("user namespaces are not usable here: {f}"))
    }

    /// Why the landlock rung is unavailable, or `None`.
    pub fn why_not_landlock(&self) -> Option<String> {
        (self.landlock_abi < LANDLOCK_RUNG_MIN_ABI).then(|| {
            if self.landlock_abi == 0 {
                "the kernel offers no Landlock (enable CONFIG_SECURITY_LANDLOCK and `lsm=...,landlock`)".to_string()
            } else {
                format!(
                    "the kernel's Landlock ABI {} is below {LANDLOCK_RUNG_MIN_ABI} (truncation is not controlled)",
                    self.landlock_abi
                )
            }
        })
    }
}

/// Probe the user-namespace stages in a forked child.
pub fn probe_userns() -> UsernsProbe {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let failed = |e: Errno| UsernsProbe {
        passed: 0,
        errno: Some(e),
    };
    // The child's errno travels over a pipe (an exit status has too few bits for it).
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    // Callers probe before starting any thread; the child only makes syscalls, formats
    // three short strings and leaves with _exit.
    match crate::sys::process::fork() {
        Ok(ForkResult::Child) => {
            drop(r);
            let (passed, errno) = probe_in_child(uid, gid);
            let _ = nix::unistd::write(&w, &(errno as i32).to_ne_bytes());
            // Without running the parent's destructors.
            crate::sys::process::exit_now(passed)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let mut buf = [0u8; 4];
            let errno = match nix::unistd::read(&r, &mut buf) {
                Ok(4) => i32::from_ne_bytes(buf),
                _ => 0,
            };
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, passed)) => {
                        break UsernsProbe {
                            passed: passed as usize,
                            errno: (errno != 0).then(|| Errno::from_raw(errno)),
                        };
                    }
                    Err(Errno::EINTR) => continue,
                    _ => break failed(Errno::UnknownErrno),
                }
            }
        }
        Err(crate::sys::process::SpawnError::Sys(e)) => failed(e),
        Err(crate::sys::process::SpawnError::Threads(_)) => failed(Errno::EDEADLK),
    }
}

/// How many stages passed, and the errno of the first that failed (0 when none did).
fn probe_in_child(uid: u32, gid: u32) -> (i32, Errno) {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        return (0, e);
    }
    let writes = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("{uid} {uid} 1\n")),
        ("/proc/self/gid_map", format!("{gid} {gid} 1\n")),
    ];
    for (i, (path, text)) in writes.iter().enumerate() {
        if let Err(e) = std::fs::write(path, text) {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EPERM));
            return (i as i32 + 1, errno);
        }
    }
    if let Err(e) = nix::mount::mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    ) {
        return (4, e);
    }
    (STAGES.len() as i32, Errno::UnknownErrno)
}

/// The fixes for a machine without usable user namespaces, as one sentence list: the one
/// that applies here first, then the opt-in to the landlock rung when this machine has it.
pub fn fixes(landlock_rung: bool) -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .ok()
    };
    let mut fix = String::from("Fix: ");
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        fix.push_str("Ubuntu's AppArmor restricts unprivileged user namespaces; install the profile packaging/apparmor/safe-install (see docs/ci.md) or run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`.");
    } else if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        fix.push_str("run `sudo sysctl kernel.unprivileged_userns_clone=1`.");
    } else if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        fix.push_str("run `sudo sysctl user.max_user_namespaces=15000`.");
    } else {
        fix.push_str("in a container, allow user namespaces (Docker: `--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, or a seccomp profile that permits clone/unshare with CLONE_NEWUSER; see docs/ci.md); on Ubuntu 24.04 install the AppArmor profile packaging/apparmor/safe-install.");
    }
    if landlock_rung {
        fix.push_str(" Or accept the weaker Landlock-only mode with `--allow-degraded` (or `[sandbox] mode = \"landlock\"` in a policy); `safe-install doctor` lists what it does not cover.");
    }
    fix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder(passed: usize, abi: i32) -> Ladder {
        Ladder {
            userns: UsernsProbe {
                passed,
                errno: (passed < STAGES.len()).then_some(Errno::EPERM),
            },
            landlock_abi: abi,
        }
    }

    #[test]
    fn rungs_follow_the_probes() {
        assert_eq!(ladder(5, 0).rung(), Rung::Full);
        assert_eq!(ladder(0, 4).rung(), Rung::Landlock);
        // Ubuntu's AppArmor restriction: unshare passes, the maps fail.
        assert_eq!(ladder(2, 6).rung(), Rung::Landlock);
        assert_eq!(ladder(0, 2).rung(), Rung::None);
        assert_eq!(ladder(4, 0).rung(), Rung::None);
    }

    #[test]
    fn the_failure_names_the_stage() {
        let l = ladder(2, 4);
        assert_eq!(
            l.userns.failure().as_deref(),
            Some("uid_map failed (Operation not permitted)")
        );
        assert!(ladder(5, 4).why_not_full().is_none());
        assert!(fixes(l.rung() == Rung::Landlock).contains("--allow-degraded"));
        assert!(!fixes(false).contains("--allow-degraded"));
    }
}
