//! Trust levels, end to end with real npm against a real local Verdaccio: the package manager
//! (level 1) may use the registry token; its lifecycle scripts (level 2, started through
//! safe-install's script shell) get nothing of it, have no network unless granted, and every
//! attempt is logged with the package and script that made it.

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Created by scripts/setup.sh: outside the sandbox's default view, writable by all.
const GRANTS_DIR: &str = "/srv/safe-install-test";

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

type Run = LoggedRun;

fn sandboxed(world: &World, flags: &[&str], env: &[(&str, &str)]) -> Run {
    let _g = shared_run_guard();
    let log = world.log_path(&format!("trust-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log).args(flags).args(NPM_CI);
    for (k, v) in env {
        cmd.env(k, v);
    }
    LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log)
}

/// A copy of fixture `dir` renamed to `name`, with `config` written to `config_file`.
fn stage(world: &World, dir: &str, name: &str, config_file: &str, config: &Value) -> PathBuf {
    let rename = |pkg: &mut Value| pkg["name"] = Value::String(name.to_string());
    stage_npm_fixture(world, dir, name, rename, config_file, config)
}

/// Lockfile from a bare install without scripts (nothing hostile runs unsandboxed), then an
/// empty `node_modules` so the sandboxed `npm ci` does the work.
fn lock(world: &World, env: &[(&str, &str)]) {
    let mut cmd = world.setup_command("npm");
    cmd.args(["install", "--ignore-scripts", "--no-audit", "--no-fund"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd.current_dir(&world.project), RUN_TIMEOUT).assert_success();
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
}

fn thief_report(world: &World, r: &Run) -> Value {
    let path = package_report(world, ".si-thief-report.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the thief's postinstall wrote no report at {} ({e})\n{}",
            path.display(),
            r.context()
        )
    });
    serde_json::from_str(&text).expect("thief report is JSON")
}

/// A Verdaccio whose `@si-private` scope needs a token, holding `@si-private/scoped-pkg` and
/// the thief, and a project depending on both whose `.npmrc` authenticates with
/// `auth(real token)` (the token itself, or a `${VAR}` reference to it). Returns the server
/// and the real token.
fn token_project(world: &World, auth: impl FnOnce(&str) -> String) -> (Server, String) {
    let scope = "@si-private";
    let server = start_verdaccio_private_scope(&world.root().join("verdaccio"), scope);
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let scoped = world.root().join("staging/npm-scoped");
    copy_dir(&fixtures().join("egress/npm-scoped"), &scoped);
    publish_npm(world, &pack_npm_dir(world, &scoped), &server, &token);
    let target = serde_json::json!({ "registry": server.url, "port": server.port });
    let thief = stage(
        world,
        "trust/npm-thief",
        "si-thief",
        "thief-target.json",
        &target,
    );
    publish_npm(world, &pack_npm_dir(world, &thief), &server, &token);
    let npmrc = format!(
        "registry={url}\n{scope}:registry={url}\n//127.0.0.1:{port}/:_authToken={auth}\n",
        url = server.url,
        port = server.port,
        auth = auth(&token),
    );
    write_file(&world.project.join(".npmrc"), &npmrc);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-trust-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"@si-private/scoped-pkg\": \"1.0.0\", \"si-thief\": \"1.0.0\" } }\n",
    );
    (server, token)
}

/// Code that runs inside npm itself (`NODE_OPTIONS=--require`, returned first): it looks for
/// `token`, handed to it in two halves so its own memory never holds it whole, and sends what
/// it finds to the recording server on `other_port` (allowed with the `--allow-host` value
/// returned second).
fn stage_insider(world: &World, token: &str, other_port: u16) -> (String, String) {
    let insider = world.project.join("si-insider");
    copy_dir(&fixtures().join("trust/insider"), &insider);
    let half = token.len() / 2;
    let needle = serde_json::json!({
        "a": &token[..half],
        "b": &token[half..],
        "other": format!("http://127.0.0.1:{other_port}/loot"),
    });
    write_file(&insider.join("needle.json"), &needle.to_string());
    (
        format!("--require {}", insider.join("insider.js").display()),
        format!("127.0.0.1:{other_port}"),
    )
}

