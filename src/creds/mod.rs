//! Registry credentials stay outside the sandbox: inside, every credential is a random
//! per-run placeholder shaped so the client still sends it; the proxy puts the real value
//! back only into requests to the origin it belongs to, and refuses (`credential-misuse`) a
//! placeholder sent anywhere else.
//!
//! [`seal`] turns the plan's configuration (npm's private npmrc, pip's private pip.conf and
//! netrc, `--secret-env` variables, index URLs on the command line) into placeholders and
//! returns the [`Vault`] of bindings; the functions here are what the proxy asks of it: pure,
//! no I/O, unit-tested below.

pub mod seal;
pub mod tls;

use base64::Engine as _;
use std::fmt;

/// Whether the proxy terminates TLS for HTTPS origins that carry a credential. Without it a
/// credential bound only to HTTPS keeps its real value inside (the client must send it
/// through a tunnel the proxy cannot see into), and `explain` says so.
pub const HTTPS_INTERCEPTION: bool = true;

/// Every placeholder starts with this, so a reader of a file or a log knows what it is.
pub const PLACEHOLDER_PREFIX: &str = "si-placeholder-";

/// The real value of a credential. Never printed: `Debug` shows its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Drop for Secret {
    /// Best effort: the supervisor's copy does not outlive the run in freed heap memory.
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        crate::sys::mem::wipe(&mut bytes);
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where a credential may be sent: one scheme, host and port, and a path prefix (npm scopes a
/// token to the registry's path; pip sends an index's credential to any path on its host).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub scheme: Scheme,
    /// Lowercase; IPv6 without brackets.
    pub host: String,
    /// `None`: any port (netrc entries name a host only, and pip looks them up by host).
    pub port: Option<u16>,
    /// Starts and ends with `/`; `/` for the whole host.
    pub path: String,
}

impl Origin {
    /// Whether a request to `scheme://host:port` with this request target (origin-form path,
    /// query included) is inside the origin.
    pub fn contains(&self, scheme: Scheme, host: &str, port: u16, target: &str) -> bool {
        if self.scheme != scheme
            || self.port.is_some_and(|p| p != port)
            || !self.host.eq_ignore_ascii_case(host)
        {
            return false;
        }
        let path = target.split(['?', '#']).next().unwrap_or("");
        // npm's nerf-dart matching: `/scope/` covers `/scope/pkg` and `/scope` itself.
        path.starts_with(&self.path) || format!("{path}/") == self.path
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{}://{host}:{port}{}", self.scheme.as_str(), self.path),
            None => write!(f, "{}://{host}:*{}", self.scheme.as_str(), self.path),
        }
    }
}

/// How the client carries the credential, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier {
    /// npm `_authToken`: `Authorization: Bearer <placeholder>`.
    Bearer,
    /// A user name and password (npm `_auth`, `username`/`_password`, URL userinfo, netrc):
    /// `Authorization: Basic` with the placeholder as the password.
    Basic,
    /// Another header that carries it whole (git's `http.<url>.extraheader`:
    /// `PRIVATE-TOKEN: …`, `Authorization: token …`): the header's name.
    Header(String),
    /// A `--secret-env` variable whose use could not be traced to a registry setting.
    Variable,
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Carrier::Bearer => f.write_str("Authorization: Bearer (injected by the proxy)"),
            Carrier::Basic => f.write_str("Authorization: Basic, password (injected by the proxy)"),
            Carrier::Header(name) => write!(f, "{name} header, its value (injected by the proxy)"),
            Carrier::Variable => f.write_str("a variable no registry setting uses (sent nowhere)"),
        }
    }
}

/// One credential: where it came from, where it may go, its real value and its placeholder.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Where it was found (`//host/:_authToken in npm's configuration`, `$PIP_INDEX_URL`):
    /// for `explain` and the log; never the value.
    pub source: String,
    /// Empty: bound to no origin, refused wherever it is sent.
    pub origins: Vec<Origin>,
    pub carrier: Carrier,
    pub real: Secret,
    pub placeholder: String,
}

