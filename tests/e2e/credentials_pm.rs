//! Issue 13 for pnpm, yarn and uv: no real registry credential inside the sandbox, whichever
//! package manager runs. Each test installs a package that only an authenticated client
//! may fetch, from a Verdaccio served over HTTPS with a CA of the test's own (which the
//! user configured as the client's CA file), with the token where users of that tool keep
//! it. Inside, code running in the package manager itself (node's `--require`, at trust
//! level 1) searches the environment, the files of the view, every process's environ and memory
//! and its own memory, and finds only the placeholder; the placeholder it sends to another
//! host is refused and logged as `credential-misuse`; Verdaccio authenticated the real
//! token (the proxy put it back on the way out, after terminating TLS for that host only).
//!
//! pnpm 12 is a native program, so nothing can be loaded into it: its test proves that it
//! authenticates through the proxy's interception with what its configuration inside holds
//! (the same sealed npm configuration pnpm 10's insider searched).

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// Created by scripts/setup.sh: outside /tmp, writable by every test user.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";
const SCOPE: &str = "@si-private";
const TOKEN_VAR: &str = "SI_REGISTRY_TOKEN";
const SCOPED_INDEX: &str = "node_modules/@si-private/scoped-pkg/index.js";

/// A Verdaccio whose `@si-private` scope needs a token, holding `@si-private/scoped-pkg`,
/// served over HTTPS with `ca`'s certificate. Returns the server and the real token.
fn https_registry(world: &World) -> (Server, String, TestCa) {
    let dir = world.root().join("verdaccio");
    let token = {
        // Users and packages over plain HTTP first (the harness's own npm), then the same
        // storage served over HTTPS.
        let plain = start_verdaccio_private_scope(&dir, SCOPE);
        let token = verdaccio_add_user(&plain, "si-tester", "si-tester-password");
        let scoped = world.root().join("staging/npm-scoped");
        copy_dir(&fixtures().join("egress/npm-scoped"), &scoped);
        publish_npm(world, &pack_npm_dir(world, &scoped), &plain, &token);
        token
    };
    let ca = test_ca(&world.root().join("ca"));
    let server = start_verdaccio_full(&dir, Some(SCOPE), Some(&ca));
    (server, token, ca)
}

/// The CA where the sandbox shows it (the project), under a name the hidden-file rules
/// leave alone (`*.pem` is hidden).
fn ca_in_project(world: &World, ca: &TestCa) -> PathBuf {
    let inside = world.project.join("registry-ca.txt");
    fs::copy(&ca.ca, &inside).expect("copy the CA");
    inside
}

