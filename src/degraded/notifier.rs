//! The landlock rung's notification loop (see [`super::filter`] for what is notified). The
//! supervisor performs every permitted connect itself: it copies the target's socket with
//! `pidfd_getfd`, checks the copy's family and type (kernel state, not target memory), and
//! connects the copy to the proxy address it chose, answering with the result. The address
//! the target passed is read only to recognise "the proxy" and to log; whatever the target
//! writes there afterwards, its socket can only ever reach the proxy. CONTINUE is never sent.

use crate::events::{EventSink, Reason};
use crate::observe::attribution::Attributor;
use crate::observe::notifier::{emit, Answer};
use crate::observe::process;
use crate::observe::sockaddr::{parse, Dest};
use nix::sys::socket::{getsockopt, sockopt};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
    listener: OwnedFd,
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
            crate::observe::notifier::serve_loop(&listener, |fd, req| {
                match notifier.handle(fd, req) {
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
    fn handle(&self, fd: i32, req: &libc::seccomp_notif) -> Result<i64, i32> {
        let (sink, who) = (self.sink, self.who);
        let pid = req.pid as i32;
        let args = req.data.args;
        match req.data.nr as libc::c_long {
            libc::SYS_socket | libc::SYS_socketpair => {
                let (family, ty) = (args[0] as i32, (args[1] & 0xf) as i32);
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
                let target = if req.data.nr as libc::c_long == libc::SYS_sendto {
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
            libc::SYS_connect => self.connect(fd, req),
            libc::SYS_listen => self.listen(fd, req),
            _ => Err(libc::ENOSYS),
        }
    }

    /// listen(): performed by the supervisor on its copy of the socket (one open socket: the
    /// target's descriptor listens too) when it may listen, refused otherwise. The decision
    /// rests on the copy's kernel state: a bound socket cannot be bound again, so its address
    /// cannot change between the check and the listen.
    fn listen(&self, fd: i32, req: &libc::seccomp_notif) -> Result<i64, i32> {
        let pid = req.pid as i32;
        let args = req.data.args;
        let Some(socket) = copy_socket(fd, req.id, pid, args[0] as i32) else {
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
        // The backlog is an int; the kernel clamps it (somaxconn).
        let backlog = args[1] as i32;
        // SAFETY: listen on a descriptor we own, with a plain integer.
        if unsafe { libc::listen(socket.as_raw_fd(), backlog) } == 0 {
            Ok(0)
        } else {
            Err(nix::errno::Errno::last() as i32)
        }
    }

    fn connect(&self, fd: i32, req: &libc::seccomp_notif) -> Result<i64, i32> {
        let (proxy, sink, who) = (self.proxy, self.sink, self.who);
        let pid = req.pid as i32;
        let args = req.data.args;
        let dest = read_dest(pid, args[1], args[2]);
        let socket = copy_socket(fd, req.id, pid, args[0] as i32);
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
    let rc = if family == libc::AF_INET {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: proxy.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*proxy.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `addr` is a complete sockaddr_in whose size we pass; it outlives the call.
        unsafe {
            libc::connect(
                s.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
    } else {
        let addr = libc::sockaddr_in6 {
            sin6_family: libc::AF_INET6 as libc::sa_family_t,
            sin6_port: proxy.port().to_be(),
            sin6_flowinfo: 0,
            sin6_addr: libc::in6_addr {
                s6_addr: proxy.ip().to_ipv6_mapped().octets(),
            },
            sin6_scope_id: 0,
        };
        // SAFETY: as above, for a sockaddr_in6.
        unsafe {
            libc::connect(
                s.as_raw_fd(),
                (&addr as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last() as i32)
    }
}

/// The inet address `s` is bound to (`0.0.0.0:0` when unbound), from the kernel.
fn local_addr(s: &OwnedFd) -> Option<SocketAddr> {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `storage`, whose size we pass.
    let rc = unsafe {
        libc::getsockname(
            s.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: `storage` is a plain byte buffer of its own size; `len` bytes were written.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&storage as *const libc::sockaddr_storage).cast::<u8>(),
            (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        )
    };
    match parse(bytes) {
        Dest::Inet(a) => Some(a),
        _ => None,
    }
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
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_DOMAIN writes one c_int into `domain`, whose size we pass.
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

/// A copy of descriptor `target_fd` of `pid`, checked to belong to the notifying task.
fn copy_socket(listener: i32, id: u64, pid: i32, target_fd: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: a descriptor the kernel just returned to us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // The pid may have been reused if the target died: the notification still being valid
    // after the pidfd was opened proves the pidfd is the target's.
    // SAFETY: ID_VALID reads one u64 we pass by reference.
    if unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) } != 0 {
        return None;
    }
    // SAFETY: duplicates the target's descriptor into ours (same uid, the target descends
    // from us); returns a new descriptor or -1.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0) };
    if copy < 0 {
        return None;
    }
    // SAFETY: as above.
    Some(unsafe { OwnedFd::from_raw_fd(copy as i32) })
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
    let len = (len as usize).min(MAX_SOCKADDR);
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

/// The proxy's address on the host's loopback.
pub fn proxy_addr(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
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