/// A placeholder sent where its credential does not belong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the placeholder for {credential} was sent to {sent_to}; it is bound to {bound}")]
pub struct Misuse {
    /// Where the credential came from (never its value).
    pub credential: String,
    pub sent_to: String,
    /// The origins, joined, or "no host".
    pub bound: String,
}

/// The result of rewriting a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub head: Vec<u8>,
    /// How many placeholders were replaced by real values (0: the head is unchanged).
    pub substituted: usize,
}

/// Every credential of the run, and the run's interception CA when an HTTPS origin carries
/// one.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    creds: Vec<Credential>,
    tls: Option<std::sync::Arc<tls::Interceptor>>,
}

/// A fresh placeholder: the prefix and 128 random bits in hex (ASCII letters, digits and `-`
/// only: valid unchanged in a URL's userinfo, a netrc token, an npmrc value, a header).
pub fn new_placeholder() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)?;
    let mut out = String::from(PLACEHOLDER_PREFIX);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    Ok(out)
}

impl Vault {
    pub fn push(&mut self, cred: Credential) {
        self.creds.push(cred);
    }

    pub fn set_tls(&mut self, tls: std::sync::Arc<tls::Interceptor>) {
        self.tls = Some(tls);
    }

    /// The interceptor, when some HTTPS origin carries a credential.
    pub fn tls(&self) -> Option<&std::sync::Arc<tls::Interceptor>> {
        self.tls.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.creds.is_empty()
    }

    pub fn credentials(&self) -> &[Credential] {
        &self.creds
    }

    /// The placeholder already given to this real value and carrier, so one value seen twice
    /// (in a file and a variable) has one placeholder.
    pub fn placeholder_for(&self, real: &str) -> Option<&str> {
        self.creds
            .iter()
            .find(|c| c.real.expose() == real)
            .map(|c| c.placeholder.as_str())
    }

