//! HTTP/1.1 inside an intercepted TLS connection: the package manager's requests to an HTTPS
//! origin that carries a credential, read one at a time, each placeholder put back to its
//! real value only for this origin (or the request refused as `credential-misuse`), the
//! response relayed with an echoed credential masked. The client connection and the one
//! upstream connection stay open between requests (keep-alive, as npm's agent and pip's
//! urllib3 expect); each request is framed by `Content-Length` or chunked encoding, so no
//! unchecked byte reaches the upstream.

use crate::creds::{Masker, Misuse, Scheme, Vault};
use std::io::{self, Read, Write};

/// The largest request or response head.
const MAX_HEAD: usize = 64 * 1024;

/// A stream with a read buffer: heads are read line-exact, bodies by count.
pub struct Buffered<S> {
    pub inner: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Buffered<S> {
    pub fn new(inner: S) -> Self {
        Buffered {
            inner,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.inner.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A complete head (through the blank line); `None` at a clean end of stream before any
    /// byte of it.
    fn head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = self.buf.split_off(end + 4);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("head too large"));
            }
            if self.fill()? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(invalid("stream ended inside a head"))
                };
            }
        }
    }

    /// Up to `max` bytes (what is buffered, else one read); empty at end of stream.
    fn some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && self.fill()? == 0 {
            return Ok(Vec::new());
        }
        let n = self.buf.len().min(max);
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// One CRLF-terminated line (chunk sizes, trailers).
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let rest = self.buf.split_off(end + 2);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            if self.buf.len() > 8 * 1024 {
                return Err(invalid("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(invalid("stream ended inside a chunk line"));
            }
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// How a message body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the upstream closes (responses only).
    Close,
}

/// What a session needs to know about its origin.
pub struct Origin<'a> {
    pub host: &'a str,
    pub port: u16,
    pub vault: &'a Vault,
}

/// Why the session ended early.
#[derive(Debug)]
pub enum Ended {
    /// The client or upstream closed, or asked to.
    Done,
    /// A placeholder was misused; the client got a 403.
    Misuse(Misuse),
    /// The client sent something the proxy does not forward (answered 400).
    Refused(String),
}

/// Serve requests until either side closes.
pub fn serve<C: Read + Write, U: Read + Write>(
    client: &mut Buffered<C>,
    upstream: &mut Buffered<U>,
    origin: &Origin<'_>,
) -> io::Result<Ended> {
    loop {
        let Some(head) = client.head()? else {
            return Ok(Ended::Done);
        };
        let req = match parse_request(&head, origin) {
            Ok(r) => r,
            Err(why) => {
                answer(&mut client.inner, 400, "Bad Request", &why)?;
                return Ok(Ended::Refused(why));
            }
        };
        let sealed =
            match origin
                .vault
                .rewrite_request(Scheme::Https, origin.host, origin.port, &head, true)
            {
                Ok(r) => r,
                Err(m) => {
                    answer(
                        &mut client.inner,
                        403,
                        "Forbidden",
                        &format!("{m}; refused, nothing was forwarded"),
                    )?;
                    return Ok(Ended::Misuse(m));
                }
            };
        if req.expect_continue {
            // Answered here, so the body is read before anything is sent upstream.
            client.inner.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            client.inner.flush()?;
        }
        upstream.inner.write_all(&sealed.head)?;
        relay_body(client, &mut upstream.inner, req.framing, None)?;
        upstream.inner.flush()?;
        let mut masker = (sealed.substituted > 0).then(|| origin.vault.masker());
        let (mut resp_head, status, resp_framing, resp_close) = loop {
            let Some(h) = upstream.head()? else {
                return Err(invalid("upstream closed before a response"));
            };
            let (status, framing, close) = parse_response(&h, req.head_only)?;
            if (100..200).contains(&status) && status != 101 {
                client.inner.write_all(&h)?;
                continue;
            }
            break (h, status, framing, close);
        };
        if status == 101 {
            return Err(invalid("upstream switched protocols"));
        }
        if let Some(m) = &masker {
            m.mask_all(&mut resp_head);
        }
        client.inner.write_all(&resp_head)?;
        relay_body(upstream, &mut client.inner, resp_framing, masker.as_mut())?;
        client.inner.flush()?;
        if req.close || resp_close || resp_framing == Framing::Close {
            return Ok(Ended::Done);
        }
    }
}

