//! The loop a user lives in (issue 15): learn, review, `--strict`; and every hint the summary
//! prints, pasted as printed, makes the next run pass.
//!
//! - `--learn` on a project whose package keeps a cache in `~/.cache`, downloads from a host
//!   and builds natively with the system's C compiler writes a policy with which `--strict`
//!   passes (the granted cache write is not logged as blocked); adding one malicious package
//!   makes the same `--strict` run exit 120 and name it;
//! - for each kind of refusal that some entry allows (a script's egress and write, the
//!   command's read, write and egress), the printed hint is pasted into `.safe-install.toml`
//!   or onto the command line and the next `--strict` run exits 0.
//!
//! The download host is a small HTTP server of this test on loopback; the sandbox reaches it
//! only through safe-install's proxy, which dials from the host.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use std::time::Duration;

use serde_json::Value;

use crate::common::netns::LoggedRun;
use crate::common::servers::*;
use crate::common::*;

/// A minimal HTTP server on 127.0.0.1 answering `200 ok` to every request.
struct HttpHost {
    addr: SocketAddr,
}

impl HttpHost {
    fn start() -> HttpHost {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:0 for a test HTTP host: {e}"));
        let addr = listener.local_addr().expect("local addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream);
            }
        });
        HttpHost { addr }
    }

    fn authority(&self) -> String {
        self.addr.to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
}

/// `safe-install --log LOG FLAGS... --project P COMMAND...`.
fn sandboxed(world: &World, name: &str, flags: &[String], command: &[&str]) -> LoggedRun {
    let _g = shared_run_guard();
    let log = world.log_path(name);
    let out = run(
        world
            .safe_install()
            .arg("--log")
            .arg(&log)
            .args(flags)
            .arg("--project")
            .arg(&world.project)
            .args(command),
        RUN_TIMEOUT,
    );
    LoggedRun::read(out, log)
}

/// What the summary on stderr says to do: flags for the command line, TOML for a policy
/// file, and the hints that say nothing allows it.
#[derive(Debug, Default)]
struct Hints {
    flags: Vec<String>,
    toml: String,
    never: Vec<String>,
}

/// The hints of a summary, taken exactly as printed: `to allow: FLAGS`, or `to allow: add to
/// .safe-install.toml ...:` followed by the indented TOML lines.
fn hints(stderr: &str) -> Hints {
    let mut h = Hints::default();
    let mut lines = stderr.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(fix) = line.strip_prefix("      to allow: ") else {
            continue;
        };
        if fix.starts_with("add to .safe-install.toml") {
            while let Some(toml) = lines.peek().and_then(|l| l.strip_prefix("        ")) {
                h.toml.push_str(toml);
                h.toml.push('\n');
                lines.next();
            }
            h.toml.push('\n');
        } else if fix.starts_with("nothing") {
            h.never.push(fix.to_string());
        } else {
            for f in fix.split_whitespace() {
                h.flags.push(f.to_string());
            }
        }
    }
    h
}

/// Runs `command` with `--strict`, pastes every hint the summary prints (policy snippets into
/// the project's `.safe-install.toml`, flags onto the command line) and runs it again; the
/// second run must pass. Returns both runs.
fn paste_hints_and_rerun(
    world: &World,
    name: &str,
    flags: &[String],
    command: &[&str],
    before_rerun: &dyn Fn(),
) -> (LoggedRun, LoggedRun, Hints) {
    let mut strict = flags.to_vec();
    strict.push("--strict".into());
    let first = sandboxed(world, &format!("{name}-first"), &strict, command);
    assert_eq!(first.out.code(), 120, "{}", first.context());
    let h = hints(&first.out.stderr);
    assert!(
        h.never.is_empty(),
        "a benign attempt got no usable hint: {:?}\n{}",
        h.never,
        first.context()
    );
    assert!(
        !h.flags.is_empty() || !h.toml.is_empty(),
        "no hint printed\n{}",
        first.context()
    );
    if !h.toml.is_empty() {
        let file = world.project.join(".safe-install.toml");
        let mut text = fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&h.toml);
        write_file(&file, &text);
    }
    before_rerun();
    let mut again = strict.clone();
    again.extend(h.flags.iter().cloned());
    let second = sandboxed(world, &format!("{name}-second"), &again, command);
    assert_eq!(
        second.out.code(),
        0,
        "the pasted hints did not make the run pass\nflags: {:?}\ntoml:\n{}\nfirst run:\n{}\nsecond run:\n{}",
        h.flags,
        h.toml,
        first.context(),
        second.context()
    );
    (first, second, h)
}

fn require_cc() {
    require_program("/usr/bin/cc", "apt-get install -y gcc");
}

