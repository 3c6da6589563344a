//! Host names and addresses as the egress rules see them: one normal form for every way of
//! writing a host, and a classification of addresses that must never be reached by name.
//!
//! Resolvers accept IPv4 literals in many notations (`2130706433`, `0x7f000001`,
//! `0177.0.0.1`, `127.1`) and IPv6 spellings of IPv4 addresses (`[::ffff:127.0.0.1]`). If
//! the allow-list compared strings, any of these would slip past a rule or around a
//! "no private addresses" check, so every host is parsed once into [`HostKind`] and all
//! comparisons happen on that form. The IPv4 notations are the WHATWG URL host parser's
//! (the `url` crate), which accepts the same forms as `inet_aton(3)`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a host string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("empty host")]
    Empty,
    #[error("host contains a control character, space or NUL")]
    ControlOrSpace,
    #[error("host contains userinfo (`user@host`)")]
    Userinfo,
    #[error("host contains a character that is not allowed in a host name: {0:?}")]
    ForbiddenChar(char),
    #[error("host is not a valid name or address: {0}")]
    Invalid(url::ParseError),
    #[error("host name is longer than 253 bytes")]
    TooLong,
}

/// A host in normal form: an address, or an ASCII (IDNA) lower-case name without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostKind {
    Name(String),
    Ip(IpAddr),
}

impl HostKind {
    /// Parse a host as written in a rule, a CONNECT target or a URL (IPv6 in brackets).
    pub fn parse(input: &str) -> Result<HostKind, HostError> {
        if input.is_empty() {
            return Err(HostError::Empty);
        }
        if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(HostError::ControlOrSpace);
        }
        if input.contains('@') {
            return Err(HostError::Userinfo);
        }
        // `%` would be percent-decoded by the URL host parser (`%31%32%37.0.0.1`); no
        // resolver does that, and no legitimate host needs it.
        if let Some(c) = input
            .chars()
            .find(|c| matches!(c, '%' | '/' | '\\' | '?' | '#'))
        {
            return Err(HostError::ForbiddenChar(c));
        }
        // One trailing dot (the root label) is the same host; two are not a host.
        let trimmed = if input.starts_with('[') {
            input
        } else {
            input.strip_suffix('.').unwrap_or(input)
        };
        if trimmed.is_empty() || trimmed.ends_with('.') {
            return Err(HostError::Empty);
        }
        let host = if !trimmed.starts_with('[') && trimmed.contains(':') {
            // A bare IPv6 literal (as in a DNS answer or `--allow-host ::1` without a port).
            match trimmed.parse::<Ipv6Addr>() {
                Ok(v6) => return Ok(HostKind::Ip(canonical_ip(IpAddr::V6(v6)))),
                Err(_) => return Err(HostError::ForbiddenChar(':')),
            }
        } else {
            url::Host::parse(trimmed).map_err(HostError::Invalid)?
        };
        Ok(match host {
            url::Host::Domain(d) => {
                if d.len() > 253 {
                    return Err(HostError::TooLong);
                }
                // After IDNA a DNS name is letters, digits, `-` and `_` in non-empty labels;
                // anything else (`*`, `!`, quotes, …) is not a host a resolver would look up.
                if let Some(c) = d
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                {
                    return Err(HostError::ForbiddenChar(c));
                }
                if d.split('.').any(str::is_empty) {
                    return Err(HostError::Empty);
                }
                HostKind::Name(d)
            }
            url::Host::Ipv4(v4) => HostKind::Ip(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => HostKind::Ip(canonical_ip(IpAddr::V6(v6))),
        })
    }

    pub fn is_ip(&self) -> bool {
        matches!(self, HostKind::Ip(_))
    }
}

impl fmt::Display for HostKind {
    /// The host as it appears in `host:port` (IPv6 in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKind::Name(n) => f.write_str(n),
            HostKind::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            HostKind::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address: a socket connecting to
/// it reaches `a.b.c.d`. Every other address is already canonical.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// What kind of network an address belongs to. Anything but [`AddrClass::Public`] is reached
/// only when a rule names it explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrClass {
    Public,
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7) and the deprecated site-local (fec0::/10).
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Cloud instance metadata endpoints (credentials live there).
    Metadata,
    /// 0.0.0.0/8, `::` (connecting to it reaches the local host).
    Unspecified,
    Multicast,
    /// Carrier-grade NAT shared space 100.64/10 (also some clouds' metadata services).
    SharedCgnat,
    /// Broadcast, 240/4, and other space that is not routable on the Internet.
    Reserved,
}

impl AddrClass {
    pub fn describe(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Metadata => "cloud metadata",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Multicast => "multicast",
            AddrClass::SharedCgnat => "shared (CGNAT)",
            AddrClass::Reserved => "reserved",
        }
    }
}

