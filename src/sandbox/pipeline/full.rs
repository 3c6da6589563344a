//! The full sandbox's child pipeline. The child is pid 1 of new user, mount, pid, network,
//! ipc, uts and cgroup namespaces from birth (one `clone`). Its steps, in order ([`STEPS`];
//! each its own function and its own [`Stage`]):
//!
//! 1. `parent-death`: tie its life to the supervisor (`PR_SET_PDEATHSIG`, then check it is
//!    still there);
//! 2. `id-map`: write the id maps (the caller's uid, or an unprivileged one for root);
//! 3. `hostname`: set the host name;
//! 4. `loopback`: bring up `lo`;
//! 5. `egress-sockets`: open the proxy and DNS sockets and hand them to the supervisor;
//! 6. `mounts`: build the filesystem view on an empty tmpfs (`proc` when its /proc mount
//!    fails: that happens before the old root goes);
//! 7. `pivot-root`: switch to it, report `Ready` so the supervisor removes the staging
//!    directory;
//! 8. `seccomp-compile`: compile the deny filters and init's notify filter;
//! 9. `no-new-privs`;
//! 10. `capabilities`: drop every capability;
//! 11. `wipe-environment`: init is a copy of the supervisor, its memory holds the caller's
//!     full environment;
//! 12. `landlock` (reported);
//! 13. `control-socket`: where lifecycle scripts hand over their listeners (trust level 2);
//! 14. `seccomp`: the deny filters and the notify filter;
//! 15. `handover`: the listener and control socket to the supervisor, which copies them;
//! 16. `non-dumpable`: from here on /proc/1/{environ,mem} are unreadable to the command;
//! 17. `signals`, `fork`, `exec`: block the signals init relays, fork the command into its
//!     own session with the scrubbed environment, serve as init (`sandbox::init`).

use super::{die_with_supervisor, no_new_privs, non_dumpable, wipe_environment};
use crate::plan::Plan;
use crate::sandbox::report::{send, Report, SetupError, Stage, Steps};
use crate::sandbox::{
    caps, control, egress, idmap, init, landlock, loopback, mounts, seccomp, HOSTNAME,
};
use crate::sys::seccomp::Listener;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Descriptors the child keeps: where to report, and a pipe whose other end only the
/// supervisor holds (hang-up means the supervisor is gone).
pub struct ChildFds {
    pub report: OwnedFd,
    pub alive: OwnedFd,
    /// A unix socket to hand the egress listening sockets to the supervisor.
    pub egress: OwnedFd,
    /// A unix socket on which init, once the command has exited, tells the supervisor that
    /// processes are left (stopped) and waits until they are logged (see `init::run`).
    pub leftovers: OwnedFd,
}

/// The steps, in order.
pub const STEPS: &[Stage] = &[
    Stage::ParentDeath,
    Stage::IdMap,
    Stage::Hostname,
    Stage::Loopback,
    Stage::EgressSockets,
    Stage::Mounts,
    Stage::PivotRoot,
    Stage::SeccompCompile,
    Stage::NoNewPrivs,
    Stage::Capabilities,
    Stage::WipeEnvironment,
    Stage::Landlock,
    Stage::ControlSocket,
    Stage::Seccomp,
    Stage::Handover,
    Stage::NonDumpable,
    Stage::Signals,
    Stage::Fork,
    Stage::Exec,
];

/// The body of the cloned child. Never returns.
pub fn child_main(plan: &Plan, staging: &Path, fds: &ChildFds) -> ! {
    let steps = Steps::new(STEPS);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        setup(&steps, plan, staging, fds)
    }));
    match outcome {
        Ok(Ok(())) => init::run(plan, fds.report.as_fd(), fds.leftovers.as_fd()),
        Ok(Err(e)) => e.report(&fds.report),
        Err(_) => steps.panicked().report(&fds.report),
    }
    crate::sys::process::exit_now(crate::exit::SETUP_FAILED)
}

/// The seccomp programs init installs.
struct Filters {
    deny: Vec<seccompiler::BpfProgram>,
    notify: Option<seccompiler::BpfProgram>,
}