/// The insider (tests/fixtures/trust/insider), loaded into every node process whose script
/// matches `tool`; returns `NODE_OPTIONS` and the `--allow-host` value of the other host it
/// sends the placeholder to, and that host's record.
fn stage_insider(world: &World, token: &str, tool: &str) -> (String, String, Seen) {
    let (other_port, seen) = recording_server("127.0.0.1");
    let insider = world.project.join("si-insider");
    copy_dir(&fixtures().join("trust/insider"), &insider);
    let half = token.len() / 2;
    let needle = serde_json::json!({
        "a": &token[..half],
        "b": &token[half..],
        "other": format!("http://127.0.0.1:{other_port}/loot"),
        "tool": tool,
    });
    write_file(&insider.join("needle.json"), &needle.to_string());
    (
        format!("--require {}", insider.join("insider.js").display()),
        format!("127.0.0.1:{other_port}"),
        seen,
    )
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn write_manifest(world: &World, extra: &str) {
    write_file(
        &world.project.join("package.json"),
        &format!(
            "{{ \"name\": \"si-creds-pm\", \"version\": \"1.0.0\", \"private\": true,{extra}\n  \"dependencies\": {{ \"@si-private/scoped-pkg\": \"1.0.0\" }} }}\n"
        ),
    );
}

fn sandboxed(
    world: &World,
    toolchain: &str,
    program: &str,
    name: &str,
    flags: &[&str],
    env: &[(&str, &str)],
    args: &[&str],
) -> LoggedRun {
    let _g = shared_run_guard();
    let log = world.log_path(name);
    let mut cmd = world.safe_install();
    cmd.env(
        "PATH",
        crate::common::toolchains::path_with(toolchain, program),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--log")
        .arg(&log)
        .arg("--log-allowed")
        .args(flags)
        .arg(program)
        .args(args);
    LoggedRun::read(run(&mut cmd, RUN_TIMEOUT), log)
}

/// What every test asks of a run: installed, the registry authenticated the real token, the
/// host intercepted, the token nowhere in the log or on stderr.
fn check_run(p: &mut Problems, r: &LoggedRun, world: &World, server: &Server, token: &str) {
    p.check(world.project.join(SCOPED_INDEX).is_file(), || {
        "the token-only package is not installed (the real token did not reach the registry)".into()
    });
    p.check(r.intercepted(server.port), || {
        format!(
            "no allowed, intercepted CONNECT to 127.0.0.1:{}",
            server.port
        )
    });
    let vlog = server.log();
    p.check(
        vlog.lines()
            .any(|l| l.contains("si-tester") && l.contains("scoped-pkg") && l.contains("200")),
        || format!("Verdaccio logged no authenticated request for the scoped package:\n{vlog}"),
    );
    p.check(!r.shows(token), || {
        "the token appears in the event log or on stderr".into()
    });
}

/// What the insider found inside the package manager: only placeholders, the placeholder
/// sent elsewhere refused and logged.
fn check_insider(p: &mut Problems, world: &World, r: &LoggedRun, allow_other: &str, seen: &Seen) {
    let report_path = world.project.join("si-insider/insider-report.json");
    let report: Value = match fs::read_to_string(&report_path) {
        Ok(text) => serde_json::from_str(&text).expect("insider report is JSON"),
        Err(e) => {
            p.check(false, || {
                format!(
                    "the insider wrote no report ({e}): it did not run inside the package manager"
                )
            });
            return;
        }
    };
    let received = seen.lock().map(|s| s.clone()).unwrap_or_default();
    check_insider_report(p, &report, r, allow_other, &received);
}

fn yarn4(name: &str, token_in_home: bool) {
    let world = World::new_in(name, Path::new(OUTSIDE_TMP));
    let (server, token, ca) = https_registry(&world);
    let ca_inside = ca_in_project(&world, &ca);
    write_manifest(&world, "");
    write_file(&world.project.join("yarn.lock"), "");
    // The project names the registry and its CA; the token is where `yarn npm login` puts
    // it (the home's .yarnrc.yml), or a variable the project's file references.
    let mut project_rc = format!(
        "nodeLinker: node-modules\nnpmRegistryServer: \"{url}\"\nhttpsCaFilePath: \"{ca}\"\nnpmMinimalAgeGate: 0\nenableTelemetry: false\nnpmScopes:\n  si-private:\n    npmRegistryServer: \"{url}\"\n    npmMinimalAgeGate: 0\n",
        url = server.url,
        ca = ca_inside.display()
    );
    if token_in_home {
        write_file(
            &world.home.join(".yarnrc.yml"),
            &format!("npmScopes:\n  si-private:\n    npmAuthToken: {token}\n"),
        );
    } else {
        project_rc.push_str(&format!("    npmAuthToken: \"${{{TOKEN_VAR}}}\"\n"));
    }
    write_file(&world.project.join(".yarnrc.yml"), &project_rc);
    let (require, allow_other, seen) =
        stage_insider(&world, &token, r"(^|/)yarn(\.js|-[0-9.]+\.cjs)$");
    let mut flags = vec!["--allow-host", &allow_other];
    if !token_in_home {
        flags.extend(["--secret-env", TOKEN_VAR]);
    }
    let r = sandboxed(
        &world,
        "yarn4",
        "yarn",
        name,
        &flags,
        &[(TOKEN_VAR, &token), ("NODE_OPTIONS", &require)],
        &["install"],
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "yarn install failed".into());
    check_run(&mut p, &r, &world, &server, &token);
    check_insider(&mut p, &world, &r, &allow_other, &seen);
    p.finish(&format!(
        "{}\n--- verdaccio ---\n{}",
        r.context(),
        tail(&server.log(), 4000)
    ));
}

/// `yarn npm login` keeps the token in the home's `.yarnrc.yml`, under the scope.
#[test]
fn yarn4_token_in_the_home_yarnrc_is_a_placeholder_inside() {
    yarn4("creds-yarn4-home", true);
}

/// CI keeps it in a variable the project's `.yarnrc.yml` references (`${NPM_TOKEN}`).
#[test]
fn yarn4_token_in_a_variable_is_a_placeholder_inside() {
    yarn4("creds-yarn4-var", false);
}

/// pnpm reads npm's `.npmrc`: the token in a variable it references, the user's CA as
/// `cafile`.
fn pnpm(toolchain: &str, insider: bool) {
    let name = format!("creds-{toolchain}");
    let world = World::new_in(&name, Path::new(OUTSIDE_TMP));
    let (server, token, ca) = https_registry(&world);
    let ca_inside = ca_in_project(&world, &ca);
    write_manifest(&world, "");
    write_file(
        &world.project.join("pnpm-workspace.yaml"),
        "minimumReleaseAge: 0\n",
    );
    write_file(
        &world.project.join(".npmrc"),
        &format!(
            "registry={url}\n{SCOPE}:registry={url}\n//127.0.0.1:{port}/:_authToken=${{{TOKEN_VAR}}}\ncafile={ca}\n",
            url = server.url,
            port = server.port,
            ca = ca_inside.display(),
        ),
    );
    let (require, allow_other, seen) = stage_insider(&world, &token, r"(^|/)pnpm\.c?js$");
    let mut env = vec![(TOKEN_VAR, token.as_str())];
    if insider {
        env.push(("NODE_OPTIONS", require.as_str()));
    }
    let r = sandboxed(
        &world,
        toolchain,
        "pnpm",
        &name,
        &["--secret-env", TOKEN_VAR, "--allow-host", &allow_other],
        &env,
        &["install"],
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "pnpm install failed".into());
    check_run(&mut p, &r, &world, &server, &token);
    if insider {
        check_insider(&mut p, &world, &r, &allow_other, &seen);
    }
    p.finish(&format!(
        "{}\n--- verdaccio ---\n{}",
        r.context(),
        tail(&server.log(), 4000)
    ));
}

#[test]
fn pnpm10_token_is_a_placeholder_inside() {
    pnpm("pnpm10", true);
}

#[test]
fn pnpm12_authenticates_through_the_proxy_over_https() {
    pnpm("pnpm12", false);
}

/// uv against an index over HTTPS that needs a password (pypiserver behind a TLS terminator
/// with a CA of the test's own, which the user names in `SSL_CERT_FILE`, as uv reads it); the
/// index URL with `user:password@` in `UV_INDEX_URL` (`--secret-env`). The proxy terminates
/// TLS for that host (the run's CA, trusted inside through `SSL_CERT_FILE`), puts the real
/// password back and verifies the index against the user's CA, not the system's: the wheel
/// installs, and the password is nowhere in the log or on stderr.
#[test]
fn uv_over_https_gets_the_real_password_only_through_the_proxy() {
    use crate::common::pip::{make_venv, make_wheel, site_packages};
    let world = World::new("creds-uv-https");
    let venv = make_venv(&world);
    let user = "si-uv-user";
    let password = format!("si-uv-https-pass-{}", world.token);
    let packages = world.root().join("packages");
    make_wheel(&world, &packages, "si_uv_https", "1.0.0");
    let server = start_pypiserver_auth(world.root(), &packages, user, &password);
    let ca = test_ca(&world.root().join("ca"));
    let front = tls_front(server.port, &ca);
    let index = format!("https://{user}:{password}@127.0.0.1:{front}/simple/");
    let _g = shared_run_guard();
    let log = world.log_path("creds-uv-https");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .args(["--log-allowed", "--secret-env", "UV_INDEX_URL"])
        .arg(crate::common::toolchains::uv())
        .args(["pip", "install", "si-uv-https"])
        .env("UV_INDEX_URL", &index)
        .env("SSL_CERT_FILE", &ca.ca)
        .env("VIRTUAL_ENV", &venv);
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "uv pip install failed".into());
    p.check(
        fs::read_dir(site_packages(&venv))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("si_uv_https"))
            })
            .unwrap_or(false),
        || "si_uv_https is not installed (the real password did not reach the index)".into(),
    );
    p.check(r.intercepted(front), || {
        format!("no allowed, intercepted CONNECT to 127.0.0.1:{}", front)
    });
    p.check(!r.shows(&password), || {
        "the password appears in the event log or on stderr".into()
    });
    p.finish(&format!(
        "{}\n--- pypiserver ---\n{}",
        r.context(),
        tail(&server.log(), 3000)
    ));
}

