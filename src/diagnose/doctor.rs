//! `safe-install doctor`: what this machine offers the sandbox, probed in forked children
//! (never assumed from version numbers; the same probe `run` uses), the mode ladder and
//! which rung this machine gets.

use crate::sandbox::probe::{self, Ladder, Rung, STAGES};
use std::fmt::Write;

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
    let ladder = Ladder::probe();
    let (passed, errno) = (ladder.userns.passed, ladder.userns.errno);
    let _ = writeln!(o, "user namespaces (each stage probed in a forked child):");
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
    let abi = ladder.landlock_abi;
    let pinned = crate::sandbox::landlock::ABI_PINNED_VERSION;
    let _ = writeln!(
        o,
        "landlock:          ABI {abi}{}",
        if abi == 0 {
            " (not available)".to_string()
        } else if abi < pinned {
            format!(" (safe-install uses ABI {pinned}; features above {abi} are not enforced)")
        } else {
            format!(" (safe-install uses ABI {pinned}: fully enforced)")
        }
    );
    let _ = writeln!(
        o,
        "scripts' egress:   in the full sandbox, {}",
        crate::diagnose::explain::level2_egress(abi)
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
    let _ = writeln!(
        o,
        "TLS interception (for registries that carry a credential):"
    );
    let (lines, _) = crate::diagnose::interception::check();
    for l in lines {
        let _ = writeln!(o, "  {l}");
    }
    let _ = writeln!(o);
    o.push_str(&ladder_text(&ladder, nix::unistd::geteuid().is_root()));
    (o, ladder.rung() == Rung::Full)
}

/// The mode ladder and this machine's rung (the part of the report that depends only on
/// the probes, the caller being root, and the fixes that apply).
pub fn ladder_text(ladder: &Ladder, root: bool) -> String {
    let mut o = String::new();
    let rung = ladder.rung();
    let _ = writeln!(o, "mode ladder (best first):");
    let full = match ladder.why_not_full() {
        None => "available".to_string(),
        Some(why) => format!("unavailable: {why}"),
    };
    let landlock = match ladder.why_not_landlock() {
        None => "available with --allow-degraded or `[sandbox] mode = \"landlock\"`".to_string(),
        Some(why) => format!("unavailable: {why}"),
    };
    let _ = writeln!(
        o,
        "  1. full      namespaces + mount view + Landlock + seccomp + proxy: {full}"
    );
    let _ = writeln!(
        o,
        "  2. landlock  Landlock + seccomp + proxy, no namespaces: {landlock}"
    );
    let _ = writeln!(o, "  3. refuse    exit {}", crate::exit::UNSUPPORTED);
    let _ = writeln!(o);
    match rung {
        Rung::Full => {
            let _ = writeln!(o, "this machine: full");
        }
        Rung::Landlock => {
            let _ = writeln!(
                o,
                "this machine: landlock, only when you opt in; without --allow-degraded safe-install refuses (exit {}). {}",
                crate::exit::UNSUPPORTED,
                probe::fixes(true)
            );
            let _ = writeln!(o, "landlock mode is weaker than the full sandbox:");
            for w in crate::plan::mode::weaker(ladder.landlock_abi, root) {
                let _ = writeln!(o, "  - {w}");
            }
        }
        Rung::None => {
            let _ = writeln!(
                o,
                "this machine: none: safe-install refuses to run (exit {}). {}",
                crate::exit::UNSUPPORTED,
                probe::fixes(false)
            );
        }
    }
    o
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
