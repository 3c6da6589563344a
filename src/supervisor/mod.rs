//! The supervisor: starts the sandbox (a full sandbox's child cloned before any thread
//! exists, so it may run ordinary code; usually by the session, before planning), relays
//! signals to it, serves its egress and its seccomp listener, follows
//! its setup reports, waits, and turns the outcome into an exit status. One body for both
//! modes; what differs is how the child is started and served ([`full`], [`landlock_mode`]).

pub mod egress;
pub mod full;
pub mod githooks;
pub mod landlock_mode;
mod leftovers;
pub(crate) mod signals;

use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::plan::Plan;
use crate::sandbox::report::{LandlockStatus, Report, Stage};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "this host does not let safe-install create the namespaces it needs ({detail}). {fix}"
    )]
    Unsupported { detail: String, fix: String },
    #[error("sandbox setup failed while {} ({detail}); the command did not run. Run `safe-install doctor` and report this with its output.", stage.describe())]
    Setup {
        stage: Stage,
        errno: Option<i32>,
        detail: String,
    },
    #[error("{program}: command not found inside the sandbox. Check that it is installed and on PATH; toolchains outside the system directories and your home's nvm/pyenv/volta need `--ro DIR`.")]
    NotFound { program: String },
    #[error("{program}: cannot execute ({}). Check its permissions, or make its directory visible with `--ro DIR`.", nix::errno::Errno::from_raw(*errno).desc())]
    NotExecutable { program: String, errno: i32 },
    #[error("cannot prepare the sandbox: {0}")]
    Io(#[from] std::io::Error),
}

impl SupervisorError {
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::Unsupported { .. } => crate::exit::UNSUPPORTED,
            SupervisorError::Setup { .. } | SupervisorError::Io(_) => crate::exit::SETUP_FAILED,
            SupervisorError::NotFound { .. } => crate::exit::NOT_FOUND,
            SupervisorError::NotExecutable { .. } => crate::exit::NOT_EXECUTABLE,
        }
    }
}

/// The fix to name when user namespaces are refused.
pub fn userns_fix() -> String {
    crate::sandbox::probe::fixes(
        crate::sandbox::landlock::kernel_abi() >= crate::sandbox::probe::LANDLOCK_RUNG_MIN_ABI,
    )
}

/// How the child is started: which mode, with what it needs from the host.
pub enum Start {
    /// `clone` into new namespaces ([`full`]).
    Full,
    /// `fork`, Landlock and seccomp only, with the places the plan was built for
    /// ([`landlock_mode`]).
    Landlock(landlock_mode::Host),
}

/// The started child, in either mode.
enum Child {
    Full(full::Child),
    Landlock(landlock_mode::Child),
}

impl Child {
    fn pid(&self) -> Pid {
        match self {
            Child::Full(c) => c.pid,
            Child::Landlock(c) => c.pid,
        }
    }
}

/// The supervisor's ends of the pipes every child is started with.
pub(crate) struct Pipes {
    /// Where the child's setup reports arrive (`sandbox::report`); EOF once the command was
    /// executed.
    reports: OwnedFd,
    /// Only the supervisor holds this end: the child sees a hang-up when the supervisor is
    /// gone, and one byte once its handles were copied.
    alive: OwnedFd,
}

