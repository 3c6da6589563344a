//! Local package registries for tests: Verdaccio (npm) and pypiserver (PEP 503), each on
//! a free 127.0.0.1 port with its own temporary storage, installed by `scripts/setup.sh`.
//!
//! A server is killed when its [`Server`] is dropped, and by the kernel when the thread
//! that started it ends (`PR_SET_PDEATHSIG` fires on the exit of the *thread* that forked,
//! which for a cargo test is the test's own thread), so a panicking test leaves none behind.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{write_file, SYSTEM_PATH};

/// Where `scripts/setup.sh` installs the servers.
pub fn test_root() -> PathBuf {
    std::env::var_os("SAFE_INSTALL_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/safe-install-test"))
}

/// A running local registry.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT/` (Verdaccio) or `http://127.0.0.1:PORT/simple/` (pypiserver).
    pub url: String,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    /// A server a test started itself ([`spawn_server`]), killed when dropped.
    pub fn adopt(child: Child, url: String, port: u16, log: PathBuf) -> Server {
        Server {
            child,
            url,
            port,
            log,
        }
    }

    /// The server's own output so far, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Spawn a background server with its output in `log`; it dies with the thread that
/// spawned it (`PR_SET_PDEATHSIG`).
pub fn spawn_server(mut cmd: Command, log: &Path) -> Child {
    let out = fs::File::create(log).expect("create server log");
    let err = out.try_clone().expect("clone log fd");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
    // which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()))
}

