//! The DNS stub the sandbox's `resolv.conf` points at. Nothing inside the sandbox needs DNS:
//! the package manager reaches registries through the proxy, which resolves names in the
//! supervisor. So every query is logged (`dns` / `blocked` / `dns-query`, target = the name)
//! and answered at once, never forwarded: a query cannot carry data out, and no client waits
//! for a resolver timeout.
//!
//! The answer is `REFUSED`, echoing the id and the question (and an OPT record when the query
//! had one). `REFUSED` rather than `NXDOMAIN` because it is the truth ("this server will not
//! answer"), it is not cached as a negative answer for the name, and resolvers treat it as
//! final for this server without retry timers: glibc moves to the next (absent) server and
//! `getaddrinfo` fails with `EAI_AGAIN` immediately. `NXDOMAIN` would claim the name does not
//! exist and make glibc walk the whole search list first.
//!
//! Malformed packets (not a query, not parseable) are dropped and logged with `tracing`.
//! TCP uses RFC 1035 two-byte length framing, several queries per connection, an idle
//! timeout, and at most [`MAX_TCP_CONNECTIONS`] connections at once.

use super::request::escape;
use super::{Emitter, PeerLookup};
use crate::events::{Action, Event, EventSink, Reason, Verdict};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// TCP connections served at once.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP connection with no complete query for this long is closed.
pub const TCP_IDLE: Duration = Duration::from_secs(10);

/// The answer to one packet, and the names it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub response: Vec<u8>,
    /// The queried names, without the trailing dot (for the events).
    pub names: Vec<String>,
}

/// Build the `REFUSED` answer for one DNS message. `None`: drop it (malformed, or not a query).
pub fn answer(packet: &[u8]) -> Option<Answer> {
    let query = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, len = packet.len(), "dns stub: dropping malformed packet");
            return None;
        }
    };
    if query.metadata.message_type != MessageType::Query {
        tracing::debug!("dns stub: dropping a response packet");
        return None;
    }
    let mut response = Message::error_msg(
        query.metadata.id,
        query.metadata.op_code,
        ResponseCode::Refused,
    );
    if query.metadata.op_code == OpCode::Query {
        response.add_queries(query.queries.iter().cloned());
    }
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        response.set_edns(edns);
    }
    let names = query
        .queries
        .iter()
        .map(|q| {
            let name = q.name().to_ascii();
            let name = name.strip_suffix('.').unwrap_or(&name);
            escape(name)
        })
        .collect();
    match response.to_vec() {
        Ok(response) => Some(Answer { response, names }),
        Err(e) => {
            tracing::debug!(error = %e, "dns stub: cannot encode the answer");
            None
        }
    }
}

/// The running stub. Dropping it stops it.
pub struct DnsHandle {
    waker: UnixStream,
    threads: Vec<JoinHandle<()>>,
}

impl DnsHandle {
    /// Stop both servers and wait for them (open TCP connections end at their idle timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Tell both servers to stop without waiting for them (see `ProxyHandle::begin_stop`).
    pub fn begin_stop(&self) {
        let _ = (&self.waker).write_all(b"x");
    }

