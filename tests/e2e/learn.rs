//! Learn mode end to end: `safe-install --learn npm ci` records what a real install from a
//! local Verdaccio needed beyond the policy, a `--strict` run with the learned file passes,
//! and the same run fails (120) once a new version of the package contacts another host.
//! What must never be learned (secret files, DNS, direct connections) is reported in the
//! learned file and not granted. Writing the file never replaces one the user wrote.
//!
//! The hosts the fixture downloads from are small HTTP servers of this test on loopback
//! addresses (`127.0.0.1` and `127.0.0.2`, both `lo` on Linux, as root and unprivileged);
//! the sandbox reaches them only through safe-install's proxy, which dials from the host.
//! The learned rules are IP literals with ports (`127.0.0.1:PORT`): a rule must name a
//! loopback address for the proxy to dial it, and a name would be resolved off the machine.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::netns::{events_for, LoggedRun};
use crate::common::servers::*;
use crate::common::*;

const LEARNED: &str = ".safe-install.learned.toml";
const MARKER: &str = "# safe-install learned policy: REVIEW BEFORE USE.";

/// A minimal HTTP server on a loopback address: answers `200 ok` to every request and
/// records each request line.
struct HttpHost {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpHost {
    fn start(ip: &str) -> HttpHost {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("bind {ip}:0 for a test HTTP host: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(line) = answer(stream) {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            }
        });
        HttpHost { addr, requests }
    }

