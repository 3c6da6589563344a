//! `prctl`: the process attributes the setup changes, one function each, so a failure names
//! the attribute (and the setup stage its caller reports).

use nix::errno::Errno;
use nix::sys::signal::Signal;

/// Receive `signal` when the parent (the thread that forked us) dies.
pub fn set_parent_death_signal(signal: Signal) -> nix::Result<()> {
    nix::sys::prctl::set_pdeathsig(signal)
}

/// `no_new_privs`: execve can never grant privileges again (setuid bits, file capabilities);
/// required before an unprivileged process may install a seccomp filter.
pub fn set_no_new_privs() -> nix::Result<()> {
    nix::sys::prctl::set_no_new_privs()
}

/// Whether the process may be ptraced (and its `/proc/<pid>/mem`, `environ` read) by
/// processes of its uid.
pub fn set_dumpable(dumpable: bool) -> nix::Result<()> {
    nix::sys::prctl::set_dumpable(dumpable)
}

/// Become a child subreaper: orphaned descendants are re-parented here, not to pid 1.
pub fn set_child_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Drop capability `cap` from the bounding set. `EINVAL` means the kernel does not know it.
pub fn drop_bounding(cap: u32) -> nix::Result<()> {
    let cap = libc::c_ulong::from(cap);
    // SAFETY: PR_CAPBSET_DROP takes an integer capability number only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    Errno::result(rc).map(drop)
}

/// Clear the ambient capability set.
pub fn clear_ambient() -> nix::Result<()> {
    // SAFETY: integer-only prctl.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    Errno::result(rc).map(drop)
}