struct Request {
    framing: Framing,
    close: bool,
    head_only: bool,
    expect_continue: bool,
}

fn parse_request(head: &[u8], origin: &Origin<'_>) -> Result<Request, String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("the request head is not valid HTTP/1.1".into()),
    }
    let path = req.path.unwrap_or("");
    if !path.starts_with('/') {
        return Err(format!(
            "only origin-form requests are served inside the tunnel, not {}",
            crate::net::request::escape(path)
        ));
    }
    let value = |name: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let hosts = value("host");
    let want = origin.host.to_ascii_lowercase();
    let host_ok = match hosts.as_slice() {
        [h] => {
            let (name, port) = split_host(h);
            name == want && port.unwrap_or(443) == origin.port
        }
        _ => false,
    };
    if !host_ok {
        return Err(format!(
            "the Host header must name {}:{} (the tunnel's host)",
            origin.host, origin.port
        ));
    }
    let te = value("transfer-encoding");
    let cl = value("content-length");
    let framing = if !te.is_empty() {
        if te.len() != 1 || te[0] != "chunked" || !cl.is_empty() {
            return Err("only Transfer-Encoding: chunked alone is forwarded".into());
        }
        Framing::Chunked
    } else {
        match cl.as_slice() {
            [] => Framing::None,
            [one] => Framing::Length(
                one.parse()
                    .map_err(|_| "invalid Content-Length".to_string())?,
            ),
            _ => return Err("more than one Content-Length".into()),
        }
    };
    let connection = value("connection");
    Ok(Request {
        framing,
        close: req.version == Some(0) || connection.iter().any(|c| c.contains("close")),
        head_only: req.method == Some("HEAD"),
        expect_continue: value("expect").iter().any(|e| e == "100-continue"),
    })
}

/// `host[:port]`, `[v6][:port]` → the bare host and the port, if any.
fn split_host(h: &str) -> (&str, Option<u16>) {
    if let Some(rest) = h.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (h, None),
        };
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (name, port.parse().ok()),
        _ => (h, None),
    }
}

fn parse_response(head: &[u8], head_only: bool) -> io::Result<(u16, Framing, bool)> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("invalid response head")),
    }
    let status = resp.code.unwrap_or(0);
    let value = |name: &str| {
        resp.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let close = resp.version == Some(0) || value("connection").iter().any(|c| c.contains("close"));
    let framing = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if value("transfer-encoding")
        .last()
        .is_some_and(|t| t.ends_with("chunked"))
    {
        Framing::Chunked
    } else if let Some(n) = value("content-length").first() {
        Framing::Length(n.parse().map_err(|_| invalid("invalid Content-Length"))?)
    } else {
        Framing::Close
    };
    Ok((status, framing, close))
}

/// Copy one body from `from` to `to` as framed, through `masker` when given.
fn relay_body<F: Read + Write, T: Write>(
    from: &mut Buffered<F>,
    to: &mut T,
    framing: Framing,
    mut masker: Option<&mut Masker>,
) -> io::Result<()> {
    let send = |to: &mut T, bytes: &[u8], m: &mut Option<&mut Masker>| -> io::Result<()> {
        match m {
            Some(m) => to.write_all(&m.push(bytes)),
            None => to.write_all(bytes),
        }
    };
    match framing {
        Framing::None => {}
        Framing::Length(mut left) => {
            while left > 0 {
                let piece = from.some(usize::try_from(left).unwrap_or(usize::MAX).min(1 << 16))?;
                if piece.is_empty() {
                    return Err(invalid("body ended early"));
                }
                left -= piece.len() as u64;
                send(to, &piece, &mut masker)?;
            }
        }
        Framing::Close => loop {
            let piece = from.some(1 << 16)?;
            if piece.is_empty() {
                break;
            }
            send(to, &piece, &mut masker)?;
        },
        Framing::Chunked => loop {
            let line = from.line()?;
            let size_text = String::from_utf8_lossy(&line);
            let size = u64::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("invalid chunk size"))?;
            send(to, &line, &mut masker)?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let t = from.line()?;
                    send(to, &t, &mut masker)?;
                    if t == b"\r\n" {
                        break;
                    }
                }
                break;
            }
            let mut left = size + 2;
            while left > 0 {
                let piece = from.some(usize::try_from(left).unwrap_or(usize::MAX).min(1 << 16))?;
                if piece.is_empty() {
                    return Err(invalid("chunk ended early"));
                }
                left -= piece.len() as u64;
                send(to, &piece, &mut masker)?;
            }
        },
    }
    if let Some(m) = masker {
        to.write_all(&m.finish())?;
    }
    Ok(())
}