/// Stages and packs `tests/fixtures/learn/<fixture>` with `target` as its learn-target.json.
fn pack(world: &World, fixture: &str, target: &Value) -> std::path::PathBuf {
    let staging = stage_npm_fixture(
        world,
        &format!("learn/{fixture}"),
        &format!("{fixture}-1.0.0"),
        |_| {},
        "learn-target.json",
        target,
    );
    pack_npm_dir(world, &staging)
}

/// The project depends on `deps` (name, version) from the registry; lockfile written without
/// running scripts outside the sandbox; any installed tree removed.
fn depend_on(world: &World, deps: &[&str]) {
    let list = deps
        .iter()
        .map(|d| format!("\"{d}\": \"1.0.0\""))
        .collect::<Vec<_>>()
        .join(", ");
    write_file(
        &world.project.join("package.json"),
        &format!(
            "{{ \"name\": \"si-loop-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": {{ {list} }} }}\n"
        ),
    );
    write_npm_lockfile(world);
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
}

/// What the native fixture's postinstall recorded.
fn outcome(world: &World, context: &str) -> Value {
    let path = world
        .project
        .join("node_modules/si-learn-native/outcome.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the postinstall did not run ({e})\n{context}"));
    serde_json::from_str(&text).expect("outcome.json is JSON")
}

/// The native fixture's postinstall did all three things: download, cache, build.
fn assert_everything_worked(world: &World, context: &str) {
    let o = outcome(world, context);
    assert_eq!(o["download"]["status"], 200, "{o}\n{context}");
    assert_eq!(o["cache"], "written", "{o}\n{context}");
    assert_eq!(o["built"], "built natively", "{o}\n{context}");
    let cached = world.home.join(".cache/si-learn-native/download.bin");
    assert_eq!(
        fs::read_to_string(&cached).ok().as_deref(),
        Some("ok"),
        "the granted cache write did not land in {}\n{context}",
        cached.display()
    );
}

struct Registry {
    server: Server,
    token: String,
}

fn registry(world: &World) -> Registry {
    require_npm();
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    use_npm_registry(world, &server);
    Registry { server, token }
}

fn publish_native(world: &World, reg: &Registry, host: &HttpHost) {
    let tarball = pack(
        world,
        "native",
        &serde_json::json!({ "url": host.url("si-learn-native") }),
    );
    publish_npm(world, &tarball, &reg.server, &reg.token);
}

fn npm_ci() -> Vec<&'static str> {
    NPM_CI.to_vec()
}

#[test]
fn learn_then_strict_passes_and_one_malicious_package_fails_it_by_name() {
    require_cc();
    let world = World::new("loop");
    let reg = registry(&world);
    let host = HttpHost::start();
    publish_native(&world, &reg, &host);
    let peek = pack(
        &world,
        "peek",
        &serde_json::json!({
            "dns_name": format!("loop-{}.exfil.example.com", world.token),
            "direct_port": free_port(),
        }),
    );
    publish_npm(&world, &peek, &reg.server, &reg.token);
    depend_on(&world, &["si-learn-native"]);

    // 1. Learn: the download and the cache write are refused (the package falls back), the
    // native build works as it is; both refusals are learned, for this package only.
    let learned = world.project.join(".safe-install.learned.toml");
    let learn = sandboxed(&world, "learn", &["--learn".into()], &npm_ci());
    assert_eq!(learn.out.code(), 0, "{}", learn.context());
    assert_eq!(
        outcome(&world, &learn.context())["built"],
        "built natively",
        "{}",
        learn.context()
    );
    let text = fs::read_to_string(&learned)
        .unwrap_or_else(|e| panic!("no learned policy ({e})\n{}", learn.context()));
    let table: toml::Table = text.parse().expect("the learned policy is TOML");
    let grant = table["package"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|g| g["name"].as_str() == Some("si-learn-native"))
        })
        .unwrap_or_else(|| panic!("no grant for si-learn-native\n{text}\n{}", learn.context()));
    let list = |key: &str| -> Vec<String> {
        grant
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    assert_eq!(list("allow-hosts"), vec![host.authority()], "{text}");
    assert_eq!(
        list("allow-write"),
        vec!["~/.cache/si-learn-native".to_string()],
        "the cache directory was not learned (a cache is no secret)\n{text}"
    );

    // 2. --strict with the learned policy: exit 0, nothing blocked, everything worked.
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
    let policy = vec!["--policy".to_string(), learned.display().to_string()];
    let mut strict = policy.clone();
    strict.push("--strict".into());
    let ok = sandboxed(&world, "strict", &strict, &npm_ci());
    let blocked: Vec<&Value> = ok
        .events
        .iter()
        .filter(|e| e["verdict"] == "blocked")
        .collect();
    assert!(blocked.is_empty(), "{blocked:?}\n{}", ok.context());
    assert_eq!(ok.out.code(), 0, "{}", ok.context());
    assert_everything_worked(&world, &ok.context());

    // 3. One more package, a malicious one: the same run exits 120 and names it.
    depend_on(&world, &["si-learn-native", "si-learn-peek"]);
    let bad = sandboxed(&world, "strict-malicious", &strict, &npm_ci());
    assert_eq!(bad.out.code(), 120, "{}", bad.context());
    let blocked: Vec<&Value> = bad
        .events
        .iter()
        .filter(|e| e["verdict"] == "blocked")
        .collect();
    assert!(!blocked.is_empty(), "{}", bad.context());
    assert!(
        blocked
            .iter()
            .all(|e| e["package"] == "si-learn-peek@1.0.0"),
        "only the malicious package may be blocked: {blocked:?}\n{}",
        bad.context()
    );
    assert!(
        bad.out.stderr.contains("si-learn-peek@1.0.0 (postinstall)"),
        "the summary does not name the malicious package\n{}",
        bad.context()
    );
}

