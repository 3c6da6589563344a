//! Landlock mode's notification loop: connect on the sandbox's behalf (what is notified:
//! `sandbox::seccomp::Observe::ConnectOnBehalf`). The supervisor performs every permitted
//! connect itself: it copies the target's socket with `pidfd_getfd`, checks the copy's family
//! and type (kernel state, not target memory), and connects the copy to the proxy address it
//! chose, answering with the result. The address the target passed is read only to recognise
//! "the proxy" and to log; whatever the target writes there afterwards, its socket can only
//! ever reach the proxy. CONTINUE is never sent.

use crate::events::{EventSink, Reason};
use crate::observe::attribution::Attributor;
use crate::observe::notifier::{emit, Answer, Listener, Notification};
use crate::observe::process;
use crate::observe::sockaddr::{parse, Dest};
use nix::sys::socket::{getsockopt, sockopt};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

const MAX_SOCKADDR: usize = 128;

/// What the refusals' events say (`detail`).
const UDP_REFUSED: &str =
    "UDP is refused in landlock mode (Landlock does not cover it), DNS included: names are resolved by safe-install's proxy";
const UNIX_DATAGRAM_REFUSED: &str =
    "datagram and seqpacket unix sockets can send to any socket path; refused in landlock mode";
const FASTOPEN_REFUSED: &str =
    "MSG_FASTOPEN connects without connect(2) and would bypass Landlock's TCP rules; refused";
const UNIX_CONNECT_REFUSED: &str =
    "connect to a unix socket: refused in landlock mode (without a mount namespace the host's sockets, docker's and ssh-agent's included, would be reachable)";
const INBOUND_REFUSED: &str =
    "listen() on a socket not bound to a loopback address: refused in landlock mode (no network namespace: it would accept connections from outside; an unbound socket would be bound to the wildcard address by the kernel, without a bind() for Landlock to check)";
const BYPASS_REFUSED: &str =
    "connect bypassing the proxy: refused in landlock mode (HTTP(S) goes through safe-install's proxy)";

/// Name-service sockets glibc tries before reading /etc: refused quietly (the files database
/// answers), so a benign install logs nothing.
const QUIET_UNIX: &[&str] = &[
    "/var/run/nscd/socket",
    "/run/nscd/socket",
    "/run/systemd/userdb/",
];

/// Serve notifications until every sandboxed process is gone.
pub fn spawn(
    listener: Listener,
    proxy: SocketAddrV4,
    sink: EventSink,
    who: Arc<Attributor>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("seccomp-connect".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let notifier = Notifier {
                proxy,
                sink: &sink,
                who: &who,
            };
            crate::observe::notifier::serve_loop(&listener, |listener, req| {
                match notifier.handle(listener, req) {
                    Ok(v) => Answer::Value(v),
                    Err(e) => Answer::Errno(e),
                }
            });
        })
}

/// What every answer needs: the one address connects may reach, and where refusals go.
struct Notifier<'a> {
    proxy: SocketAddrV4,
    sink: &'a EventSink,
    who: &'a Attributor,
}

