//! Issue 13 for git dependencies: npm (and pnpm 10, yarn 4) fetches a `git+https://`
//! dependency by running `git` (trust level 1) with the caller's git credentials, and no
//! process inside holds the real one. The server is a local git smart-HTTP server (`git http-backend` behind Python's
//! `http.server`, basic auth or a bearer header) over HTTPS with a CA of the test's own,
//! which the user names in `~/.gitconfig` as `http.sslCAInfo`. The credential is where users
//! keep it: `~/.git-credentials` with `credential.helper = store`, or
//! `http.<url>.extraheader`. Inside, code running in npm itself (node's `--require`) and the
//! project's own `postinstall` (level 2) search the environment, the files of the view and
//! every process's environ (and level 1 every process's memory and its own) and find only the
//! placeholder; the placeholder sent to another allowed host is refused and logged as
//! `credential-misuse`; the git server saw the real credential (the proxy put it back after
//! terminating TLS for that host only). A token written into the dependency's URL in
//! `package.json` refuses the run with the fix.

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;
use base64::Engine as _;
use serde_json::Value;
use std::fs;
use std::path::Path;

const DEP: &str = "si-gitcred-dep";
const USER: &str = "si-git-user";

/// `git http-backend` as CGI behind `http.server`, answering 401 unless the request carries
/// exactly the expected `Authorization` value; one log line per request says which it got
/// (`AUTH-OK`, `AUTH-MISSING`, `AUTH-WRONG` with `placeholder` when a placeholder arrived).
const GIT_SERVER: &str = r#"import base64, http.server, os, subprocess, sys
port, root, expected = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def decoded(auth):
    try: return base64.b64decode(auth.split(' ', 1)[1]).decode()
    except Exception: return ''
class H(http.server.BaseHTTPRequestHandler):
    def body(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            out = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get('Content-Length', '0')))
    def serve(self, method):
        auth = self.headers.get('Authorization', '')
        if auth != expected:
            seen = 'placeholder' if 'si-placeholder-' in auth + decoded(auth) else ''
            print('AUTH-' + ('WRONG' if auth else 'MISSING'), seen, method, self.path, flush=True)
            self.send_response(401)
            self.send_header('WWW-Authenticate', 'Basic realm="git"')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        print('AUTH-OK', method, self.path, flush=True)
        body = self.body() if method == 'POST' else b''
        path, _, query = self.path.partition('?')
        env = {'PATH': os.environ['PATH'], 'GIT_PROJECT_ROOT': root, 'GIT_HTTP_EXPORT_ALL': '1',
               'PATH_INFO': path, 'QUERY_STRING': query, 'REQUEST_METHOD': method,
               'CONTENT_TYPE': self.headers.get('Content-Type', ''), 'CONTENT_LENGTH': str(len(body)),
               'REMOTE_USER': 'si-git-user', 'REMOTE_ADDR': '127.0.0.1'}
        if self.headers.get('Git-Protocol'): env['GIT_PROTOCOL'] = self.headers['Git-Protocol']
        if self.headers.get('Content-Encoding'): env['HTTP_CONTENT_ENCODING'] = self.headers['Content-Encoding']
        out = subprocess.run(['git', 'http-backend'], input=body, env=env, capture_output=True).stdout
        sep = b'\r\n\r\n' if b'\r\n\r\n' in out else b'\n\n'
        head, _, rest = out.partition(sep)
        status, headers = 200, []
        for line in head.decode().splitlines():
            name, _, value = line.partition(':')
            if name.lower() == 'status': status = int(value.split()[0])
            elif name: headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers: self.send_header(name, value)
        self.send_header('Content-Length', str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
    def do_GET(self): self.serve('GET')
    def do_POST(self): self.serve('POST')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

/// The level-2 probe: the project's own `postinstall`. It looks for the real credential (in
/// two halves) in its environment, every process's environ and the files it can read, and
/// tries git's private files. Report: `node_modules/.si-level2-report.json` (the install tree
/// is what the root project's own scripts may write).
const LEVEL2_PROBE: &str = r#"'use strict';
const fs = require('fs'), path = require('path');
const needle = JSON.parse(fs.readFileSync(path.join(__dirname, 'si-insider/needle.json'), 'utf8'));
const [h1, h2] = [Buffer.from(needle.a), Buffer.from(needle.b)];
const hasReal = b => { let at = b.indexOf(h1); while (at >= 0) { if (b.subarray(at + h1.length, at + h1.length + h2.length).equals(h2)) return true; at = b.indexOf(h1, at + 1); } return false; };
const report = { ran: true, env_real: [], environ_real: [], files_real: [], private: {}, git_config_global: process.env.GIT_CONFIG_GLOBAL || null };
for (const [k, v] of Object.entries(process.env)) if (hasReal(Buffer.from(v))) report.env_real.push(k);
for (const pid of fs.readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
  try { if (hasReal(fs.readFileSync(`/proc/${pid}/environ`))) report.environ_real.push(pid); } catch {}
}
function walk(p, depth) {
  let st; try { st = fs.lstatSync(p); } catch { return; }
  if (st.isDirectory() && depth < 12) { let names = []; try { names = fs.readdirSync(p); } catch { return; } for (const n of names) walk(path.join(p, n), depth + 1); }
  else if (st.isFile() && st.size < 8 << 20) { try { if (hasReal(fs.readFileSync(p))) report.files_real.push(p); } catch {} }
}
for (const root of ['/.safe-install', process.env.HOME, __dirname, '/tmp']) if (root) walk(root, 0);
for (const f of ['/.safe-install/private/git-credentials', '/.safe-install/private/gitconfig']) {
  try { fs.readFileSync(f); report.private[f] = 'read'; } catch (e) { report.private[f] = e.code; }
}
fs.writeFileSync(path.join(__dirname, 'node_modules/.si-level2-report.json'), JSON.stringify(report, null, 1));
"#;

/// Where the user keeps the credential.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// `~/.git-credentials` with `credential.helper = store`.
    Store,
    /// `http.<url>.extraheader = Authorization: Bearer …`.
    ExtraHeader,
}

