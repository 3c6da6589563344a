//! The egress allow-list: which `host:port` destinations the proxy may dial, and why.
//!
//! Rules come from the package managers' own configuration (npm `registry`, pip `index-url`,
//! …), from policy files and from `--allow-host`; each keeps its [`RuleSource`] so an event
//! can say which configuration line allowed a request. A rule is
//!
//! - `HOST[:PORT]` — exactly that name (normalised: lower case, IDNA, no trailing dot);
//! - `*.SUFFIX[:PORT]` — any name strictly below `SUFFIX` (not `SUFFIX` itself);
//! - `ADDRESS[:PORT]` — an IP literal in any notation (`[::1]:4873`, `127.0.0.1`), matching
//!   only that address however the request spells it.
//!
//! A rule without a port allows the web ports 80 and 443 only.
//!
//! A name that resolves to a loopback, private, link-local, metadata, CGNAT, multicast or
//! unspecified address is refused unless the allow-list names that address explicitly (an
//! IP-literal rule for it, or — for loopback results — the rule host is `localhost`).

use super::addr::{canonical_ip, classify, AddrClass, HostError, HostKind};
use crate::events::Reason;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Ports a rule without an explicit port allows.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// Where a rule came from; decides the `reason` code of `allowed` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// npm's configuration, e.g. `registry in /home/u/project/.npmrc`.
    Npm(String),
    /// pip's configuration, e.g. `index-url from PIP_INDEX_URL`.
    Pip(String),
    /// uv's configuration, e.g. `default-index from environment variable UV_DEFAULT_INDEX`.
    Uv(String),
    /// yarn's configuration, e.g. `npmRegistryServer from /p/.yarnrc.yml`.
    Yarn(String),
    /// A policy file entry, e.g. `policies/npm.toml [egress] allow`.
    Policy(String),
    /// `--allow-host` on the command line.
    AllowHostFlag,
}

impl RuleSource {
    /// The reason code an allowed request through this rule is logged with.
    pub fn reason(&self) -> Reason {
        match self {
            RuleSource::Npm(_) | RuleSource::Pip(_) | RuleSource::Uv(_) | RuleSource::Yarn(_) => {
                Reason::RegistryRequest
            }
            RuleSource::Policy(_) | RuleSource::AllowHostFlag => Reason::PolicyAllowHost,
        }
    }
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSource::Npm(o) => write!(f, "npm {o}"),
            RuleSource::Pip(o) => write!(f, "pip {o}"),
            RuleSource::Uv(o) => write!(f, "uv {o}"),
            RuleSource::Yarn(o) => write!(f, "yarn {o}"),
            RuleSource::Policy(o) => write!(f, "policy {o}"),
            RuleSource::AllowHostFlag => f.write_str("--allow-host"),
        }
    }
}

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleHost {
    /// One name or one address.
    Exact(HostKind),
    /// `*.suffix`: names strictly below `suffix` (stored without `*.`).
    Below(String),
}

/// Why a rule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule {rule:?}: {source}")]
    Host {
        rule: String,
        #[source]
        source: HostError,
    },
    #[error("rule {0:?}: the port must be a number from 1 to 65535")]
    Port(String),
    #[error("rule {0:?}: a wildcard must be `*.` followed by a name with at least two labels")]
    Wildcard(String),
    #[error("rule {0:?}: a URL rule must be http or https with a host")]
    Url(String),
}

/// One allow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub host: RuleHost,
    /// `None`: the web ports ([`DEFAULT_PORTS`]).
    pub port: Option<u16>,
    pub source: RuleSource,
}

