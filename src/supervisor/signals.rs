//! Relaying the signals a user sends safe-install (Ctrl-C, `kill`, a CI runner's SIGTERM) to
//! the sandbox's init, which passes them to the command's process group.

use crate::sandbox::init::FORWARDED;
use nix::sys::signal::{kill, pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

/// Whether the caller started us with `sig` ignored (`nohup`, a background job of a
/// non-interactive shell). Such a signal is not relayed: the command inherits the same
/// disposition, as it would without safe-install.
fn ignored_at_start(sig: Signal) -> bool {
    crate::sys::process::ignored_at_start(sig)
}

/// Block the relayed signals in this (the main) thread and every thread started later, and
/// start a thread that waits for them and forwards each to `child`.
pub fn relay_to(child: Pid) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut set = SigSet::empty();
    for s in FORWARDED.iter().filter(|s| !ignored_at_start(**s)) {
        set.add(*s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(std::io::Error::from)?;
    std::thread::Builder::new()
        .name("signal-relay".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            if let Ok(sig) = set.wait() {
                let _ = kill(child, sig);
            }
        })
}