fn answer<W: Write>(to: &mut W, status: u16, title: &str, detail: &str) -> io::Result<()> {
    let body = format!("safe-install: {detail}\n");
    to.write_all(
        format!(
            "HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    to.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::{Carrier, Credential, Origin as CredOrigin, Secret};
    use std::io::Cursor;

    /// A duplex test stream: reads from `input`, collects writes.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn duplex(input: &[u8]) -> Buffered<Duplex> {
        Buffered::new(Duplex {
            input: Cursor::new(input.to_vec()),
            output: Vec::new(),
        })
    }

    fn vault() -> Vault {
        let mut v = Vault::default();
        v.push(Credential {
            source: "//registry.example.com/:_authToken".into(),
            origins: vec![CredOrigin {
                scheme: Scheme::Https,
                host: "registry.example.com".into(),
                port: Some(443),
                path: "/".into(),
            }],
            carrier: Carrier::Bearer,
            real: Secret::new("REALTOKEN".into()),
            placeholder: "si-placeholder-1234".into(),
        });
        v
    }

    #[test]
    fn keep_alive_requests_are_unsealed_and_echoes_masked() {
        let v = vault();
        let origin = Origin {
            host: "registry.example.com",
            port: 443,
            vault: &v,
        };
        let mut client = duplex(
            b"GET /a HTTP/1.1\r\nHost: registry.example.com\r\nAuthorization: Bearer si-placeholder-1234\r\n\r\n\
              PUT /b HTTP/1.1\r\nHost: registry.example.com:443\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        let mut upstream = duplex(
            b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nyou: REALTOKEN\
              HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        );
        let ended = serve(&mut client, &mut upstream, &origin).expect("serve");
        assert!(matches!(ended, Ended::Done));
        let sent = String::from_utf8(upstream.inner.output).expect("utf8");
        assert!(sent.contains("Bearer REALTOKEN\r\n"), "{sent}");
        assert!(sent.ends_with("3\r\nabc\r\n0\r\n\r\n"), "{sent}");
        let got = String::from_utf8(client.inner.output).expect("utf8");
        assert!(!got.contains("REALTOKEN"), "{got}");
        assert!(
            got.contains("Content-Length: 14\r\n\r\nyou: si-placeh"),
            "{got}"
        );
        assert!(got.ends_with("2\r\nok\r\n0\r\n\r\n"), "{got}");
    }

    #[test]
    fn misuse_and_bad_hosts_are_refused_before_anything_is_sent() {
        let v = vault();
        let other = Origin {
            host: "other.example.com",
            port: 443,
            vault: &v,
        };
        let mut client = duplex(
            b"GET /a HTTP/1.1\r\nHost: other.example.com\r\nAuthorization: Bearer si-placeholder-1234\r\n\r\n",
        );
        let mut upstream = duplex(b"");
        let ended = serve(&mut client, &mut upstream, &other).expect("serve");
        assert!(matches!(ended, Ended::Misuse(_)));
        assert!(upstream.inner.output.is_empty());
        assert!(client.inner.output.starts_with(b"HTTP/1.1 403"));
        let mut client = duplex(b"GET /a HTTP/1.1\r\nHost: elsewhere.example.com\r\n\r\n");
        let mut upstream = duplex(b"");
        let ended = serve(&mut client, &mut upstream, &other).expect("serve");
        assert!(matches!(ended, Ended::Refused(_)));
        assert!(upstream.inner.output.is_empty());
    }
}
