//! The full sandbox's child pipeline. The child is cloned into a new user and pid namespace
//! (it is pid 1 there) before the supervisor plans: it creates its other namespaces while the
//! supervisor builds the plan, then receives the part of the plan it executes
//! (`sandbox::child_plan`). Its steps, in order ([`STEPS`]; each its own function and its own
//! [`Stage`]):
//!
//! 1. `parent-death`: tie its life to the supervisor (`PR_SET_PDEATHSIG`, then check it is
//!    still there);
//! 2. `id-map`: write the id maps (the caller's uid, or an unprivileged one for root);
//! 3. `namespaces`: new mount, network, ipc, uts and cgroup namespaces (`unshare`), owned by
//!    the new user namespace as if the clone had made them;
//! 4. `hostname`: set the host name;
//! 5. `loopback`: bring up `lo`;
//! 6. `egress-sockets`: open the proxy and DNS sockets and hand them to the supervisor;
//! 7. `receive-plan`: read the plan's message to its end (none at all: the supervisor gave up
//!    before the sandbox was needed, and the child leaves quietly);
//! 8. `cpus`: take back every CPU the caller allows (the supervisor kept the child off the
//!    CPU it plans on, see `supervisor::full::Early`);
//! 9. `mounts`: build the filesystem view on an empty tmpfs (`proc` when its /proc mount
//!    fails: that happens before the old root goes);
//! 10. `pivot-root`: switch to it, report `Ready` so the supervisor removes the staging
//!     directory;
//! 11. `seccomp-compile`: compile the deny filters and init's notify filter;
//! 12. `no-new-privs`;
//! 13. `capabilities`: drop every capability;
//! 14. `wipe-environment`: init is a copy of the supervisor, its memory holds the caller's
//!     full environment;
//! 15. `landlock` (reported);
//! 16. `control-socket`: where lifecycle scripts hand over their listeners (trust level 2);
//! 17. `seccomp`: the deny filters and the notify filter;
//! 18. `handover`: the listener and control socket to the supervisor, which copies them;
//! 19. `non-dumpable`: from here on /proc/1/{environ,mem} are unreadable to the command;
//! 20. `signals`, `fork`, `exec`: block the signals init relays, fork the command into its
//!     own session with the scrubbed environment, serve as init (`sandbox::init`).

use super::{die_with_supervisor, no_new_privs, non_dumpable, wipe_environment};
use crate::plan::IdMap;
use crate::sandbox::child_plan::{self, ChildPlan};
use crate::sandbox::report::{send, Report, SetupError, Stage, Steps};
use crate::sandbox::{
    caps, control, egress, idmap, init, landlock, loopback, mounts, seccomp, HOSTNAME,
};
use crate::sys::process::OneThread;
use crate::sys::seccomp::Listener;
use nix::sched::{CloneFlags, CpuSet};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

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
    /// Where the plan's message arrives (`sandbox::child_plan`), to EOF.
    pub plan: OwnedFd,
}

/// The namespaces the clone creates: the user namespace, which every other one belongs to,
/// and the pid namespace, which only a new process can enter (as its pid 1).
pub const CLONE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWUSER.union(CloneFlags::CLONE_NEWPID);

/// The namespaces the child creates itself (step `namespaces`).
const UNSHARED_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// The steps, in order.
pub const STEPS: &[Stage] = &[
    Stage::ParentDeath,
    Stage::IdMap,
    Stage::Namespaces,
    Stage::Hostname,
    Stage::Loopback,
    Stage::EgressSockets,
    Stage::ReceivePlan,
    Stage::Cpus,
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

/// The body of the cloned child, with the ids the supervisor will plan with and the CPUs the
/// caller allows (to take back once the plan is in). Never returns.
pub fn child_main(ids: &IdMap, cpus: Option<&CpuSet>, fds: &ChildFds) -> ! {
    let steps = Steps::new(STEPS);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        setup(&steps, ids, cpus, fds)
    }));
    match outcome {
        Ok(Ok(Some((plan, one)))) => init::run(
            &plan.command,
            &one,
            fds.report.as_fd(),
            fds.leftovers.as_fd(),
        ),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => e.report(&fds.report),
        Err(_) => steps.panicked().report(&fds.report),
    }
    crate::sys::process::exit_now(crate::exit::SETUP_FAILED)
}

/// The seccomp programs init installs.
struct Filters {
    deny: seccomp::Program,
    notify: Option<seccomp::Program>,
}