/// For a server that speaks TLS: until its port accepts connections.
fn wait_listening(server: &mut Server, what: &str) {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "{what} exited with {status} before serving; its output:\n{}",
                server.log()
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on 127.0.0.1:{} within 60s; its output:\n{}",
            server.port,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_ready(server: &mut Server, path: &str, what: &str) {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "{what} exited with {status} before serving; its output:\n{}",
                server.log()
            );
        }
        if let Ok((status, _)) = http(server.port, "GET", path, &[], b"") {
            if status < 500 {
                return;
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            panic!(
                "{what} did not answer on 127.0.0.1:{} within 60s; its output:\n{}",
                server.port,
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts Verdaccio with a temporary storage, an htpasswd file, no uplinks (it never
/// reaches any other registry) and no web UI, on a free loopback port.
pub fn start_verdaccio(dir: &Path) -> Server {
    start_verdaccio_with(dir, None)
}

/// [`start_verdaccio`], where the packages of `private_scope` (`@scope`), if given, can be
/// read only with a token (`access: $authenticated`).
pub fn start_verdaccio_with(dir: &Path, private_scope: Option<&str>) -> Server {
    start_verdaccio_full(dir, private_scope, None)
}

/// A test certificate authority and a certificate for `127.0.0.1` signed by it, as PEM files
/// in `dir`: what a user's private registry over HTTPS looks like (the user configures the CA
/// as npm's `cafile` or pip's `cert`).
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn test_ca(dir: &Path) -> TestCa {
    fs::create_dir_all(dir).expect("mkdir ca");
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "safe-install test registry CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("leaf params");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &ca, &ca_key).expect("leaf");
    let out = TestCa {
        ca: dir.join("test-ca.pem"),
        cert: dir.join("registry-cert.pem"),
        key: dir.join("registry-key.pem"),
    };
    write_file(&out.ca, &ca.pem());
    write_file(&out.cert, &cert.pem());
    write_file(&out.key, &key.serialize_pem());
    out
}

/// [`start_verdaccio_with`], served over HTTPS with `tls`'s certificate when given (Verdaccio
/// terminates TLS itself). Reuses `dir`'s storage and users when it holds them already.
pub fn start_verdaccio_full(
    dir: &Path,
    private_scope: Option<&str>,
    tls: Option<&TestCa>,
) -> Server {
    let bin = test_root().join("verdaccio/node_modules/.bin/verdaccio");
    assert!(
        bin.is_file(),
        "Verdaccio is not installed at {}. Fix: run scripts/setup.sh as root",
        bin.display()
    );
    let port = free_port();
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).expect("create verdaccio storage");
    let config = dir.join("config.yaml");
    write_file(
        &config,
        &format!(
            "# Written by tests/e2e/common/servers.rs: a registry of its own, no uplinks.\n\
             storage: {storage}\n\
             auth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 100\n\
             uplinks: {{}}\n\
             packages:\n{private}  '**':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\n\
             publish:\n  allow_offline: true\n\
             web:\n  enable: false\n\
             log: {{ type: stdout, format: pretty, level: http }}\n{https}",
            https = tls
                .map(|t| format!(
                    "https:\n  key: {}\n  cert: {}\n",
                    t.key.display(),
                    t.cert.display()
                ))
                .unwrap_or_default(),
            storage = storage.display(),
            htpasswd = dir.join("htpasswd").display(),
            private = private_scope
                .map(|scope| format!(
                    "  '{scope}/*':\n    access: $authenticated\n    publish: $authenticated\n    unpublish: $authenticated\n"
                ))
                .unwrap_or_default(),
        ),
    );
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", dir)
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(match tls {
            Some(_) => format!("https://127.0.0.1:{port}"),
            None => format!("127.0.0.1:{port}"),
        })
        .current_dir(dir);
    let log = dir.join(if tls.is_some() {
        "verdaccio-https.log"
    } else {
        "verdaccio.log"
    });
    let child = spawn_server(cmd, &log);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut server = Server {
        child,
        url: format!("{scheme}://127.0.0.1:{port}/"),
        port,
        log,
    };
    if tls.is_some() {
        wait_listening(&mut server, "Verdaccio");
    } else {
        wait_ready(&mut server, "/-/ping", "Verdaccio");
    }
    server
}

/// Creates a Verdaccio user through the registry API (what `npm adduser` does) and
/// returns its token.
pub fn verdaccio_add_user(server: &Server, name: &str, password: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": password, "type": "user" });
    let body = serde_json::to_vec(&body).expect("json");
    let (status, resp) = http(
        server.port,
        "PUT",
        &format!("/-/user/org.couchdb.user:{name}"),
        &[("Content-Type", "application/json")],
        &body,
    )
    .expect("PUT user to Verdaccio");
    assert!(
        status == 201 || status == 200,
        "Verdaccio refused to create user {name}: HTTP {status}: {}",
        String::from_utf8_lossy(&resp)
    );
    let json: serde_json::Value = serde_json::from_slice(&resp).expect("Verdaccio answered JSON");
    json["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in Verdaccio's answer: {json}"))
        .to_string()
}

/// Starts pypiserver serving `packages` (read on every request) on a free loopback port.
pub fn start_pypiserver(dir: &Path, packages: &Path) -> Server {
    start_pypiserver_with(dir, packages, None)
}

/// [`start_pypiserver`] where listing, downloading and uploading need `user`:`password`
/// (an htpasswd file made with passlib from pypiserver's own environment).
pub fn start_pypiserver_auth(dir: &Path, packages: &Path, user: &str, password: &str) -> Server {
    let htpasswd = dir.join("htpasswd");
    let python = test_root().join("pypiserver/bin/python");
    let status = Command::new(&python)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .args([
            "-c",
            "import sys; from passlib.apache import HtpasswdFile as H; h = H(sys.argv[1], new=True); h.set_password(sys.argv[2], sys.argv[3]); h.save()",
        ])
        .arg(&htpasswd)
        .args([user, password])
        .status()
        .expect("run pypiserver's python");
    assert!(
        status.success(),
        "cannot write an htpasswd file with passlib in {}. Fix: run scripts/setup.sh as root",
        python.display()
    );
    start_pypiserver_with(dir, packages, Some(&htpasswd))
}

fn start_pypiserver_with(dir: &Path, packages: &Path, htpasswd: Option<&Path>) -> Server {
    let bin = test_root().join("pypiserver/bin/pypi-server");
    assert!(
        bin.is_file(),
        "pypiserver is not installed at {}. Fix: run scripts/setup.sh as root",
        bin.display()
    );
    let port = free_port();
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", dir)
        .args(["run", "--interface", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--backend", "simple-dir"]);
    match htpasswd {
        // Unknown names are answered 404, never redirected elsewhere.
        Some(file) => cmd
            .args(["--disable-fallback", "-a", "download,list,update", "-P"])
            .arg(file),
        // No authentication for anything: tests copy packages into the directory.
        None => cmd.args(["-a", ".", "-P", "."]),
    };
    cmd.arg(packages).current_dir(dir);
    let log = dir.join("pypiserver.log");
    let child = spawn_server(cmd, &log);
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}/simple/"),
        port,
        log,
    };
    wait_ready(&mut server, "/simple/", "pypiserver");
    server
}

/// A minimal HTTP/1.1 request to 127.0.0.1:`port`; returns (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&resp[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut body = resp[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

/// A loopback HTTP server on `ip` (`127.0.0.1`, `127.0.0.2`, …) that answers 200 to
/// everything and records each request head: the "other host" a stolen placeholder is sent to.
pub fn recording_server(ip: &str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let record = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if let Ok(mut s) = record.lock() {
                s.push(String::from_utf8_lossy(&head).into_owned());
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

/// A TLS terminator with `ca`'s registry certificate in front of a plain server on
/// `backend` (pypiserver serves no TLS itself): returns the port it listens on. One thread
/// per connection, relaying both ways; it lives as long as the test process.
pub fn tls_front(backend: u16, ca: &TestCa) -> u16 {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
        rustls::pki_types::CertificateDer::pem_file_iter(&ca.cert)
            .expect("read the registry certificate")
            .collect::<Result<_, _>>()
            .expect("parse the registry certificate");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&ca.key).expect("read the key");
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("TLS server config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            let config = std::sync::Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(up) = TcpStream::connect(("127.0.0.1", backend)) else {
                    return;
                };
                let Ok(server) = rustls::ServerConnection::new(config) else {
                    return;
                };
                // One thread, both directions: short read timeouts take turns.
                let tick = Some(Duration::from_millis(5));
                let _ = tcp.set_read_timeout(tick);
                let _ = up.set_read_timeout(tick);
                let mut tls = rustls::StreamOwned::new(server, tcp);
                let mut up = up;
                let mut buf = vec![0u8; 64 * 1024];
                let idle = |e: &std::io::Error| {
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    )
                };
                loop {
                    match tls.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            if up.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(e) if idle(&e) => {}
                        Err(_) => return,
                    }
                    match up.read(&mut buf) {
                        Ok(0) => {
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                            return;
                        }
                        Ok(n) => {
                            if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                                return;
                            }
                        }
                        Err(e) if idle(&e) => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    port
}