/// Does `what` in the report carry `secret` anywhere?
fn leaks(what: &Value, secret: &str) -> bool {
    what.to_string().contains(secret)
}

#[test]
fn the_registry_token_reaches_npm_but_never_its_scripts() {
    require_npm();
    let world = World::new("trust-token");
    // The token enters npm's configuration the way CI does it: by reference to a variable.
    let (server, token) = token_project(&world, |_| "${SI_REGISTRY_TOKEN}".into());
    let env = [("SI_REGISTRY_TOKEN", token.as_str())];
    lock(&world, &env);

    let r = sandboxed(&world, &["--secret-env", "SI_REGISTRY_TOKEN"], &env);
    assert!(
        r.out.status.success()
            && world
                .project
                .join("node_modules/@si-private/scoped-pkg/index.js")
                .is_file(),
        "npm ci failed or did not install the token-only package (npm did not get the token)\n{}\n--- verdaccio ---\n{}",
        r.context(),
        server.log()
    );
    let mut p = Problems::new();
    let report = thief_report(&world, &r);
    for what in [
        "env",
        "project_npmrc",
        "home_npmrc",
        "private_npmrc",
        "npm_environ",
        "npm_mem",
        "npm_cmdline",
        "config_get",
    ] {
        p.check(!leaks(&report[what], &token), || {
            format!("the script got the token from {what}: {}", report[what])
        });
    }
    p.check(report["env"].get("SI_REGISTRY_TOKEN").is_none(), || {
        "SI_REGISTRY_TOKEN reached the script's environment".into()
    });
    for what in ["private_npmrc", "npm_environ", "npm_mem"] {
        p.check(report[what]["ok"] == false, || {
            format!("the script could read {what}: {}", report[what])
        });
    }
    for what in ["registry_get", "registry_put", "registry_connect"] {
        p.check(report[what]["status"] == 403, || {
            format!(
                "the script's {what} to the registry was not refused: {}",
                report[what]
            )
        });
    }
    let thief = "si-thief@1.0.0";
    let checks = [
        ("read", "hidden-file", "/.npmrc"),
        ("read", "credential-path", "/.safe-install/private/npmrc"),
        ("read", "other-process", "/environ"),
        ("read", "other-process", "/mem"),
        (
            "proxy",
            "script-offline",
            &format!("127.0.0.1:{}", server.port),
        ),
    ];
    for (action, reason, target) in checks {
        p.check(r.blocked_by(thief, Some("postinstall"), action, reason, target) >= 1, || {
            format!("no blocked {action} event [{reason}] on {target} attributed to {thief} (postinstall)")
        });
    }
    p.check(!r.shows(&token), || {
        "the token appears in the event log or on stderr".into()
    });
    level1_port_closed(&mut p, &report, &r, &server, true);
    p.finish(&r.context());

    // The same scripts may reach the registries when the user says so.
    let _ = fs::remove_dir_all(world.project.join("node_modules"));
    let r = sandboxed(
        &world,
        &[
            "--secret-env",
            "SI_REGISTRY_TOKEN",
            "--scripts-network",
            "registry",
        ],
        &env,
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "npm ci failed".into());
    let report = thief_report(&world, &r);
    p.check(report["registry_get"]["status"] == 200, || {
        format!(
            "with --scripts-network registry the script's GET was not served: {}",
            report["registry_get"]
        )
    });
    p.check(
        r.blocked_by(
            thief,
            Some("postinstall"),
            "proxy",
            "script-offline",
            "127.0.0.1",
        ) == 0,
        || "script-offline events despite --scripts-network registry".into(),
    );
    p.check(!leaks(&report["env"], &token), || {
        "the token reached the script's environment".into()
    });
    level1_port_closed(&mut p, &report, &r, &server, false);
    p.finish(&r.context());
}

