//! The supervisor's side of the control socket: each lifecycle script's shim connects, writes
//! the number of the seccomp listener it just installed, and waits for one byte. The
//! supervisor copies the listener out of the shim (pidfd_getfd; the peer's pid comes from
//! the kernel, `SO_PEERCRED`, not from the message), checks that it is a seccomp listener,
//! starts a notifier for it, then answers. Scripts themselves cannot connect: they run in a
//! nested Landlock domain, and abstract sockets are scoped to the domain that created them.

use super::notifier::{self, Observer, Scope};
use nix::sys::socket::{getsockopt, sockopt};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

/// Longest message: a descriptor number and a newline.
const MAX_MESSAGE: usize = 32;
/// How long a connected shim may take to name its listener.
const REGISTER_TIMEOUT_SECS: i64 = 5;

/// Serve the control socket until the process exits (the thread is never joined: once the
/// sandbox is gone nobody connects again). Each connection gets a thread of its own, which
/// registers the script and then serves its listener: scripts the package manager starts in
/// parallel register in parallel, none waiting while another's shim builds its confinement.
pub fn spawn(control: OwnedFd, observer: Arc<Observer>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("script-control".into())
        .stack_size(128 * 1024)
        .spawn(move || loop {
            match crate::sys::fd::accept(control.as_fd()) {
                Ok(conn) => {
                    let observer = Arc::clone(&observer);
                    let spawned = std::thread::Builder::new()
                        .name("seccomp-notify".into())
                        .stack_size(notifier::NOTIFY_STACK)
                        .spawn(move || {
                            if let Err(e) = register_and_serve(&conn, &observer) {
                                tracing::warn!(error = %e, "a script's listener could not be registered; its attempts are blocked but not logged");
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start a thread for a script's registration; its attempts are blocked but not logged");
                    }
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::ECONNABORTED) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "control socket closed");
                    return;
                }
            }
        })?;
    Ok(())
}

/// A dependency's script the package manager's approval list does not approve is running:
/// it still runs at trust level 2 (the shim confines it as any other), and the log says the
/// package manager did not do what its own list says. Reported rather than refused: a
/// disagreement means a setting safe-install did not read (a flag, a newer list format),
/// and the package manager's own answer to an unapproved script is to skip it, not to fail.
fn report_not_approved(observer: &Observer, pid: i32, n: super::attribution::NotApproved) {
    use crate::events::{Action, Event, Reason, Verdict};
    let mut ev = Event::new(
        Action::Exec,
        Verdict::Degraded,
        n.dir.display().to_string(),
        Reason::NotApproved,
    )
    .with_detail(format!(
        "{}{} runs although the package manager's approval list does not approve it ({}); it runs at trust level 2 all the same",
        n.package,
        n.script
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        n.why
    ));
    ev.pid = Some(super::process::ids(pid));
    ev.package = Some(n.package);
    ev.script = n.script;
    ev.argv = super::process::argv(pid);
    observer.sink.emit(ev);
}

/// Register the script on `conn`, then serve its listener on this thread until the script's
/// processes are gone.
fn register_and_serve(conn: &OwnedFd, observer: &Arc<Observer>) -> std::io::Result<()> {
    // A peer that connects and says nothing must not hold up the scripts after it.
    nix::sys::socket::setsockopt(
        conn,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(REGISTER_TIMEOUT_SECS, 0),
    )?;
    let cred = getsockopt(conn, sockopt::PeerCredentials)?;
    let pid = cred.pid();
    // The shim connects before it builds its Landlock layer and filter, and waits for the
    // answer before it runs anything of the package: who it is is read now, while it is
    // still busy, rather than after its message, while it waits. Its working directory and
    // environment are still what npm (level 1) gave it. The directory is the package's place
    // in the install tree: its identity (the lockfile's entry there), the key of its grants,
    // and what it may write as its own. Recorded only once the registration is proved.
    let package_dir: Option<PathBuf> = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let identity = observer.who.identify_script(pid, package_dir.clone());
    let mut buf = [0u8; MAX_MESSAGE];
    let n = nix::unistd::read(conn, &mut buf)?;
    if n == 0 {
        // The shim ended before it had a listener to name (it failed to confine itself, and
        // said so; its script did not run): nothing to register.
        return Ok(());
    }
    let fd: i32 = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed registration"))?;
    let listener = crate::sys::fd::copy_fd(nix::unistd::Pid::from_raw(pid), fd)?;
    let kind = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd()))?;
    if kind != std::path::Path::new("anon_inode:seccomp notify") {
        return Err(std::io::Error::other(format!(
            "descriptor {fd} of pid {pid} is {}, not a seccomp listener",
            kind.display()
        )));
    }
    let own = observer.files.script_own(package_dir.as_deref());
    observer.who.record_script(identity);
    if let Some(n) = observer.who.not_approved(pid) {
        report_not_approved(observer, pid, n);
    }
    // Who it is for the log of what it leaves behind (a daemon): the registration's
    // `name@version` (the lockfile's identity for that directory) and lifecycle event.
    let origin = Arc::new(observer.who.registered(pid).unwrap_or((None, None)));
    // Answered once the listener counts as alive, before the first notification is read.
    let mut answered = Ok(0);
    notifier::serve_after(
        &listener.into(),
        observer,
        &Scope::Script {
            package_dir,
            own,
            origin,
        },
        None,
        || answered = nix::unistd::write(conn, b"k"),
    );
    answered?;
    Ok(())
}
