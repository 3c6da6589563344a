//! Starting and ending processes: `fork` and `clone` only while the process is
//! single-threaded, `_exit`, and signal dispositions.

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};

/// `fork` or `clone` refused: another thread exists, so the child (a copy of one thread)
/// could find a lock held forever by a thread that does not exist in it.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("refusing to fork: the process has {0} threads, so the child could deadlock")]
    Threads(usize),
    #[error("{0}")]
    Sys(#[from] nix::errno::Errno),
}

impl From<SpawnError> for std::io::Error {
    fn from(e: SpawnError) -> Self {
        match e {
            SpawnError::Sys(errno) => errno.into(),
            other => std::io::Error::other(other),
        }
    }
}

/// How many threads this process has; `None` when /proc cannot tell.
fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|d| d.flatten().count())
}

/// The precondition of [`fork`] and [`clone`]: no thread but the calling one. Unknown
/// (no /proc) is taken as met: every caller forks before it starts a thread, and this check
/// only proves it where it can.
fn single_threaded() -> Result<(), SpawnError> {
    match threads() {
        Some(n) if n > 1 => Err(SpawnError::Threads(n)),
        _ => Ok(()),
    }
}

/// Proof, taken with [`one_thread`], that this process had a single thread, for code that
/// starts none afterwards (the sandbox's init). It cannot leave the thread that took it.
#[derive(Debug)]
pub struct OneThread {
    _here: std::marker::PhantomData<*const ()>,
}

/// [`OneThread`] if this process has no thread but the calling one (unknown, no /proc, is
/// taken as met, as for [`fork`]). Taken before a notify filter is installed, the /proc read
/// is not a notified call.
pub fn one_thread() -> Result<OneThread, SpawnError> {
    single_threaded()?;
    Ok(OneThread {
        _here: std::marker::PhantomData,
    })
}

/// `fork`, refused once another thread exists (see [`SpawnError::Threads`]).
pub fn fork() -> Result<ForkResult, SpawnError> {
    single_threaded()?;
    // SAFETY: the process is single-threaded (checked above; every caller forks before it
    // starts a thread), so the child, a copy of it, may run ordinary code.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// `fork` in a unit test, whose harness runs tests on threads: the child may only apply
/// restrictions to itself, make syscalls and leave with [`exit_now`]. glibc's fork resets
/// the allocator's locks in the child, so allocation there cannot deadlock; nothing else the
/// child uses is shared with the harness's threads.
#[cfg(test)]
pub fn fork_in_test() -> nix::Result<ForkResult> {
    // SAFETY: see above: the child touches no lock another thread could hold but the
    // allocator's, which glibc's fork makes usable in the child.
    unsafe { nix::unistd::fork() }
}

/// `clone` into new namespaces with `callback` on `stack`, refused once another thread
/// exists. `SIGCHLD` is sent to the parent when the child exits.
pub fn clone(
    callback: Box<dyn FnMut() -> isize + '_>,
    stack: &mut [u8],
    flags: CloneFlags,
) -> Result<Pid, SpawnError> {
    single_threaded()?;
    // SAFETY: the process is single-threaded (checked above), so the child, a copy of it on
    // its own stack, may allocate and run ordinary code. The stack outlives the call in the
    // parent and is a private copy in the child.
    Ok(unsafe { nix::sched::clone(callback, stack, flags, Some(libc::SIGCHLD)) }?)
}

/// Start `child` in a new process that shares this one's memory until it executes a program
/// or exits (`clone` with `CLONE_VM | CLONE_VFORK`, as `posix_spawn` does), on `stack`; this
/// process is suspended meanwhile. Unlike `fork` nothing of the address space is copied,
/// neither the page tables at the call nor page after page as either side writes (the
/// sandbox's init, a copy of the whole supervisor, paid about 40 such faults for each command
/// it started). The child has its own descriptor table, working directory, signal mask and
/// dispositions, like a forked one. `SIGCHLD` is sent when the child exits. Only with
/// [`OneThread`]: another thread would run on while the child uses the shared heap.
pub fn spawn_shared(
    _one: &OneThread,
    child: Box<dyn FnMut() -> isize + '_>,
    stack: &mut [u8],
) -> Result<Pid, SpawnError> {
    // SAFETY: the process is single-threaded (`OneThread`) and suspended until the child
    // has executed a program or exited (CLONE_VFORK), so nothing else touches the memory the
    // child shares: it may run ordinary code, allocation included, as a forked child may. The
    // stack is the caller's and outlives the call; the callback borrows only what the caller
    // keeps alive across it.
    Ok(unsafe {
        nix::sched::clone(
            child,
            stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }?)
}

/// End this process now, without unwinding, destructors or atexit handlers: what a forked
/// child must do (the parent's buffers and handlers are not its own).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

/// Whether the process was started with `sig` ignored (`nohup`, a background job of a
/// non-interactive shell).
pub fn ignored_at_start(sig: Signal) -> bool {
    // SAFETY: an all-zero sigaction is a valid value of this plain C struct.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: querying with a NULL new action only writes the current action into `old`,
    // which outlives the call.
    let rc = unsafe { libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut old) };
    rc == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// Restore the default disposition of `SIGPIPE`, which the Rust runtime ignores: an ignored
/// signal stays ignored across exec, which would break shell pipelines in scripts.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: restoring the default disposition installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Run `check` in a forked child (a unit test's way to apply Landlock or seccomp to a
/// process without restricting the test harness) and return its verdict: the child's
/// error message travels back over a pipe, and a child that dies or panics fails too.
#[cfg(test)]
pub fn in_child(check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    use std::io::{Read, Write};
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    match fork_in_test().map_err(|e| e.to_string())? {
        ForkResult::Child => {
            drop(r);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
            let message = match outcome {
                Ok(Ok(())) => String::new(),
                Ok(Err(e)) => e,
                Err(_) => "the check panicked".to_string(),
            };
            let mut w = std::fs::File::from(w);
            let _ = w.write_all(message.as_bytes());
            drop(w);
            exit_now(i32::from(!message.is_empty()))
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut message = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut message);
            let status = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
            match (status, message.is_empty()) {
                (nix::sys::wait::WaitStatus::Exited(_, 0), true) => Ok(()),
                (_, false) => Err(message),
                (other, true) => Err(format!("the child ended with {other:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A panic unwinds (running destructors) to the `catch_unwind` that the sandbox's child
    /// reports a setup panic from, in a forked child as there: with the unwinder linked in
    /// from `libgcc_eh` (build.rs) as with `libgcc_s`. A broken unwinder aborts the child,
    /// which `in_child` reports as a signal, not as the panic.
    #[test]
    fn a_panic_unwinds_to_its_catch_in_a_forked_child() {
        struct Flag<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Flag<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let outcome = super::in_child(|| {
            let dropped = std::cell::Cell::new(false);
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _flag = Flag(&dropped);
                panic!("unwinding test");
            }));
            match (caught.is_err(), dropped.get()) {
                (true, true) => panic!("the outer catch"),
                other => Err(format!("caught, dropped: {other:?}")),
            }
        });
        assert_eq!(outcome, Err("the check panicked".to_string()));
    }

    /// The test harness runs tests on threads: no proof there; a forked child has one thread.
    #[test]
    fn one_thread_is_proven_only_with_a_single_thread() {
        let _other = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(2)));
        assert!(matches!(
            super::one_thread(),
            Err(super::SpawnError::Threads(n)) if n > 1
        ));
        super::in_child(|| {
            super::one_thread()
                .map(drop)
                .map_err(|e| format!("a forked child: {e}"))
        })
        .expect("in a forked child");
    }
}
