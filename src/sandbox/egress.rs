//! The sandbox's end of egress: the proxy's and DNS stub's listening sockets are created here,
//! inside the network namespace (so only sandboxed processes can reach them), and handed to
//! the supervisor over a unix socket. The supervisor serves them from the host namespace and
//! dials out itself; nothing inside ever holds a socket that can leave.

use super::report::{SetupError, Stage};
pub use crate::plan::addresses::{proxy_url, script_proxy_url, DNS, PROXY, SCRIPT_PROXY};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Bind the four sockets and send them (proxy TCP, DNS UDP, DNS TCP, script proxy TCP, in
/// that order).
pub fn open_and_send(chan: BorrowedFd<'_>) -> Result<(), SetupError> {
    let fail =
        |what: &str, e: std::io::Error| SetupError::io(Stage::EgressSockets, &e, what.to_string());
    let proxy =
        TcpListener::bind(SocketAddr::V4(PROXY)).map_err(|e| fail("bind the proxy socket", e))?;
    unpaced(&proxy);
    let dns_udp =
        UdpSocket::bind(SocketAddr::V4(DNS)).map_err(|e| fail("bind the DNS socket (udp)", e))?;
    let dns_tcp =
        TcpListener::bind(SocketAddr::V4(DNS)).map_err(|e| fail("bind the DNS socket (tcp)", e))?;
    let script_proxy = TcpListener::bind(SocketAddr::V4(SCRIPT_PROXY))
        .map_err(|e| fail("bind the scripts' proxy socket", e))?;
    unpaced(&script_proxy);
    let fds = [
        proxy.as_raw_fd(),
        dns_udp.as_raw_fd(),
        dns_tcp.as_raw_fd(),
        script_proxy.as_raw_fd(),
    ];
    // Our copies close when this function returns; the supervisor's stay open.
    send_fds(chan, &fds).map_err(|e| {
        SetupError::errno(
            Stage::EgressSockets,
            e,
            "hand the egress sockets to the supervisor",
        )
    })
}

/// The congestion control of the hop between clients inside and the proxy (accepted sockets
/// inherit the listener's). That hop never leaves loopback (this namespace's `lo`, or the
/// host's in landlock mode), so a pacing
/// algorithm such as BBR (a common host default, inherited by new namespaces) only adds
/// timer work: the sends wait for pacing timers, whose softirq work is charged to whatever
/// task is running when they fire; it halved the proxy's throughput in
/// `scripts/bench.sh proxy`. Reno does not pace, and is always allowed
/// (`net.ipv4.tcp_allowed_congestion_control`). A refusal keeps the default: slower, not
/// broken.
pub fn unpaced(listener: &TcpListener) {
    let reno = std::ffi::OsString::from("reno");
    if let Err(e) =
        nix::sys::socket::setsockopt(listener, nix::sys::socket::sockopt::TcpCongestion, &reno)
    {
        tracing::debug!(error = %e, "proxy listener keeps the default congestion control");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_hop_does_not_pace() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        unpaced(&listener);
        let addr = listener.local_addr().expect("listener address");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        let name =
            nix::sys::socket::getsockopt(&accepted, nix::sys::socket::sockopt::TcpCongestion)
                .expect("TCP_CONGESTION");
        assert_eq!(name.to_string_lossy().trim_end_matches('\0'), "reno");
        drop(client);
    }
}
