//! Landlock mode's child pipeline: a forked child with no namespaces, so it restricts itself
//! in place and then serves as the command's reaper. Its steps, in order ([`STEPS`]; each its
//! own function and its own [`Stage`]):
//!
//! 1. `parent-death`: tie its life to the supervisor (`PR_SET_PDEATHSIG`, then check it is
//!    still there);
//! 2. `subreaper`: become a child subreaper, so double-forked daemons stay its descendants;
//! 3. `no-new-privs`;
//! 4. `capabilities`: a root caller drops every capability (nothing else can take root's
//!    power away without a user namespace);
//! 5. `wipe-environment`: this process is a copy of the supervisor;
//! 6. `landlock` (reported; refused when not enforced: it is the only filesystem wall here);
//! 7. `seccomp`: the full sandbox's deny filters, then the notify filter (both compiled by
//!    the supervisor before the fork);
//! 8. `handover`: the listener to the supervisor, which copies it;
//! 9. `non-dumpable`;
//! 10. `signals`, `fork`, `exec`: block the signals it relays, start the command in its own
//!     session with the scrubbed environment; wait for it; kill its process group and every
//!     remaining descendant; exit with its status.

use super::{die_with_supervisor, no_new_privs, non_dumpable, wipe_environment};
use crate::plan::Plan;
use crate::sandbox::landlock::Layer;
use crate::sandbox::report::{send, LandlockStatus, Report, SetupError, Stage, Steps};
use crate::sandbox::seccomp::Program;
use crate::sys::seccomp::Listener;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What the child needs, all prepared before the fork.
pub struct Setup<'a> {
    pub plan: &'a Plan,
    /// The plan's view as Landlock rules on the host's paths.
    pub layer: &'a Layer,
    pub deny: &'a Program,
    pub notify: &'a Program,
    pub report: OwnedFd,
    /// Hang-up means the supervisor is gone; one byte means it copied the listener.
    pub alive: OwnedFd,
}

/// The steps, in order.
pub const STEPS: &[Stage] = &[
    Stage::ParentDeath,
    Stage::Subreaper,
    Stage::NoNewPrivs,
    Stage::Capabilities,
    Stage::WipeEnvironment,
    Stage::Landlock,
    Stage::Seccomp,
    Stage::Handover,
    Stage::NonDumpable,
    Stage::Signals,
    Stage::Fork,
    Stage::Exec,
];

/// The body of the forked child. Never returns.
pub fn child_main(setup: &Setup<'_>) -> ! {
    let steps = Steps::new(STEPS);
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| restrict(&steps, setup)));
    match outcome {
        Ok(Ok(())) => serve(setup),
        Ok(Err(e)) => e.report(&setup.report),
        Err(_) => steps.panicked().report(&setup.report),
    }
    exit(crate::exit::SETUP_FAILED)
}

fn exit(code: i32) -> ! {
    crate::sys::process::exit_now(code)
}

fn restrict(steps: &Steps, setup: &Setup<'_>) -> Result<(), SetupError> {
    steps.run(Stage::ParentDeath, || {
        die_with_supervisor(setup.alive.as_fd())
    })?;
    steps.run(Stage::Subreaper, subreaper)?;
    steps.run(Stage::NoNewPrivs, no_new_privs)?;
    steps.run(Stage::Capabilities, drop_root_capabilities)?;
    steps.run(Stage::WipeEnvironment, wipe_environment)?;
    steps.run(Stage::Landlock, || apply_landlock(setup))?;
    let listener = steps.run(Stage::Seccomp, || install_filters(setup))?;
    steps.run(Stage::Handover, || hand_over(setup, &listener))?;
    drop(listener);
    // The command may not read this process's memory (a copy of the supervisor's).
    steps.run(Stage::NonDumpable, non_dumpable)
}

fn subreaper() -> Result<(), SetupError> {
    crate::sys::prctl::set_child_subreaper()
        .map_err(|e| SetupError::errno(Stage::Subreaper, e, "PR_SET_CHILD_SUBREAPER"))
}

/// Without a user namespace root keeps root's capabilities unless they are dropped; any
/// other caller has none.
fn drop_root_capabilities() -> Result<(), SetupError> {
    if nix::unistd::geteuid().is_root() {
        crate::sandbox::caps::drop_all()?;
    }
    Ok(())
}

fn apply_landlock(setup: &Setup<'_>) -> Result<(), SetupError> {
    let (status, abi) = crate::sandbox::landlock::apply_layer(setup.layer)
        .map_err(|e| SetupError::new(Stage::Landlock, e.to_string()))?;
    if status == LandlockStatus::NotEnforced {
        return Err(SetupError::new(
            Stage::Landlock,
            "the kernel did not enforce the Landlock rules, the only filesystem wall of landlock mode",
        ));
    }
    send(setup.report.as_fd(), &Report::Landlock { status, abi });
    Ok(())
}

fn install_filters(setup: &Setup<'_>) -> Result<Listener, SetupError> {
    crate::sandbox::seccomp::install(setup.deny)
        .map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    crate::sandbox::seccomp::install_listener(setup.notify)
        .map_err(|e| SetupError::io(Stage::Seccomp, &e, "install the notify filter"))
}

/// Report the listener and wait until the supervisor has copied it (one byte, or hang-up
/// when it is gone).
fn hand_over(setup: &Setup<'_>, listener: &Listener) -> Result<(), SetupError> {
    send(
        setup.report.as_fd(),
        &Report::Handles {
            listener: Some(listener.as_raw_fd()),
            control: None,
        },
    );
    let mut ack = [0u8; 1];
    let _ = nix::unistd::read(&setup.alive, &mut ack);
    Ok(())
}

/// `signals`, `fork`, `exec`: start the command and reap until it exits. Never returns.
fn serve(setup: &Setup<'_>) -> ! {
    let mut set = SigSet::empty();
    for s in crate::sandbox::init::FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        SetupError::errno(Stage::Signals, e, "block signals").report(&setup.report);
        exit(crate::exit::SETUP_FAILED);
    }
    // This process is single-threaded (forked from the supervisor before it started any
    // thread); its notify filter does not observe the /proc read that checks it.
    let command = crate::sandbox::child_plan::Command::of(setup.plan);
    let started = crate::sys::process::one_thread()
        .and_then(|one| crate::sandbox::init::start_command(&command, &one, setup.report.as_fd()));
    let child = match started {
        Ok(child) => child,
        Err(e) => {
            SetupError::io(Stage::Fork, &e.into(), "clone (CLONE_VM | CLONE_VFORK)")
                .report(&setup.report);
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