/// The package manager's proxy port (127.0.0.1:3128) is closed to scripts by their Landlock
/// domain: from the script itself, 70 processes deep, and fire-and-forget, each attempt fails
/// and is logged, and the registry never sees the loot. `offline`: scripts have no network
/// (then the deep request through the scripts' own port is refused and logged too).
fn level1_port_closed(p: &mut Problems, report: &Value, r: &Run, server: &Server, offline: bool) {
    const UNATTRIBUTED: &str = "(unattributed script process)";
    p.check(report["pm_port_put"]["code"] == "EACCES", || {
        format!(
            "the script's PUT through the package manager's port was not refused by the kernel: {}",
            report["pm_port_put"]
        )
    });
    p.check(report["deep"]["pm_port"]["code"] == "EACCES", || {
        format!(
            "the PUT 70 processes deep through the package manager's port was not refused by the kernel: {}",
            report["deep"]
        )
    });
    p.check(
        r.blocked_by(
            "si-thief@1.0.0",
            Some("postinstall"),
            "connect",
            "script-offline",
            "127.0.0.1:3128",
        ) >= 1,
        || "no blocked connect to 127.0.0.1:3128 attributed to si-thief@1.0.0 (postinstall)".into(),
    );
    let unattributed = |action: &str, target: &str| {
        r.events.iter().any(|e| {
            e["verdict"] == "blocked"
                && e["action"] == action
                && e["reason"] == "script-offline"
                && e["script"] == UNATTRIBUTED
                && e["package"].is_null()
                && e["target"].as_str().unwrap_or("").contains(target)
        })
    };
    p.check(unattributed("connect", "127.0.0.1:3128"), || {
        "the deep process's connect to 127.0.0.1:3128 is not logged as an unattributed script"
            .into()
    });
    let registry_log = server.log();
    // The log names the paths it served (npm's own GET of the thief), or the checks below
    // would prove nothing.
    p.check(registry_log.contains("/si-thief"), || {
        format!("the registry's log names no request paths:\n{registry_log}")
    });
    for loot in ["si-stash-pm-port", "si-stash-fire-3128"] {
        p.check(!registry_log.contains(loot), || {
            format!("the registry received {loot}:\n{registry_log}")
        });
    }
    if offline {
        p.check(report["deep"]["script_port"]["status"] == 403, || {
            format!(
                "the PUT 70 processes deep through the scripts' port was not refused: {}",
                report["deep"]
            )
        });
        for loot in ["si-stash-deep", "si-stash-fire-3129"] {
            p.check(!registry_log.contains(loot), || {
                format!("the registry received {loot}:\n{registry_log}")
            });
        }
        let target = format!("127.0.0.1:{}", server.port);
        p.check(
            r.events.iter().any(|e| {
                e["verdict"] == "blocked"
                    && e["action"] == "proxy"
                    && e["reason"] == "script-offline"
                    && e["script"].is_string()
                    && e["target"].as_str().unwrap_or("").contains(&target)
                    && e["argv"].to_string().contains("deep-put.js")
            }),
            || "the deep PUT through the scripts' port is not logged as a script's".into(),
        );
    }
}

