//! The control socket: an abstract unix socket in the sandbox's network namespace on which the
//! script shim hands its seccomp listener to the supervisor. Init creates it (inside the
//! namespace, inside the Landlock domain the package manager shares) and the supervisor takes
//! a copy; the shim connects, installs its filter, writes the listener's descriptor number and
//! waits for one byte back (the supervisor copies the descriptor with pidfd_getfd: sending it
//! with sendmsg would wait for the very listener being sent).

use super::report::{SetupError, Stage};
use crate::plan::trust::CONTROL_SOCKET;
use nix::sys::socket::{
    bind, connect, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use std::os::fd::OwnedFd;

fn address() -> nix::Result<UnixAddr> {
    UnixAddr::new_abstract(CONTROL_SOCKET.as_bytes())
}

fn seqpacket() -> nix::Result<OwnedFd> {
    socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// Init: listen on the control socket.
pub fn listen_socket() -> nix::Result<OwnedFd> {
    let fd = seqpacket()?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &address()?)?;
    nix::sys::socket::listen(&fd, Backlog::new(64)?)?;
    Ok(fd)
}

/// [`listen_socket`] as a setup step.
pub fn open() -> Result<OwnedFd, SetupError> {
    listen_socket()
        .map_err(|e| SetupError::errno(Stage::ControlSocket, e, "listen on the control socket"))
}

/// The shim: connect to the supervisor.
pub fn connect_supervisor() -> nix::Result<OwnedFd> {
    let fd = seqpacket()?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &address()?)?;
    Ok(fd)
}
