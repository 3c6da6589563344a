//! The proxy's request head: parsed, checked and decided without any I/O, so the same code
//! runs in the proxy, the unit tests over `tests/fixtures/proxy-corpus/` and the fuzzer.
//!
//! Accepted: `CONNECT host:port` (authority-form) and absolute-form `http://` requests
//! (`GET http://127.0.0.1:4873/pkg HTTP/1.1`). Refused with [`RequestError`] (all logged as
//! `malformed-request`): NUL bytes anywhere in the head, control characters or spaces in the
//! target, userinfo (`user@host`), a `Host` header that disagrees with the target or appears
//! twice, a head over [`MAX_HEAD`] bytes or with more than [`MAX_HEADERS`] headers, origin-form
//! requests (`GET /path`), `https://` in absolute form (use CONNECT), `Transfer-Encoding`
//! request bodies, and conflicting `Content-Length`s. Inside a CONNECT tunnel that carries
//! plain HTTP, a request is read with [`parse_tunnelled`]: the same checks, for the tunnel's
//! host and port.

use crate::policy::addr::HostKind;
use crate::policy::allow::{parse_port, AllowList, Decision};
use std::fmt;

/// The largest request head the proxy reads (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Methods forwarded in absolute form.
const FORWARD_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
/// Request headers that concern only this hop and are never forwarded (RFC 9110 §7.6.1), plus
/// `Expect` (answered by the proxy) and `Host` (rewritten from the target).
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
];

/// Why a request head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request head is larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("request has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("request head contains a NUL byte")]
    Nul,
    #[error("request head is not valid HTTP/1.x: {0}")]
    Syntax(String),
    #[error("request target contains a control character, space or non-ASCII byte")]
    TargetBytes,
    #[error("origin-form request ({0}); send absolute-form http:// requests or CONNECT")]
    OriginForm(String),
    #[error(
        "absolute-form request with scheme {0:?}; only http:// is forwarded, use CONNECT for TLS"
    )]
    Scheme(String),
    #[error("request target contains userinfo (user@host)")]
    Userinfo,
    #[error("request target is not a valid host:port: {0}")]
    BadTarget(String),
    #[error("Host header {header:?} disagrees with the request target {target}")]
    HostMismatch { header: String, target: String },
    #[error("request has more than one Host header")]
    DuplicateHost,
    #[error("method {0} is not forwarded")]
    Method(String),
    #[error("request bodies with Transfer-Encoding are not forwarded")]
    TransferEncoding,
    #[error("invalid or conflicting Content-Length")]
    ContentLength,
    #[error("CONNECT with a request body")]
    ConnectBody,
}

impl RequestError {
    /// The HTTP status the proxy answers with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::TooLarge | RequestError::TooManyHeaders => 431,
            RequestError::Method(_) => 405,
            RequestError::TransferEncoding => 501,
            _ => 400,
        }
    }
}

/// A destination as the allow-list sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: HostKind,
    pub port: u16,
}

impl fmt::Display for Target {
    /// `host:port` (IPv6 in brackets): the event log's `target`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A tunnel; the client speaks TLS next.
    Connect,
    /// One request to forward: the head to send upstream (origin-form, hop-by-hop headers
    /// removed, `Host` from the target, `Connection: close`).
    Forward {
        method: String,
        upstream_head: Vec<u8>,
        /// Body bytes that follow the head (from `Content-Length`; 0 when absent).
        content_length: u64,
        /// The client sent `Expect: 100-continue`: the proxy answers `100 Continue` itself.
        expect_continue: bool,
    },
}

/// A parsed, checked request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub kind: RequestKind,
    pub target: Target,
    /// Length of the head in the buffer; bytes after it belong to the body or the tunnel.
    pub head_len: usize,
}