#[test]
fn a_package_grant_opens_one_host_to_that_package_only() {
    require_npm();
    let world = World::new("trust-grant");
    let host = TestHost::start(&world);
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let target = format!("{}:{}", host.v4, host.tcp_port);
    // A directory outside everything the sandbox shows by default (the test world lies in
    // /tmp, which every script may read inside), granted to one package for reading.
    let grants = std::path::Path::new(GRANTS_DIR);
    assert!(
        grants.is_dir(),
        "{GRANTS_DIR} is missing. Fix: run scripts/setup.sh as root"
    );
    let granted_dir = tempfile::Builder::new()
        .prefix("grant-")
        .tempdir_in(grants)
        .expect("a directory in the grants place");
    let granted_dir = granted_dir.path().to_path_buf();
    let _cleanup = RemoveOnDrop(granted_dir.clone());
    write_file(&granted_dir.join("data.txt"), "SI-GRANTED-DATA");
    let read_path = granted_dir.join("data.txt");
    let config = serde_json::json!({ "target": target, "read_path": read_path });
    for name in ["si-grant-a", "si-grant-b"] {
        let dir = stage(
            &world,
            "trust/npm-reach",
            name,
            "reach-target.json",
            &config,
        );
        publish_npm(&world, &pack_npm_dir(&world, &dir), &server, &token);
    }
    use_npm_registry(&world, &server);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-grant-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-grant-a\": \"1.0.0\", \"si-grant-b\": \"1.0.0\" } }\n",
    );
    lock(&world, &[]);
    // si-grant-a's grant is pinned to the version the lockfile holds; si-grant-b has the same
    // grant pinned to another version's integrity, which must not apply.
    let lockfile: Value = serde_json::from_str(
        &fs::read_to_string(world.project.join("package-lock.json")).expect("lockfile"),
    )
    .expect("lockfile is JSON");
    let integrity = lockfile["packages"]["node_modules/si-grant-a"]["integrity"]
        .as_str()
        .expect("si-grant-a's integrity in the lockfile")
        .to_string();
    let other_version = format!("sha512-{}==", "A".repeat(86));
    let mut policy = String::new();
    for (name, pin) in [("si-grant-a", &integrity), ("si-grant-b", &other_version)] {
        policy.push_str(&format!(
            "[[package]]\nname = \"{name}\"\nallow-hosts = [\"{target}\"]\nallow-read = [\"{}\"]\nintegrity = \"{pin}\"\nreason = \"downloads its prebuilt binary from the test host\"\n\n",
            granted_dir.display()
        ));
    }
    write_file(&world.project.join(".safe-install.toml"), &policy);
    let r = sandboxed(&world, &[], &[]);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "npm ci failed".into());
    // The host answers nothing (it only records), so the granted GET ends in a time-out; what
    // counts is what arrived.
    let captured = host.captured();
    p.check(captured.contains("si-reach-si-grant-a"), || {
        format!(
            "the granted package's request did not reach the test host; it received:\n{captured}"
        )
    });
    p.check(!captured.contains("si-reach-si-grant-b"), || {
        "the other package's request reached the test host".into()
    });
    // An IP-literal target is refused as `ip-literal` (a name as `egress-not-allowed`).
    let refusals = |package: &str| {
        r.blocked_by(package, Some("postinstall"), "proxy", "ip-literal", &target)
            + r.blocked_by(
                package,
                Some("postinstall"),
                "proxy",
                "egress-not-allowed",
                &target,
            )
    };
    p.check(refusals("si-grant-b@1.0.0") == 1, || {
        format!("no single blocked proxy event for {target} attributed to si-grant-b")
    });
    p.check(
        r.out.stderr.contains("the grant for package si-grant-b"),
        || "no warning that si-grant-b's grant (pinned to another version) is not applied".into(),
    );
    p.check(refusals("si-grant-a@1.0.0") == 0, || {
        "the granted package was blocked".into()
    });
    let read_by = |name: &str| {
        let path = package_report(&world, &format!(".si-reach-{name}.json"));
        let report: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or_default();
        report["read"].as_str().unwrap_or("").to_string()
    };
    p.check(read_by("si-grant-a") == "SI-GRANTED-DATA", || {
        format!(
            "the granted package could not read its allow-read file: {}",
            read_by("si-grant-a")
        )
    });
    p.check(!read_by("si-grant-b").contains("SI-GRANTED-DATA"), || {
        "the other package read the file granted to si-grant-a".into()
    });
    p.check(
        r.blocked_by(
            "si-grant-b@1.0.0",
            Some("postinstall"),
            "read",
            "outside-view",
            &read_path.display().to_string(),
        ) == 1,
        || "no blocked read event for the granted file attributed to si-grant-b".into(),
    );
    p.finish(&r.context());
}

/// Serves `file` to every HTTP request on a loopback port (a tarball host of the attacker's);
/// the thread lives as long as the test process.
fn serve_file(file: &std::path::Path) -> u16 {
    use std::io::{Read, Write};
    let body = fs::read(file).expect("read the file to serve");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
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
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = conn.write_all(&body);
        }
    });
    port
}