/// Metadata endpoints: AWS/GCP/Azure/OCI 169.254.169.254, Azure's wire server, AWS IPv6.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(168, 63, 129, 16),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Classify an address. IPv6 forms that carry an IPv4 address the kernel or a NAT64 gateway
/// would reach (mapped `::ffff:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`) are
/// classified by that IPv4 address.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(a: Ipv4Addr) -> AddrClass {
    let o = a.octets();
    if METADATA_V4.contains(&a) {
        AddrClass::Metadata
    } else if o[0] == 0 {
        AddrClass::Unspecified
    } else if o[0] == 127 {
        AddrClass::Loopback
    } else if o[0] == 10 || (o[0] == 172 && (o[1] & 0xf0) == 16) || (o[0] == 192 && o[1] == 168) {
        AddrClass::Private
    } else if o[0] == 169 && o[1] == 254 {
        AddrClass::LinkLocal
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        AddrClass::SharedCgnat
    } else if (224..=239).contains(&o[0]) {
        AddrClass::Multicast
    } else if o[0] >= 240
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
    {
        // 240/4 and broadcast; 192.0.0/24 (IETF protocol assignments); 198.18/15 (benchmarking)
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

fn classify_v6(a: Ipv6Addr) -> AddrClass {
    let s = a.segments();
    if METADATA_V6.contains(&a) {
        return AddrClass::Metadata;
    }
    if a.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if a.is_loopback() {
        return AddrClass::Loopback;
    }
    if let Some(v4) = a.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks) and NAT64 64:ff9b::/96.
    if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded);
    }
    if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        AddrClass::Private
    } else if (s[0] & 0xffc0) == 0xfe80 {
        AddrClass::LinkLocal
    } else if (s[0] & 0xff00) == 0xff00 {
        AddrClass::Multicast
    } else {
        AddrClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> HostKind {
        HostKind::Ip(s.parse().expect("test address"))
    }

    #[test]
    fn names_are_lower_cased_idna_and_lose_the_trailing_dot() {
        assert_eq!(
            HostKind::parse("Registry.Example.COM."),
            Ok(HostKind::Name("registry.example.com".into()))
        );
        assert_eq!(
            HostKind::parse("bücher.example"),
            Ok(HostKind::Name("xn--bcher-kva.example".into()))
        );
        assert_eq!(HostKind::parse("example.com.."), Err(HostError::Empty));
        assert_eq!(HostKind::parse("."), Err(HostError::Empty));
    }

    #[test]
    fn smuggling_characters_are_refused() {
        for bad in [
            "a\0b.example",
            "a.example\r\nX: y",
            "a.example\n",
            "a .example",
            "\ta.example",
        ] {
            assert_eq!(
                HostKind::parse(bad),
                Err(HostError::ControlOrSpace),
                "{bad:?}"
            );
        }
        assert_eq!(HostKind::parse("user@a.example"), Err(HostError::Userinfo));
        assert_eq!(
            HostKind::parse("user:pw@a.example"),
            Err(HostError::Userinfo)
        );
        assert!(matches!(
            HostKind::parse("%31%32%37.0.0.1"),
            Err(HostError::ForbiddenChar('%'))
        ));
        assert!(HostKind::parse("a.example/x").is_err());
        assert!(HostKind::parse("a:b.example").is_err());
        assert!(HostKind::parse("a<b.example").is_err());
        assert!(HostKind::parse("1.2.3.4.5").is_err());
        assert!(HostKind::parse("256.1.1.1").is_err());
    }

    #[test]
    fn every_ipv4_notation_is_the_same_address() {
        for form in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.1",
            "127.0.1",
            "127.0.0.1.",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(HostKind::parse(form), Ok(ip("127.0.0.1")), "{form}");
        }
        assert_eq!(HostKind::parse("[::1]"), Ok(ip("::1")));
        assert_eq!(HostKind::parse("[0:0::1]"), Ok(ip("::1")));
        assert_eq!(HostKind::parse("[FD00:EC2::254]"), Ok(ip("fd00:ec2::254")));
    }

    #[test]
    fn display_brackets_ipv6() {
        assert_eq!(ip("::1").to_string(), "[::1]");
        assert_eq!(ip("10.0.0.1").to_string(), "10.0.0.1");
    }

    #[test]
    fn classification() {
        let cases = [
            ("8.8.8.8", AddrClass::Public),
            ("127.0.0.1", AddrClass::Loopback),
            ("127.255.0.9", AddrClass::Loopback),
            ("10.1.2.3", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("172.32.0.1", AddrClass::Public),
            ("192.168.1.1", AddrClass::Private),
            ("169.254.1.1", AddrClass::LinkLocal),
            ("169.254.169.254", AddrClass::Metadata),
            ("168.63.129.16", AddrClass::Metadata),
            ("0.0.0.0", AddrClass::Unspecified),
            ("0.1.2.3", AddrClass::Unspecified),
            ("224.0.0.1", AddrClass::Multicast),
            ("100.64.0.1", AddrClass::SharedCgnat),
            ("100.127.255.255", AddrClass::SharedCgnat),
            ("100.128.0.1", AddrClass::Public),
            ("255.255.255.255", AddrClass::Reserved),
            ("::1", AddrClass::Loopback),
            ("::", AddrClass::Unspecified),
            ("fc00::1", AddrClass::Private),
            ("fd12:3456::1", AddrClass::Private),
            ("fe80::1", AddrClass::LinkLocal),
            ("fd00:ec2::254", AddrClass::Metadata),
            ("ff02::1", AddrClass::Multicast),
            ("::ffff:10.0.0.1", AddrClass::Private),
            ("::ffff:169.254.169.254", AddrClass::Metadata),
            ("::127.0.0.1", AddrClass::Loopback),
            ("64:ff9b::a00:1", AddrClass::Private),
            ("64:ff9b::808:808", AddrClass::Public),
            ("2001:db8::1", AddrClass::Public),
        ];
        for (addr, class) in cases {
            let parsed: IpAddr = addr.parse().expect("test address");
            assert_eq!(classify(parsed), class, "{addr}");
        }
    }
}
