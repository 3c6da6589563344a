//! `doctor`'s check of TLS interception on this machine: the system's roots load (the
//! upstream is verified against them), a per-run CA and a leaf can be made, and the real
//! clients accept a leaf of that CA when told to trust it the way the sandbox tells them:
//! node through `NODE_EXTRA_CA_CERTS` (npm), python's `ssl` with a CA file (pip's `--cert`).
//! The clients are the system's own (`/usr/local/bin`, `/usr/bin`, `/bin`), never one found
//! through `PATH`, which may lead into a project's `node_modules/.bin` or a virtualenv.

use crate::creds::tls::{Interceptor, Roots};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const SYSTEM_BIN: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// How a client is started against a port, trusting a CA file.
type Client = fn(&Path, &Path, u16) -> Command;

/// One line per check, and whether all passed.
pub fn check() -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let tls = match Interceptor::new(Roots::system()) {
        Ok(t) => {
            lines.push("system roots and the per-run CA: ok".to_string());
            Arc::new(t)
        }
        Err(e) => {
            return (
                vec![format!(
                    "system roots and the per-run CA: FAILED ({e}); credentialed HTTPS registries cannot be intercepted here"
                )],
                false,
            )
        }
    };
    let mut ok = true;
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return (vec![format!("a temporary directory: FAILED ({e})")], false),
    };
    // The doctor's own CA certificate (public; its key dies with this process).
    let ca = dir.path().join("ca.pem");
    if let Err(e) = std::fs::write(&ca, tls.ca_pem()) {
        return (
            vec![format!("writing the CA certificate: FAILED ({e})")],
            false,
        );
    }
    let clients: [(&str, &str, Client); 2] = [
        ("npm (node, NODE_EXTRA_CA_CERTS)", "node", node),
        ("pip (python3 ssl, CA file)", "python3", python),
    ];
    for (what, program, command) in clients {
        let Some(exe) = system_program(program) else {
            lines.push(format!("{what}: not installed in {}", SYSTEM_BIN.join(":")));
            continue;
        };
        match handshake(&tls, &exe, &ca, command) {
            Ok(()) => lines.push(format!("{what}: ok")),
            Err(e) => {
                ok = false;
                lines.push(format!("{what}: FAILED ({e})"));
            }
        }
    }
    (lines, ok)
}

fn system_program(name: &str) -> Option<PathBuf> {
    SYSTEM_BIN
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn node(exe: &Path, ca: &Path, port: u16) -> Command {
    let mut c = Command::new(exe);
    c.env_clear().env("NODE_EXTRA_CA_CERTS", ca).args([
        "-e",
        &format!(
            "const s=require('tls').connect({{host:'127.0.0.1',port:{port},servername:'registry.example.com'}},()=>{{s.write('ping');}});s.on('data',d=>{{process.stdout.write(d);s.end();}});s.on('error',e=>{{console.error(e.message);process.exit(1);}});"
        ),
    ]);
    c
}

fn python(exe: &Path, ca: &Path, port: u16) -> Command {
    let mut c = Command::new(exe);
    c.env_clear().args([
        "-I",
        "-S",
        "-c",
        &format!(
            "import socket,ssl,sys\nctx=ssl.create_default_context(cafile=sys.argv[1])\ns=ctx.wrap_socket(socket.create_connection(('127.0.0.1',{port})),server_hostname='registry.example.com')\ns.sendall(b'ping')\nsys.stdout.write(s.recv(4).decode())"
        ),
    ]);
    c.arg(ca);
    c
}

/// Serve one TLS connection with a leaf of the run's CA for `registry.example.com` (a name
/// that is never resolved: the client connects to the address) and run the client.
fn handshake(tls: &Interceptor, exe: &Path, ca: &Path, command: Client) -> Result<(), String> {
    let config = tls
        .server_config("registry.example.com")
        .map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut b = [0u8; 4];
        s.read_exact(&mut b).map_err(|e| e.to_string())?;
        s.write_all(b"pong").map_err(|e| e.to_string())?;
        s.flush().map_err(|e| e.to_string())
    });
    let out = command(exe, ca, port)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let served = server
        .join()
        .map_err(|_| "the test server panicked".to_string())?;
    if out.status.success() && out.stdout == b"pong" {
        return Ok(());
    }
    Err(format!(
        "{}; {}",
        served.err().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}
