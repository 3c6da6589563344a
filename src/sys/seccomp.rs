//! seccomp user notification: installing a filter that returns a listener, and the
//! listener's ioctls (receive, answer, check a notification is still live).

use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`: wake the notifier on the same CPU (lower latency).
const FD_SYNC_WAKE_UP: u64 = 1;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: the raw return value.
fn set_mode_filter(
    prog: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> std::io::Result<libc::c_long> {
    let len =
        u16::try_from(prog.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, a BPF program that outlives the call, with its length;
    // the kernel copies it and never writes through the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(super::last_error());
    }
    Ok(rc)
}

/// Install `prog` on the calling thread (no_new_privs must already be set).
pub fn install(prog: &[libc::sock_filter]) -> std::io::Result<()> {
    set_mode_filter(prog, 0).map(|_| ())
}

/// Install `prog` on the calling thread with `SECCOMP_FILTER_FLAG_NEW_LISTENER` and return
/// the listener (no_new_privs must already be set).
pub fn install_listener(prog: &[libc::sock_filter]) -> std::io::Result<Listener> {
    let rc = set_mode_filter(prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    // With NEW_LISTENER the return value is a new descriptor.
    let fd = super::fd_result(rc)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(Listener(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A seccomp notify listener.
#[derive(Debug)]
pub struct Listener(OwnedFd);

impl From<OwnedFd> for Listener {
    /// A descriptor copied out of the process that installed the filter.
    fn from(fd: OwnedFd) -> Self {
        Listener(fd)
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// One notification: a syscall a process under the filter is blocked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    pub id: u64,
    /// The caller's host pid.
    pub pid: Pid,
    pub nr: libc::c_long,
    pub args: [u64; 6],
}

impl Notification {
    /// Argument `i` as the `int` the kernel reads from it (the low 32 bits: a descriptor, a
    /// family, a backlog).
    pub fn int_arg(&self, i: usize) -> i32 {
        self.args.get(i).copied().map_or(0, int_of)
    }
}

/// A syscall argument register as the `int` the kernel reads from it: its low 32 bits.
pub fn int_of(arg: u64) -> i32 {
    let low = u32::try_from(arg & 0xffff_ffff).unwrap_or(0);
    i32::from_ne_bytes(low.to_ne_bytes())
}

/// How to answer a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Let the kernel run the syscall as if there were no filter.
    Continue,
    /// Fail it with this errno.
    Errno(i32),
    /// Succeed with this return value (the supervisor did the work itself).
    Value(i64),
}

/// What [`Listener::receive`] found.
#[derive(Debug)]
pub enum Received {
    Notification(Notification),
    /// The caller died or was interrupted between notification and receipt: try again.
    Gone,
}

impl Listener {
    /// Ask the kernel to wake the notifier on the caller's CPU; best effort (older kernels
    /// refuse the flag, which costs only latency).
    pub fn set_sync_wake_up(&self) -> nix::Result<()> {
        // The flags travel as the ioctl's argument itself, not behind a pointer
        // (`seccomp_notify_ioctl` passes `arg` on as the flag word; a pointer is EINVAL).
        // SAFETY: this ioctl takes a plain integer and touches no memory of ours.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                FD_SYNC_WAKE_UP,
            )
        };
        Errno::result(rc).map(drop)
    }

    /// Receive one notification (blocks until one is pending).
    pub fn receive(&self) -> nix::Result<Received> {
        // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed before RECV.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV writes one seccomp_notif into `req`, which we own and which outlives
        // the call.
        if unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0
        {
            return match Errno::last() {
                Errno::ENOENT | Errno::EINTR => Ok(Received::Gone),
                e => Err(e),
            };
        }
        let Ok(pid) = i32::try_from(req.pid) else {
            // Not a pid the kernel hands out (pid_max is below 2^22): nothing to answer for.
            return Ok(Received::Gone);
        };
        Ok(Received::Notification(Notification {
            id: req.id,
            pid: Pid::from_raw(pid),
            nr: libc::c_long::from(req.data.nr),
            args: req.data.args,
        }))
    }

    /// Answer notification `id`. A caller that died meanwhile (ENOENT) needs no answer.
    pub fn answer(&self, id: u64, answer: Answer) {
        let (val, error, flags) = match answer {
            Answer::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE),
            Answer::Errno(e) => (0, -e, 0),
            Answer::Value(v) => (v, 0, 0),
        };
        let resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags: u32::try_from(flags).unwrap_or(0),
        };
        // SAFETY: SEND reads one seccomp_notif_resp we own, which outlives the call.
        unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }

    /// Whether notification `id` is still pending: after reading the caller's memory or
    /// opening its pidfd, proof that the pid was not reused meanwhile.
    pub fn still_valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads one u64 we pass by reference.
        unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }
}