/// The steps up to `exec`, with the proof that init has one thread; `None` when the
/// supervisor sent no plan (it gave up first).
fn setup(
    steps: &Steps,
    ids: &IdMap,
    cpus: Option<&CpuSet>,
    fds: &ChildFds,
) -> Result<Option<(ChildPlan, OneThread)>, SetupError> {
    steps.run(Stage::ParentDeath, || {
        die_with_supervisor(fds.alive.as_fd())
    })?;
    steps.run(Stage::IdMap, || idmap::write(ids))?;
    steps.run(Stage::Namespaces, unshare_namespaces)?;
    steps.run(Stage::Hostname, set_hostname)?;
    steps.run(Stage::Loopback, loopback::up)?;
    steps.run(Stage::EgressSockets, || {
        egress::open_and_send(fds.egress.as_fd())
    })?;
    let Some(plan) = steps.run(Stage::ReceivePlan, || receive_plan(fds.plan.as_fd()))? else {
        return Ok(None);
    };
    steps.run(Stage::Cpus, || take_back(cpus))?;
    steps.run(Stage::Mounts, || mounts::build(&plan.mounts, &plan.staging))?;
    steps.run(Stage::PivotRoot, || mounts::enter(&plan.staging))?;
    send(fds.report.as_fd(), &Report::Ready);
    let filters = steps.run(Stage::SeccompCompile, || compile_filters(&plan))?;
    steps.run(Stage::NoNewPrivs, no_new_privs)?;
    steps.run(Stage::Capabilities, caps::drop_all)?;
    steps.run(Stage::WipeEnvironment, wipe_environment)?;
    steps.run(Stage::Landlock, || apply_landlock(&plan, fds))?;
    let control = steps.run(Stage::ControlSocket, || open_control(&plan))?;
    let (listener, one) = steps.run(Stage::Seccomp, || install_filters(&filters))?;
    steps.run(Stage::Handover, || {
        hand_over(fds, listener.as_ref(), control.as_ref())
    })?;
    drop(listener);
    drop(control);
    steps.run(Stage::NonDumpable, non_dumpable)?;
    Ok(Some((plan, one)))
}

fn unshare_namespaces() -> Result<(), SetupError> {
    nix::sched::unshare(UNSHARED_NAMESPACES)
        .map_err(|e| SetupError::errno(Stage::Namespaces, e, "unshare"))
}

/// The plan's message, read to EOF (the supervisor closes its end once it is written).
fn receive_plan(fd: std::os::fd::BorrowedFd<'_>) -> Result<Option<ChildPlan>, SetupError> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match nix::unistd::read(fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(SetupError::errno(Stage::ReceivePlan, e, "read the plan")),
        }
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    child_plan::decode(&bytes)
        .map(Some)
        .map_err(|e| SetupError::new(Stage::ReceivePlan, e.to_string()))
}

/// Every CPU the caller allows, which the command inherits. Placement only: a refusal
/// (the caller's cpuset changed meanwhile) leaves this process where it is, and costs speed,
/// never a guarantee.
fn take_back(cpus: Option<&CpuSet>) -> Result<(), SetupError> {
    if let Some(cpus) = cpus {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), cpus);
    }
    Ok(())
}

fn set_hostname() -> Result<(), SetupError> {
    nix::unistd::sethostname(HOSTNAME)
        .map_err(|e| SetupError::errno(Stage::Hostname, e, "sethostname"))
}

fn compile_filters(plan: &ChildPlan) -> Result<Filters, SetupError> {
    let fail = |e: seccomp::SeccompError| SetupError::new(Stage::SeccompCompile, e.to_string());
    let deny = seccomp::compile(&plan.seccomp_deny, seccomp::TtyIoctls::Notified).map_err(fail)?;
    let notify = match plan.observe {
        Some(observe) => Some(seccomp::compile_notify(observe).map_err(fail)?),
        None => None,
    };
    Ok(Filters { deny, notify })
}

fn apply_landlock(plan: &ChildPlan, fds: &ChildFds) -> Result<(), SetupError> {
    let (status, abi) = landlock::apply(&plan.landlock)
        .map_err(|e| SetupError::new(Stage::Landlock, e.to_string()))?;
    send(fds.report.as_fd(), &Report::Landlock { status, abi });
    Ok(())
}

/// Created after Landlock, so it belongs to the same Landlock domain as the package manager
/// (abstract sockets are scoped): a script's shim may connect before it adds its own layer,
/// a script itself (nested domain) never can.
fn open_control(plan: &ChildPlan) -> Result<Option<OwnedFd>, SetupError> {
    if plan.level2_registers {
        control::open().map(Some)
    } else {
        Ok(None)
    }
}

/// The filters bind the calling thread only: the one thread there is (checked first, while
/// the check's /proc read is no notified call; init starts no thread after, so the proof
/// also serves the command's start).
fn install_filters(filters: &Filters) -> Result<(Option<Listener>, OneThread), SetupError> {
    let one = crate::sys::process::one_thread()
        .map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    seccomp::install(&filters.deny).map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    let listener = match &filters.notify {
        Some(prog) => seccomp::install_listener(prog)
            .map(Some)
            .map_err(|e| SetupError::io(Stage::Seccomp, &e, "install the notify filter"))?,
        None => None,
    };
    Ok((listener, one))
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
