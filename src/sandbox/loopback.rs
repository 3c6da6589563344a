//! Bringing up `lo` in the sandbox's network namespace, so local servers a build starts, and
//! later the supervisor's proxy, are reachable. The namespace has no other interface: no
//! route out exists for anything inside.

use super::report::{SetupError, Stage};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsFd;

pub fn up() -> Result<(), SetupError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| SetupError::errno(Stage::Loopback, e, "socket"))?;
    crate::sys::net::loopback_up(sock.as_fd())
        .map_err(|(what, e)| SetupError::errno(Stage::Loopback, e, what))
}