impl Notifier<'_> {
    /// The syscall's return value, or the errno to fail it with.
    fn handle(&self, listener: &Listener, req: &Notification) -> Result<i64, i32> {
        let (sink, who) = (self.sink, self.who);
        let pid = req.pid.as_raw();
        let args = req.args;
        match req.nr {
            libc::SYS_socket | libc::SYS_socketpair => {
                let (family, ty) = (req.int_arg(0), req.int_arg(1) & 0xf);
                let (target, reason, detail) = match (family, ty) {
                    (libc::AF_INET | libc::AF_INET6, libc::SOCK_DGRAM) => {
                        ("udp socket".to_string(), Reason::UdpSocket, UDP_REFUSED)
                    }
                    (libc::AF_UNIX, _) => (
                        "unix datagram socket".to_string(),
                        Reason::DirectConnect,
                        UNIX_DATAGRAM_REFUSED,
                    ),
                    _ => (
                        format!("socket(family {family}, type {ty})"),
                        Reason::RawSocket,
                        "raw and packet sockets are refused",
                    ),
                };
                emit(sink, who, pid, target, reason, detail);
                Err(libc::EPERM)
            }
            libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => {
                let target = if req.nr == libc::SYS_sendto {
                    describe(read_dest(pid, args[4], args[5]).as_ref())
                } else {
                    "tcp fast open".to_string()
                };
                emit(
                    sink,
                    who,
                    pid,
                    target,
                    Reason::DirectConnect,
                    FASTOPEN_REFUSED,
                );
                Err(libc::EPERM)
            }
            libc::SYS_connect => self.connect(listener, req),
            libc::SYS_listen => self.listen(listener, req),
            _ => Err(libc::ENOSYS),
        }
    }

    /// listen(): performed by the supervisor on its copy of the socket (one open socket: the
    /// target's descriptor listens too) when it may listen, refused otherwise. The decision
    /// rests on the copy's kernel state: a bound socket cannot be bound again, so its address
    /// cannot change between the check and the listen.
    fn listen(&self, listener: &Listener, req: &Notification) -> Result<i64, i32> {
        let pid = req.pid.as_raw();
        let Some(socket) = copy_socket(listener, req) else {
            return Err(libc::EBADF);
        };
        let Some(family) = domain_of(&socket) else {
            // Not a socket: what listen() itself says.
            return Err(libc::ENOTSOCK);
        };
        let bound = local_addr(&socket);
        if !may_listen(family, bound) {
            let target = match bound {
                Some(a) if a.port() != 0 => a.to_string(),
                Some(a) => format!("{}:<auto>", a.ip()),
                None => "unknown address".into(),
            };
            emit(
                self.sink,
                self.who,
                pid,
                target,
                Reason::InboundSocket,
                INBOUND_REFUSED,
            );
            return Err(libc::EACCES);
        }
        // The backlog is an int; the kernel clamps it (somaxconn), and so does nix.
        let backlog = nix::sys::socket::Backlog::new(req.int_arg(1).max(0))
            .unwrap_or(nix::sys::socket::Backlog::MAXCONN);
        match nix::sys::socket::listen(&socket, backlog) {
            Ok(()) => Ok(0),
            Err(e) => Err(e as i32),
        }
    }

    fn connect(&self, listener: &Listener, req: &Notification) -> Result<i64, i32> {
        let (proxy, sink, who) = (self.proxy, self.sink, self.who);
        let pid = req.pid.as_raw();
        let args = req.args;
        let dest = read_dest(pid, args[1], args[2]);
        let socket = copy_socket(listener, req);
        let kind = socket
            .as_ref()
            .and_then(|s| Some((domain_of(s)?, getsockopt(s, sockopt::SockType).ok()? as i32)));
        let wants_proxy = matches!(&dest, Some(UnixOrInet::Inet(a)) if is_proxy(a, proxy));
        match (socket, kind) {
            (Some(s), Some((family, libc::SOCK_STREAM)))
                if wants_proxy && (family == libc::AF_INET || family == libc::AF_INET6) =>
            {
                // The copy and the target's descriptor share one open socket: connecting ours
                // connects theirs (non-blocking mode included: EINPROGRESS is passed on).
                connect_to(&s, family, proxy).map(|_| 0)
            }
            _ => {
                if let Some(UnixOrInet::Unix(path)) = &dest {
                    if QUIET_UNIX.iter().any(|q| path.starts_with(q)) {
                        return Err(libc::ENOENT);
                    }
                }
                let detail = match &dest {
                    Some(UnixOrInet::Unix(_)) => UNIX_CONNECT_REFUSED,
                    _ => BYPASS_REFUSED,
                };
                emit(
                    sink,
                    who,
                    pid,
                    describe(dest.as_ref()),
                    Reason::DirectConnect,
                    detail,
                );
                Err(match dest {
                    Some(UnixOrInet::Inet(_)) => libc::ECONNREFUSED,
                    _ => libc::EACCES,
                })
            }
        }
    }
}

/// Connect `s` to `proxy` (IPv4, or IPv4-mapped for an IPv6 socket); the errno on failure.
fn connect_to(s: &OwnedFd, family: i32, proxy: SocketAddrV4) -> Result<(), i32> {
    use nix::sys::socket::{connect, SockaddrIn, SockaddrIn6};
    let done = if family == libc::AF_INET {
        connect(s.as_raw_fd(), &SockaddrIn::from(proxy))
    } else {
        let mapped = SocketAddrV6::new(proxy.ip().to_ipv6_mapped(), proxy.port(), 0, 0);
        connect(s.as_raw_fd(), &SockaddrIn6::from(mapped))
    };
    done.map_err(|e| e as i32)
}