/// Item 6 of issue 12: a tarball-URL dependency whose own package.json says it is the granted
/// package gets nothing of the grant, even with the grant pinned by integrity (the real
/// package, at that integrity, is in the same tree). Grants follow the lockfile's entry.
#[test]
fn a_grant_follows_the_lockfile_entry_not_the_name_a_package_gives_itself() {
    require_npm();
    let world = World::new("trust-impostor");
    let host = TestHost::start(&world);
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let target = format!("{}:{}", host.v4, host.tcp_port);
    let grants = std::path::Path::new(GRANTS_DIR);
    assert!(
        grants.is_dir(),
        "{GRANTS_DIR} is missing. Fix: run scripts/setup.sh as root"
    );
    let granted_dir = tempfile::Builder::new()
        .prefix("grant-")
        .tempdir_in(grants)
        .expect("a directory in the grants place");
    let granted_dir = granted_dir.path().to_path_buf();
    let _cleanup = RemoveOnDrop(granted_dir.clone());
    write_file(&granted_dir.join("data.txt"), "SI-GRANTED-DATA");
    let read_path = granted_dir.join("data.txt");
    let config = |label: &str| {
        serde_json::json!({
            "target": target,
            "read_path": read_path,
            "write_path": granted_dir.join(format!("written-by-{label}")),
            "label": label,
        })
    };
    // The real package, from the registry.
    let real = stage(
        &world,
        "trust/npm-reach",
        "si-grant-a",
        "reach-target.json",
        &config("real"),
    );
    publish_npm(&world, &pack_npm_dir(&world, &real), &server, &token);
    // The impostor: the same name in its own package.json, another version, served as a
    // tarball URL from a host of the attacker's.
    let impostor = stage_npm_fixture(
        &world,
        "trust/npm-reach",
        "impostor",
        |pkg| {
            pkg["name"] = Value::String("si-grant-a".into());
            pkg["version"] = Value::String("6.6.6".into());
        },
        "reach-target.json",
        &config("impostor"),
    );
    let tarball = pack_npm_dir(&world, &impostor);
    let tarball_port = serve_file(&tarball);
    use_npm_registry(&world, &server);
    write_file(
        &world.project.join("package.json"),
        &format!(
            "{{ \"name\": \"si-impostor-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": {{ \"si-grant-a\": \"1.0.0\", \"si-impostor\": \"http://127.0.0.1:{tarball_port}/si-impostor.tgz\" }} }}\n"
        ),
    );
    lock(&world, &[]);
    let lockfile: Value = serde_json::from_str(
        &fs::read_to_string(world.project.join("package-lock.json")).expect("lockfile"),
    )
    .expect("lockfile is JSON");
    let integrity = lockfile["packages"]["node_modules/si-grant-a"]["integrity"]
        .as_str()
        .expect("si-grant-a's integrity in the lockfile")
        .to_string();
    assert!(
        lockfile["packages"]["node_modules/si-impostor"].is_object(),
        "the impostor is not in the lockfile at node_modules/si-impostor: {lockfile}"
    );
    write_file(
        &world.project.join(".safe-install.toml"),
        &format!(
            "[[egress.allow]]\nhost = \"127.0.0.1:{tarball_port}\"\nreason = \"the tarball-URL dependency (npm fetches it)\"\n\n[[package]]\nname = \"si-grant-a\"\nallow-hosts = [\"{target}\"]\nallow-read = [\"{dir}\"]\nallow-write = [\"{dir}\"]\nintegrity = \"{integrity}\"\nreason = \"downloads its prebuilt binary from the test host\"\n",
            dir = granted_dir.display()
        ),
    );
    let r = sandboxed(&world, &[], &[]);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "npm ci failed".into());
    let report = |label: &str| -> Value {
        let path = package_report(&world, &format!(".si-reach-{label}.json"));
        serde_json::from_str(&fs::read_to_string(&path).unwrap_or_default()).unwrap_or_default()
    };
    let (real, fake) = (report("real"), report("impostor"));
    p.check(fake.is_object(), || {
        "the impostor's postinstall wrote no report (did it run?)".into()
    });
    let captured = host.captured();
    p.check(captured.contains("si-reach-real"), || {
        format!("the granted package's request did not reach the test host; it got:\n{captured}")
    });
    p.check(!captured.contains("si-reach-impostor"), || {
        format!("the impostor's request reached the granted host:\n{captured}")
    });
    p.check(
        real["write"] == "ok" && real["read"] == "SI-GRANTED-DATA",
        || format!("the granted package lost its allow-read/allow-write: {real}"),
    );
    p.check(
        !fake["read"]
            .as_str()
            .unwrap_or("")
            .contains("SI-GRANTED-DATA"),
        || format!("the impostor read the granted file: {fake}"),
    );
    p.check(
        fake["write"] != "ok" && !granted_dir.join("written-by-impostor").exists(),
        || format!("the impostor wrote into the granted directory: {fake}"),
    );
    // Attributed by the lockfile's entry (node_modules/si-impostor at 6.6.6), not by the name
    // the package gives itself.
    let who = "si-impostor@6.6.6";
    let proxy = r.blocked_by(who, Some("postinstall"), "proxy", "ip-literal", &target)
        + r.blocked_by(who, Some("postinstall"), "proxy", "script-offline", &target)
        + r.blocked_by(
            who,
            Some("postinstall"),
            "proxy",
            "egress-not-allowed",
            &target,
        );
    p.check(proxy == 1, || {
        format!("no single blocked proxy event for {target} attributed to {who} (postinstall)")
    });
    p.check(
        r.blocked_by(
            who,
            Some("postinstall"),
            "read",
            "outside-view",
            &read_path.display().to_string(),
        ) == 1,
        || format!("no blocked read of the granted file attributed to {who}"),
    );
    p.check(r.out.stderr.contains("node_modules/si-impostor"), || {
        "stderr does not say that the grant is not applied to node_modules/si-impostor".into()
    });
    p.finish(&r.context());
}

/// Item 7 of issue 12: a project (and npm's cache) under /tmp gets the same protection as
/// anywhere else: level 2 writes its package, `node_modules` and its own temp only. The
/// test worlds live under $TMPDIR (normally /tmp), which is exactly that case.
#[test]
fn a_project_under_tmp_is_as_protected_as_anywhere() {
    require_npm();
    let world = World::new("trust-tmp");
    let temp_roots = ["/tmp", "/var/tmp", "/dev/shm"];
    let real_project = fs::canonicalize(&world.project).expect("canonical project");
    assert!(
        temp_roots.iter().any(|t| real_project.starts_with(t)),
        "this test needs the test world under /tmp, /var/tmp or /dev/shm; it is at {} (unset TMPDIR)",
        real_project.display()
    );
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let planter = pack_npm_dir(&world, &{
        let dir = world.root().join("staging/npm-planter");
        copy_dir(&fixtures().join("trust/npm-planter"), &dir);
        dir
    });
    publish_npm(&world, &planter, &server, &token);
    use_npm_registry(&world, &server);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-tmp-consumer\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-planter\": \"1.0.0\" } }\n",
    );
    lock(&world, &[]);
    let package_json = fs::read_to_string(world.project.join("package.json")).expect("read");
    let r = sandboxed(&world, &[], &[]);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "npm ci failed".into());
    let path = package_report(&world, ".si-planter.json");
    let report: Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap_or_default()).unwrap_or_default();
    p.check(report.is_object(), || {
        "the planter's postinstall wrote no report (did it run?)".into()
    });
    for what in ["project_root", "workflow", "package_json", "cache"] {
        p.check(
            report[what]
                .as_str()
                .is_some_and(|s| s.starts_with("error")),
            || format!("the script could write {what}: {report}"),
        );
    }
    let cache = report["cache_path"].as_str().unwrap_or("").to_string();
    p.check(temp_roots.iter().any(|t| cache.starts_with(t)), || {
        format!("npm's cache ({cache}) is not under a temp root: the test proves less than it says")
    });
    p.check(!world.project.join("si-planted.txt").exists(), || {
        "si-planted.txt was created in the project root on the host".into()
    });
    p.check(
        !world
            .project
            .join(".github/workflows/si-planted.yml")
            .exists(),
        || "a workflow was planted on the host".into(),
    );
    p.check(
        fs::read_to_string(world.project.join("package.json")).ok() == Some(package_json),
        || "the root package.json was changed on the host".into(),
    );
    let who = "si-planter@1.0.0";
    let project_root = world.project.join("si-planted.txt");
    for target in [
        project_root.display().to_string(),
        world.project.join("package.json").display().to_string(),
        format!("{cache}/si-planted"),
    ] {
        p.check(
            r.blocked_by(who, Some("postinstall"), "write", "read-only-path", &target) >= 1,
            || format!("no blocked write event [read-only-path] on {target} attributed to {who} (postinstall)"),
        );
    }
    p.finish(&r.context());
}

