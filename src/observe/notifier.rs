//! The seccomp user-notification loop. It never turns a denial into an allow on the strength
//! of memory it read: destinations that stay inside the sandbox get CONTINUE (the network
//! namespace would let those through anyway, and a racing thread that rewrites the address
//! after our read still meets the namespace, which has no route out); destinations that would
//! leave are logged and answered with an errno at once, as the kernel would have refused them.

use super::attribution::Attributor;
use super::process;
use super::sockaddr::{listener_inside, parse, stays_inside, Dest};
use crate::events::{Action, Event, EventSink, Reason, Verdict};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`: wake the notifier on the same CPU (lower latency).
const FD_SYNC_WAKE_UP: u64 = 1;
const MAX_SOCKADDR: usize = 128;
/// `sizeof(struct msghdr)` and `sizeof(struct mmsghdr)` on 64-bit Linux.
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;
/// How many messages of a sendmmsg are inspected; the rest share the first's fate.
const MAX_MMSG: usize = 64;

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Continue,
    Errno(i32),
}

/// Serve notifications until every process in the sandbox is gone.
pub fn spawn(
    listener: OwnedFd,
    sink: EventSink,
    who: Arc<Attributor>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // SAFETY: the ioctl reads one u64 flag word we pass by reference.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            &FD_SYNC_WAKE_UP,
        );
    }
    std::thread::Builder::new()
        .name("seccomp-notify".into())
        .stack_size(256 * 1024)
        .spawn(move || serve(&listener, &sink, &who))
}

fn serve(listener: &OwnedFd, sink: &EventSink, who: &Attributor) {
    let fd = listener.as_raw_fd();
    loop {
        let mut pfd = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut pfd, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let revents = pfd[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLHUP) && !revents.contains(PollFlags::POLLIN) {
            return;
        }
        // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed before RECV.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV writes one seccomp_notif into `req`, which we own.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            match nix::errno::Errno::last() {
                // The target died (or was interrupted) between notification and receipt.
                nix::errno::Errno::ENOENT | nix::errno::Errno::EINTR => continue,
                _ => return,
            }
        }
        let answer = handle(fd, &req, sink, who);
        let (error, flags) = match answer {
            Answer::Continue => (0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
            Answer::Errno(e) => (-e, 0),
        };
        let resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error,
            flags,
        };
        // SAFETY: SEND reads one seccomp_notif_resp we own; ENOENT (target gone) is harmless.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
}

/// Whether the notification is still the one we read memory for (the target may have died
/// and its pid been reused).
fn still_valid(fd: i32, id: u64) -> bool {
    // SAFETY: ID_VALID reads one u64 we pass by reference.
    unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

fn handle(fd: i32, req: &libc::seccomp_notif, sink: &EventSink, who: &Attributor) -> Answer {
    let pid = req.pid as i32;
    let args = req.data.args;
    let nr = req.data.nr as libc::c_long;
    let (dests, what) = match nr {
        libc::SYS_socket => {
            emit(
                sink,
                who,
                pid,
                format!("socket(family {}, type {})", args[0], args[1] & 0xf),
                Reason::RawSocket,
                "raw and packet sockets are refused",
            );
            return Answer::Errno(libc::EPERM);
        }
        libc::SYS_connect => (
            read_addr(pid, args[1], args[2])
                .into_iter()
                .collect::<Vec<_>>(),
            "connect",
        ),
        libc::SYS_sendto => (
            read_addr(pid, args[4], args[5]).into_iter().collect(),
            "sendto",
        ),
        libc::SYS_sendmsg => (
            read_msghdr_addr(pid, args[1]).into_iter().collect(),
            "sendmsg",
        ),
        libc::SYS_sendmmsg => (read_mmsg_addrs(pid, args[1], args[2]), "sendmmsg"),
        _ => return Answer::Continue,
    };
    if !still_valid(fd, req.id) {
        return Answer::Continue;
    }
    let stream = nr == libc::SYS_connect && socket_type(pid, args[0]) == Some(libc::SOCK_STREAM);
    if let Some(addr) = dests.iter().find_map(|d| unserved_loopback(pid, d, stream)) {
        emit(
            sink,
            who,
            pid,
            addr.to_string(),
            Reason::DirectConnect,
            &format!(
                "{what} to the sandbox's own loopback where nothing listens: the host's local services (databases, docker, metadata proxies) are out of reach"
            ),
        );
        return Answer::Errno(libc::ECONNREFUSED);
    }
    let Some(out) = dests.iter().find(|d| !stays_inside(d)) else {
        return Answer::Continue;
    };
    let target = match out {
        Dest::Inet(addr) => addr.to_string(),
        Dest::Other(family) => format!("address family {family}"),
        Dest::Unix => String::from("unix socket"),
    };
    let fastopen = nr == libc::SYS_sendto && args[3] & libc::MSG_FASTOPEN as u64 != 0;
    let detail = format!(
        "{what}{} to an address outside the sandbox; its network namespace has no route out (HTTP(S) goes through safe-install's proxy)",
        if fastopen { " with MSG_FASTOPEN" } else { "" }
    );
    emit(sink, who, pid, target, Reason::DirectConnect, &detail);
    Answer::Errno(libc::ENETUNREACH)
}

/// A loopback destination other than the proxy and DNS stub on which nothing inside listens:
/// an attempt at the host's local services, which the namespace keeps out of reach.
fn unserved_loopback(pid: i32, dest: &Dest, stream: bool) -> Option<std::net::SocketAddr> {
    let Dest::Inet(addr) = dest else { return None };
    if !addr.ip().is_loopback() && !addr.ip().to_canonical().is_loopback() {
        return None;
    }
    let ours = [crate::sandbox::egress::PROXY, crate::sandbox::egress::DNS];
    if ours.iter().any(|o| o.port() == addr.port()) {
        return None;
    }
    let proto = if stream { "tcp" } else { "udp" };
    (!listener_inside(pid, proto, addr.port())).then_some(*addr)
}

/// SO_TYPE of descriptor `fd` in process `pid`, through a copy taken with pidfd_getfd.
fn socket_type(pid: i32, fd: u64) -> Option<i32> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags; returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: a descriptor the kernel just returned to us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: duplicates the target's descriptor into ours (the supervisor owns the sandbox's
    // user namespace); returns a new descriptor or -1.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd as i32, 0) };
    if copy < 0 {
        return None;
    }
    // SAFETY: as above.
    let copy = unsafe { OwnedFd::from_raw_fd(copy as i32) };
    nix::sys::socket::getsockopt(&copy, nix::sys::socket::sockopt::SockType)
        .ok()
        .map(|t| t as i32)
}

fn emit(
    sink: &EventSink,
    who: &Attributor,
    pid: i32,
    target: String,
    reason: Reason,
    detail: &str,
) {
    let mut ev = Event::new(Action::Connect, Verdict::Blocked, target, reason).with_detail(detail);
    who.of_pid(pid).apply(&mut ev);
    sink.emit(ev);
}

fn read_addr(pid: i32, ptr: u64, len: u64) -> Option<Dest> {
    if ptr == 0 || len == 0 {
        return None;
    }
    let len = (len as usize).min(MAX_SOCKADDR);
    process::read_memory(pid, ptr, len).ok().map(|b| parse(&b))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// `msg_name` / `msg_namelen` of a `struct msghdr`.
fn name_of(hdr: &[u8]) -> Option<(u64, u64)> {
    Some((u64_at(hdr, 0)?, u32_at(hdr, 8)? as u64))
}

fn read_msghdr_addr(pid: i32, ptr: u64) -> Option<Dest> {
    let hdr = process::read_memory(pid, ptr, MSGHDR).ok()?;
    let (name, len) = name_of(&hdr)?;
    read_addr(pid, name, len)
}

fn read_mmsg_addrs(pid: i32, ptr: u64, vlen: u64) -> Vec<Dest> {
    let n = (vlen as usize).min(MAX_MMSG);
    let Ok(all) = process::read_memory(pid, ptr, n * MMSGHDR) else {
        return Vec::new();
    };
    all.chunks(MMSGHDR)
        .filter_map(name_of)
        .filter_map(|(name, len)| read_addr(pid, name, len))
        .collect()
}