#[test]
fn a_scripts_egress_and_cache_write_hints_pasted_make_the_next_run_pass() {
    require_cc();
    let world = World::new("hint-script");
    let reg = registry(&world);
    let host = HttpHost::start();
    publish_native(&world, &reg, &host);
    depend_on(&world, &["si-learn-native"]);
    let (first, _second, h) = paste_hints_and_rerun(&world, "script", &[], &npm_ci(), &|| {
        let _ = fs::remove_dir_all(world.project.join("node_modules"));
    });
    // A script's egress is its package's grant, never --allow-host.
    assert!(h.flags.is_empty(), "{h:?}\n{}", first.context());
    assert!(
        h.toml.contains("name = \"si-learn-native\"")
            && h.toml.contains(&host.authority())
            && h.toml.contains("reason = "),
        "{h:?}"
    );
    assert_everything_worked(&world, "after pasting the hints");
}

/// A workspace member is the user's own package: its script writing outside its folder (a
/// shared `dist/` of the monorepo) gets the hint of a `[[package]]` grant by the member's
/// name, and that grant, pasted, applies to the member's folder (the lockfile's entry for it:
/// npm's `packages/a`, pnpm's importer) so the next run passes.
fn a_workspace_members_write_hint_pasted_makes_the_next_run_pass(name: &str, install: &[&str]) {
    let world = World::new(name);
    write_file(
        &world.project.join("package.json"),
        r#"{ "name": "si-loop-mono", "version": "1.0.0", "private": true, "workspaces": ["packages/*"] }"#,
    );
    write_file(
        &world.project.join("pnpm-workspace.yaml"),
        "packages:\n  - \"packages/*\"\n",
    );
    write_file(
        &world.project.join("packages/a/package.json"),
        r#"{ "name": "si-ws-a", "version": "1.0.0", "scripts": { "postinstall": "echo a > ../../dist/a.txt; true" } }"#,
    );
    fs::create_dir_all(world.project.join("dist")).expect("dist");
    let (first, second, h) = paste_hints_and_rerun(&world, "workspace", &[], install, &|| {});
    assert!(
        h.toml.contains("name = \"si-ws-a\"") && h.toml.contains("/dist"),
        "{h:?}\n{}",
        first.context()
    );
    assert!(
        fs::read_to_string(world.project.join("dist/a.txt")).is_ok_and(|t| t.trim() == "a"),
        "the member's write did not land after pasting the hint\n{}",
        second.context()
    );
}

#[test]
fn npm_workspace_members_write_hint_pasted_makes_the_next_run_pass() {
    a_workspace_members_write_hint_pasted_makes_the_next_run_pass(
        "hint-ws-npm",
        &["npm", "install", "--offline", "--no-audit", "--no-fund"],
    );
}

#[test]
fn pnpm_workspace_members_write_hint_pasted_makes_the_next_run_pass() {
    let pnpm = crate::common::toolchains::bin_dir("pnpm10", "pnpm").join("pnpm");
    a_workspace_members_write_hint_pasted_makes_the_next_run_pass(
        "hint-ws-pnpm",
        &[pnpm.to_str().expect("utf-8"), "install", "--offline"],
    );
}

