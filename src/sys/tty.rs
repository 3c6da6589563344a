//! Terminal ioctls, for the tests that prove the seccomp filter refuses them.

/// `ioctl(fd, TIOCSTI, &byte)`: push `byte` into the input queue of the terminal `fd` (what
/// the sandbox refuses). On a descriptor that is not a terminal the kernel answers ENOTTY.
#[cfg(test)]
pub fn inject_byte(fd: std::os::fd::BorrowedFd<'_>, byte: u8) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCSTI reads one byte through the pointer, which points at `byte` and outlives
    // the call.
    // The request constant's type differs between libcs (glibc c_ulong, musl c_int).
    #[allow(clippy::unnecessary_cast)]
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSTI as libc::Ioctl, &byte) };
    nix::errno::Errno::result(rc).map(drop)
}