impl Rule {
    /// Parse `HOST[:PORT]`, `*.SUFFIX[:PORT]`, `ADDRESS[:PORT]` (`[v6]:PORT`, bare `v6`), or
    /// an `http(s)://` URL (its host and port, default port from the scheme).
    pub fn parse(spec: &str, source: RuleSource) -> Result<Rule, RuleError> {
        if spec.contains("://") {
            let url = url::Url::parse(spec).map_err(|_| RuleError::Url(spec.into()))?;
            return Rule::for_url(&url, source);
        }
        let (host, port) = split_host_port(spec).map_err(|e| match e {
            SplitError::Port => RuleError::Port(spec.into()),
            SplitError::Host(source) => RuleError::Host {
                rule: spec.into(),
                source,
            },
        })?;
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            match HostKind::parse(suffix) {
                Ok(HostKind::Name(n)) if n.contains('.') => RuleHost::Below(n),
                Ok(_) => return Err(RuleError::Wildcard(spec.into())),
                Err(source) => {
                    return Err(RuleError::Host {
                        rule: spec.into(),
                        source,
                    })
                }
            }
        } else {
            RuleHost::Exact(HostKind::parse(host).map_err(|source| RuleError::Host {
                rule: spec.into(),
                source,
            })?)
        };
        Ok(Rule { host, port, source })
    }

    /// The rule for a registry URL: its host and its port (explicit or the scheme's default).
    /// Credentials in the URL are ignored.
    pub fn for_url(url: &url::Url, source: RuleSource) -> Result<Rule, RuleError> {
        let bad = || RuleError::Url(redacted_url(url));
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => HostKind::parse(d).map_err(|source| RuleError::Host {
                rule: redacted_url(url),
                source,
            })?,
            Some(url::Host::Ipv4(a)) => HostKind::Ip(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => HostKind::Ip(canonical_ip(IpAddr::V6(a))),
            None => return Err(bad()),
        };
        Ok(Rule {
            host: RuleHost::Exact(host),
            port: Some(url.port_or_known_default().ok_or_else(bad)?),
            source,
        })
    }

    fn port_matches(&self, port: u16) -> bool {
        match self.port {
            Some(p) => p == port,
            None => DEFAULT_PORTS.contains(&port),
        }
    }

    /// Does this rule allow `host:port` (before resolution)?
    pub fn matches(&self, host: &HostKind, port: u16) -> bool {
        if !self.port_matches(port) {
            return false;
        }
        match (&self.host, host) {
            (RuleHost::Exact(h), _) => h == host,
            (RuleHost::Below(suffix), HostKind::Name(n)) => n
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (RuleHost::Below(_), HostKind::Ip(_)) => false,
        }
    }

    /// Does this rule name `ip` explicitly (an IP-literal rule for it, at a matching port)?
    fn names_address(&self, ip: IpAddr, port: u16) -> bool {
        self.port_matches(port) && self.host == RuleHost::Exact(HostKind::Ip(ip))
    }

    fn is_localhost(&self) -> bool {
        matches!(&self.host, RuleHost::Exact(HostKind::Name(n)) if n == "localhost")
    }
}

impl fmt::Display for Rule {
    /// The rule as a user would write it (`registry.example.com:443`, `*.example.com`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            RuleHost::Exact(h) => write!(f, "{h}")?,
            RuleHost::Below(s) => write!(f, "*.{s}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

enum SplitError {
    Host(HostError),
    Port,
}

/// Split `host[:port]` / `[v6][:port]` / bare `v6`. The host part is returned as written.
fn split_host_port(spec: &str) -> Result<(&str, Option<u16>), SplitError> {
    if spec.starts_with('[') {
        let end = spec
            .find(']')
            .ok_or(SplitError::Host(HostError::ForbiddenChar('[')))?;
        let (host, rest) = spec.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(p) => Ok((host, Some(parse_port(p).ok_or(SplitError::Port)?))),
                None => Err(SplitError::Host(HostError::ForbiddenChar(']'))),
            },
        };
    }
    match spec.matches(':').count() {
        0 => Ok((spec, None)),
        1 => {
            let (host, port) = spec.split_once(':').ok_or(SplitError::Port)?;
            Ok((host, Some(parse_port(port).ok_or(SplitError::Port)?)))
        }
        // A bare IPv6 literal; HostKind::parse checks it.
        _ => Ok((spec, None)),
    }
}

/// A decimal port 1..=65535, digits only (no sign, no spaces).
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// A URL for display: no username, password, query or fragment.
pub fn redacted_url(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A refusal: the reason code, what happened, and what the user could add to allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: Reason,
    /// One line: what was refused and why.
    pub message: String,
    /// One line naming the flag or policy entry that would allow it (empty when nothing can).
    pub hint: String,
}

