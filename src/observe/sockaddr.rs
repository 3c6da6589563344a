//! Socket addresses as read from a sandboxed process's memory, and what the notifier makes of
//! them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A destination named in a connect or send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Inet(SocketAddr),
    /// A unix socket: the namespace and the view decide where it leads (see
    /// [`UnixName`]); the notifier logs names nothing inside serves.
    Unix(UnixName),
    /// Another family (the socket() filter refuses most), or unreadable.
    Other(u16),
}

/// The name in a `sockaddr_un`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixName {
    /// A filesystem path (relative to the caller's working directory when not absolute).
    Path(Vec<u8>),
    /// An abstract name (after the leading NUL, every byte counts): scoped to the network
    /// namespace, so the host's (dbus, X11, containerd) are not reachable from inside.
    Abstract(Vec<u8>),
    /// An unnamed address (autobind, or no name at all).
    Unnamed,
}

impl UnixName {
    fn parse(path: &[u8]) -> UnixName {
        match path.split_first() {
            None => UnixName::Unnamed,
            Some((0, [])) => UnixName::Unnamed,
            Some((0, rest)) => UnixName::Abstract(rest.to_vec()),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                UnixName::Path(path[..end].to_vec())
            }
        }
    }

    /// How the event log names it: the path, or `@name` for an abstract one (as
    /// `/proc/net/unix` shows it).
    pub fn display(&self) -> String {
        match self {
            UnixName::Path(p) => String::from_utf8_lossy(p).into_owned(),
            UnixName::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
            UnixName::Unnamed => String::from("(unnamed unix socket)"),
        }
    }
}

/// Whether a socket bound to the abstract `name` exists in the network namespace of
/// process `pid` (`/proc/<pid>/net/unix`, which shows it as `@name`, NUL bytes as `@`).
pub fn abstract_served(pid: i32, name: &[u8]) -> bool {
    let Ok(table) = std::fs::read(format!("/proc/{pid}/net/unix")) else {
        // Cannot tell: say served, so that nothing is refused on a guess (the namespace
        // still keeps the host's sockets out of reach).
        return true;
    };
    abstract_in_table(&table, name)
}

fn abstract_in_table(table: &[u8], name: &[u8]) -> bool {
    let mut want = b" @".to_vec();
    want.extend(name.iter().map(|&b| if b == 0 { b'@' } else { b }));
    table
        .split(|&b| b == b'\n')
        .skip(1)
        .any(|line| line.ends_with(&want))
}

/// Parse a `struct sockaddr` of `len` bytes.
pub fn parse(bytes: &[u8]) -> Dest {
    if bytes.len() < 2 {
        return Dest::Other(0);
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    match family as i32 {
        libc::AF_INET if bytes.len() >= 8 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Dest::Inet(SocketAddr::new(IpAddr::V4(ip), port))
        }
        libc::AF_INET6 if bytes.len() >= 24 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            Dest::Inet(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        libc::AF_UNIX => Dest::Unix(UnixName::parse(&bytes[2..])),
        other => Dest::Other(other as u16),
    }
}

/// Whether a destination stays inside the sandbox: its own loopback (the proxy, the DNS stub,
/// servers a build starts) or a unix socket. Everything else would leave, and the network
/// namespace has no route for it.
pub fn stays_inside(dest: &Dest) -> bool {
    match dest {
        Dest::Unix(_) => true,
        Dest::Inet(addr) => match addr.ip() {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        },
        // AF_UNSPEC disconnects a datagram socket; netlink talks to the kernel (glibc's
        // getaddrinfo asks it which addresses exist). Nothing leaves either way.
        Dest::Other(f) => matches!(*f as i32, libc::AF_UNSPEC | libc::AF_NETLINK),
    }
}

/// Whether a socket of `proto` (`tcp` or `udp`) listens on `port` of a loopback or wildcard
/// address in the network namespace of process `pid` (from `/proc/<pid>/net/{proto,proto6}`).
pub fn listener_inside(pid: i32, proto: &str, port: u16) -> bool {
    // TCP LISTEN is state 0A; an unconnected bound UDP socket shows as 07 (CLOSE).
    let state = if proto == "tcp" { "0A" } else { "07" };
    [proto.to_string(), format!("{proto}6")].iter().any(|file| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{file}"))
            .map(|table| table_has_listener(&table, port, state))
            .unwrap_or(false)
    })
}

fn table_has_listener(table: &str, port: u16, state: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(st)) = (cols.get(1), cols.get(3)) else {
            return false;
        };
        let Some((_, hex_port)) = local.rsplit_once(':') else {
            return false;
        };
        *st == state && u16::from_str_radix(hex_port, 16) == Ok(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn finds_listeners_in_proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0C38 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0\n";
        assert!(table_has_listener(tcp, 3128, "0A"));
        assert!(
            !table_has_listener(tcp, 8080, "0A"),
            "an established socket is no listener"
        );
        assert!(!table_has_listener(tcp, 9, "0A"));
    }

    #[test]
    fn parses_and_classifies() {
        let proxy = parse(&v4([127, 0, 0, 1], 3128));
        assert_eq!(proxy, Dest::Inet("127.0.0.1:3128".parse().expect("addr")));
        assert!(stays_inside(&proxy));
        let out = parse(&v4([10, 200, 0, 2], 9000));
        assert!(!stays_inside(&out));
        let mut v6 = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        v6.extend_from_slice(&443u16.to_be_bytes());
        v6.extend_from_slice(&[0; 4]);
        v6.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().expect("v6").octets());
        v6.extend_from_slice(&[0; 4]);
        assert_eq!(
            parse(&v6),
            Dest::Inet("[fd00::2]:443".parse().expect("addr"))
        );
        assert!(!stays_inside(&parse(&v6)));
        assert!(stays_inside(&parse(&(libc::AF_UNIX as u16).to_ne_bytes())));
        let mut path = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        path.extend_from_slice(b"/run/docker.sock\0\0junk");
        assert_eq!(
            parse(&path),
            Dest::Unix(UnixName::Path(b"/run/docker.sock".to_vec()))
        );
        let mut abs = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0dbus\0x");
        let Dest::Unix(name) = parse(&abs) else {
            panic!("not unix")
        };
        assert_eq!(name, UnixName::Abstract(b"dbus\0x".to_vec()));
        assert_eq!(name.display(), "@dbus\0x");
        let table = b"Num       RefCount Protocol Flags    Type St Inode Path\n0000: 00000002 00000000 00010000 0005 01 1234 @si-control\n0000: 00000002 00000000 00010000 0001 01 99 @dbus@x\n";
        assert!(abstract_in_table(table, b"si-control"));
        assert!(abstract_in_table(table, b"dbus\0x"));
        assert!(!abstract_in_table(table, b"dbus"));
        assert!(!abstract_in_table(table, b"control"));
        assert_eq!(parse(&[1]), Dest::Other(0));
        assert!(stays_inside(&parse(
            &(libc::AF_NETLINK as u16).to_ne_bytes()
        )));
    }
}