/// A registry that echoes the credential it received (an error page, `whoami`), compressed
/// when the client accepts it: the answer reaches the client with the real value masked,
/// never as it is, also when the client asked for gzip. Bare, the same request gets the
/// real value back inside a gzip body (the control: the server really echoes).
#[test]
fn an_echoed_credential_never_comes_back_in_even_compressed() {
    let world = World::new("creds-echo");
    let password = format!("si-echo-pass-{}", world.token);
    let port = free_port();
    let script = world.root().join("echo.py");
    write_file(
        &script,
        r#"import base64, gzip, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        auth = self.headers.get('Authorization', '')
        try: decoded = base64.b64decode(auth.split(' ', 1)[1]).decode()
        except Exception: decoded = ''
        body = ('echo: ' + auth + ' ' + decoded + '\n').encode()
        self.send_response(401)
        if 'gzip' in self.headers.get('Accept-Encoding', ''):
            body = gzip.compress(body)
            self.send_header('Content-Encoding', 'gzip')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#,
    );
    let mut server = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(port.to_string())
        .spawn()
        .expect("start the echo server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the echo server did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("http://si-user:{password}@127.0.0.1:{port}/-/whoami");
    let curl = |sandboxed: bool, out: &Path| {
        let mut cmd = if sandboxed {
            let mut c = world.safe_install();
            c.args(["--allow-host", &format!("127.0.0.1:{port}"), "curl"]);
            c
        } else {
            // The world's environment names a proxy that is not there (planted): bare curl
            // goes straight to the server.
            let mut c = world.command("curl");
            c.args(["--noproxy", "*"]);
            c
        };
        cmd.args(["-sS", "--compressed", "-o"]).arg(out).arg(&url);
        run(&mut cmd, RUN_TIMEOUT)
    };
    let bare_out = world.root().join("bare-echo.txt");
    let bare = curl(false, &bare_out);
    let sandboxed_out = world.project.join("echo.txt");
    let sandboxed = curl(true, &sandboxed_out);
    let _ = server.kill();
    let _ = server.wait();
    let bare_text = fs::read_to_string(&bare_out).unwrap_or_default();
    assert!(
        bare_text.contains(&password),
        "control: bare curl did not get the password echoed back: {bare_text:?}\n{}",
        bare.describe()
    );
    let text = fs::read_to_string(&sandboxed_out).unwrap_or_default();
    assert!(
        text.starts_with("echo: Basic "),
        "the sandboxed request got no echo: {text:?}\n{}",
        sandboxed.describe()
    );
    assert!(
        !text.contains(&password),
        "the real password came back into the sandbox: {text:?}"
    );
}

/// A package manager told to install another directory of the project (`npm --prefix sub
/// install`, `pnpm -C sub install`, `yarn --cwd sub install`) reads that directory's `.npmrc`
/// as its project configuration, which safe-install seals only for the project it runs in.
/// So the run is refused before anything runs (exit 123, naming the option and the fix);
/// the bare tool, the negative control, runs `sub`'s preinstall, which reads the token from
/// `sub/.npmrc`. From `sub` itself the file is sealed as usual.
fn told_to_install_another_directory_is_refused(
    tool: &str,
    path: &str,
    options: &[&[&str]],
    install: &[&str],
) {
    let world = World::new(&format!("{tool}-dir"));
    let sub = world.project.join("sub");
    let marker = world.root().join("read.txt");
    let token = format!("si-nested-token-{}", world.token);
    write_file(
        &world.project.join("package.json"),
        r#"{ "name": "si-root", "version": "1.0.0", "private": true }"#,
    );
    write_file(
        &sub.join("package.json"),
        &format!(
            r#"{{ "name": "si-sub", "version": "1.0.0", "private": true, "scripts": {{ "preinstall": "cat .npmrc > {}" }} }}"#,
            marker.display()
        ),
    );
    write_file(
        &sub.join(".npmrc"),
        &format!("//127.0.0.1:9/:_authToken={token}\n"),
    );
    let bare = run(
        world
            .setup_command(tool)
            .env("PATH", path)
            .args(options[0])
            .args(install)
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    bare.assert_success();
    assert!(
        fs::read_to_string(&marker).is_ok_and(|t| t.contains(&token)),
        "bare {tool} {:?} did not run sub's preinstall with sub/.npmrc (the test proves nothing)",
        options[0]
    );
    fs::remove_file(&marker).expect("remove the marker");
    let sandboxed = |option: &[&str], dir: &Path| {
        run(
            world
                .safe_install()
                .env("PATH", path)
                .arg("--rw")
                .arg(world.root())
                .arg(tool)
                .args(option)
                .args(install)
                .current_dir(dir),
            RUN_TIMEOUT,
        )
    };
    for option in options {
        let out = sandboxed(option, &world.project);
        assert!(
            out.status.code() == Some(123)
                && out.stderr.contains("installs another directory")
                && out.stderr.contains("Fix:")
                && !marker.exists(),
            "{tool} {option:?} was not refused before it ran\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    // From the directory itself: the preinstall runs and reads an empty file.
    let out = sandboxed(&[], &sub);
    out.assert_success();
    assert!(
        fs::read_to_string(&marker).is_ok_and(|t| !t.contains(&token)),
        "sub/.npmrc reached sub's preinstall under {tool}\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn npm_told_to_install_another_directory_is_refused() {
    told_to_install_another_directory_is_refused(
        "npm",
        SYSTEM_PATH,
        &[
            &["--prefix", "sub"],
            &["-C", "sub"],
            &["--prefix=sub"],
            &["--prefi", "sub"],
        ],
        &["install", "--no-audit", "--no-fund", "--offline"],
    );
}

#[test]
fn pnpm_told_to_install_another_directory_is_refused() {
    told_to_install_another_directory_is_refused(
        "pnpm",
        &crate::common::toolchains::path_with("pnpm10", "pnpm"),
        &[&["-C", "sub"], &["--dir", "sub"]],
        &["install", "--offline"],
    );
}

#[test]
fn yarn1_told_to_install_another_directory_is_refused() {
    told_to_install_another_directory_is_refused(
        "yarn",
        &crate::common::toolchains::path_with("yarn1", "yarn"),
        &[&["--cwd", "sub"], &["--cwd=sub"]],
        &["install", "--offline"],
    );
}