impl Denial {
    /// `message; hint` for the event's `detail` and the 403 body.
    pub fn detail(&self) -> String {
        if self.hint.is_empty() {
            self.message.clone()
        } else {
            format!("{}; {}", self.message, self.hint)
        }
    }
}

/// The hint naming both ways to allow `target` (`host:port`).
pub fn allow_hint(target: &str) -> String {
    format!(
        "to allow it, add --allow-host {target}, or to a policy: [[egress.allow]] host = \"{target}\" reason = \"...\""
    )
}

/// The allow-list's answer for a destination before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    Allow(&'a Rule),
    Deny(Denial),
}

/// An ordered list of rules; the first matching rule decides (and names the source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    pub fn new() -> Self {
        AllowList::default()
    }

    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// Parse and add a rule.
    pub fn add(&mut self, spec: &str, source: RuleSource) -> Result<(), RuleError> {
        self.push(Rule::parse(spec, source)?);
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Is `host:port` on the list? The host must already be normal ([`HostKind::parse`]).
    pub fn check(&self, host: &HostKind, port: u16) -> Decision<'_> {
        if let Some(rule) = self.rules.iter().find(|r| r.matches(host, port)) {
            return Decision::Allow(rule);
        }
        let target = format!("{host}:{port}");
        let (reason, what) = if host.is_ip() {
            (Reason::IpLiteral, "IP literal")
        } else {
            (Reason::EgressNotAllowed, "destination")
        };
        Decision::Deny(Denial {
            reason,
            message: format!("{what} {target} is not on the egress allow-list"),
            hint: allow_hint(&target),
        })
    }

    /// The decision for a raw socket address (a direct `connect(2)` seen by the notifier, a
    /// resolved peer): only an IP-literal rule naming it (in any notation) allows it.
    pub fn check_addr(&self, addr: SocketAddr) -> Decision<'_> {
        self.check(&HostKind::Ip(canonical_ip(addr.ip())), addr.port())
    }

    /// Of the addresses `host` resolved to, those `rule` may reach: public addresses, loopback
    /// when the rule host is `localhost`, and any address an IP-literal rule names. Refused
    /// when none is left.
    pub fn check_resolved(
        &self,
        rule: &Rule,
        host: &HostKind,
        port: u16,
        addrs: &[SocketAddr],
    ) -> Result<Vec<SocketAddr>, Denial> {
        let mut ok = Vec::with_capacity(addrs.len());
        let mut refused: Option<(IpAddr, AddrClass)> = None;
        for addr in addrs {
            let ip = canonical_ip(addr.ip());
            let class = classify(ip);
            let permitted = class == AddrClass::Public
                || (class == AddrClass::Loopback && rule.is_localhost())
                || self.rules.iter().any(|r| r.names_address(ip, port));
            if permitted {
                ok.push(SocketAddr::new(ip, addr.port()));
            } else if refused.is_none() {
                refused = Some((ip, class));
            }
        }
        if !ok.is_empty() {
            return Ok(ok);
        }
        let target = format!("{host}:{port}");
        Err(match refused {
            Some((ip, class)) => {
                let named = HostKind::Ip(ip);
                Denial {
                    reason: Reason::PrivateAddress,
                    message: format!(
                        "{target} resolves to the {} address {ip}, which no rule names",
                        class.describe()
                    ),
                    hint: allow_hint(&format!("{named}:{port}")),
                }
            }
            None => Denial {
                reason: Reason::EgressNotAllowed,
                message: format!("{target} did not resolve to any address"),
                hint: String::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(specs: &[&str]) -> AllowList {
        let mut l = AllowList::new();
        for s in specs {
            l.add(s, RuleSource::AllowHostFlag).expect("test rule");
        }
        l
    }

    fn host(s: &str) -> HostKind {
        HostKind::parse(s).expect("test host")
    }

    fn allowed(l: &AllowList, h: &str, port: u16) -> bool {
        matches!(l.check(&host(h), port), Decision::Allow(_))
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test socket address")
    }

    #[test]
    fn rules_normalise_and_print() {
        let cases = [
            ("Registry.Example.com.:443", "registry.example.com:443"),
            ("registry.example.com", "registry.example.com"),
            ("*.Example.com:8443", "*.example.com:8443"),
            ("[::1]:4873", "[::1]:4873"),
            ("::1", "[::1]"),
            ("0x7f000001:4873", "127.0.0.1:4873"),
            ("[::ffff:127.0.0.1]", "127.0.0.1"),
            (
                "https://user:secret@registry.example.com/simple/",
                "registry.example.com:443",
            ),
            ("http://127.0.0.1:4873/", "127.0.0.1:4873"),
        ];
        for (spec, shown) in cases {
            let rule = Rule::parse(spec, RuleSource::AllowHostFlag).expect(spec);
            assert_eq!(rule.to_string(), shown, "{spec}");
        }
    }

    #[test]
    fn bad_rules_are_errors() {
        for bad in [
            "",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "host: 80",
            "user@host",
            "ho st",
            "host\r\n",
            "a\0b",
            "*",
            "*.com",
            "*.*.example.com",
            "[::1",
            "[::1]x",
            "ftp://registry.example.com/",
            "1.2.3.4.5",
        ] {
            assert!(
                Rule::parse(bad, RuleSource::AllowHostFlag).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn exact_and_wildcard_matching() {
        let l = list(&[
            "registry.example.com:443",
            "*.cdn.example.net",
            "127.0.0.1:4873",
        ]);
        assert!(allowed(&l, "registry.example.com", 443));
        assert!(allowed(&l, "REGISTRY.example.com.", 443));
        assert!(!allowed(&l, "registry.example.com", 80));
        assert!(!allowed(&l, "evil-registry.example.com", 443));
        assert!(!allowed(&l, "registry.example.com.evil.example", 443));
        assert!(allowed(&l, "a.cdn.example.net", 443));
        assert!(allowed(&l, "a.b.cdn.example.net", 80));
        assert!(!allowed(&l, "a.cdn.example.net", 8080));
        assert!(!allowed(&l, "cdn.example.net", 443));
        assert!(!allowed(&l, "xcdn.example.net", 443));
        assert!(allowed(&l, "127.0.0.1", 4873));
        assert!(allowed(&l, "2130706433", 4873));
        assert!(allowed(&l, "0177.0.0.1", 4873));
        assert!(allowed(&l, "127.1", 4873));
        assert!(allowed(&l, "[::ffff:127.0.0.1]", 4873));
        assert!(!allowed(&l, "127.0.0.2", 4873));
        assert!(!allowed(&l, "[::1]", 4873));
        assert!(!allowed(&l, "localhost", 4873));
    }

    #[test]
    fn socket_addresses_match_only_address_rules() {
        let l = list(&["registry.example.com", "127.0.0.1:4873"]);
        assert!(matches!(
            l.check_addr(sa("127.0.0.1:4873")),
            Decision::Allow(_)
        ));
        assert!(matches!(
            l.check_addr(sa("[::ffff:127.0.0.1]:4873")),
            Decision::Allow(_)
        ));
        let Decision::Deny(d) = l.check_addr(sa("93.184.216.34:443")) else {
            panic!("address allowed without a rule");
        };
        assert_eq!(d.reason, Reason::IpLiteral);
    }

    #[test]
    fn denials_name_the_reason_and_the_fix() {
        let l = list(&["registry.example.com"]);
        let Decision::Deny(d) = l.check(&host("evil.example"), 443) else {
            panic!("evil.example allowed");
        };
        assert_eq!(d.reason, Reason::EgressNotAllowed);
        assert!(
            d.hint.contains("--allow-host evil.example:443"),
            "{}",
            d.hint
        );
        assert!(
            d.hint
                .contains("[[egress.allow]] host = \"evil.example:443\""),
            "{}",
            d.hint
        );
        let Decision::Deny(d) = l.check(&host("0x0a000001"), 80) else {
            panic!("ip literal allowed");
        };
        assert_eq!(d.reason, Reason::IpLiteral);
        assert!(d.hint.contains("--allow-host 10.0.0.1:80"), "{}", d.hint);
    }

    #[test]
    fn sources_pick_the_allowed_reason() {
        let mut l = AllowList::new();
        l.add(
            "registry.example.com",
            RuleSource::Npm("registry in .npmrc".into()),
        )
        .expect("rule");
        l.add("files.example.com", RuleSource::Policy("npm.toml".into()))
            .expect("rule");
        let Decision::Allow(r) = l.check(&host("registry.example.com"), 443) else {
            panic!("denied");
        };
        assert_eq!(r.source.reason(), Reason::RegistryRequest);
        let Decision::Allow(r) = l.check(&host("files.example.com"), 443) else {
            panic!("denied");
        };
        assert_eq!(r.source.reason(), Reason::PolicyAllowHost);
    }

    #[test]
    fn names_resolving_to_private_addresses_are_refused() {
        let l = list(&["registry.example.com", "*.example.org"]);
        let Decision::Allow(rule) = l.check(&host("registry.example.com"), 443) else {
            panic!("denied");
        };
        let h = host("registry.example.com");
        for bad in [
            "127.0.0.1:443",
            "10.0.0.5:443",
            "169.254.169.254:443",
            "[fd00:ec2::254]:443",
            "[::ffff:192.168.0.1]:443",
            "100.64.1.1:443",
            "0.0.0.0:443",
            "[fe80::1]:443",
            "224.0.0.1:443",
        ] {
            let err = l.check_resolved(rule, &h, 443, &[sa(bad)]).expect_err(bad);
            assert_eq!(err.reason, Reason::PrivateAddress, "{bad}");
        }
        // Mixed answers keep only the public addresses.
        let ok = l
            .check_resolved(
                rule,
                &h,
                443,
                &[sa("10.0.0.5:443"), sa("93.184.216.34:443")],
            )
            .expect("public address");
        assert_eq!(ok, vec![sa("93.184.216.34:443")]);
        // The hint names the address rule that would allow it.
        let err = l
            .check_resolved(rule, &h, 443, &[sa("10.0.0.5:443")])
            .expect_err("private");
        assert!(
            err.hint.contains("--allow-host 10.0.0.5:443"),
            "{}",
            err.hint
        );
    }

    #[test]
    fn private_addresses_named_explicitly_are_allowed() {
        let l = list(&["registry.corp.example", "10.0.0.5:443", "localhost:4873"]);
        let h = host("registry.corp.example");
        let Decision::Allow(rule) = l.check(&h, 443) else {
            panic!("denied");
        };
        let ok = l
            .check_resolved(rule, &h, 443, &[sa("10.0.0.5:443")])
            .expect("named address");
        assert_eq!(ok, vec![sa("10.0.0.5:443")]);
        // ...but only at the named port.
        let h80 = host("registry.corp.example");
        let Decision::Allow(rule80) = l.check(&h80, 80) else {
            panic!("denied");
        };
        assert!(l
            .check_resolved(rule80, &h80, 80, &[sa("10.0.0.5:80")])
            .is_err());
        // localhost reaches loopback, nothing else private.
        let lh = host("localhost");
        let Decision::Allow(rule) = l.check(&lh, 4873) else {
            panic!("denied");
        };
        assert!(l
            .check_resolved(rule, &lh, 4873, &[sa("127.0.0.1:4873")])
            .is_ok());
        assert!(l
            .check_resolved(rule, &lh, 4873, &[sa("[::1]:4873")])
            .is_ok());
        assert!(l
            .check_resolved(rule, &lh, 4873, &[sa("10.1.1.1:4873")])
            .is_err());
        // An IP-literal target matched by its own rule is named explicitly.
        let ip = host("[::ffff:10.0.0.5]");
        let Decision::Allow(rule) = l.check(&ip, 443) else {
            panic!("denied");
        };
        assert!(l
            .check_resolved(rule, &ip, 443, &[sa("10.0.0.5:443")])
            .is_ok());
    }
}
