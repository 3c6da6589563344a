//! The full sandbox's child pipeline. The child is pid 1 of new user, mount, pid, network,
//! ipc, uts and cgroup namespaces from birth (one `clone`).
//!
//! 1. tie its life to the supervisor (`PR_SET_PDEATHSIG`, then check it is still there);
//! 2. write the id maps (the caller's uid, or an unprivileged one for root);
//! 3. set the host name, bring up `lo`, open the proxy and DNS sockets and hand them out;
//! 4. build the filesystem view on an empty tmpfs and `pivot_root` into it (proc before the
//!    old root goes), report `Ready` so the supervisor removes the staging directory;
//! 5. `no_new_privs`, drop every capability;
//! 6. Landlock (reported), the control socket for script listeners, then seccomp: the deny
//!    filters and the notify filter, whose listener goes to the supervisor;
//! 7. fork the command into its own session with the scrubbed environment; serve as init.

use super::die_with_supervisor;
use crate::plan::Plan;
use crate::sandbox::report::{send, Report, SetupError, Stage};
use crate::sandbox::{
    caps, control, egress, idmap, init, landlock, loopback, mounts, seccomp, HOSTNAME,
};
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

/// The body of the cloned child. Never returns.
pub fn child_main(plan: &Plan, staging: &Path, fds: &ChildFds) -> ! {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| setup(plan, staging, fds)));
    match outcome {
        Ok(Ok(())) => init::run(plan, fds.report.as_fd(), fds.leftovers.as_fd()),
        Ok(Err(e)) => e.report(&fds.report),
        Err(_) => SetupError::new(Stage::Mounts, "panic during setup").report(&fds.report),
    }
    crate::sys::process::exit_now(crate::exit::SETUP_FAILED)
}

fn setup(plan: &Plan, staging: &Path, fds: &ChildFds) -> Result<(), SetupError> {
    // 1.
    die_with_supervisor(fds.alive.as_fd())?;

    // 2-3.
    idmap::write(&plan.ids)?;
    nix::unistd::sethostname(HOSTNAME)
        .map_err(|e| SetupError::errno(Stage::Hostname, e, "sethostname"))?;
    loopback::up()?;
    egress::open_and_send(fds.egress.as_fd())?;

    // 4.
    mounts::build_and_enter(plan, staging)?;
    send(fds.report.as_fd(), &Report::Ready);

    // 5.
    let filters = seccomp::compile(&plan.seccomp_deny, seccomp::TtyIoctls::Notified)
        .map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    let notify = match init_observes(plan) {
        Some(observe) => Some(
            seccomp::compile_notify(observe)
                .map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?,
        ),
        None => None,
    };
    crate::sys::prctl::set_no_new_privs()
        .map_err(|e| SetupError::errno(Stage::NoNewPrivs, e, "PR_SET_NO_NEW_PRIVS"))?;
    caps::drop_all()?;

    // Init is a copy of the supervisor: its memory holds the caller's full environment. The
    // environment block is wiped here; the rest is made unreadable (non-dumpable) below.
    crate::sys::mem::wipe_environment_block();

    // 6.
    let (status, abi) = landlock::apply(&plan.landlock)
        .map_err(|e| SetupError::new(Stage::Landlock, e.to_string()))?;
    send(fds.report.as_fd(), &Report::Landlock { status, abi });
    // Created after Landlock, so it belongs to the same Landlock domain as the package
    // manager (abstract sockets are scoped): a script's shim may connect before it adds its
    // own layer, a script itself (nested domain) never can.
    let control = match plan.script {
        Some(_) => Some(control::open()?),
        None => None,
    };
    seccomp::install(&filters).map_err(|e| SetupError::new(Stage::Seccomp, e.to_string()))?;
    let listener = match &notify {
        Some(prog) => Some(
            seccomp::install_listener(prog)
                .map_err(|e| SetupError::io(Stage::Seccomp, &e, "install the notify filter"))?,
        ),
        None => None,
    };
    send(
        fds.report.as_fd(),
        &Report::Handles {
            listener: listener.as_ref().map(|l| l.as_raw_fd()),
            control: control.as_ref().map(|c| c.as_raw_fd()),
        },
    );
    // Wait until the supervisor has copied them (pidfd_getfd needs init dumpable: its
    // memory descriptor belongs to the supervisor's user namespace, where an unprivileged
    // supervisor holds no CAP_SYS_PTRACE). Nothing else runs in the sandbox yet.
    let mut ack = [0u8; 1];
    let _ = nix::unistd::read(&fds.alive, &mut ack);
    drop(listener);
    drop(control);
    // From here on /proc/1/{environ,mem} are unreadable to the command (same uid, same
    // Landlock domain, but no longer dumpable).
    crate::sys::prctl::set_dumpable(false)
        .map_err(|e| SetupError::errno(Stage::Capabilities, e, "PR_SET_DUMPABLE"))
}

/// What init's own notify filter observes: nothing when lifecycle scripts install their own
/// (trust level 2: one listener per filter chain, and the package manager's bulk file work
/// stays unobserved); the network only for npm-family tools without a script hook; the
/// network and file attempts of everything otherwise (pip, whose build backends cannot be
/// hooked, and any other command).
fn init_observes(plan: &Plan) -> Option<seccomp::Observe> {
    match (&plan.script, plan.family) {
        (Some(_), _) => None,
        (None, crate::pm::Family::Npm) => Some(seccomp::Observe::Network),
        (None, _) => Some(seccomp::Observe::NetworkAndFiles),
    }
}