    fn shutdown(&mut self) {
        self.begin_stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for DnsHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serve the stub on `udp` and `tcp` (both already bound; `tcp` listening).
#[cfg(test)]
pub fn spawn_dns(udp: UdpSocket, tcp: TcpListener, sink: EventSink) -> io::Result<DnsHandle> {
    spawn_dns_with(udp, tcp, sink, None)
}

/// [`spawn_dns`] with attribution of each query's peer address to a process.
pub fn spawn_dns_with(
    udp: UdpSocket,
    tcp: TcpListener,
    sink: EventSink,
    lookup: Option<PeerLookup>,
) -> io::Result<DnsHandle> {
    let (waker, wake_rx) = UnixStream::pair()?;
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let emitter = Emitter { sink, lookup };
    // One thread for both sockets: a UDP query is answered inline and a TCP connection gets
    // a thread of its own, so neither waits for the other; a thread fewer to start and end
    // on every run (most runs see no query at all).
    let thread = std::thread::Builder::new()
        .name("dns-stub".into())
        .stack_size(STUB_STACK)
        .spawn(move || serve(&udp, &tcp, &wake_rx, &emitter))?;
    Ok(DnsHandle {
        waker,
        threads: vec![thread],
    })
}

/// Stack of the stub's thread: answers are built on the heap.
const STUB_STACK: usize = 256 * 1024;

fn report(emitter: &Emitter, peer: SocketAddr, names: &[String]) {
    for name in names {
        let ev = Event::new(
            Action::Dns,
            Verdict::Blocked,
            name.clone(),
            Reason::DnsQuery,
        )
        .with_detail("answered REFUSED; names are resolved by the proxy, never inside the sandbox");
        emitter.emit(peer, ev);
    }
}

/// Which of the stub's sockets are readable; `None` when woken to stop.
fn wait_readable(udp: &UdpSocket, tcp: &TcpListener, wake: &UnixStream) -> Option<(bool, bool)> {
    loop {
        let mut fds = [
            PollFd::new(udp.as_fd(), PollFlags::POLLIN),
            PollFd::new(tcp.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) if fds[2].any().unwrap_or(false) => return None,
            Ok(_) => return Some((fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false))),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                tracing::error!(error = %e, "dns stub: poll failed; stopping");
                return None;
            }
        }
    }
}

/// Serve both sockets until woken to stop.
fn serve(udp: &UdpSocket, tcp: &TcpListener, wake: &UnixStream, emitter: &Emitter) {
    let mut buf = vec![0u8; 65536];
    let active = Arc::new(AtomicUsize::new(0));
    while let Some((udp_ready, tcp_ready)) = wait_readable(udp, tcp, wake) {
        if udp_ready {
            answer_udp(udp, &mut buf, emitter);
        }
        if tcp_ready {
            accept_tcp(tcp, &active, emitter);
        }
    }
}

/// Answer every query waiting on `udp`.
fn answer_udp(udp: &UdpSocket, buf: &mut [u8], emitter: &Emitter) {
    loop {
        let (n, peer) = match udp.recv_from(buf) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::debug!(error = %e, "dns stub: recv failed");
                break;
            }
        };
        if let Some(a) = answer(&buf[..n]) {
            // Logged before answering, so a client that got its answer has been recorded.
            report(emitter, peer, &a.names);
            if let Err(e) = udp.send_to(&a.response, peer) {
                tracing::debug!(%peer, error = %e, "dns stub: send failed");
            }
        }
    }
}