/// Parse a request head from the bytes read so far. `Ok(None)`: incomplete, read more.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, RequestError> {
    let scan = &buf[..buf.len().min(MAX_HEAD + 1)];
    let end = find_head_end(scan);
    let head_bytes = &scan[..end.unwrap_or(scan.len())];
    if head_bytes.contains(&0) {
        return Err(RequestError::Nul);
    }
    let Some(_) = end else {
        return if buf.len() > MAX_HEAD {
            Err(RequestError::TooLarge)
        } else {
            // Partial: let httparse reject a broken request line early.
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(buf) {
                Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooManyHeaders),
                Err(e) => Err(RequestError::Syntax(e.to_string())),
                Ok(_) => Ok(None),
            }
        };
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(e) => return Err(RequestError::Syntax(e.to_string())),
    };
    if head_len > MAX_HEAD {
        return Err(RequestError::TooLarge);
    }
    let (Some(method), Some(raw_target)) = (req.method, req.path) else {
        return Err(RequestError::Syntax("incomplete request line".into()));
    };
    // httparse lets bytes >= 0x80 through; a target is ASCII.
    if !raw_target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RequestError::TargetBytes);
    }
    let headers = req.headers;

    let host_headers: Vec<&[u8]> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| h.value)
        .collect();
    if host_headers.len() > 1 {
        return Err(RequestError::DuplicateHost);
    }
    let content_length = content_length(headers)?;
    let has_te = headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));

    if method == "CONNECT" {
        let target = parse_authority(raw_target, None)?;
        check_connect_host(host_headers.first().copied(), &target)?;
        if has_te || content_length.is_some_and(|n| n > 0) {
            return Err(RequestError::ConnectBody);
        }
        return Ok(Some(RequestHead {
            kind: RequestKind::Connect,
            target,
            head_len,
        }));
    }

    let (target, path) = parse_absolute(raw_target)?;
    if !FORWARD_METHODS.contains(&method) {
        return Err(RequestError::Method(method.into()));
    }
    check_host_header(host_headers.first().copied(), &target)?;
    if has_te {
        return Err(RequestError::TransferEncoding);
    }
    let expect_continue = headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("expect") && h.value.eq_ignore_ascii_case(b"100-continue")
    });
    let upstream_head = upstream_head(method, path, &target, headers);
    Ok(Some(RequestHead {
        kind: RequestKind::Forward {
            method: method.into(),
            upstream_head,
            content_length: content_length.unwrap_or(0),
            expect_continue,
        },
        target,
        head_len,
    }))
}

/// Whether a tunnel's first bytes begin a plain HTTP request (a forwarded method, then a
/// space): `None` until enough bytes have arrived to say.
pub fn starts_like_http(buf: &[u8]) -> Option<bool> {
    match buf.iter().position(|&b| b == b' ') {
        Some(n) => Some(FORWARD_METHODS.iter().any(|m| m.as_bytes() == &buf[..n])),
        None if buf.is_empty() => None,
        None if FORWARD_METHODS
            .iter()
            .any(|m| m.as_bytes().starts_with(buf)) =>
        {
            None
        }
        None => Some(false),
    }
}

