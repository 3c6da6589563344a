//! Sockets and interfaces where nix has no safe call: the loopback interface's flags and a
//! socket's family.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Bring up the interface `lo` (`IFF_UP | IFF_RUNNING`) through `sock`, any inet socket of
/// the network namespace. Which step failed is named in the error (`SIOCGIFFLAGS` or
/// `SIOCSIFFLAGS`).
// The request constants' type differs between libcs (glibc c_ulong, musl c_int).
#[allow(clippy::unnecessary_cast)]
pub fn loopback_up(sock: BorrowedFd<'_>) -> Result<(), (&'static str, Errno)> {
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    // SAFETY: SIOCGIFFLAGS writes only the ifreq we pass, which lives for the call.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut req,
        )
    };
    if rc != 0 {
        return Err(("SIOCGIFFLAGS lo", Errno::last()));
    }
    let up = libc::c_short::try_from(libc::IFF_UP | libc::IFF_RUNNING)
        .map_err(|_| ("IFF_UP", Errno::EINVAL))?;
    // SAFETY: the flags member of the union is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= up };
    // SAFETY: SIOCSIFFLAGS reads only the ifreq we pass, which lives for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as libc::Ioctl, &req) };
    if rc != 0 {
        return Err(("SIOCSIFFLAGS lo", Errno::last()));
    }
    Ok(())
}

/// The address family of socket `s` (`SO_DOMAIN`), from the kernel.
pub fn domain(s: BorrowedFd<'_>) -> Option<libc::c_int> {
    let mut domain: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).ok()?;
    // SAFETY: SO_DOMAIN writes one c_int into `domain`, whose size we pass; both outlive the
    // call.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(domain)
}