/// pip binds no `[[package]]` grants (no lockfile says which package a build is), so a build
/// backend's hint is the flag that applies to every build step: a backend keeping a cache in
/// `~/.cache` gets `--rw` of it, and pasted, the next run passes. (A `[[package]]` hint here
/// would apply to nothing and the next run would fail the same way.)
#[test]
fn a_build_backends_write_hint_under_pip_is_a_flag_and_pasted_makes_the_next_run_pass() {
    let world = World::new("hint-pip");
    let venv = make_venv(&world);
    let cache = world.home.join(".cache/si-user-tool");
    fs::create_dir_all(&cache).expect("the cache directory");
    let tool = world.project.join("user-tool");
    copy_dir(&fixtures().join("pip/user-tool"), &tool);
    write_file(
        &tool.join("target.json"),
        &serde_json::json!({ "plant": [cache.join("cache.txt")] }).to_string(),
    );
    let pip = venv.join("bin/pip");
    let install = [
        pip.to_str().expect("utf-8"),
        "install",
        "--no-index",
        "./user-tool",
    ];
    let (first, _second, h) = paste_hints_and_rerun(&world, "pip", &[], &install, &|| {});
    let want = ["--rw".to_string(), cache.display().to_string()];
    assert!(
        h.toml.is_empty() && !h.flags.is_empty() && h.flags.chunks(2).all(|c| c == want),
        "{h:?}\n{}",
        first.context()
    );
    assert!(
        cache.join("cache.txt").is_file(),
        "the backend's cache write did not land"
    );
}

/// A generic command (`sh -c`), whose attempts are the command's own: the hints are flags.
fn sh(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

#[test]
fn the_commands_read_hint_pasted_makes_the_next_run_pass() {
    let world = World::new("hint-read");
    let data = world.outside.join("data.txt");
    write_file(&data, "shared data\n");
    // `; true`: --strict's 120 is for a command that succeeded despite the refusal.
    let script = format!("cat {}; true", data.display());
    let (_, second, h) = paste_hints_and_rerun(&world, "read", &[], &sh(&script), &|| {});
    assert_eq!(
        h.flags,
        vec!["--ro".to_string(), data.display().to_string()]
    );
    assert!(
        second.out.stdout.contains("shared data"),
        "{}",
        second.context()
    );
}

#[test]
fn the_commands_write_hint_names_a_directory_and_pasted_makes_the_next_run_pass() {
    let world = World::new("hint-write");
    let out = world.outside.join("build");
    fs::create_dir_all(&out).expect("mkdir");
    // A temp file name that changes every run, as compilers and atomic writers make, in a
    // directory the command sees read-only.
    let script = format!(
        "f={}/out.$$.tmp && echo built > \"$f\" && mv \"$f\" {}/out.txt; true",
        out.display(),
        out.display()
    );
    let ro = vec!["--ro".to_string(), out.display().to_string()];
    let (_, _, h) = paste_hints_and_rerun(&world, "write", &ro, &sh(&script), &|| {});
    assert_eq!(h.flags, vec!["--rw".to_string(), out.display().to_string()]);
    assert_eq!(
        fs::read_to_string(out.join("out.txt")).ok().as_deref(),
        Some("built\n")
    );
}

#[test]
fn the_commands_egress_hint_pasted_makes_the_next_run_pass() {
    require_npm();
    let world = World::new("hint-egress");
    let host = HttpHost::start();
    // Through the proxy in HTTP_PROXY, as HTTP clients do inside.
    let js = format!(
        "const p=new URL(process.env.HTTP_PROXY);require('http').get({{host:p.hostname,port:p.port,path:'{url}',headers:{{Host:'{auth}'}}}},r=>{{let b='';r.on('data',c=>b+=c);r.on('end',()=>console.log('status',r.statusCode,b))}}).on('error',e=>console.log('error',e.code))",
        url = host.url("x"),
        auth = host.authority()
    );
    let node = which("node").expect("node on PATH");
    let node = node.display().to_string();
    let (_, second, h) =
        paste_hints_and_rerun(&world, "egress", &[], &[node.as_str(), "-e", &js], &|| {});
    assert_eq!(h.flags, vec!["--allow-host".to_string(), host.authority()]);
    assert!(
        second.out.stdout.contains("status 200 ok"),
        "{}",
        second.context()
    );
}

#[test]
fn hints_that_nothing_allows_say_so_and_suggest_nothing() {
    // A hidden file: no narrowing of the hide rules exists, so none is suggested.
    let world = World::new("hint-never");
    let script = format!("cat {} >/dev/null", world.project.join(".env").display());
    let run = sandboxed(&world, "never", &["--strict".into()], &sh(&script));
    assert_eq!(run.out.code(), 120, "{}", run.context());
    let h = hints(&run.out.stderr);
    assert!(h.flags.is_empty() && h.toml.is_empty(), "{h:?}");
    assert!(!h.never.is_empty(), "{}", run.context());
    assert!(!run.out.stderr.contains("[[fs.hide]]"), "{}", run.context());
}