/// A plain HTTP request read inside a CONNECT tunnel to `tunnel` (yarn 2+ tunnels even
/// `http://` registries): parsed and checked exactly as the absolute-form request
/// `http://<tunnel><path>` would be. An origin-form target is given the tunnel's authority
/// (so the `Host` header must name the tunnel's host); an absolute-form one must name the
/// tunnel's host and port. `head_len` counts the bytes of `buf`. The rewritten request line
/// counts towards [`MAX_HEAD`].
pub fn parse_tunnelled(buf: &[u8], tunnel: &Target) -> Result<Option<RequestHead>, RequestError> {
    let Some(line_end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_HEAD {
            Err(RequestError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..line_end];
    let origin_form = line
        .iter()
        .position(|&b| b == b' ')
        .filter(|&sp| line.get(sp + 1) == Some(&b'/'));
    let (parsed, added) = match origin_form {
        Some(sp) => {
            let authority = format!("http://{tunnel}");
            let mut absolute = Vec::with_capacity(buf.len() + authority.len());
            absolute.extend_from_slice(&buf[..=sp]);
            absolute.extend_from_slice(authority.as_bytes());
            absolute.extend_from_slice(&buf[sp + 1..]);
            (parse_head(&absolute)?, authority.len())
        }
        None => (parse_head(buf)?, 0),
    };
    let Some(mut head) = parsed else {
        return Ok(None);
    };
    if matches!(head.kind, RequestKind::Connect) {
        return Err(RequestError::Method("CONNECT".into()));
    }
    if head.target != *tunnel {
        return Err(RequestError::HostMismatch {
            header: head.target.to_string(),
            target: tunnel.to_string(),
        });
    }
    head.head_len -= added;
    Ok(Some(head))
}

/// Where the head ends (after the blank line), accepting bare LF line ends as httparse does.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, RequestError> {
    let mut found: Option<u64> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let v = std::str::from_utf8(h.value).map_err(|_| RequestError::ContentLength)?;
        if v.is_empty() || v.len() > 18 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RequestError::ContentLength);
        }
        let n: u64 = v.parse().map_err(|_| RequestError::ContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(RequestError::ContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// `host:port` / `[v6]:port`; with `default_port`, the port may be omitted.
fn parse_authority(s: &str, default_port: Option<u16>) -> Result<Target, RequestError> {
    if s.contains('@') {
        return Err(RequestError::Userinfo);
    }
    let bad = || RequestError::BadTarget(escape(s));
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or_else(bad)?;
        let (h, rest) = s.split_at(close + 1);
        match rest {
            "" => (h, None),
            _ => (h, Some(rest.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => parse_port(p).ok_or_else(bad)?,
        None => default_port.ok_or_else(bad)?,
    };
    let host = HostKind::parse(host)
        .map_err(|e| RequestError::BadTarget(format!("{}: {e}", escape(s))))?;
    Ok(Target { host, port })
}

/// `http://authority[/path][?query]` → the target and the origin-form path.
fn parse_absolute(raw: &str) -> Result<(Target, &str), RequestError> {
    if raw.starts_with('/') || raw == "*" {
        return Err(RequestError::OriginForm(escape(raw)));
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(RequestError::BadTarget(escape(raw)));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(RequestError::Scheme(escape(scheme)));
    }
    // `\` is a path separator to some URL parsers and `#` never belongs in a request target:
    // either would let two parsers disagree on where the authority ends.
    if raw.contains(['\\', '#']) {
        return Err(RequestError::BadTarget(escape(raw)));
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let target = parse_authority(authority, Some(80))?;
    Ok((target, path))
}

/// The `Host` header, when present, must name the target's host (and its port, when it
/// names one).
fn check_host_header(value: Option<&[u8]>, target: &Target) -> Result<(), RequestError> {
    let Some(value) = value else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value);
    let mismatch = || RequestError::HostMismatch {
        header: escape(&text),
        target: target.to_string(),
    };
    // Port 0 is never valid in text (parse_port refuses it), so it marks "no port given".
    let parsed = parse_authority(&text, Some(0)).map_err(|e| match e {
        RequestError::Userinfo => RequestError::Userinfo,
        _ => mismatch(),
    })?;
    if parsed.host != target.host || (parsed.port != 0 && parsed.port != target.port) {
        return Err(mismatch());
    }
    Ok(())
}

/// CONNECT's `Host` names the target, or the proxy itself: Node's HTTP agents (and with them
/// `tunnel-agent`, prebuild-install) send the proxy's address. Only the request target is
/// dialled, and the tunnel's ClientHello must name it, so a Host naming the proxy smuggles
/// nothing; any other name is refused as before.
fn check_connect_host(value: Option<&[u8]>, target: &Target) -> Result<(), RequestError> {
    let Err(mismatch) = check_host_header(value, target) else {
        return Ok(());
    };
    let proxy = crate::plan::addresses::PROXY;
    let names_proxy = value
        .map(String::from_utf8_lossy)
        .and_then(|text| parse_authority(&text, Some(0)).ok())
        .is_some_and(|host| {
            let ours = match &host.host {
                HostKind::Ip(ip) => *ip == std::net::IpAddr::V4(*proxy.ip()),
                HostKind::Name(name) => name == "localhost",
            };
            ours && host.port == proxy.port()
        });
    if names_proxy {
        Ok(())
    } else {
        Err(mismatch)
    }
}

/// The head sent upstream: origin-form, `Host` from the target, end-to-end headers in their
/// order, `Connection: close`.
fn upstream_head(
    method: &str,
    path: &str,
    target: &Target,
    headers: &[httparse::Header<'_>],
) -> Vec<u8> {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    if !path.starts_with('/') {
        out.push(b'/');
    }
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    if target.port == 80 {
        out.extend_from_slice(target.host.to_string().as_bytes());
    } else {
        out.extend_from_slice(target.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    end_head_with_close(&mut out, headers, |lower| {
        HOP_BY_HOP.contains(&lower) || named.iter().any(|n| n == lower)
    });
    out
}

/// Append `headers` except those `drop` refuses (by lower-case name), then
/// `Connection: close` and the blank line that ends a head.
pub fn end_head_with_close(
    out: &mut Vec<u8>,
    headers: &[httparse::Header<'_>],
    drop: impl Fn(&str) -> bool,
) {
    for h in headers {
        if drop(&h.name.to_ascii_lowercase()) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
}

/// Text from the request made safe for a log line: escaped, at most 256 characters.
pub fn escape(s: &str) -> String {
    let mut out: String = s.escape_default().collect();
    if out.len() > 256 {
        let mut cut = 256;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The request target as the client wrote it, for the `target` of a malformed-request event.
pub fn raw_target(buf: &[u8]) -> String {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = String::from_utf8_lossy(&buf[..line_end.min(MAX_HEAD)]);
    escape(line.split(' ').nth(1).unwrap_or(""))
}

/// Parse and decide at once: the pure core of the proxy (and the fuzz target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluation<'a> {
    /// Read more bytes.
    Incomplete,
    /// Refused before looking at the allow-list.
    Malformed(RequestError),
    /// A well-formed request and the allow-list's answer for its target.
    Decided {
        head: RequestHead,
        decision: Decision<'a>,
    },
}

pub fn evaluate<'a>(buf: &[u8], allow: &'a AllowList) -> Evaluation<'a> {
    match parse_head(buf) {
        Ok(None) => Evaluation::Incomplete,
        Err(e) => Evaluation::Malformed(e),
        Ok(Some(head)) => {
            let decision = allow.check(&head.target.host, head.target.port);
            Evaluation::Decided { head, decision }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::allow::RuleSource;
    use std::path::PathBuf;

    fn allow_list() -> AllowList {
        let mut l = AllowList::new();
        for r in ["registry.example.com:443", "127.0.0.1:4873"] {
            l.add(r, RuleSource::AllowHostFlag).expect("test rule");
        }
        l
    }

    fn head(buf: &[u8]) -> RequestHead {
        match parse_head(buf) {
            Ok(Some(h)) => h,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    fn corpus_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proxy-corpus")
    }

    /// Every corpus file is decided as its name says: `malformed-*` refused by the parser,
    /// `denied-*` refused by the allow-list, `allowed-*` allowed. None panics.
    #[test]
    fn corpus() {
        let allow = allow_list();
        let mut seen = 0;
        let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
            .expect("corpus directory")
            .map(|e| e.expect("corpus entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let bytes = std::fs::read(&path).expect("corpus file");
            let outcome = evaluate(&bytes, &allow);
            let ok = match name.split('-').next() {
                Some("malformed") => matches!(outcome, Evaluation::Malformed(_)),
                Some("denied") => matches!(
                    outcome,
                    Evaluation::Decided {
                        decision: Decision::Deny(_),
                        ..
                    }
                ),
                Some("allowed") => matches!(
                    outcome,
                    Evaluation::Decided {
                        decision: Decision::Allow(_),
                        ..
                    }
                ),
                _ => panic!("corpus file {name} has no malformed-/denied-/allowed- prefix"),
            };
            assert!(ok, "{name}: {outcome:?}");
            // Prefixes of the input (the proxy parses as bytes arrive) never panic either.
            for cut in (0..bytes.len()).filter(|c| *c < 1024 || c % 1021 == 0) {
                let _ = evaluate(&bytes[..cut], &allow);
            }
            seen += 1;
        }
        assert!(seen >= 50, "corpus has only {seen} files");
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        assert_eq!(parse_head(b""), Ok(None));
        assert_eq!(
            parse_head(b"CONNECT registry.example.com:443 HTTP/1.1\r\n"),
            Ok(None)
        );
        assert_eq!(
            parse_head(b"CONNECT registry.example.com:443 HTTP/1.1\r\nHost: x"),
            Ok(None)
        );
        // ...but a broken request line is refused before the head is complete.
        assert!(parse_head(b"GET\0").is_err());
        assert!(parse_head(b"\x16\x03\x01").is_err());
    }

    #[test]
    fn connect_keeps_the_bytes_after_the_head() {
        let buf = b"CONNECT registry.example.com:443 HTTP/1.1\r\nHost: registry.example.com:443\r\n\r\n\x16\x03\x01";
        let h = head(buf);
        assert_eq!(h.kind, RequestKind::Connect);
        assert_eq!(h.target.to_string(), "registry.example.com:443");
        assert_eq!(&buf[h.head_len..], b"\x16\x03\x01");
    }

    #[test]
    fn absolute_form_is_rewritten_to_origin_form() {
        let buf = b"GET http://2130706433:4873/pkg?x=1 HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAccept: */*\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nUpgrade: h2c\r\nUser-Agent: npm\r\n\r\n";
        let h = head(buf);
        assert_eq!(h.target.to_string(), "127.0.0.1:4873");
        let RequestKind::Forward {
            method,
            upstream_head,
            content_length,
            expect_continue,
        } = h.kind
        else {
            panic!("not forwarded");
        };
        assert_eq!(method, "GET");
        assert_eq!(content_length, 0);
        assert!(!expect_continue);
        assert_eq!(
            String::from_utf8_lossy(&upstream_head),
            "GET /pkg?x=1 HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAccept: */*\r\nUser-Agent: npm\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn empty_path_and_default_port() {
        let h = head(
            b"HEAD http://Registry.Example.com?q HTTP/1.0\r\nHost: registry.example.com:80\r\n\r\n",
        );
        assert_eq!(h.target.to_string(), "registry.example.com:80");
        let RequestKind::Forward { upstream_head, .. } = h.kind else {
            panic!("not forwarded");
        };
        assert!(upstream_head.starts_with(b"HEAD /?q HTTP/1.1\r\nHost: registry.example.com\r\n"));
    }

    #[test]
    fn bodies_and_expect() {
        let h = head(b"POST http://127.0.0.1:4873/x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}");
        let RequestKind::Forward {
            content_length,
            expect_continue,
            upstream_head,
            ..
        } = h.kind
        else {
            panic!("not forwarded");
        };
        assert_eq!(content_length, 2);
        assert!(expect_continue);
        assert!(!String::from_utf8_lossy(&upstream_head).contains("Expect"));
    }

    #[test]
    fn errors_have_statuses() {
        let too_many = corpus_dir().join("malformed-too-many-headers.http");
        let bytes = std::fs::read(too_many).expect("corpus file");
        let err = parse_head(&bytes).expect_err("too many headers");
        assert_eq!(err, RequestError::TooManyHeaders);
        assert_eq!(err.status(), 431);
        assert_eq!(
            parse_head(b"GET /x HTTP/1.1\r\n\r\n")
                .expect_err("origin form")
                .status(),
            400
        );
        assert!(matches!(
            parse_head(b"CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n"),
            Err(RequestError::HostMismatch { .. })
        ));
        // Node's agents name the proxy itself in CONNECT's Host; that smuggles nothing.
        for host in ["127.0.0.1:3128", "localhost:3128"] {
            let req = format!("CONNECT a.example:443 HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert!(
                matches!(parse_head(req.as_bytes()), Ok(Some(_))),
                "CONNECT with Host {host} refused"
            );
        }
        assert!(matches!(
            parse_head(b"CONNECT a.example:443 HTTP/1.1\r\nHost: 127.0.0.1:3129\r\n\r\n"),
            Err(RequestError::HostMismatch { .. })
        ));
        // Absolute-form forwarding keeps the strict rule.
        assert!(matches!(
            parse_head(b"GET http://a.example/x HTTP/1.1\r\nHost: 127.0.0.1:3128\r\n\r\n"),
            Err(RequestError::HostMismatch { .. })
        ));
    }

    #[test]
    fn raw_target_is_escaped() {
        assert_eq!(
            raw_target(b"CONNECT a\x00b:443 HTTP/1.1\r\n"),
            "a\\u{0}b:443"
        );
        assert_eq!(raw_target(b"GET"), "");
        assert!(raw_target(&[b'a'; 40_000]).is_empty());
    }

    #[test]
    fn a_tunnel_that_starts_with_a_method_carries_http() {
        assert_eq!(starts_like_http(b"GET /x HTTP/1.1\r\n"), Some(true));
        assert_eq!(starts_like_http(b"OPTIO"), None);
        assert_eq!(starts_like_http(b""), None);
        assert_eq!(starts_like_http(b"SSH-2.0-OpenSSH_9.6\r\n"), Some(false));
        assert_eq!(starts_like_http(b"CONNECT a:1 HTTP/1.1\r\n"), Some(false));
        assert_eq!(starts_like_http(b"\x16\x03\x01"), Some(false));
    }

    #[test]
    fn a_tunnelled_request_is_checked_as_its_absolute_form() {
        let tunnel = Target {
            host: HostKind::parse("127.0.0.1").expect("ip"),
            port: 4873,
        };
        let buf = b"GET /si-benign HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAuthorization: Bearer t\r\nConnection: keep-alive\r\n\r\nrest";
        let head = parse_tunnelled(buf, &tunnel)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.target, tunnel);
        assert_eq!(&buf[head.head_len..], b"rest");
        let RequestKind::Forward { upstream_head, .. } = &head.kind else {
            panic!("not a forward: {head:?}");
        };
        assert_eq!(
            String::from_utf8_lossy(upstream_head),
            "GET /si-benign HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n"
        );
        // Absolute form naming the tunnel's own origin is the same request.
        let abs = b"GET http://127.0.0.1:4873/x HTTP/1.1\r\n\r\n";
        assert!(parse_tunnelled(abs, &tunnel).expect("valid").is_some());
        assert_eq!(parse_tunnelled(b"GET /x HTTP/1.1\r\nHo", &tunnel), Ok(None));
        // Another host, in the Host header or the target: fronting.
        for other in [
            &b"GET /x HTTP/1.1\r\nHost: evil.example\r\n\r\n"[..],
            &b"GET http://127.0.0.1:4874/x HTTP/1.1\r\n\r\n"[..],
        ] {
            assert!(
                matches!(
                    parse_tunnelled(other, &tunnel),
                    Err(RequestError::HostMismatch { .. })
                ),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        // Everything refused in absolute form is refused here too.
        assert_eq!(
            parse_tunnelled(
                b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                &tunnel
            ),
            Err(RequestError::TransferEncoding)
        );
        assert_eq!(
            parse_tunnelled(b"CONNECT 127.0.0.1:4873 HTTP/1.1\r\n\r\n", &tunnel),
            Err(RequestError::Method("CONNECT".into()))
        );
        assert!(parse_tunnelled(b"GET /a\x00 HTTP/1.1\r\n\r\n", &tunnel).is_err());
    }
}