/// The inet address `s` is bound to (`0.0.0.0:0` when unbound), from the kernel.
fn local_addr(s: &OwnedFd) -> Option<SocketAddr> {
    use nix::sys::socket::{getsockname, SockaddrStorage};
    let addr: SockaddrStorage = getsockname(s.as_raw_fd()).ok()?;
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    let v6 = addr.as_sockaddr_in6()?;
    Some(SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Whether a socket of `family`, bound to `bound` (`None`: not an inet address), may listen:
/// unix sockets (Landlock scopes abstract ones from ABI 6; by path they need a bind, which
/// the filesystem rules cover), inet ones only when bound to a loopback address and a port
/// (unbound means the wildcard address once the kernel autobinds). Anything else: no.
fn may_listen(family: i32, bound: Option<SocketAddr>) -> bool {
    match family {
        libc::AF_UNIX => true,
        libc::AF_INET | libc::AF_INET6 => {
            bound.is_some_and(|a| a.port() != 0 && a.ip().to_canonical().is_loopback())
        }
        _ => false,
    }
}

fn is_proxy(addr: &SocketAddr, proxy: SocketAddrV4) -> bool {
    addr.port() == proxy.port() && addr.ip().to_canonical() == std::net::IpAddr::V4(*proxy.ip())
}

fn domain_of(s: &OwnedFd) -> Option<i32> {
    crate::sys::net::domain(s.as_fd())
}

/// A copy of the descriptor the notifying task passed as its first argument, checked to
/// belong to that task.
fn copy_socket(listener: &Listener, req: &Notification) -> Option<OwnedFd> {
    let pidfd = crate::sys::fd::PidFd::open(req.pid).ok()?;
    // The pid may have been reused if the target died: the notification still being valid
    // after the pidfd was opened proves the pidfd is the target's.
    if !listener.still_valid(req.id) {
        return None;
    }
    pidfd.get_fd(req.int_arg(0)).ok()
}

enum UnixOrInet {
    Inet(SocketAddr),
    Unix(String),
    Other(u16),
}

fn read_dest(pid: i32, ptr: u64, len: u64) -> Option<UnixOrInet> {
    if ptr == 0 || len == 0 {
        return None;
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_SOCKADDR);
    let bytes = process::read_memory(pid, ptr, len).ok()?;
    Some(match parse(&bytes) {
        Dest::Inet(a) => UnixOrInet::Inet(a),
        Dest::Unix(_) => {
            let path = &bytes[2..];
            if path.first() == Some(&0) {
                let name: Vec<u8> = path[1..].iter().copied().take_while(|b| *b != 0).collect();
                UnixOrInet::Unix(format!("@{}", String::from_utf8_lossy(&name)))
            } else {
                let name: Vec<u8> = path.iter().copied().take_while(|b| *b != 0).collect();
                UnixOrInet::Unix(String::from_utf8_lossy(&name).into_owned())
            }
        }
        Dest::Other(f) => UnixOrInet::Other(f),
    })
}

fn describe(dest: Option<&UnixOrInet>) -> String {
    match dest {
        Some(UnixOrInet::Inet(a)) => a.to_string(),
        Some(UnixOrInet::Unix(p)) => format!("unix:{p}"),
        Some(UnixOrInet::Other(f)) => format!("address family {f}"),
        None => "unknown address".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_or_unix_sockets_may_listen() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("address"));
        assert!(may_listen(libc::AF_UNIX, None));
        assert!(may_listen(libc::AF_INET, addr("127.0.0.1:8080")));
        assert!(may_listen(libc::AF_INET, addr("127.3.0.1:8080")));
        assert!(may_listen(libc::AF_INET6, addr("[::1]:8080")));
        assert!(may_listen(libc::AF_INET6, addr("[::ffff:127.0.0.1]:8080")));
        // Unbound: the kernel would bind the wildcard address.
        assert!(!may_listen(libc::AF_INET, addr("0.0.0.0:0")));
        assert!(!may_listen(libc::AF_INET6, addr("[::]:0")));
        assert!(!may_listen(libc::AF_INET, addr("127.0.0.1:0")));
        assert!(!may_listen(libc::AF_INET, addr("0.0.0.0:8080")));
        assert!(!may_listen(libc::AF_INET, addr("192.0.2.7:8080")));
        assert!(!may_listen(libc::AF_INET6, addr("[2001:db8::1]:8080")));
        assert!(!may_listen(libc::AF_INET, None));
        assert!(!may_listen(libc::AF_PACKET, None));
    }
}