/// Accept one waiting TCP connection and serve it on a thread of its own.
fn accept_tcp(listener: &TcpListener, active: &Arc<AtomicUsize>, emitter: &Emitter) {
    let (stream, peer) = match listener.accept() {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
        Err(e) => {
            tracing::warn!(error = %e, "dns stub: accept failed");
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
    };
    if active.fetch_add(1, Ordering::AcqRel) >= MAX_TCP_CONNECTIONS {
        active.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(%peer, "dns stub: too many TCP connections; closing");
        return;
    }
    let emitter = emitter.clone();
    let active_conn = Arc::clone(active);
    let spawned = std::thread::Builder::new()
        .name("dns-stub-conn".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            if let Err(e) = serve_tcp_conn(stream, peer, &emitter) {
                tracing::debug!(%peer, error = %e, "dns stub: TCP connection ended");
            }
            active_conn.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(e) = spawned {
        active.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(error = %e, "dns stub: cannot start a connection thread");
    }
}

fn serve_tcp_conn(stream: TcpStream, peer: SocketAddr, emitter: &Emitter) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TCP_IDLE))?;
    stream.set_write_timeout(Some(TCP_IDLE))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let mut len = [0u8; 2];
        match (&stream).read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = usize::from(u16::from_be_bytes(len));
        let packet = &mut buf[..len];
        (&stream).read_exact(packet)?;
        let Some(a) = answer(packet) else {
            continue;
        };
        let Ok(frame_len) = u16::try_from(a.response.len()) else {
            continue;
        };
        let mut frame = Vec::with_capacity(a.response.len() + 2);
        frame.extend_from_slice(&frame_len.to_be_bytes());
        frame.extend_from_slice(&a.response);
        report(emitter, peer, &a.names);
        (&stream).write_all(&frame)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};
    use std::str::FromStr;

    fn query(id: u16, name: &str, edns: bool) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(
            Name::from_str(name).expect("test name"),
            RecordType::A,
        ));
        if edns {
            m.set_edns(Edns::new());
        }
        m.to_vec().expect("encode query")
    }

    fn check_refused(bytes: &[u8], id: u16, name: &str) {
        let m = Message::from_vec(bytes).expect("decode answer");
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_ascii(), name);
        assert!(m.answers.is_empty());
    }

    #[test]
    fn answers_refused_echoing_id_and_question() {
        let a = answer(&query(0x1234, "registry.example.com.", true)).expect("answer");
        check_refused(&a.response, 0x1234, "registry.example.com.");
        assert_eq!(a.names, vec!["registry.example.com".to_string()]);
        let m = Message::from_vec(&a.response).expect("decode");
        assert!(m.edns.is_some());
        let a = answer(&query(7, "Secret-Data.Evil.Example.", false)).expect("answer");
        assert_eq!(a.names, vec!["secret-data.evil.example".to_string()]);
        assert!(Message::from_vec(&a.response)
            .expect("decode")
            .edns
            .is_none());
    }

    #[test]
    fn malformed_and_responses_are_dropped() {
        assert_eq!(answer(b""), None);
        assert_eq!(answer(&[0xff; 5]), None);
        let mut q = query(1, "a.example.", false);
        q.truncate(q.len() - 3);
        assert_eq!(answer(&q), None);
        let response = answer(&query(1, "a.example.", false))
            .expect("answer")
            .response;
        assert_eq!(answer(&response), None);
        // Arbitrary bytes never panic.
        let mut x: u32 = 1;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = answer(&bytes);
        }
    }

    fn start() -> (DnsHandle, EventLog, SocketAddr, SocketAddr) {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let (ua, ta) = (
            udp.local_addr().expect("addr"),
            tcp.local_addr().expect("addr"),
        );
        let log = EventLog::open(None, false).expect("log");
        let h = spawn_dns(udp, tcp, log.sink()).expect("spawn");
        (h, log, ua, ta)
    }

    #[test]
    fn udp_queries_are_answered_and_logged() {
        let (h, log, ua, _) = start();
        let c = UdpSocket::bind("127.0.0.1:0").expect("client");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        c.send_to(b"garbage", ua).expect("send");
        c.send_to(&query(42, "exfil.evil.example.", true), ua)
            .expect("send");
        let mut buf = [0u8; 1500];
        let (n, _) = c.recv_from(&mut buf).expect("answer");
        check_refused(&buf[..n], 42, "exfil.evil.example.");
        h.stop();
        let events = log.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].action, Action::Dns);
        assert_eq!(events[0].verdict, Verdict::Blocked);
        assert_eq!(events[0].reason, Reason::DnsQuery);
        assert_eq!(events[0].target, "exfil.evil.example");
    }

    #[test]
    fn tcp_queries_are_framed_and_several_per_connection() {
        let (h, log, _, ta) = start();
        let s = TcpStream::connect(ta).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        for (id, name) in [(1u16, "a.example."), (2, "b.example.")] {
            let q = query(id, name, false);
            let mut frame = u16::try_from(q.len()).expect("len").to_be_bytes().to_vec();
            frame.extend_from_slice(&q);
            (&s).write_all(&frame).expect("write");
            let mut len = [0u8; 2];
            (&s).read_exact(&mut len).expect("len");
            let mut resp = vec![0u8; usize::from(u16::from_be_bytes(len))];
            (&s).read_exact(&mut resp).expect("resp");
            check_refused(&resp, id, name);
        }
        drop(s);
        h.stop();
        let targets: Vec<_> = log.events().into_iter().map(|e| e.target).collect();
        assert_eq!(targets, vec!["a.example", "b.example"]);
    }
}