/// Run the plan in a new sandbox started as `start` says and return the command's exit
/// status.
///
/// `early` is the full sandbox's child when the caller cloned it before planning
/// ([`full::Early`]); without it a full sandbox is cloned now.
#[allow(clippy::too_many_arguments)]
pub fn run(
    plan: &Plan,
    start: Start,
    early: Option<full::Early>,
    allow: crate::policy::allow::AllowList,
    scripts: Option<crate::net::proxy::ScriptEgress>,
    vault: Arc<crate::creds::Vault>,
    sink: &EventSink,
    planted: &Arc<crate::observe::planted::Observed>,
) -> Result<i32, SupervisorError> {
    let (mut child, Pipes { reports, alive }) = match start {
        Start::Full => {
            let early = match early {
                Some(early) => early,
                None => full::Early::clone(plan.ids)?,
            };
            let (child, pipes) = early.send(plan)?;
            (Child::Full(child), pipes)
        }
        Start::Landlock(host) => {
            drop(early);
            let (child, pipes) = landlock_mode::start(plan, host)?;
            (Child::Landlock(child), pipes)
        }
    };
    let pid = child.pid();
    raise_open_file_limit();
    let _relay = signals::relay_to(pid)?;
    match &mut child {
        Child::Full(c) => c.serve(plan, allow, scripts, vault, sink, planted)?,
        Child::Landlock(c) => c.serve(allow, scripts, vault, sink)?,
    }
    let reports = crate::sandbox::report::follow(reports, |r| -> Result<(), SupervisorError> {
        match r {
            Report::Ready => {
                if let Child::Full(c) = &mut child {
                    c.ready();
                }
            }
            Report::Handles { listener, control } => {
                let copied = match &child {
                    Child::Full(c) => c.copy_handles(*listener, *control).map(Copied::Full),
                    Child::Landlock(c) => c.copy_handles(*listener).map(Copied::Landlock),
                };
                // The child waits for this byte before it goes on, copied or not; the
                // threads that serve the copies start after it.
                let _ = nix::unistd::write(&alive, b"k");
                match (&mut child, copied?) {
                    (Child::Full(c), Copied::Full(h)) => c.observe(h)?,
                    (Child::Landlock(c), Copied::Landlock(l)) => c.observe(l, sink)?,
                    _ => {}
                }
            }
            Report::Landlock { status, abi } => {
                record_landlock(sink, status, *abi);
                if let Child::Landlock(c) = &child {
                    c.landlock_applied(sink, *abi);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    let status = match &mut child {
        Child::Full(c) => c.wait_exit()?,
        Child::Landlock(_) => wait_exit_status(pid)?,
    };
    drop(alive);
    match child {
        Child::Full(c) => c.finish(),
        Child::Landlock(c) => c.finish(),
    }
    check_reports(reports)?;
    Ok(status)
}

/// Descriptors copied out of the child, by mode.
enum Copied {
    Full(full::Handles),
    Landlock(Option<std::os::fd::OwnedFd>),
}

/// The child's exit status, or 128+N when it died of signal N.
fn wait_exit_status(child: Pid) -> Result<i32, SupervisorError> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(std::io::Error::from(e).into()),
        }
    }
}

/// The first setup or exec failure the child reported, as the error to exit with.
fn check_reports(reports: Vec<Report>) -> Result<(), SupervisorError> {
    for r in reports {
        match r {
            Report::SetupFailed {
                stage,
                errno,
                detail,
            } => {
                return Err(classify_setup_failure(stage, errno, detail));
            }
            Report::ExecFailed { errno, program } => {
                return Err(if errno == libc::ENOENT {
                    SupervisorError::NotFound { program }
                } else {
                    SupervisorError::NotExecutable { program, errno }
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The proxy holds about three descriptors per connection and npm opens dozens at once: lift
/// the supervisor's soft limit to its hard limit (the sandbox, cloned earlier, keeps the
/// caller's limits).
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

fn record_landlock(sink: &EventSink, status: &LandlockStatus, abi: i32) {
    let (verdict, reason) = match status {
        LandlockStatus::Full => (Verdict::Allowed, Reason::SandboxFull),
        LandlockStatus::Partial => (Verdict::Degraded, Reason::LandlockPartial),
        LandlockStatus::NotEnforced => (Verdict::Degraded, Reason::LandlockUnavailable),
    };
    sink.emit(
        Event::new(Action::Sandbox, verdict, "landlock", reason).with_detail(format!(
            "kernel Landlock ABI {abi}; safe-install uses ABI {}",
            crate::sandbox::landlock::ABI_PINNED_VERSION
        )),
    );
}

/// Failures the host causes (no user namespaces, no procfs in a container) versus our own.
fn classify_setup_failure(stage: Stage, errno: Option<i32>, detail: String) -> SupervisorError {
    let denied = matches!(errno, Some(libc::EPERM) | Some(libc::EACCES));
    match stage {
        // Ubuntu 24.04's AppArmor lets the namespaces be created and refuses mounts in them.
        Stage::IdMap | Stage::Namespaces | Stage::Loopback | Stage::EgressSockets | Stage::Hostname | Stage::Mounts if denied => SupervisorError::Unsupported {
            detail: format!("{}: {detail}", stage.describe()),
            fix: userns_fix(),
        },
        Stage::Proc if denied => SupervisorError::Unsupported {
            detail: format!("{}: {detail}", stage.describe()),
            fix: "Fix: the host's /proc is partly masked (a container); run the container with a fully visible /proc (Docker: `--security-opt systempaths=unconfined`).".into(),
        },
        _ => SupervisorError::Setup {
            stage,
            errno,
            detail,
        },
    }
}
