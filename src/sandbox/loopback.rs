//! Bringing up `lo` in the sandbox's network namespace, so local servers a build starts, and
//! later the supervisor's proxy, are reachable. The namespace has no other interface: no
//! route out exists for anything inside.

use super::report::{SetupError, Stage};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;

// The request constants' type differs between libcs (glibc c_ulong, musl c_int).
#[allow(clippy::unnecessary_cast)]
pub fn up() -> Result<(), SetupError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| SetupError::errno(Stage::Loopback, e, "socket"))?;
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write only the ifreq we pass, which lives for
    // the duration of each call; the flags member of the union is the one these calls use.
    unsafe {
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut req,
        ) != 0
        {
            return Err(SetupError::errno(
                Stage::Loopback,
                nix::errno::Errno::last(),
                "SIOCGIFFLAGS lo",
            ));
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as libc::Ioctl, &req) != 0 {
            return Err(SetupError::errno(
                Stage::Loopback,
                nix::errno::Errno::last(),
                "SIOCSIFFLAGS lo",
            ));
        }
    }
    Ok(())
}