fn setup(steps: &Steps, plan: &Plan, staging: &Path, fds: &ChildFds) -> Result<(), SetupError> {
    steps.run(Stage::ParentDeath, || {
        die_with_supervisor(fds.alive.as_fd())
    })?;
    steps.run(Stage::IdMap, || idmap::write(&plan.ids))?;
    steps.run(Stage::Hostname, set_hostname)?;
    steps.run(Stage::Loopback, loopback::up)?;
    steps.run(Stage::EgressSockets, || {
        egress::open_and_send(fds.egress.as_fd())
    })?;
    steps.run(Stage::Mounts, || mounts::build(plan, staging))?;
    steps.run(Stage::PivotRoot, || mounts::enter(staging))?;
    send(fds.report.as_fd(), &Report::Ready);
    let filters = steps.run(Stage::SeccompCompile, || compile_filters(plan))?;
    steps.run(Stage::NoNewPrivs, no_new_privs)?;
    steps.run(Stage::Capabilities, caps::drop_all)?;
    steps.run(Stage::WipeEnvironment, wipe_environment)?;
    steps.run(Stage::Landlock, || apply_landlock(plan, fds))?;
    let control = steps.run(Stage::ControlSocket, || open_control(plan))?;
    let listener = steps.run(Stage::Seccomp, || install_filters(&filters))?;
    steps.run(Stage::Handover, || {
        hand_over(fds, listener.as_ref(), control.as_ref())
    })?;
    drop(listener);
    drop(control);
    steps.run(Stage::NonDumpable, non_dumpable)
}

fn set_hostname() -> Result<(), SetupError> {
    nix::unistd::sethostname(HOSTNAME)
        .map_err(|e| SetupError::errno(Stage::Hostname, e, "sethostname"))
}

fn compile_filters(plan: &Plan) -> Result<Filters, SetupError> {
    let fail = |e: seccomp::SeccompError| SetupError::new(Stage::SeccompCompile, e.to_string());
    let deny = seccomp::compile(&plan.seccomp_deny, seccomp::TtyIoctls::Notified).map_err(fail)?;
    let notify = match init_observes(plan) {
        Some(observe) => Some(seccomp::compile_notify(observe).map_err(fail)?),
        None => None,
    };
    Ok(Filters { deny, notify })
}

fn apply_landlock(plan: &Plan, fds: &ChildFds) -> Result<(), SetupError> {
    let (status, abi) = landlock::apply(&plan.landlock)
        .map_err(|e| SetupError::new(Stage::Landlock, e.to_string()))?;
    send(fds.report.as_fd(), &Report::Landlock { status, abi });
    Ok(())
}

/// Created after Landlock, so it belongs to the same Landlock domain as the package manager
/// (abstract sockets are scoped): a script's shim may connect before it adds its own layer,
/// a script itself (nested domain) never can.
fn open_control(plan: &Plan) -> Result<Option<OwnedFd>, SetupError> {
    if level2_registers(plan) {
        control::open().map(Some)
    } else {
        Ok(None)
    }
}

/// Whether level 2 starts through a shim that registers its own listener (the script shell,
/// the python shim) on the control socket.
fn level2_registers(plan: &Plan) -> bool {
    plan.script.is_some() || plan.python.is_some()
}

fn install_filters(filters: &Filters) -> Result<Option<Listener>, SetupError> {
    seccomp::install(&filters.deny).map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    match &filters.notify {
        Some(prog) => seccomp::install_listener(prog)
            .map(Some)
            .map_err(|e| SetupError::io(Stage::Seccomp, &e, "install the notify filter")),
        None => Ok(None),
    }
}

/// Report the descriptors and wait until the supervisor has copied them (pidfd_getfd needs
/// init dumpable: its memory descriptor belongs to the supervisor's user namespace, where an
/// unprivileged supervisor holds no CAP_SYS_PTRACE). Nothing else runs in the sandbox yet.
fn hand_over(
    fds: &ChildFds,
    listener: Option<&Listener>,
    control: Option<&OwnedFd>,
) -> Result<(), SetupError> {
    send(
        fds.report.as_fd(),
        &Report::Handles {
            listener: listener.map(|l| l.as_raw_fd()),
            control: control.map(|c| c.as_raw_fd()),
        },
    );
    let mut ack = [0u8; 1];
    // Hang-up (the supervisor gone) ends the wait too; the parent-death signal does the rest.
    let _ = nix::unistd::read(&fds.alive, &mut ack);
    Ok(())
}

/// What init's own notify filter observes: nothing when lifecycle scripts or build backends
/// install their own (trust level 2, through the script shell or the python shim: one
/// listener per filter chain, and the package manager's bulk file work stays unobserved);
/// otherwise what the package manager's level calls for
/// (`PackageManager::level1_observes`: the network only for a tool whose bulk file work would
/// cost too much to observe, the network and file attempts of everything else).
fn init_observes(plan: &Plan) -> Option<seccomp::Observe> {
    if level2_registers(plan) {
        return None;
    }
    Some(match plan.manager.level1_observes() {
        crate::pm::Level1Observes::Network => seccomp::Observe::Network,
        crate::pm::Level1Observes::NetworkAndFiles => seccomp::Observe::NetworkAndFiles,
    })
}
