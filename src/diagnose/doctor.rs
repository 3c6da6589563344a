//! `safe-install doctor`: what this machine offers the sandbox, probed in forked children
//! (never assumed from version numbers), and which mode would run.

use crate::sandbox::landlock::kernel_abi;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::fmt::Write;

/// The user-namespace setup stages, probed in order (Ubuntu's AppArmor restriction lets
/// `unshare` succeed and fails the later ones).
const STAGES: &[&str] = &[
    "unshare(CLONE_NEWUSER|CLONE_NEWNS)",
    "setgroups deny",
    "uid_map",
    "gid_map",
    "mount tmpfs",
];

/// Probe the stages in a forked child; returns how many succeeded and the failing errno.
pub fn probe_userns() -> (usize, Option<nix::errno::Errno>) {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    // SAFETY: doctor runs single-threaded; the child only makes syscalls and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = probe_in_child(uid, gid);
            // SAFETY: leave the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                let passed = (code & 0x7) as usize;
                let errno = code >> 3;
                (
                    passed,
                    (errno != 0).then(|| nix::errno::Errno::from_raw(errno)),
                )
            }
            _ => (0, None),
        },
        Err(e) => (0, Some(e)),
    }
}

fn probe_in_child(uid: u32, gid: u32) -> i32 {
    let encode = |passed: i32, e: nix::errno::Errno| passed | ((e as i32) << 3);
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        return encode(0, e);
    }
    let writes = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("{uid} {uid} 1\n")),
        ("/proc/self/gid_map", format!("{gid} {gid} 1\n")),
    ];
    for (i, (path, text)) in writes.iter().enumerate() {
        if let Err(e) = std::fs::write(path, text) {
            let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EPERM));
            return encode(i as i32 + 1, errno);
        }
    }
    if let Err(e) = nix::mount::mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    ) {
        return encode(4, e);
    }
    5
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The report, as text.
pub fn report() -> (String, bool) {
    let mut o = String::new();
    let uts = nix::sys::utsname::uname().ok();
    let kernel = uts
        .as_ref()
        .map(|u| {
            format!(
                "{} {}",
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(o, "kernel:            {kernel}");
    let _ = writeln!(o, "running as:        uid {}", nix::unistd::getuid());
    for (name, path) in [
        ("max_user_namespaces", "/proc/sys/user/max_user_namespaces"),
        (
            "unprivileged_userns_clone",
            "/proc/sys/kernel/unprivileged_userns_clone",
        ),
        (
            "apparmor_restrict_unprivileged_userns",
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
    ] {
        if let Some(v) = read(path) {
            let _ = writeln!(o, "sysctl {name}: {v}");
        }
    }
    let (passed, errno) = probe_userns();
    let _ = writeln!(o, "user namespaces:");
    for (i, stage) in STAGES.iter().enumerate() {
        let state = if i < passed {
            "ok".to_string()
        } else if i == passed {
            format!("FAILED ({})", errno.map(|e| e.desc()).unwrap_or("unknown"))
        } else {
            "not reached".to_string()
        };
        let _ = writeln!(o, "  {stage:<36} {state}");
    }
    let abi = kernel_abi();
    let pinned = crate::sandbox::landlock::ABI_PINNED_VERSION;
    let _ = writeln!(
        o,
        "landlock:          ABI {abi}{}",
        if abi == 0 {
            " (not available: only the mount view protects files)".to_string()
        } else if abi < pinned {
            format!(" (safe-install uses ABI {pinned}; features above {abi} are not enforced)")
        } else {
            format!(" (safe-install uses ABI {pinned}: fully enforced)")
        }
    );
    let seccomp = read("/proc/self/status")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Seccomp:"))
                .map(|l| l.to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(o, "seccomp:           available ({seccomp})");
    let tiocsti = read("/proc/sys/dev/tty/legacy_tiocsti");
    if let Some(v) = tiocsti {
        let _ = writeln!(o, "legacy_tiocsti:    {v} (the sandbox runs in its own session and filters TIOCSTI either way)");
    }
    let full = passed == STAGES.len();
    let _ = writeln!(o);
    if full {
        let _ = writeln!(
            o,
            "mode: full (namespaces + mount view + Landlock + seccomp)"
        );
    } else {
        let _ = writeln!(
            o,
            "mode: refused: user namespaces are not usable here. {}",
            crate::supervisor::userns_fix()
        );
    }
    (o, full)
}

pub fn run() -> i32 {
    let (text, full) = report();
    print!("{text}");
    if full {
        0
    } else {
        crate::exit::UNSUPPORTED
    }
}
