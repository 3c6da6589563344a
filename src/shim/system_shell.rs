//! The system shell: trust level 2 for a package manager that runs every script with
//! `/bin/sh -c <script>` and reads no setting that names another shell (yarn 1: Node's
//! `child_process.spawn(cmd, {shell: true})`, whose shell is the hard-coded `/bin/sh`).
//! Inside the sandbox the file `/bin/sh` resolves to is the system-shell gate
//! (`gate/system_shell_gate.rs`, a program of a few system calls), which starts the real
//! shell (bound at `SYSTEM_SHELL_REAL`) itself where [`level`] says level 1 or "inside", and
//! hands every other shell to this binary at `SYSTEM_SHELL_SHIM`; in a build without the
//! gate this binary is mounted over the shell itself. It is recognised by the file it was
//! started as (`/proc/self/exe`) and checked against the plan (`ScriptPlan::stands_in_for`).
//! Per process ([`level`]):
//!
//! - **level 1**, the real shell unchanged: only the command itself (its parent is the
//!   sandbox's init: a package manager installed as a `#!/bin/sh` launcher). yarn 1 starts a
//!   shell for nothing but package code (lifecycle scripts, `yarn run`, `yarn create`;
//!   measured in 1.22.22's bundle: its only `shell: true` spawns), so nothing else it starts
//!   is the package manager's own use;
//! - **level 2**, every other shell: the script shell's path (`shim::start_script`):
//!   listener registered with the supervisor (attribution from the working directory and the
//!   environment the package manager gave it: `npm_package_name`, `npm_package_version`,
//!   `npm_lifecycle_event`), credentials out of the environment, the Landlock layer for the
//!   package directory (the working directory), and `SAFE_INSTALL_TRUST_LEVEL=2`;
//! - **inside level 2 already** (the mark set): the real shell unchanged. Its Landlock
//!   domain, seccomp listener and environment are its ancestor's; another layer per nested
//!   `sh` would only use up the kernel's sixteen. Forging the mark gains nothing (only a
//!   level-2 process can set it: the plan keeps it out of the package manager's
//!   environment), removing it only adds a layer.
//!
//! Neither decision grants anything: a level-1 decision only leaves a process where it is
//! (an orphan of a script reparented to init stays in its script's domain). It fails closed:
//! without its configuration, or started as a file the plan does not name, nothing runs.

use super::{exec, read_plan, start_script, ShimError};
use crate::plan::trust::{LEVEL2_MARKER, SYSTEM_SHELL_NAMES, SYSTEM_SHELL_SHIM};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether this process was started as a shell file the sandbox may have hooked (safe-install
/// itself is never installed under a shell's name), or as the file the system-shell gate
/// hands shells to; the plan says whether it is the one.
pub fn invoked_as_system_shell(exe: Option<&Path>) -> bool {
    exe.is_some_and(|e| e == Path::new(SYSTEM_SHELL_SHIM))
        || exe
            .and_then(Path::file_name)
            .and_then(OsStr::to_str)
            .is_some_and(|n| SYSTEM_SHELL_NAMES.contains(&n))
}

/// Whether `exe` is where this plan puts safe-install as the system shell: over the shell
/// itself, or beside the gate that stands over it.
fn stands_in(plan: &crate::plan::trust::ScriptPlan, exe: &Path) -> bool {
    match plan.stands_in_for.as_deref() {
        Some(shell) => exe == shell || exe == Path::new(SYSTEM_SHELL_SHIM),
        None => false,
    }
}

/// Run as the system shell; returns only on failure (the exit status).
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    match run(&args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("safe-install (system shell): {e}; the shell did not run.");
            126
        }
    }
}

/// Which level a shell starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The command itself: the real shell, unchanged.
    PackageManager,
    /// Package code the package manager (or anything below it) started: a level-2 layer.
    Script,
    /// Already inside a level-2 domain: the real shell, unchanged.
    Inside,
}

/// Decide from the parent's pid (inside the sandbox, read before anything of this process
/// ran; the parent cannot change while this process is its child) and whether the
/// environment carries the level-2 mark. Everything that is not provably the command itself
/// is level 2.
pub fn level(parent: i32, marked: bool) -> Level {
    if marked {
        Level::Inside
    } else if parent == 1 {
        Level::PackageManager
    } else {
        Level::Script
    }
}

fn run(args: &[OsString]) -> Result<std::convert::Infallible, ShimError> {
    let plan = read_plan()?;
    let exe = std::env::current_exe().map_err(|e| ShimError::Config(e.to_string()))?;
    if !stands_in(&plan, &exe) {
        return Err(ShimError::NotStandingIn(exe.display().to_string()));
    }
    let marked = std::env::var_os(LEVEL2_MARKER).is_some_and(|v| v == "2");
    let parent = nix::unistd::getppid().as_raw();
    // `argv[0]` is kept (`$0`, and bash's POSIX mode when called `sh`).
    match level(parent, marked) {
        Level::PackageManager | Level::Inside => {
            let env = std::env::vars_os()
                .map(|(k, v)| {
                    let mut kv = k.as_bytes().to_vec();
                    kv.push(b'=');
                    kv.extend_from_slice(v.as_bytes());
                    CString::new(kv).map_err(|_| ShimError::Nul)
                })
                .collect::<Result<Vec<_>, _>>()?;
            exec(&plan.shell, args, &env)
        }
        Level::Script => start_script(&plan, &plan.shell, args, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_command_itself_is_level_1_and_level_2_stays_level_2() {
        // The command's own `#!/bin/sh` launcher: init's child.
        assert_eq!(level(1, false), Level::PackageManager);
        // yarn's `sh -c <script>` for a lifecycle script, or any shell deeper down.
        assert_eq!(level(7, false), Level::Script);
        assert_eq!(level(12345, false), Level::Script);
        // A shell a script started keeps its script's domain, wherever it was reparented.
        assert_eq!(level(7, true), Level::Inside);
        assert_eq!(level(1, true), Level::Inside);
    }

    #[test]
    fn safe_install_stands_in_over_the_shell_or_beside_the_gate_only() {
        let plan = crate::plan::trust::ScriptPlan {
            stands_in_for: Some("/usr/bin/dash".into()),
            ..Default::default()
        };
        assert!(stands_in(&plan, Path::new("/usr/bin/dash")));
        assert!(stands_in(&plan, Path::new(SYSTEM_SHELL_SHIM)));
        assert!(!stands_in(&plan, Path::new("/usr/bin/bash")));
        let npm = crate::plan::trust::ScriptPlan::default();
        assert!(
            !stands_in(&npm, Path::new(SYSTEM_SHELL_SHIM)),
            "nothing to stand in for"
        );
        assert!(invoked_as_system_shell(Some(Path::new(SYSTEM_SHELL_SHIM))));
    }

    #[test]
    fn only_shell_files_are_recognised() {
        for shell in ["/usr/bin/dash", "/bin/sh", "/usr/bin/bash"] {
            assert!(invoked_as_system_shell(Some(Path::new(shell))), "{shell}");
        }
        for other in [
            "/usr/local/bin/safe-install",
            "/usr/bin/python3",
            "/bin/busybox",
            "/usr/bin/zsh",
        ] {
            assert!(!invoked_as_system_shell(Some(Path::new(other))), "{other}");
        }
        assert!(!invoked_as_system_shell(None));
    }
}