    /// `ADDRESS:PORT`, as the proxy logs it and a rule names it.
    fn authority(&self) -> String {
        self.addr.to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Reads one request head and answers it; returns the request line.
fn answer(mut stream: TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next()?.to_string();
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    Some(line)
}

type Run = LoggedRun;

/// `safe-install --log LOG FLAGS... --project P COMMAND...`.
fn sandboxed(world: &World, name: &str, flags: &[&str], command: &[&str]) -> Run {
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

/// Stages `tests/fixtures/learn/<fixture>` as `version`, with `target` as its
/// learn-target.json, and packs it.
fn pack_fixture(world: &World, fixture: &str, version: &str, target: &Value) -> PathBuf {
    require_npm();
    let staging = stage_npm_fixture(
        world,
        &format!("learn/{fixture}"),
        &format!("{fixture}-{version}"),
        |pkg| pkg["version"] = Value::String(version.into()),
        "learn-target.json",
        target,
    );
    pack_npm_dir(world, &staging)
}

/// Points the project at `dependency@version` from the registry and writes its lockfile
/// (no scripts run outside the sandbox); removes any installed tree.
fn depend_on(world: &World, dependency: &str, version: &str) {
    write_file(
        &world.project.join("package.json"),
        &format!(
            "{{ \"name\": \"si-learn-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": {{ \"{dependency}\": \"{version}\" }} }}\n"
        ),
    );
    write_npm_lockfile(world);
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
}

/// The learned file parsed as TOML, and its text.
fn read_learned(path: &Path, context: &str) -> (toml::Table, String) {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no learned policy at {} ({e})\n{context}", path.display()));
    let table = text
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("the learned policy is not TOML: {e}\n{text}"));
    (table, text)
}

/// `(table, value, reason)` of every entry in a learned policy; `[[package]]` values as
/// `package.NAME.KEY`.
fn entries(table: &toml::Table) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (section, inner) in table {
        if section == "package" {
            for grant in inner.as_array().into_iter().flatten() {
                let name = grant["name"].as_str().unwrap_or_default();
                let reason = grant["reason"].as_str().unwrap_or_default();
                for key in ["allow-hosts", "allow-read", "allow-write"] {
                    for v in grant
                        .get(key)
                        .and_then(|v| v.as_array())
                        .into_iter()
                        .flatten()
                    {
                        out.push((
                            format!("package.{name}.{key}"),
                            v.as_str().unwrap_or_default().to_string(),
                            reason.to_string(),
                        ));
                    }
                }
            }
            continue;
        }
        let Some(inner) = inner.as_table() else {
            continue;
        };
        for (kind, list) in inner {
            for entry in list.as_array().into_iter().flatten() {
                let value = entry
                    .get("host")
                    .or_else(|| entry.get("path"))
                    .or_else(|| entry.get("name"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                let reason = entry
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                out.push((format!("{section}.{kind}"), value, reason));
            }
        }
    }
    out
}

/// Never wider than observed: every learned value is the exact target of a blocked event of
/// the learn run (`~/` standing for the home directory).
fn assert_only_observed(got: &[(String, String, String)], learn: &Run, world: &World) {
    for (section, value, _) in got {
        let target = match value.strip_prefix("~/") {
            Some(rel) => world.home.join(rel).display().to_string(),
            None => value.clone(),
        };
        assert!(
            learn
                .events
                .iter()
                .any(|e| e["verdict"] == "blocked" && e["target"] == target.as_str()),
            "{section} {value} was learned but no blocked event names it\n{}",
            learn.context()
        );
    }
}

/// What the fixture's postinstall recorded in fetched.json.
fn fetched(world: &World, context: &str) -> Vec<Value> {
    let path = world
        .project
        .join("node_modules/si-learn-fetch/fetched.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the postinstall did not run ({e})\n{context}"));
    serde_json::from_str(&text).expect("fetched.json is JSON")
}

#[test]
fn learned_policy_passes_strict_until_a_new_version_contacts_another_host() {
    require_npm();
    let world = World::new("learn-egress");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let first = HttpHost::start("127.0.0.1");
    let second = HttpHost::start("127.0.0.2");

    let v1 = pack_fixture(
        &world,
        "fetch",
        "1.0.0",
        &serde_json::json!({ "urls": [first.url("si-learn-1.0.0")] }),
    );
    publish_npm(&world, &v1, &server, &token);
    use_npm_registry(&world, &server);
    depend_on(&world, "si-learn-fetch", "1.0.0");
    let learned_path = world.project.join(LEARNED);

    // 1. Learn: the download is blocked, recorded, and the install falls back.
    let learn = sandboxed(&world, "learn", &["--learn"], NPM_CI);
    assert_eq!(learn.out.code(), 0, "{}", learn.context());
    let blocked = events_for(
        &learn.events,
        "proxy",
        "blocked",
        "ip-literal",
        &first.authority(),
    );
    assert_eq!(blocked.len(), 1, "{}", learn.context());
    assert!(
        first.requests().is_empty(),
        "the test host was reached during the learn run: {:?}\n{}",
        first.requests(),
        learn.context()
    );
    let (table, text) = read_learned(&learned_path, &learn.context());
    assert!(text.starts_with(MARKER), "{text}");
    assert!(
        text.contains("npm ci --no-audit --no-fund"),
        "the header does not name the command\n{text}"
    );
    let got = entries(&table);
    assert_only_observed(&got, &learn, &world);
    // The one network entry: the host the postinstall needed, for its own package only
    // (not the global allow-list). Other entries are files the runtime read (node reads
    // its cgroup limits at start-up), each checked above against the log.
    let network: Vec<&(String, String, String)> = got
        .iter()
        .filter(|(section, _, _)| section.starts_with("egress") || section.ends_with("allow-hosts"))
        .collect();
    assert_eq!(network.len(), 1, "{text}");
    let (section, value, reason) = network[0];
    assert_eq!(section, "package.si-learn-fetch.allow-hosts", "{text}");
    assert_eq!(value, &first.authority(), "{text}");
    assert!(
        reason.contains("si-learn-fetch@1.0.0 (postinstall)") && reason.contains("1 time"),
        "the reason does not say who needed it and how often: {reason}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{} (registry-request)", server.port)),
        "the registry the install used is not listed as already allowed\n{text}"
    );
    assert!(
        learn.out.stderr.contains(&format!(
            "+ [[package]] si-learn-fetch allow-hosts {}",
            first.authority()
        )),
        "{}",
        learn.context()
    );

    // 2. Without the learned policy, --strict fails: the learned file is what makes it pass.
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
    let bare = sandboxed(&world, "strict-without", &["--strict"], NPM_CI);
    assert_eq!(bare.out.code(), 120, "{}", bare.context());

    // 3. With it, --strict passes and the download reaches the host.
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
    let learned_arg = learned_path.display().to_string();
    let strict = sandboxed(
        &world,
        "strict-learned",
        &["--policy", &learned_arg, "--strict"],
        NPM_CI,
    );
    assert_eq!(strict.out.code(), 0, "{}", strict.context());
    let results = fetched(&world, &strict.context());
    assert_eq!(
        results[0]["status"],
        200,
        "the download did not succeed with the learned policy: {results:?}\n{}",
        strict.context()
    );
    assert_eq!(
        first.requests(),
        vec!["GET /si-learn-1.0.0 HTTP/1.1".to_string()],
        "{}",
        strict.context()
    );

    // 4. A new version also contacts another host: --strict fails and names it.
    let v2 = pack_fixture(
        &world,
        "fetch",
        "1.1.0",
        &serde_json::json!({ "urls": [first.url("si-learn-1.1.0"), second.url("si-learn-1.1.0")] }),
    );
    publish_npm(&world, &v2, &server, &token);
    depend_on(&world, "si-learn-fetch", "1.1.0");
    let changed = sandboxed(
        &world,
        "strict-changed",
        &["--policy", &learned_arg, "--strict"],
        NPM_CI,
    );
    assert_eq!(changed.out.code(), 120, "{}", changed.context());
    let new_target = events_for(
        &changed.events,
        "proxy",
        "blocked",
        "ip-literal",
        &second.authority(),
    );
    assert_eq!(new_target.len(), 1, "{}", changed.context());
    assert_eq!(new_target[0]["package"], "si-learn-fetch@1.1.0");
    assert_eq!(new_target[0]["script"], "postinstall");
    let other_blocked: Vec<&Value> = changed
        .events
        .iter()
        .filter(|e| e["verdict"] == "blocked" && e["target"] != second.authority().as_str())
        .collect();
    assert!(
        other_blocked.is_empty(),
        "only the new host may be blocked\n{}",
        changed.context()
    );
    assert!(
        second.requests().is_empty(),
        "the new host was reached: {:?}",
        second.requests()
    );
    assert!(
        changed.out.stderr.contains(&second.authority()),
        "the summary does not name the new target\n{}",
        changed.context()
    );
}

#[test]
fn secrets_dns_and_direct_connections_are_reported_not_learned() {
    require_npm();
    let world = World::new("learn-peek");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let dns_name = format!("learn-{}.exfil.example.com", world.token);
    let direct_port = free_port();
    let tarball = pack_fixture(
        &world,
        "peek",
        "1.0.0",
        &serde_json::json!({ "dns_name": dns_name, "direct_port": direct_port }),
    );
    publish_npm(&world, &tarball, &server, &token);
    use_npm_registry(&world, &server);
    depend_on(&world, "si-learn-peek", "1.0.0");

    let learn = sandboxed(&world, "learn-peek", &["--learn"], NPM_CI);
    assert_eq!(learn.out.code(), 0, "{}", learn.context());
    let (table, text) = read_learned(&world.project.join(LEARNED), &learn.context());
    let got = entries(&table);
    assert_only_observed(&got, &learn, &world);
    let direct = format!("127.0.0.1:{direct_port}");
    let forbidden = got.iter().find(|(section, value, _)| {
        section.starts_with("egress")
            || section.starts_with("package")
            || value.contains(".env")
            || value.contains(".ssh")
            || value.contains(&dns_name)
            || value.contains(&direct)
    });
    assert!(
        forbidden.is_none(),
        "granted what must never be learned: {forbidden:?}\n{text}\n{}",
        learn.context()
    );
    // Every blocked attempt the log holds is learned or listed as not learned, with who made it.
    let blocked: Vec<&Value> = learn
        .events
        .iter()
        .filter(|e| e["verdict"] == "blocked")
        .collect();
    let kinds = |action: &str| blocked.iter().filter(|e| e["action"] == action).count();
    assert!(
        kinds("dns") >= 1 && kinds("connect") >= 1,
        "the fixture's DNS query and direct connection were not logged\n{}",
        learn.context()
    );
    let env_file = world.project.join(".env").display().to_string();
    let ssh_key = world.home.join(".ssh/id_rsa").display().to_string();
    for secret in [&env_file, &ssh_key] {
        assert!(
            blocked
                .iter()
                .any(|e| e["action"] == "read" && e["target"] == secret.as_str()),
            "the fixture's read of {secret} was not logged\n{}",
            learn.context()
        );
    }
    for e in &blocked {
        let target = e["target"].as_str().unwrap_or_default();
        if got.iter().any(|(_, value, _)| value == target) {
            continue; // learned (checked against the forbidden list above)
        }
        let line = text
            .lines()
            .find(|l| l.starts_with("#   ") && l.contains(target))
            .unwrap_or_else(|| {
                panic!("blocked {target} is not reported in the learned file\n{text}")
            });
        assert!(
            line.contains("not learned:") && line.contains("si-learn-peek@1.0.0 (postinstall)"),
            "{line}"
        );
        let secret = target.contains("/.env") || target.contains("/.ssh/");
        assert!(
            !secret || line.contains("this is a secret"),
            "a secret read is not reported as a secret: {line}"
        );
    }
    assert!(
        !text.contains(&world.secret(".env")) && !text.contains(&world.secret(".ssh/id_rsa")),
        "a secret's content is in the learned file\n{text}"
    );
}

#[test]
fn learn_never_replaces_a_file_it_did_not_write() {
    let world = World::new("learn-file");
    let mine = world.project.join("mine.toml");
    let original = "# my own policy\n[[egress.allow]]\nhost = \"registry.example.com:443\"\nreason = \"ours\"\n";
    write_file(&mine, original);
    let ran = world.project.join("ran");
    let flag = format!("--learn={}", mine.display());
    let out = {
        let _g = shared_run_guard();
        run(
            &mut world.sandboxed_sh_with(&[flag.as_str()], "touch ran"),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(
        out.stderr.contains("was not written by --learn"),
        "{}",
        out.describe()
    );
    assert_eq!(fs::read_to_string(&mine).expect("read"), original);
    assert!(!ran.exists(), "the command ran although --learn refused");

    // The file name written with a space would run it as the command: refused.
    let out = run(
        world
            .safe_install()
            .args(["--learn", "learned.toml", "npm", "ci"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert!(
        out.stderr.contains("--learn=learned.toml npm ci"),
        "{}",
        out.describe()
    );

    // Learning and --strict together make no sense: usage error.
    let out = run(
        world
            .safe_install()
            .args(["--learn", "--strict", "npm", "ci"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 125, "{}", out.describe());

    // A learn run that needed nothing writes a file that says so; a second one keeps the
    // first as .bak.
    for _ in 0..2 {
        let out = {
            let _g = shared_run_guard();
            run(
                &mut world.sandboxed_sh_with(&["--learn"], "true"),
                RUN_TIMEOUT,
            )
        };
        assert_eq!(out.code(), 0, "{}", out.describe());
    }
    let learned = fs::read_to_string(world.project.join(LEARNED)).expect("learned file");
    assert!(learned.starts_with(MARKER), "{learned}");
    assert!(
        learned.contains("Nothing was needed beyond the policy in force."),
        "{learned}"
    );
    let backup = fs::read_to_string(world.project.join(format!("{LEARNED}.bak"))).expect("backup");
    assert!(backup.starts_with(MARKER), "{backup}");
}