/// Issue 13: no process inside holds the real registry token. The token sits literally in
/// the project's `.npmrc` and in a `--secret-env` variable; code running inside npm itself
/// (loaded with `NODE_OPTIONS=--require`, trust level 1) searches its environment, the
/// sandbox's files, every process's environ and memory and its own memory and finds only the
/// placeholder; the placeholder it sends to another allowed host is refused and logged as
/// `credential-misuse`, and that host never sees it; the registry saw the real token (the
/// token-only package installed, Verdaccio logged the user); the lifecycle script finds
/// nothing either.
#[test]
fn no_process_inside_holds_the_real_token() {
    require_npm();
    let world = World::new("trust-placeholder");
    let (server, token) = token_project(&world, |token| token.to_string());
    lock(&world, &[]);

    let (other_port, other_seen) = recording_server("127.0.0.1");
    let (require, allow_other) = stage_insider(&world, &token, other_port);
    let env = [
        ("SI_REGISTRY_TOKEN", token.as_str()),
        ("NODE_OPTIONS", require.as_str()),
    ];
    let r = sandboxed(
        &world,
        &[
            "--secret-env",
            "SI_REGISTRY_TOKEN",
            "--allow-host",
            &allow_other,
        ],
        &env,
    );
    assert!(
        r.out.status.success()
            && world
                .project
                .join("node_modules/@si-private/scoped-pkg/index.js")
                .is_file(),
        "npm ci failed or did not install the token-only package (the real token did not reach the registry)\n{}\n--- verdaccio ---\n{}",
        r.context(),
        server.log()
    );
    let report_path = world.project.join("si-insider/insider-report.json");
    let text = fs::read_to_string(&report_path).unwrap_or_else(|e| {
        panic!(
            "the insider wrote no report at {} ({e}): it did not run inside npm\n{}",
            report_path.display(),
            r.context()
        )
    });
    let report: Value = serde_json::from_str(&text).expect("insider report is JSON");
    let mut p = Problems::new();
    p.check(
        report["env_placeholders"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "SI_REGISTRY_TOKEN")),
        || format!("SI_REGISTRY_TOKEN inside npm is not a placeholder: {report}"),
    );
    for what in ["env_real", "files_real", "environ_real", "mem_real"] {
        p.check(
            report[what].as_array().is_some_and(|a| a.is_empty()),
            || {
                format!(
                    "the real token was found inside the sandbox ({what}): {}",
                    report[what]
                )
            },
        );
    }
    p.check(
        report["files_placeholder"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f == "/.safe-install/private/npmrc")),
        || {
            format!(
                "npm's private npmrc holds no placeholder: {}",
                report["files_placeholder"]
            )
        },
    );
    // The search really read memory: npm's own heap (where the placeholder is) and other
    // processes'.
    p.check(
        report["self_mem_real"] == false
            && report["self_mem_placeholder"] == true
            && report["self_mem_read"].as_u64().unwrap_or(0) > 10 << 20,
        || {
            format!(
                "npm's own memory: real {} placeholder {} bytes read {}",
                report["self_mem_real"], report["self_mem_placeholder"], report["self_mem_read"]
            )
        },
    );
    // Another process at level 1 (a child npm started without the script shell) reads npm's
    // environ and memory: allowed at level 1, and nothing real is there.
    let child = &report["child_scan"];
    p.check(
        child["mem"]["read"].as_u64().unwrap_or(0) > 10 << 20
            && child["mem"]["real"] == false
            && child["mem"]["placeholder"] == true
            && child["environ_real"] == false,
        || format!("a level-1 process reading npm's memory and environ: {child}"),
    );
    p.check(report["misuse"]["status"] == 403, || {
        format!(
            "the placeholder sent to another host was not refused: {}",
            report["misuse"]
        )
    });
    let loot = other_seen.lock().map(|s| s.clone()).unwrap_or_default();
    p.check(loot.is_empty(), || {
        format!("the other host received requests: {loot:?}")
    });
    let misuse = r
        .events
        .iter()
        .filter(|e| {
            e["reason"] == "credential-misuse"
                && e["verdict"] == "blocked"
                && e["target"] == allow_other.as_str()
        })
        .count();
    p.check(misuse >= 1, || {
        format!("no blocked credential-misuse event for {allow_other}")
    });
    // The script (level 2) finds nothing either.
    let thief_report = thief_report(&world, &r);
    p.check(!leaks(&thief_report, &token), || {
        format!("the script found the token: {thief_report}")
    });
    // Verdaccio names the user it authenticated with the real token.
    let vlog = server.log();
    p.check(
        vlog.lines()
            .any(|l| l.contains("si-tester") && l.contains("scoped-pkg") && l.contains("200")),
        || format!("Verdaccio logged no authenticated request for the scoped package:\n{vlog}"),
    );
    p.check(!r.shows(&token), || {
        "the token appears in the event log or on stderr".into()
    });
    p.finish(&format!(
        "{}\n--- verdaccio ---\n{}",
        r.context(),
        tail(&vlog, 4000)
    ));
}