/// The dependency as a bare repository served by the git server (outside the project).
fn repository(world: &World) -> std::path::PathBuf {
    let staging = world.root().join("staging").join(DEP);
    write_file(
        &staging.join("package.json"),
        &format!("{{ \"name\": \"{DEP}\", \"version\": \"1.0.0\", \"main\": \"index.js\" }}\n"),
    );
    write_file(
        &staging.join("index.js"),
        "module.exports = 'si-gitcred';\n",
    );
    let root = world.root().join("git-root");
    fs::create_dir_all(&root).expect("mkdir git root");
    world.setup_bare_repository(&staging, &root.join(format!("{DEP}.git")));
    root
}

/// The git server for `root`, answering only `expected`; returns it and its HTTPS port.
fn git_server(world: &World, root: &Path, expected: &str, ca: &TestCa) -> (Server, u16) {
    let script = world.root().join("git-server.py");
    write_file(&script, GIT_SERVER);
    let port = free_port();
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.env_clear()
        .env("PATH", SYSTEM_PATH)
        .arg(&script)
        .arg(port.to_string())
        .arg(root)
        .arg(expected);
    let log = world.root().join("git-server.log");
    let child = spawn_server(cmd, &log);
    let server = Server::adopt(child, format!("http://127.0.0.1:{port}/"), port, log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the git server did not listen on {port}: {}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, tls_front(port, ca))
}

/// The package manager that runs git: npm from `PATH`, or a toolchain's.
#[derive(Clone, Copy)]
struct Pm {
    /// `None`: the system's npm.
    toolchain: Option<&'static str>,
    program: &'static str,
    /// The script node runs the package manager as (the insider's `tool`); `None` for npm.
    tool: Option<&'static str>,
    args: &'static [&'static str],
}

const NPM: Pm = Pm {
    toolchain: None,
    program: "npm",
    tool: None,
    args: &["install", "--no-audit", "--no-fund"],
};

const PNPM10: Pm = Pm {
    toolchain: Some("pnpm10"),
    program: "pnpm",
    tool: Some(r"(^|/)pnpm\.c?js$"),
    args: &["install"],
};

const YARN4: Pm = Pm {
    toolchain: Some("yarn4"),
    program: "yarn",
    tool: Some(r"(^|/)yarn(\.js|-[0-9.]+\.cjs)$"),
    args: &["install"],
};

