//! The server name a TLS client asks for, read from its ClientHello before a single byte is
//! forwarded. A tunnel whose SNI differs from its CONNECT host is domain fronting: the proxy
//! would dial an allowed host while the TLS session (on a shared CDN front) reaches another.
//!
//! The ClientHello may span several TLS records (post-quantum key shares make it large); the
//! handshake fragments are joined before parsing. Pure: bytes in, answer out.

use crate::policy::addr::HostKind;
use tls_parser::{parse_tls_extensions, parse_tls_handshake_client_hello, TlsExtension};

/// TLS record content type `handshake`.
const HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello`.
const CLIENT_HELLO: u8 = 1;
/// The most bytes the proxy buffers while waiting for a whole ClientHello.
pub const MAX_HELLO: usize = 64 * 1024;

/// What the first bytes of a tunnel are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// Not yet a whole ClientHello: read more.
    Incomplete,
    /// The tunnel does not start with a TLS handshake record.
    NotTls,
    /// A TLS handshake that cannot be parsed, is too large, or names several servers.
    Malformed,
    /// A whole ClientHello and its `host_name` server name, if any (raw, not normalised).
    Complete { sni: Option<String> },
}

/// Read the ClientHello at the start of `buf`.
pub fn parse_client_hello(buf: &[u8]) -> Hello {
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = buf;
    loop {
        if rest.len() < 5 {
            return if buf.len() >= MAX_HELLO {
                Hello::Malformed
            } else {
                Hello::Incomplete
            };
        }
        if rest[0] != HANDSHAKE || rest[1] != 3 {
            return if handshake.is_empty() {
                Hello::NotTls
            } else {
                Hello::Malformed
            };
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if len == 0 || len > 16384 + 2048 {
            return Hello::Malformed;
        }
        if rest.len() < 5 + len {
            return if buf.len() >= MAX_HELLO {
                Hello::Malformed
            } else {
                Hello::Incomplete
            };
        }
        handshake.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
        if handshake.len() < 4 {
            continue;
        }
        if handshake[0] != CLIENT_HELLO {
            return Hello::Malformed;
        }
        let msg_len = usize::from(handshake[1]) << 16
            | usize::from(handshake[2]) << 8
            | usize::from(handshake[3]);
        if msg_len > MAX_HELLO {
            return Hello::Malformed;
        }
        if handshake.len() >= 4 + msg_len {
            return server_name(&handshake[4..4 + msg_len]);
        }
    }
}

fn server_name(body: &[u8]) -> Hello {
    let Ok((_, hello)) = parse_tls_handshake_client_hello(body) else {
        return Hello::Malformed;
    };
    let Some(ext) = hello.ext else {
        return Hello::Complete { sni: None };
    };
    let Ok((_, extensions)) = parse_tls_extensions(ext) else {
        return Hello::Malformed;
    };
    let mut names = extensions.iter().filter_map(|e| match e {
        TlsExtension::SNI(list) => Some(list),
        _ => None,
    });
    let Some(list) = names.next() else {
        return Hello::Complete { sni: None };
    };
    if names.next().is_some() {
        return Hello::Malformed;
    }
    // RFC 6066: at most one name of type host_name (0).
    let mut hosts = list.iter().filter(|(t, _)| t.0 == 0);
    let sni = match (hosts.next(), hosts.next()) {
        (None, _) => None,
        (Some((_, name)), None) => match std::str::from_utf8(name) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => return Hello::Malformed,
        },
        (Some(_), Some(_)) => return Hello::Malformed,
    };
    Hello::Complete { sni }
}

/// Does the SNI agree with the CONNECT host? A name must be present and equal to the host
/// after normalisation; an IP-literal CONNECT host admits no SNI (clients send none for
/// addresses, and RFC 6066 forbids addresses in it).
pub fn sni_matches(sni: Option<&str>, connect_host: &HostKind) -> bool {
    match (sni, connect_host) {
        (None, HostKind::Ip(_)) => true,
        (None, HostKind::Name(_)) => false,
        (Some(s), host) => HostKind::parse(s).is_ok_and(|h| !h.is_ip() && &h == host),
    }
}

/// A minimal TLS 1.2-style ClientHello with an optional SNI, split into records of at most
/// `record_size` bytes (for tests and the proxy's own tests).
#[cfg(test)]
pub(crate) fn client_hello(sni: Option<&str>, record_size: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let list_len = 3 + n.len();
        ext.extend_from_slice(&[0, 0]); // server_name
        ext.extend_from_slice(&u16::try_from(list_len + 2).unwrap_or(0).to_be_bytes());
        ext.extend_from_slice(&u16::try_from(list_len).unwrap_or(0).to_be_bytes());
        ext.push(0); // host_name
        ext.extend_from_slice(&u16::try_from(n.len()).unwrap_or(0).to_be_bytes());
        ext.extend_from_slice(n);
    }
    // A padding extension (21) so the hello is big enough to split across records.
    ext.extend_from_slice(&[0, 21, 0x01, 0x00]);
    ext.extend_from_slice(&[0; 256]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![CLIENT_HELLO];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut out = Vec::new();
    for chunk in hs.chunks(record_size) {
        out.extend_from_slice(&[HANDSHAKE, 3, 1]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> HostKind {
        HostKind::parse(s).expect("test host")
    }

    #[test]
    fn reads_the_server_name() {
        let hello = client_hello(Some("registry.example.com"), 16384);
        assert_eq!(
            parse_client_hello(&hello),
            Hello::Complete {
                sni: Some("registry.example.com".into())
            }
        );
        assert_eq!(
            parse_client_hello(&client_hello(None, 16384)),
            Hello::Complete { sni: None }
        );
    }

    #[test]
    fn joins_fragmented_handshakes_and_waits_for_the_rest() {
        let hello = client_hello(Some("registry.example.com"), 50);
        assert!(hello.len() > 300);
        for cut in 0..hello.len() {
            assert_eq!(
                parse_client_hello(&hello[..cut]),
                Hello::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(
            parse_client_hello(&hello),
            Hello::Complete {
                sni: Some("registry.example.com".into())
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_client_hello() {
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n\r\n"), Hello::NotTls);
        assert_eq!(
            parse_client_hello(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Hello::NotTls
        );
        // A server hello (type 2) is not what a client sends first.
        let mut hello = client_hello(Some("a.example"), 16384);
        hello[5] = 2;
        assert_eq!(parse_client_hello(&hello), Hello::Malformed);
        // Garbage inside a handshake record.
        let mut junk = vec![HANDSHAKE, 3, 1, 0, 8, CLIENT_HELLO, 0, 0, 4];
        junk.extend_from_slice(&[0xff; 4]);
        assert_eq!(parse_client_hello(&junk), Hello::Malformed);
        // An endless stream of empty-looking records stops at MAX_HELLO.
        let big = vec![HANDSHAKE; MAX_HELLO + 10];
        assert_ne!(parse_client_hello(&big), Hello::Incomplete);
    }

    #[test]
    fn matching() {
        let host = name("registry.example.com");
        assert!(sni_matches(Some("registry.example.com"), &host));
        assert!(sni_matches(Some("Registry.Example.com."), &host));
        assert!(!sni_matches(Some("evil.example"), &host));
        assert!(!sni_matches(Some("registry.example.com\0"), &host));
        assert!(!sni_matches(None, &host));
        let ip = name("127.0.0.1");
        assert!(sni_matches(None, &ip));
        assert!(!sni_matches(Some("127.0.0.1"), &ip));
        assert!(!sni_matches(Some("registry.example.com"), &ip));
    }
}