    /// The origins over HTTPS that carry a credential (`None`: any port): the proxy
    /// terminates TLS for these.
    pub fn https_origins(&self) -> Vec<(String, Option<u16>)> {
        let mut out: Vec<(String, Option<u16>)> = self
            .creds
            .iter()
            .flat_map(|c| &c.origins)
            .filter(|o| o.scheme == Scheme::Https)
            .map(|o| (o.host.clone(), o.port))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether a CONNECT to `host:port` reaches an HTTPS origin that carries a credential.
    pub fn intercepts(&self, host: &str, port: u16) -> bool {
        self.creds.iter().flat_map(|c| &c.origins).any(|o| {
            o.scheme == Scheme::Https
                && o.host.eq_ignore_ascii_case(host)
                && o.port.is_none_or(|p| p == port)
        })
    }

    /// Whether any placeholder appears in `bytes`.
    pub fn carries_placeholder(&self, bytes: &[u8]) -> Option<&Credential> {
        // The common case (no placeholder at all) costs one scan.
        memchr::memmem::find(bytes, PLACEHOLDER_PREFIX.as_bytes())?;
        self.creds
            .iter()
            .find(|c| memchr::memmem::find(bytes, c.placeholder.as_bytes()).is_some())
    }

    /// Rewrite an origin-form request head bound for `scheme://host:port`: each placeholder
    /// (also inside an `Authorization: Basic` value) becomes its real value when the request
    /// lies inside one of the credential's origins; any other placeholder is a [`Misuse`] and
    /// nothing of the request may be forwarded. `substitute: false` (a lifecycle script's
    /// request): every placeholder is a misuse.
    pub fn rewrite_request(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
        head: &[u8],
        substitute: bool,
    ) -> Result<Rewritten, Misuse> {
        let target = request_target(head).unwrap_or("/");
        let sent_to = format!(
            "{}://{}:{}{}",
            scheme.as_str(),
            host,
            port,
            target.split('?').next().unwrap_or("")
        );
        let decide = |cred: &Credential| -> Result<(), Misuse> {
            let inside = substitute
                && cred
                    .origins
                    .iter()
                    .any(|o| o.contains(scheme, host, port, target));
            if inside {
                Ok(())
            } else {
                Err(self.misuse(cred, &sent_to))
            }
        };
        let mut out = Vec::with_capacity(head.len() + 64);
        let mut substituted = 0;
        for line in split_lines(head) {
            if let Some(decoded) = basic_value(line) {
                if let Some(cred) = self.carries_placeholder(&decoded) {
                    decide(cred)?;
                    let (replaced, n) = self.replace_all(&decoded, &decide)?;
                    substituted += n;
                    let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
                    out.extend_from_slice(&line[..name_end]);
                    out.extend_from_slice(b": Basic ");
                    out.extend_from_slice(
                        base64::engine::general_purpose::STANDARD
                            .encode(replaced)
                            .as_bytes(),
                    );
                    out.extend_from_slice(b"\r\n");
                    continue;
                }
            }
            let (replaced, n) = self.replace_all(line, &decide)?;
            substituted += n;
            out.extend_from_slice(&replaced);
        }
        if substituted > 0 {
            out = uncompressed_response(&out);
        }
        Ok(Rewritten {
            head: out,
            substituted,
        })
    }

    /// Every placeholder in `bytes` replaced by its real value, each checked by `decide`.
    fn replace_all(
        &self,
        bytes: &[u8],
        decide: &dyn Fn(&Credential) -> Result<(), Misuse>,
    ) -> Result<(Vec<u8>, usize), Misuse> {
        let mut out = bytes.to_vec();
        let mut n = 0;
        while let Some(cred) = self.carries_placeholder(&out) {
            decide(cred)?;
            let ph = cred.placeholder.as_bytes();
            let real = cred.real.expose().as_bytes();
            let mut next = Vec::with_capacity(out.len());
            let mut rest: &[u8] = &out;
            while let Some(at) = memchr::memmem::find(rest, ph) {
                next.extend_from_slice(&rest[..at]);
                next.extend_from_slice(real);
                rest = &rest[at + ph.len()..];
                n += 1;
            }
            next.extend_from_slice(rest);
            out = next;
        }
        Ok((out, n))
    }

    fn misuse(&self, cred: &Credential, sent_to: &str) -> Misuse {
        let bound = if cred.origins.is_empty() {
            "no host".to_string()
        } else {
            cred.origins
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Misuse {
            credential: cred.source.clone(),
            sent_to: sent_to.to_string(),
            bound,
        }
    }

    /// A masker for a response body (and head): every real value, and its `Basic` encoding
    /// when it is a password, replaced by a mask of the same length, so `Content-Length` and
    /// chunk sizes stay right.
    pub fn masker(&self) -> Masker {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for c in &self.creds {
            let real = c.real.expose().as_bytes().to_vec();
            // A value this short turns up by chance in any tarball, and masking it there
            // would corrupt the download (npm and pip then refuse it on its hash): short
            // passwords are left as they are (README, "Limits").
            if real.len() < MIN_MASKED {
                continue;
            }
            let mask: Vec<u8> = c
                .placeholder
                .bytes()
                .cycle()
                .take(real.len())
                .collect::<Vec<u8>>();
            pairs.push((real, mask));
        }
        let keep = pairs
            .iter()
            .map(|(r, _)| r.len())
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        Masker {
            pairs,
            keep,
            tail: Vec::new(),
        }
    }
}

/// The shortest real value the masker replaces in responses.
pub const MIN_MASKED: usize = 8;

/// Replaces real values in a byte stream that arrives in pieces: the last `keep` bytes of each
/// piece wait for the next, so a value split across reads is still found.
pub struct Masker {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    keep: usize,
    tail: Vec<u8>,
}

impl Masker {
    /// Mask one piece; returns what may be sent now.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(piece);
        self.mask_in_place(&mut buf);
        let cut = buf.len().saturating_sub(self.keep);
        self.tail = buf.split_off(cut);
        buf
    }

    /// The bytes held back, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.tail);
        self.mask_in_place(&mut buf);
        buf
    }

    /// Mask a complete buffer (a response head).
    pub fn mask_all(&self, buf: &mut [u8]) {
        self.mask_in_place(buf);
    }

