//! The sandbox's end of egress: the proxy's and DNS stub's listening sockets are created here,
//! inside the network namespace (so only sandboxed processes can reach them), and handed to
//! the supervisor over a unix socket. The supervisor serves them from the host namespace and
//! dials out itself; nothing inside ever holds a socket that can leave.

use super::report::{SetupError, Stage};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Where the HTTP proxy listens inside the sandbox.
pub const PROXY: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3128);
/// Where the DNS stub listens inside the sandbox (UDP and TCP).
pub const DNS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 53);

/// The proxy URL clients inside are given.
pub fn proxy_url() -> String {
    format!("http://{PROXY}")
}

/// Bind the three sockets and send them (proxy TCP, DNS UDP, DNS TCP, in that order).
pub fn open_and_send(chan: BorrowedFd<'_>) -> Result<(), SetupError> {
    let fail =
        |what: &str, e: std::io::Error| SetupError::io(Stage::Loopback, &e, what.to_string());
    let proxy =
        TcpListener::bind(SocketAddr::V4(PROXY)).map_err(|e| fail("bind the proxy socket", e))?;
    let dns_udp =
        UdpSocket::bind(SocketAddr::V4(DNS)).map_err(|e| fail("bind the DNS socket (udp)", e))?;
    let dns_tcp =
        TcpListener::bind(SocketAddr::V4(DNS)).map_err(|e| fail("bind the DNS socket (tcp)", e))?;
    let fds = [proxy.as_raw_fd(), dns_udp.as_raw_fd(), dns_tcp.as_raw_fd()];
    // Our copies close when this function returns; the supervisor's stay open.
    send_fds(chan, &fds).map_err(|e| {
        SetupError::errno(
            Stage::Loopback,
            e,
            "hand the egress sockets to the supervisor",
        )
    })
}

/// Send descriptors to the supervisor in one message (SCM_RIGHTS).
pub fn send_fds(chan: BorrowedFd<'_>, fds: &[RawFd]) -> nix::Result<()> {
    let iov = [IoSlice::new(b"F")];
    sendmsg::<()>(
        chan.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}
