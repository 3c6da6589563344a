//! The supervisor: clones the sandbox (before any thread exists, so the child may run
//! ordinary code), relays signals to it, follows its setup reports, waits, and turns the
//! outcome into an exit status.

pub mod egress;
pub mod githooks;
mod leftovers;
pub(crate) mod signals;

use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::observe::files::FileRules;
use crate::observe::notifier::{self, Observer, Scope};
use crate::plan::Plan;
use crate::sandbox::report::{LandlockStatus, Report, Stage};
use crate::sandbox::{child_main, ChildFds};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::pipe2;
use std::os::fd::AsRawFd;

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

const CHILD_STACK: usize = 1 << 20;

/// Run the plan in a new sandbox and return the command's exit status.
pub fn run(
    plan: &Plan,
    allow: crate::net::allow::AllowList,
    scripts: Option<crate::net::proxy::ScriptEgress>,
    vault: std::sync::Arc<crate::creds::Vault>,
    sink: &EventSink,
    planted: &std::sync::Arc<crate::observe::planted::Observed>,
) -> Result<i32, SupervisorError> {
    // Where the child builds the new root: an existing directory it may cover in its own
    // mount namespace (nothing on the host changes, so a SIGKILL at any moment leaves
    // nothing behind); a temporary directory only when every candidate holds a bind source.
    let (staging_path, staging) = match crate::sandbox::mounts::staging_in_place(plan) {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix(".safe-install-root-")
                .tempdir()?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let (alive_r, alive_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let (egress_parent, egress_child) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let (leftovers_parent, leftovers_child) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let child_fds = ChildFds {
        report: report_w,
        alive: alive_r,
        egress: egress_child,
        leftovers: leftovers_child,
    };
    let parent_only = [
        report_r.as_raw_fd(),
        alive_w.as_raw_fd(),
        egress_parent.as_raw_fd(),
        leftovers_parent.as_raw_fd(),
    ];

    let mut stack = vec![0u8; CHILD_STACK];
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    let callback = Box::new(|| -> isize {
        for fd in parent_only {
            // The child's copies of descriptors only the supervisor uses.
            crate::sys::fd::close_inherited(fd);
        }
        child_main(plan, &staging_path, &child_fds)
    });
    // The supervisor has not started any thread yet (callers guarantee `run` happens before
    // threads exist; `clone` checks it).
    let child = crate::sys::process::clone(callback, &mut stack, flags);
    drop(child_fds);
    let child = match child {
        Ok(pid) => pid,
        Err(crate::sys::process::SpawnError::Sys(e)) => {
            return Err(SupervisorError::Unsupported {
                detail: format!("clone with new namespaces failed: {}", e.desc()),
                fix: userns_fix(),
            })
        }
        Err(e) => return Err(std::io::Error::from(e).into()),
    };
    raise_open_file_limit();
    let _relay = signals::relay_to(child)?;
    // Serve egress before anything inside can need it; if setup failed before the sockets
    // were sent, the report says why.
    let who = std::sync::Arc::new(
        crate::observe::attribution::Attributor::new(child.as_raw()).with_lockfile(&plan.lockfile),
    );
    let observer = std::sync::Arc::new(Observer {
        sink: sink.clone(),
        who: std::sync::Arc::clone(&who),
        files: std::sync::Arc::new(FileRules::from_plan(plan)),
        generic: plan.family == crate::pm::Family::Generic,
        scripts_alive: std::sync::Arc::default(),
        level2_under_init: plan.python.is_some(),
        seen: std::sync::Mutex::default(),
        planted: std::sync::Arc::clone(planted),
    });
    // With the shim, every script registers before it runs: until one has, every proxy
    // request is the package manager's and needs no attribution.
    let scripts = scripts.map(|mut s| {
        if plan.script.is_some() {
            s.active = Some(std::sync::Arc::clone(&observer.scripts_alive));
        }
        s
    });
    let _servers = match egress::receive(&egress_parent)? {
        Some(sockets) => Some(egress::serve(
            sockets,
            allow,
            scripts,
            vault,
            egress::scripts_kept_out(),
            sink,
            std::sync::Arc::clone(&who),
        )?),
        None => None,
    };
    drop(egress_parent);
    leftovers::spawn(leftovers_parent, std::sync::Arc::clone(&observer))?;

    let mut notifier = None;
    let mut staging = staging;
    let reports = crate::sandbox::report::follow(report_r, |r| -> Result<(), SupervisorError> {
        match r {
            Report::Ready => {
                // The view is built; the staging directory is no longer a mount point
                // anywhere. Remove it now so a later SIGKILL leaves nothing.
                if let Some(dir) = staging.take() {
                    let _ = dir.close();
                }
            }
            Report::Handles { listener, control } => {
                let started = start_observers(child, *listener, *control, &observer);
                // Init waits for this byte before it goes on, copied or not.
                let _ = nix::unistd::write(&alive_w, b"k");
                notifier = started?;
            }
            Report::Landlock { status, abi } => record_landlock(sink, status, *abi),
            _ => {}
        }
        Ok(())
    })?;
    let status = wait_exit_status(child)?;
    drop(alive_w);
    drop(staging);
    if let Some(handle) = notifier {
        // The listener hangs up once every sandboxed process is gone.
        let _ = handle.join();
    }
    check_reports(reports)?;
    Ok(status)
}

/// The child's exit status, or 128+N when it died of signal N.
pub(crate) fn wait_exit_status(child: nix::unistd::Pid) -> Result<i32, SupervisorError> {
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
pub(crate) fn check_reports(reports: Vec<Report>) -> Result<(), SupervisorError> {
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
pub(crate) fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Copy init's listener and control socket (pidfd_getfd) and serve them.
fn start_observers(
    child: nix::unistd::Pid,
    listener: Option<i32>,
    control: Option<i32>,
    observer: &std::sync::Arc<Observer>,
) -> Result<Option<std::thread::JoinHandle<()>>, SupervisorError> {
    use crate::sys::fd::copy_fd;
    if let Some(fd) = control {
        let control = copy_fd(child, fd)?;
        crate::observe::control::spawn(control, std::sync::Arc::clone(observer))?;
    }
    let Some(fd) = listener else {
        return Ok(None);
    };
    let listener = copy_fd(child, fd)?.into();
    let scope = Scope::Sandbox {
        generic: observer.generic,
    };
    Ok(Some(notifier::spawn(
        listener,
        std::sync::Arc::clone(observer),
        scope,
    )?))
}

pub(crate) fn record_landlock(sink: &EventSink, status: &LandlockStatus, abi: i32) {
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
        Stage::IdMap | Stage::Loopback | Stage::Hostname | Stage::Mounts if denied => SupervisorError::Unsupported {
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
