//! Descriptors: copying one out of another process, receiving them over a unix socket,
//! accepting, and the forked child's housekeeping.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockFlag};
use nix::unistd::Pid;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A process descriptor (`pidfd_open`): stays bound to the process it was opened for even if
/// the pid is reused afterwards.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Open a descriptor for host pid `pid`.
    pub fn open(pid: Pid) -> std::io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags (none) and returns a new descriptor or -1;
        // no memory is passed.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0u32) };
        let fd = super::fd_result(rc)?;
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor, to poll: it becomes readable once the process has exited.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Duplicate descriptor `target` of the process into this one (`pidfd_getfd`; needs
    /// ptrace access to it: same uid and dumpable, or the owner of its user namespace).
    pub fn get_fd(&self, target: RawFd) -> std::io::Result<OwnedFd> {
        // SAFETY: pidfd_getfd takes two descriptor numbers and flags (none) and returns a new
        // descriptor or -1; no memory is passed.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.0.as_raw_fd(), target, 0u32) };
        let fd = super::fd_result(rc)?;
        // SAFETY: a new descriptor the kernel installed for us; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// Copy descriptor `target` of host pid `pid` into this process.
pub fn copy_fd(pid: Pid, target: RawFd) -> std::io::Result<OwnedFd> {
    PidFd::open(pid)?.get_fd(target)
}

/// Receive exactly `n` (at most 4) descriptors in one message (`SCM_RIGHTS`); `None` on EOF
/// or another count. Every descriptor received is owned, even when the count is wrong.
pub fn receive_fds(chan: BorrowedFd<'_>, n: usize) -> std::io::Result<Option<Vec<OwnedFd>>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = loop {
        match recvmsg::<()>(
            chan.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(std::io::Error::from)?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            for fd in received {
                // SAFETY: the kernel installed this descriptor for us with SCM_RIGHTS; it is
                // wrapped exactly once.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok((fds.len() == n).then_some(fds))
}

/// Accept a connection on `listener`, close-on-exec.
pub fn accept(listener: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let fd = nix::sys::socket::accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In a forked child, close its copy of a descriptor the parent owns. The child never drops
/// the parent's `OwnedFd` (it leaves with `_exit`), so the number is not closed twice.
pub fn close_inherited(fd: RawFd) {
    // SAFETY: close takes a descriptor number; an already closed or invalid number only
    // yields EBADF.
    unsafe { libc::close(fd) };
}

/// Close a descriptor this process no longer needs before `_exit`s or exec, by borrowing it
/// (the owner, a forked child's copy of a value, is never dropped: the child ends with
/// `_exit`).
pub fn close_before_exit(fd: BorrowedFd<'_>) {
    close_inherited(fd.as_fd().as_raw_fd());
}

/// Mark every descriptor from `first` on close-on-exec (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`): descriptors still needed until exec (a close-on-exec pipe) stay
/// usable, and nothing leaks into the executed program.
pub fn cloexec_from(first: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors; it takes
    // integers only.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}