fn git_dependency(name: &str, kept: Kept, pm: Pm) {
    require_npm();
    require_program("/usr/bin/git", "apt-get install git");
    require_program("/usr/bin/python3", "apt-get install python3");
    let world = World::new(name);
    let token = format!("si-git-token-{}", world.token);
    let b64 = base64::engine::general_purpose::STANDARD;
    let expected = match kept {
        Kept::Store => format!("Basic {}", b64.encode(format!("{USER}:{token}"))),
        Kept::ExtraHeader => format!("Bearer {token}"),
    };
    let root = repository(&world);
    let ca = test_ca(&world.root().join("ca"));
    let (server, front) = git_server(&world, &root, &expected, &ca);
    let origin = format!("https://127.0.0.1:{front}");
    // The user trusts the server's CA in git's own setting, and keeps the credential where
    // git finds it.
    let mut gitconfig = format!(
        "[user]\n\tname = si-test\n[http]\n\tsslCAInfo = {}\n",
        ca.ca.display()
    );
    match kept {
        Kept::Store => {
            gitconfig.push_str("[credential]\n\thelper = store\n");
            write_file(
                &world.home.join(".git-credentials"),
                &format!("https://{USER}:{token}@127.0.0.1:{front}\n"),
            );
        }
        Kept::ExtraHeader => gitconfig.push_str(&format!(
            "[http \"{origin}/\"]\n\textraheader = Authorization: Bearer {token}\n"
        )),
    }
    write_file(&world.home.join(".gitconfig"), &gitconfig);
    let manifest = serde_json::json!({
        "name": "si-gitcred-consumer",
        "version": "1.0.0",
        "private": true,
        "scripts": { "postinstall": "node level2-probe.js" },
        "dependencies": { DEP: format!("git+{origin}/{DEP}.git") },
    });
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&manifest).expect("serialise package.json"),
    );
    write_file(&world.project.join("level2-probe.js"), LEVEL2_PROBE);
    // npm's insider (level 1), which also hands the level-2 probe the needle.
    let (other_port, seen) = recording_server("127.0.0.1");
    let allow_other = format!("127.0.0.1:{other_port}");
    let insider = world.project.join("si-insider");
    copy_dir(&fixtures().join("trust/insider"), &insider);
    let half = token.len() / 2;
    write_file(
        &insider.join("needle.json"),
        &serde_json::json!({
            "a": &token[..half],
            "b": &token[half..],
            "other": format!("http://{allow_other}/loot"),
            "tool": pm.tool,
        })
        .to_string(),
    );
    if pm.program == "yarn" {
        write_file(
            &world.project.join(".yarnrc.yml"),
            "nodeLinker: node-modules\nenableTelemetry: false\nnpmMinimalAgeGate: 0\napprovedGitRepositories:\n  - \"**\"\n",
        );
        write_file(&world.project.join("yarn.lock"), "");
    }
    if pm.program == "pnpm" {
        write_file(
            &world.project.join("pnpm-workspace.yaml"),
            "minimumReleaseAge: 0\n",
        );
    }
    let path = match pm.toolchain {
        Some(t) => crate::common::toolchains::path_with(t, pm.program),
        None => SYSTEM_PATH.to_string(),
    };
    let require = format!("--require {}", insider.join("insider.js").display());
    let allow_git = format!("127.0.0.1:{front}");

    // `explain` names the credential and the origin it is bound to, never the value.
    let explain = run(
        world
            .safe_install()
            .env("PATH", &path)
            .args(["--allow-host", &allow_git, "explain", pm.program])
            .args(pm.args),
        RUN_TIMEOUT,
    );
    let log = world.log_path(name);
    let r = {
        let _g = shared_run_guard();
        let mut cmd = world.safe_install();
        cmd.env("NODE_OPTIONS", &require)
            .env("PATH", &path)
            .arg("--log")
            .arg(&log)
            .args(["--log-allowed", "--allow-host", &allow_git])
            .args(["--allow-host", &allow_other])
            .arg(pm.program)
            .args(pm.args);
        LoggedRun::read(run(&mut cmd, RUN_TIMEOUT), log)
    };
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        format!("{} install failed", pm.program)
    });
    p.check(
        world
            .project
            .join(format!("node_modules/{DEP}/index.js"))
            .is_file(),
        || format!("{DEP} is not installed (git did not fetch it with the real credential)"),
    );
    let slog = server.log();
    p.check(slog.lines().any(|l| l.starts_with("AUTH-OK")), || {
        format!("the git server saw no request with the real credential:\n{slog}")
    });
    p.check(!slog.contains("placeholder"), || {
        format!("a placeholder reached the git server:\n{slog}")
    });
    p.check(r.intercepted(front), || {
        format!("no allowed, intercepted CONNECT to {allow_git}")
    });
    p.check(!r.shows(&token), || {
        "the token appears in the event log or on stderr".into()
    });
    let explained = format!("{}{}", explain.stdout, explain.stderr);
    let source = match kept {
        Kept::Store => "git's stored credentials",
        Kept::ExtraHeader => "extraheader in git's global configuration",
    };
    p.check(
        explain.status.success()
            && explained.contains(source)
            && explained.contains(&format!("bound to: {origin}/"))
            && !explained.contains(&token),
        || format!("explain does not list the git credential bound to {origin}/:\n{explained}"),
    );
    p.check(
        r.events.iter().any(|e| {
            e["reason"] == "credential-misuse"
                && e["target"] == allow_other.as_str()
                && e["detail"].as_str().is_some_and(|d| d.contains(source))
        }),
        || format!("no credential-misuse event for git's placeholder sent to {allow_other}"),
    );
    // Level 1: only placeholders; the placeholder sent elsewhere refused and logged.
    match fs::read_to_string(insider.join("insider-report.json")) {
        Ok(text) => {
            let report: Value = serde_json::from_str(&text).expect("insider report is JSON");
            let received = seen.lock().map(|s| s.clone()).unwrap_or_default();
            check_insider_report(&mut p, &report, &r, &allow_other, &received);
        }
        Err(e) => p.check(false, || {
            format!(
                "the insider wrote no report ({e}): it did not run inside {}",
                pm.program
            )
        }),
    }
    // Level 2: not even git's private files.
    match fs::read_to_string(world.project.join("node_modules/.si-level2-report.json")) {
        Ok(text) => {
            let report: Value = serde_json::from_str(&text).expect("level-2 report is JSON");
            for what in ["env_real", "environ_real", "files_real"] {
                p.check(
                    report[what].as_array().is_some_and(|a| a.is_empty()),
                    || {
                        format!(
                            "the postinstall script found the real credential ({what}): {report}"
                        )
                    },
                );
            }
            p.check(
                report["private"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty() && m.values().all(|v| v != "read")),
                || format!("the postinstall script read git's private files: {report}"),
            );
            p.check(report["git_config_global"].is_null(), || {
                format!("the postinstall script got GIT_CONFIG_GLOBAL: {report}")
            });
        }
        Err(e) => p.check(false, || {
            format!("the postinstall probe wrote no report ({e})")
        }),
    }
    p.finish(&format!(
        "{}\n--- git server ---\n{}",
        r.context(),
        tail(&slog, 4000)
    ));
}

