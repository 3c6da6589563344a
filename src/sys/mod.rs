//! The thin syscall layer: every raw system call safe-install makes that no safe wrapper
//! (std, nix, landlock) covers, behind typed, safe functions. This is the only
//! module where `unsafe` is allowed (`#![deny(unsafe_code)]` at the crate root); each block
//! says why it is sound (`// SAFETY:`), and the code above it reads as ordinary Rust.
//!
//! - [`fd`] — copying a descriptor out of another process (`pidfd_open` + `pidfd_getfd`),
//!   receiving descriptors (`SCM_RIGHTS`), accepting, closing a forked child's inherited
//!   copies, marking every descriptor close-on-exec;
//! - [`prctl`] — the process attributes the setup changes (parent-death signal,
//!   no_new_privs, dumpable, child subreaper, capability bounding and ambient sets);
//! - [`caps`] — `capset`;
//! - [`seccomp`] — installing a filter, or a notify filter and its listener, and the
//!   listener's ioctls;
//! - [`net`] — the loopback interface's flags, a socket's family (`SO_DOMAIN`);
//! - [`process`] — `fork`, `clone` into new namespaces, `_exit`, signal dispositions;
//! - [`mem`] — wiping memory (secrets, the inherited environment block);
//! - [`mount`] — `mount_setattr`;
//! - [`landlock`] — the kernel's Landlock ABI version;
//! - [`tty`] — terminal ioctls (for tests of the filter that refuses them).

pub mod caps;
pub mod fd;
pub mod landlock;
pub mod mem;
pub mod mount;
pub mod net;
pub mod prctl;
pub mod process;
pub mod seccomp;
pub mod syscalls;
pub mod tty;

/// The errno of the last failed call, as an `io::Error`.
fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A syscall's `long` return value as a new descriptor number (`-1` is an error).
fn fd_result(rc: libc::c_long) -> std::io::Result<std::os::fd::RawFd> {
    if rc < 0 {
        return Err(last_error());
    }
    std::os::fd::RawFd::try_from(rc).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))
}
