//! Moving bytes between the client and the upstream: splice(2) through a kernel pipe per
//! direction, `poll(2)` over both sockets, idle tunnels closed after the configured time.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// One direction of a relay, moved through a kernel pipe with splice(2): the bytes never
/// enter the supervisor's memory, which keeps per-connection memory fixed and the copy cost
/// close to a direct connection's.
struct Pipe {
    read_end: OwnedFd,
    write_end: OwnedFd,
    /// Bytes sitting in the kernel pipe.
    queued: usize,
    /// The source reached end of stream.
    eof: bool,
    /// The destination's write side is shut down.
    shut: bool,
}

/// How much one splice call moves, and the pipe size asked for.
const SPLICE_CHUNK: usize = 1 << 20;

fn splice_once(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    use nix::fcntl::{splice, SpliceFFlags};
    // No offsets: "use the file position", as sockets and pipes require.
    Ok(splice(
        from,
        None,
        to,
        None,
        len,
        SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
    )?)
}

impl Pipe {
    fn new() -> io::Result<Self> {
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        // A larger pipe moves more per call; the default (64 KiB) still works if refused.
        let _ = nix::fcntl::fcntl(
            &write_end,
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(SPLICE_CHUNK as libc::c_int),
        );
        Ok(Pipe {
            read_end,
            write_end,
            queued: 0,
            eof: false,
            shut: false,
        })
    }

    fn pending(&self) -> bool {
        self.queued > 0
    }

    fn wants_read(&self) -> bool {
        !self.eof && !self.pending()
    }

    fn done(&self) -> bool {
        self.eof && !self.pending()
    }

    fn fill(&mut self, src: &TcpStream) -> io::Result<()> {
        match splice_once(src.as_fd(), self.write_end.as_fd(), SPLICE_CHUNK) {
            Ok(0) => self.eof = true,
            Ok(n) => self.queued += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn flush(&mut self, dst: &TcpStream) -> io::Result<()> {
        while self.pending() {
            match splice_once(self.read_end.as_fd(), dst.as_fd(), self.queued) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.queued -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.done() && !self.shut {
            self.shut = true;
            let _ = dst.shutdown(Shutdown::Write);
        }
        Ok(())
    }
}

/// Copy one way until end of stream, through a kernel pipe (blocking sockets: their read
/// timeouts bound a stalled peer).
pub(super) fn pump(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let pipe = Pipe::new()?;
    loop {
        let n = match splice_once(from.as_fd(), pipe.write_end.as_fd(), SPLICE_CHUNK) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "upstream idle"))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            match splice_once(pipe.read_end.as_fd(), to.as_fd(), left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client stalled"))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copy both ways until both sides have closed (half-closes are passed on), an error, or
/// `idle` without any traffic.
pub(super) fn relay(client: &TcpStream, upstream: &TcpStream, idle: Duration) -> io::Result<()> {
    client.set_nonblocking(true)?;
    upstream.set_nonblocking(true)?;
    let timeout = PollTimeout::try_from(idle).unwrap_or(PollTimeout::MAX);
    let mut up = Pipe::new()?;
    let mut down = Pipe::new()?;
    while !(up.done() && down.done()) {
        let mut client_ev = PollFlags::empty();
        let mut upstream_ev = PollFlags::empty();
        if up.wants_read() {
            client_ev |= PollFlags::POLLIN;
        }
        if up.pending() {
            upstream_ev |= PollFlags::POLLOUT;
        }
        if down.wants_read() {
            upstream_ev |= PollFlags::POLLIN;
        }
        if down.pending() {
            client_ev |= PollFlags::POLLOUT;
        }
        // A socket with nothing to wait for stays out of the set: its HUP would otherwise
        // wake the loop over and over while the other side drains.
        let mut fds = Vec::with_capacity(2);
        if !client_ev.is_empty() {
            fds.push(PollFd::new(client.as_fd(), client_ev));
        }
        if !upstream_ev.is_empty() {
            fds.push(PollFd::new(upstream.as_fd(), upstream_ev));
        }
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle")),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        drop(fds);
        // Try every transfer: non-blocking reads and writes that cannot progress return
        // WouldBlock, which is cheaper than mapping revents back to sockets.
        if up.wants_read() {
            up.fill(client)?;
        }
        if down.wants_read() {
            down.fill(upstream)?;
        }
        up.flush(upstream)?;
        down.flush(client)?;
    }
    Ok(())
}
