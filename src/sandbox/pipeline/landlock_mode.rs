//! Landlock mode's child pipeline: a forked child with no namespaces, so it restricts itself
//! in place and then serves as the command's reaper.
//!
//! 1. tie its life to the supervisor (`PR_SET_PDEATHSIG`, then check it is still there);
//! 2. become a child subreaper, so double-forked daemons stay its descendants;
//! 3. `no_new_privs`; a root caller drops every capability (nothing else can take root's
//!    power away without a user namespace);
//! 4. wipe the inherited environment block (this process is a copy of the supervisor);
//! 5. Landlock (reported; refused when not enforced: it is the only filesystem wall here);
//! 6. seccomp: the full sandbox's deny filters, then the notify filter, whose listener the
//!    supervisor copies; then turn non-dumpable;
//! 7. start the command in its own session with the scrubbed environment; wait for it; kill
//!    its process group and every remaining descendant; exit with its status.

use super::die_with_supervisor;
use crate::plan::Plan;
use crate::sandbox::landlock::Layer;
use crate::sandbox::report::{send, LandlockStatus, Report, SetupError, Stage};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use seccompiler::BpfProgram;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What the child needs, all prepared before the fork.
pub struct Setup<'a> {
    pub plan: &'a Plan,
    /// The plan's view as Landlock rules on the host's paths.
    pub layer: &'a Layer,
    pub deny: &'a [BpfProgram],
    pub notify: &'a BpfProgram,
    pub report: OwnedFd,
    /// Hang-up means the supervisor is gone; one byte means it copied the listener.
    pub alive: OwnedFd,
}

/// The body of the forked child. Never returns.
pub fn child_main(setup: &Setup<'_>) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| restrict(setup)));
    match outcome {
        Ok(Ok(())) => serve(setup),
        Ok(Err(e)) => e.report(&setup.report),
        Err(_) => SetupError::new(Stage::Landlock, "panic during setup").report(&setup.report),
    }
    exit(crate::exit::SETUP_FAILED)
}

fn exit(code: i32) -> ! {
    crate::sys::process::exit_now(code)
}

fn restrict(setup: &Setup<'_>) -> Result<(), SetupError> {
    // 1.
    die_with_supervisor(setup.alive.as_fd())?;
    // 2.
    crate::sys::prctl::set_child_subreaper()
        .map_err(|e| SetupError::errno(Stage::Fork, e, "PR_SET_CHILD_SUBREAPER"))?;
    // 3.
    crate::sys::prctl::set_no_new_privs()
        .map_err(|e| SetupError::errno(Stage::NoNewPrivs, e, "PR_SET_NO_NEW_PRIVS"))?;
    if nix::unistd::geteuid().is_root() {
        crate::sandbox::caps::drop_all()?;
    }
    // 4.
    crate::sys::mem::wipe_environment_block();
    // 5.
    let (status, abi) = crate::sandbox::landlock::apply_layer(setup.layer)
        .map_err(|e| SetupError::new(Stage::Landlock, e.to_string()))?;
    if status == LandlockStatus::NotEnforced {
        return Err(SetupError::new(
            Stage::Landlock,
            "the kernel did not enforce the Landlock rules, the only filesystem wall of landlock mode",
        ));
    }
    send(setup.report.as_fd(), &Report::Landlock { status, abi });
    // 6.
    crate::sandbox::seccomp::install(setup.deny)
        .map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    let listener = crate::sandbox::seccomp::install_listener(setup.notify)
        .map_err(|e| SetupError::io(Stage::Seccomp, &e, "install the notify filter"))?;
    send(
        setup.report.as_fd(),
        &Report::Handles {
            listener: Some(listener.as_raw_fd()),
            control: None,
        },
    );
    let mut ack = [0u8; 1];
    let _ = nix::unistd::read(&setup.alive, &mut ack);
    drop(listener);
    // The command may not read this process's memory (a copy of the supervisor's).
    crate::sys::prctl::set_dumpable(false)
        .map_err(|e| SetupError::errno(Stage::Capabilities, e, "PR_SET_DUMPABLE"))
}

/// 7. Start the command and reap until it exits. Never returns.
fn serve(setup: &Setup<'_>) -> ! {
    let mut set = SigSet::empty();
    for s in crate::sandbox::init::FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        SetupError::errno(Stage::Fork, e, "block signals").report(&setup.report);
        exit(crate::exit::SETUP_FAILED);
    }
    // This process is single-threaded (forked from the supervisor before it started any
    // thread).
    let child = match crate::sys::process::fork() {
        Ok(ForkResult::Child) => {
            crate::sandbox::init::exec_command(setup.plan, setup.report.as_fd())
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            SetupError::io(Stage::Fork, &e.into(), "fork").report(&setup.report);
            exit(crate::exit::SETUP_FAILED);
        }
    };
    // The supervisor sees EOF on the report pipe once the command has been executed; nothing
    // here uses it afterwards.
    crate::sys::fd::close_before_exit(setup.report.as_fd());
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            // The command leads its own session and process group (setsid before exec).
            let _ = kill(Pid::from_raw(-child.as_raw()), sig);
            continue;
        }
        if let Some(code) = crate::sandbox::init::reap(child) {
            kill_descendants(child);
            exit(code);
        }
    }
}

/// Kill what the command left: its process group, then every child this subreaper has
/// (orphans, double-forked daemons that left the group with setsid, are re-parented here),
/// until none is left. Never `kill(-1)`: without a pid namespace that is every process of
/// the caller's uid.
fn kill_descendants(group: Pid) {
    let _ = kill(Pid::from_raw(-group.as_raw()), Signal::SIGKILL);
    let me = std::process::id();
    for _ in 0..1000 {
        let children =
            std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        let pids: Vec<i32> = children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        // Reap what died; their children are re-parented here and killed on the next round.
        while let Ok(s) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            if s == WaitStatus::StillAlive {
                break;
            }
        }
        if pids.is_empty() {
            // Blocking wait for stragglers already killed but not yet reaped.
            match waitpid(Pid::from_raw(-1), None) {
                Ok(_) => continue,
                Err(_) => return,
            }
        }
    }
}