/// Issue 13 over HTTPS: the registry serves TLS with a CA of the test's own, which the user
/// configured as npm's `cafile`. The proxy terminates TLS for that host only (a CA made for
/// the run, trusted inside through npm's own `cafile`), puts the real token back, and
/// re-encrypts to the registry verifying it against the user's CA. Code inside npm finds
/// only the placeholder (environment, files, memory) and no private key anywhere in the
/// sandbox's view; the placeholder sent elsewhere is refused; Verdaccio authenticated the
/// real token.
#[test]
fn an_https_registry_gets_the_real_token_only_through_the_proxy() {
    require_npm();
    let world = World::new("trust-https");
    let scope = "@si-private";
    let dir = world.root().join("verdaccio");
    let (token, port) = {
        // Users and packages over plain HTTP first (the harness's own client), then the
        // same storage served over HTTPS.
        let plain = start_verdaccio_private_scope(&dir, scope);
        let token = verdaccio_add_user(&plain, "si-tester", "si-tester-password");
        let scoped = world.root().join("staging/npm-scoped");
        copy_dir(&fixtures().join("egress/npm-scoped"), &scoped);
        publish_npm(&world, &pack_npm_dir(&world, &scoped), &plain, &token);
        (token, plain.port)
    };
    let _ = port;
    let ca = test_ca(&world.root().join("ca"));
    let server = start_verdaccio_full(&dir, Some(scope), Some(&ca));
    let npmrc = format!(
        "registry={url}\n{scope}:registry={url}\n//127.0.0.1:{port}/:_authToken=${{SI_REGISTRY_TOKEN}}\ncafile={ca}\n",
        url = server.url,
        port = server.port,
        ca = ca.ca.display(),
    );
    write_file(&world.project.join(".npmrc"), &npmrc);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-trust-https\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"@si-private/scoped-pkg\": \"1.0.0\" } }\n",
    );
    lock(&world, &[("SI_REGISTRY_TOKEN", token.as_str())]);

    let (other_port, other_seen) = recording_server("127.0.0.1");
    let (require, allow_other) = stage_insider(&world, &token, other_port);
    let env = [
        ("SI_REGISTRY_TOKEN", token.as_str()),
        ("NODE_OPTIONS", require.as_str()),
    ];
    let r = sandboxed(
        &world,
        &[
            "--secret-env",
            "SI_REGISTRY_TOKEN",
            "--allow-host",
            &allow_other,
            "--log-allowed",
        ],
        &env,
    );
    assert!(
        r.out.status.success()
            && world
                .project
                .join("node_modules/@si-private/scoped-pkg/index.js")
                .is_file(),
        "npm ci over HTTPS failed or did not install the token-only package\n{}\n--- verdaccio ---\n{}",
        r.context(),
        server.log()
    );
    let report_path = world.project.join("si-insider/insider-report.json");
    let text = fs::read_to_string(&report_path)
        .unwrap_or_else(|e| panic!("the insider wrote no report ({e})\n{}", r.context()));
    let report: Value = serde_json::from_str(&text).expect("insider report is JSON");
    let mut p = Problems::new();
    let received = other_seen.lock().map(|s| s.clone()).unwrap_or_default();
    check_insider_report(&mut p, &report, &r, &allow_other, &received);
    p.check(report["child_scan"]["mem"]["real"] == false, || {
        format!(
            "a level-1 process read the token from npm's memory: {}",
            report["child_scan"]
        )
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
    p.check(!r.shows(&token), || {
        "the token appears in the event log or on stderr".into()
    });
    p.finish(&format!(
        "{}\n--- verdaccio ---\n{}",
        r.context(),
        tail(&vlog, 4000)
    ));
}