    fn mask_in_place(&self, buf: &mut [u8]) {
        for (real, mask) in &self.pairs {
            let mut from = 0;
            while let Some(at) = memchr::memmem::find(&buf[from..], real) {
                let start = from + at;
                buf[start..start + real.len()].copy_from_slice(mask);
                from = start + real.len();
            }
        }
    }
}

/// A request head that carries a real credential, asking for an uncompressed response: the
/// masker reads the body as it comes, and an echo of the credential inside a gzip body would
/// pass it unseen. Every `Accept-Encoding` goes; `Accept-Encoding: identity` goes before the
/// blank line that ends the head. (Tarballs and wheels are files, compressed in themselves:
/// only metadata and error pages grow.)
fn uncompressed_response(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 32);
    for line in split_lines(head) {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if line.contains(&b':') && name.trim_ascii().eq_ignore_ascii_case(b"accept-encoding") {
            continue;
        }
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(b"Accept-Encoding: identity\r\n");
        }
        out.extend_from_slice(line);
    }
    out
}

/// The request target of a head's first line.
fn request_target(head: &[u8]) -> Option<&str> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.split(' ').nth(1)
}

/// The head's lines, each with its line ending.
fn split_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split_inclusive(|&b| b == b'\n')
}

/// The decoded credentials of an `Authorization: Basic` or `Proxy-Authorization: Basic` line.
fn basic_value(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let (name, value) = text.split_once(':')?;
    let name = name.trim().to_ascii_lowercase();
    if name != "authorization" && name != "proxy-authorization" {
        return None;
    }
    let value = value.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(scheme: Scheme, host: &str, port: u16, path: &str) -> Origin {
        Origin {
            scheme,
            host: host.into(),
            port: Some(port),
            path: path.into(),
        }
    }

    fn vault() -> Vault {
        let mut v = Vault::default();
        v.push(Credential {
            source: "//127.0.0.1:4873/:_authToken".into(),
            origins: vec![origin(Scheme::Http, "127.0.0.1", 4873, "/")],
            carrier: Carrier::Bearer,
            real: Secret::new("npm_REALTOKEN".into()),
            placeholder: "si-placeholder-aaaa".into(),
        });
        v.push(Credential {
            source: "index-url".into(),
            origins: vec![origin(Scheme::Https, "registry.example.com", 443, "/")],
            carrier: Carrier::Basic,
            real: Secret::new("s3cret-pass".into()),
            placeholder: "si-placeholder-bbbb".into(),
        });
        v
    }

    #[test]
    fn placeholders_are_random_and_url_safe() {
        let a = new_placeholder().expect("random");
        let b = new_placeholder().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(PLACEHOLDER_PREFIX) && a.len() == PLACEHOLDER_PREFIX.len() + 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }

    #[test]
    fn the_real_value_goes_only_to_its_origin() {
        let v = vault();
        let head = b"GET /left-pad HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAuthorization: Bearer si-placeholder-aaaa\r\n\r\n";
        let r = v
            .rewrite_request(Scheme::Http, "127.0.0.1", 4873, head, true)
            .expect("inside");
        assert_eq!(r.substituted, 1);
        let text = String::from_utf8(r.head).expect("utf8");
        assert!(text.contains("Bearer npm_REALTOKEN\r\n"), "{text}");
        // Another port, another host, another scheme: refused, naming the source.
        for (s, h, p) in [
            (Scheme::Http, "127.0.0.1", 4874),
            (Scheme::Http, "evil.example.com", 4873),
            (Scheme::Https, "127.0.0.1", 4873),
        ] {
            let e = v.rewrite_request(s, h, p, head, true).expect_err("misuse");
            assert_eq!(e.credential, "//127.0.0.1:4873/:_authToken");
            assert!(e.bound.contains("http://127.0.0.1:4873/"));
        }
        // A script's request never gets the real value.
        assert!(v
            .rewrite_request(Scheme::Http, "127.0.0.1", 4873, head, false)
            .is_err());
        // No placeholder: unchanged.
        let plain = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let r = v
            .rewrite_request(Scheme::Http, "x", 80, plain, true)
            .expect("no placeholder");
        assert_eq!((r.head.as_slice(), r.substituted), (&plain[..], 0));
    }

    #[test]
    fn a_request_carrying_a_real_value_asks_for_an_uncompressed_response() {
        let v = vault();
        let head = b"GET /left-pad HTTP/1.1\r\nHost: 127.0.0.1:4873\r\naccept-encoding: gzip, deflate, br\r\nAuthorization: Bearer si-placeholder-aaaa\r\nAccept-Encoding : zstd\r\n\r\n";
        let r = v
            .rewrite_request(Scheme::Http, "127.0.0.1", 4873, head, true)
            .expect("inside");
        let text = String::from_utf8(r.head).expect("utf8");
        assert!(
            text.ends_with("Bearer npm_REALTOKEN\r\nAccept-Encoding: identity\r\n\r\n"),
            "{text}"
        );
        assert_eq!(
            text.to_ascii_lowercase().matches("accept-encoding").count(),
            1
        );
        // Without a real value the client's choice stands.
        let plain = b"GET / HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n";
        let r = v
            .rewrite_request(Scheme::Http, "x", 80, plain, true)
            .expect("no placeholder");
        assert_eq!(r.head, plain.to_vec());
    }

    #[test]
    fn basic_credentials_are_decoded_substituted_and_reencoded() {
        let v = vault();
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:si-placeholder-bbbb");
        let head = format!(
            "GET /simple/pkg/ HTTP/1.1\r\nHost: registry.example.com\r\nauthorization: basic {b64}\r\n\r\n"
        );
        let r = v
            .rewrite_request(
                Scheme::Https,
                "registry.example.com",
                443,
                head.as_bytes(),
                true,
            )
            .expect("inside");
        let want = base64::engine::general_purpose::STANDARD.encode("user:s3cret-pass");
        let text = String::from_utf8(r.head).expect("utf8");
        assert!(
            text.contains(&format!("authorization: Basic {want}\r\n")),
            "{text}"
        );
        // The same header to another host: refused, even hidden in base64.
        assert!(v
            .rewrite_request(
                Scheme::Https,
                "other.example.com",
                443,
                head.as_bytes(),
                true
            )
            .is_err());
        // In the path, too.
        let in_path = b"GET /x?t=si-placeholder-bbbb HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(v
            .rewrite_request(Scheme::Http, "a", 80, in_path, true)
            .is_err());
    }

    #[test]
    fn npm_path_prefixes_bind_tokens() {
        let o = origin(Scheme::Http, "127.0.0.1", 4873, "/npm/private/");
        assert!(o.contains(Scheme::Http, "127.0.0.1", 4873, "/npm/private/@s%2fpkg"));
        assert!(o.contains(Scheme::Http, "127.0.0.1", 4873, "/npm/private"));
        assert!(!o.contains(Scheme::Http, "127.0.0.1", 4873, "/npm/public/pkg"));
        assert!(!o.contains(Scheme::Http, "127.0.0.1", 4873, "/npm/privateer"));
        assert_eq!(o.to_string(), "http://127.0.0.1:4873/npm/private/");
    }

    #[test]
    fn masker_hides_real_values_across_pieces_keeping_lengths() {
        let v = vault();
        let mut m = v.masker();
        let body = b"{\"error\":\"bad token npm_REALTOKEN for s3cret-pass\"}";
        let mut out = Vec::new();
        for piece in body.chunks(3) {
            out.extend(m.push(piece));
        }
        out.extend(m.finish());
        assert_eq!(out.len(), body.len());
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            !text.contains("npm_REALTOKEN") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("si-placehold"), "{text}");
    }

    #[test]
    fn short_values_are_not_masked() {
        let mut v = Vault::default();
        v.push(Credential {
            source: "netrc".into(),
            origins: vec![],
            carrier: Carrier::Basic,
            real: Secret::new("pw".into()),
            placeholder: "si-placeholder-cccc".into(),
        });
        let mut m = v.masker();
        let mut out = m.push(b"a pw in a tarball");
        out.extend(m.finish());
        assert_eq!(out, b"a pw in a tarball");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(7 bytes)");
    }
}