#[test]
fn git_credentials_store_is_a_placeholder_inside() {
    git_dependency("gitcreds-store", Kept::Store, NPM);
}

#[test]
fn git_extraheader_is_a_placeholder_inside() {
    git_dependency("gitcreds-header", Kept::ExtraHeader, NPM);
}

/// pnpm runs git for a `git+https://` dependency as npm does.
#[test]
fn pnpm10_git_credentials_store_is_a_placeholder_inside() {
    git_dependency("gitcreds-pnpm10", Kept::Store, PNPM10);
}

/// yarn 4 clones a `git+https://` dependency with git and packs it.
#[test]
fn yarn4_git_credentials_store_is_a_placeholder_inside() {
    git_dependency("gitcreds-yarn4", Kept::Store, YARN4);
}

/// A token written into the dependency's URL in package.json cannot be sealed without
/// changing the user's file: the run is refused, naming the file and the fix, and the token
/// is not repeated.
#[test]
fn a_token_in_a_dependency_url_refuses_the_run_with_the_fix() {
    require_npm();
    let world = World::new("gitcreds-url");
    let token = format!("si-url-token-{}", world.token);
    write_file(
        &world.project.join("package.json"),
        &format!(
            "{{ \"name\": \"si-url\", \"version\": \"1.0.0\", \"dependencies\": {{ \"{DEP}\": \"git+https://{USER}:{token}@127.0.0.1:9/o/{DEP}.git\" }} }}\n"
        ),
    );
    let out = run(
        world.safe_install().args(["npm", "install", "--no-audit"]),
        RUN_TIMEOUT,
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    let mut p = Problems::new();
    p.check(!out.status.success(), || "the run was not refused".into());
    p.check(
        text.contains("package.json")
            && text.contains(&format!("dependencies.{DEP}"))
            && text.contains("~/.git-credentials"),
        || "the error does not name the file, the dependency and the fix".into(),
    );
    p.check(!text.contains(&token), || {
        "the error repeats the token".into()
    });
    p.check(!world.project.join("node_modules").exists(), || {
        "npm ran".into()
    });
    p.finish(&out.describe());
}

/// The same token named on the command line: npm would save the URL it sees inside (with the
/// placeholder) into package.json, so the run is refused and package.json stays as it was.
#[test]
fn a_token_in_a_git_dependency_on_the_command_line_refuses_the_run() {
    require_npm();
    let world = World::new("gitcreds-arg");
    let token = format!("si-arg-token-{}", world.token);
    let manifest = "{ \"name\": \"si-arg\", \"version\": \"1.0.0\" }\n";
    write_file(&world.project.join("package.json"), manifest);
    let spec = format!("git+https://{USER}:{token}@127.0.0.1:9/o/{DEP}.git");
    let out = run(
        world
            .safe_install()
            .args(["npm", "install", "--no-audit", &spec]),
        RUN_TIMEOUT,
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    let mut p = Problems::new();
    p.check(!out.status.success(), || "the run was not refused".into());
    p.check(
        text.contains("command names the git dependency") && text.contains("~/.git-credentials"),
        || "the error does not say what and give the fix".into(),
    );
    p.check(!text.contains(&token), || {
        "the error repeats the token".into()
    });
    p.check(
        fs::read_to_string(world.project.join("package.json"))
            .ok()
            .as_deref()
            == Some(manifest),
        || "package.json changed".into(),
    );
    p.finish(&out.describe());
}
