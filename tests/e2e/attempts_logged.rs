//! Attempts the kernel contains on its own, which must still leave an event (issue 14,
//! "Every attempt logged" and "Correctness of what is shown"): a daemon left running and
//! killed at the end, connects to unix sockets by path and by abstract name, `TIOCSTI`,
//! opening `/dev/tty`. Each is made by a real npm postinstall (tests/fixtures/npm/noisy),
//! must fail, and must be logged attributed to `si-noisy@1.0.0` (`postinstall`), with its
//! line in the human summary, a GitHub annotation, a step-summary row and a SARIF result.
//!
//! The same run names paths and command lines full of terminal escapes: the JSON log keeps
//! them exactly, every human-facing report shows them escaped. It also reads a second hard
//! link to a hidden file (made before the run) and links `.env` to a new name during it.
//! A write a `[[package]] allow-write` grant permits is not logged as blocked.

use std::fs;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::reports::*;
use crate::common::*;

const PACKAGE: &str = "si-noisy@1.0.0";

/// A unix socket listener at a path outside the sandbox's view (where the host's ssh-agent,
/// docker or dbus sockets live), recording whatever connects.
struct PathListener {
    path: PathBuf,
    received: Arc<Mutex<Vec<String>>>,
}

impl PathListener {
    fn start(path: PathBuf) -> PathListener {
        let listener = UnixListener::bind(&path).expect("bind the host's unix socket");
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&received);
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = Vec::new();
                let _ = conn.read_to_end(&mut buf);
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(String::from_utf8_lossy(&buf).into_owned());
            }
        });
        PathListener { path, received }
    }

    fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A finished run of the noisy fixture under a simulated GitHub Actions runner.
struct NoisyRun {
    world: World,
    out: Output,
    events: Vec<Value>,
    step_summary: String,
    sarif: Value,
    sarif_path: PathBuf,
    report: Value,
}

impl NoisyRun {
    fn context(&self) -> String {
        format!(
            "{}\n--- attempt report ---\n{:#}\n--- event log ---\n{}\n--- step summary ---\n{}",
            self.out.describe(),
            self.report,
            self.events
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            self.step_summary
        )
    }

    fn attempt(&self, name: &str) -> (bool, String) {
        let a = &self.report[name];
        (
            a["ok"].as_bool().unwrap_or(true),
            a["detail"].as_str().unwrap_or("(missing)").to_string(),
        )
    }

    /// The blocked events with this reason, attributed to the fixture's postinstall.
    fn blocked(&self, reason: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| {
                e["verdict"] == "blocked"
                    && e["reason"] == reason
                    && e["package"] == PACKAGE
                    && e["script"] == "postinstall"
            })
            .collect()
    }

    /// The workflow commands (annotations) on stderr.
    fn annotations(&self) -> Vec<&str> {
        self.out
            .stderr
            .lines()
            .filter(|l| l.starts_with("::"))
            .collect()
    }

    /// The human summary: stderr from safe-install's "blocked" header on.
    fn summary(&self) -> &str {
        let at = self
            .out
            .stderr
            .find("safe-install: blocked")
            .unwrap_or(self.out.stderr.len());
        &self.out.stderr[at..]
    }

    /// Checks that a blocked group (package, action, target) shows in every report.
    fn check_reported(&self, p: &mut Problems, action: &str, target: &str, reason: &str) {
        let shown = escaped(target);
        p.check(
            self.summary().lines().any(|l| {
                l.contains(&format!("{PACKAGE} (postinstall): {action} "))
                    && l.contains(&shown)
                    && l.contains(&format!("[{reason}]"))
            }),
            || format!("no summary line for {action} {shown} [{reason}]"),
        );
        p.check(
            self.annotations()
                .iter()
                .any(|l| l.contains(PACKAGE) && l.contains(reason)),
            || format!("no annotation for {action} {shown} [{reason}]"),
        );
        p.check(
            self.step_summary
                .lines()
                .any(|l| l.contains(reason) && l.contains(action)),
            || format!("no step-summary row for {action} {shown} [{reason}]"),
        );
        let results = self.sarif["runs"][0]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        p.check(
            results.iter().any(|r| {
                r["ruleId"] == reason
                    && r["properties"]["action"] == action
                    && r["properties"]["target"] == target
                    && r["properties"]["package"] == PACKAGE
            }),
            || format!("no SARIF result for {action} {target:?} [{reason}]"),
        );
        let rules = self.sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        p.check(rules.iter().any(|r| r["id"] == reason), || {
            format!("no SARIF rule {reason}")
        });
    }
}

/// Runs `npm ci` of a project depending on the noisy fixture, as a GitHub Actions step
/// with `--report sarif`, the attempt configuration `config` (plus the world's paths) in
/// the project, and `flags` before the command.
fn noisy_run(world: World, mode: &str, flags: &[&str], extra: Value) -> NoisyRun {
    let tarball = pack_npm_fixture(&world, "noisy");
    write_npm_project(&world, &[&tarball]);
    let mut config = serde_json::json!({
        "mode": mode,
        "home": world.home,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    write_file(
        &world.project.join(".attempt-config.json"),
        &serde_json::to_string_pretty(&config).expect("serialise"),
    );
    let summary_path = world.root().join("step-summary.md");
    let sarif_path = world.root().join("noisy.sarif");
    let log = world.log_path("noisy");
    let mut cmd = world.safe_install();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary_path)
        .env("GITHUB_WORKSPACE", world.root())
        .arg("--project")
        .arg(&world.project)
        .arg("--log")
        .arg(&log)
        .args(["--report", "sarif"])
        .arg(&sarif_path)
        .args(flags)
        .args(NPM_CI);
    let out = {
        let _g = shared_run_guard();
        run(&mut cmd, RUN_TIMEOUT)
    };
    let events = read_log(&log);
    let step_summary = fs::read_to_string(&summary_path).unwrap_or_default();
    let sarif = fs::read_to_string(&sarif_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let report = fs::read_to_string(
        world
            .project
            .join("node_modules/si-noisy/attempt-report.json"),
    )
    .ok()
    .and_then(|t| serde_json::from_str(&t).ok())
    .unwrap_or(Value::Null);
    NoisyRun {
        world,
        out,
        events,
        step_summary,
        sarif,
        sarif_path,
        report,
    }
}

#[test]
fn contained_attempts_fail_and_are_logged_with_attribution_in_every_report() {
    let world = World::new("noisy");
    let listeners = Listeners::start(&world);
    let agent = PathListener::start(world.outside.join("agent.sock"));
    // A second name of the hidden .env, made before the run (same inode, st_nlink 2).
    fs::hard_link(world.project.join(".env"), world.project.join("notes.txt"))
        .expect("hard link .env");
    let secret = world.secret(".env");
    let extra = serde_json::json!({
        "unix_path": agent.path,
        "abstract_name": listeners.abstract_name,
        "old_link": "notes.txt",
    });
    let r = noisy_run(world, "attempts", &[], extra);
    // The daemon touches its marker every second for 8 s: it must not after the run.
    let marker = r.world.project.join("node_modules/si-noisy/daemon-marker");
    let mtime = || fs::metadata(&marker).and_then(|m| m.modified()).ok();
    let at_exit = mtime();
    std::thread::sleep(Duration::from_millis(2500));
    let daemon_survived = mtime() != at_exit;
    kill_processes_with_cmdline(&r.world.project.display().to_string());

    let ctx = r.context();
    assert_eq!(r.out.code(), 0, "the install itself must succeed\n{ctx}");
    let mut p = Problems::new();
    // Each attempt failed.
    for name in ["unix_path", "unix_abstract", "tiocsti", "dev_tty"] {
        let (ok, detail) = r.attempt(name);
        p.check(!ok, || format!("{name} succeeded: {detail}"));
    }
    let (started, detail) = r.attempt("daemon_started");
    p.check(started, || {
        format!("the daemon did not even start: {detail}")
    });
    p.check(!daemon_survived, || {
        "the daemon outlived the install".into()
    });
    p.check(agent.received().is_empty(), || {
        format!("the host's unix socket received {:?}", agent.received())
    });
    p.check(listeners.received().is_empty(), || {
        format!(
            "the host's abstract socket received {:?}",
            listeners.received()
        )
    });
    for name in ["old_link", "new_link"] {
        let (_, detail) = r.attempt(name);
        p.check(!detail.contains(&secret), || {
            format!("{name}: a second name of the hidden .env read the secret: {detail}")
        });
    }
    // Each attempt was logged, attributed, and shows in every report.
    let agent_path = r.world.outside.join("agent.sock").display().to_string();
    let abstract_target = format!("@{}", listeners.abstract_name);
    for (action, target, reason) in [
        ("connect", agent_path.as_str(), "unix-socket"),
        ("connect", abstract_target.as_str(), "unix-socket"),
        ("write", "TIOCSTI", "terminal-injection"),
        ("write", "/dev/tty", "controlling-terminal"),
    ] {
        let found = r
            .blocked(reason)
            .into_iter()
            .any(|e| e["action"] == action && e["target"] == target);
        p.check(found, || {
            format!("no blocked {action} {target} [{reason}] event of {PACKAGE} (postinstall)")
        });
        r.check_reported(&mut p, action, target, reason);
    }
    let daemons: Vec<&Value> = r
        .blocked("daemon-killed")
        .into_iter()
        .filter(|e| e["action"] == "exec")
        .collect();
    p.check(
        daemons.iter().any(|e| {
            e["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "si-noisy-daemon"))
        }),
        || format!("no exec [daemon-killed] event of {PACKAGE} for the daemon"),
    );
    if let Some(d) = daemons.first() {
        let target = d["target"].as_str().unwrap_or_default().to_string();
        r.check_reported(&mut p, "exec", &target, "daemon-killed");
    }
    if let Err(errors) = validate_sarif(&r.sarif_path) {
        p.push(format!(
            "the SARIF report is not valid SARIF 2.1.0: {errors}"
        ));
    }
    p.finish(&ctx);
}

/// bash opens `/dev/tty` at every start (`O_RDWR | O_NONBLOCK`) to learn whether it has a
/// controlling terminal: no attempt on anyone's terminal, and no event, so `--strict` passes
/// an install whose scripts start bash (found through node-gyp, which starts python through
/// pyenv's bash shim). Opening it on purpose from bash (`exec 3<>/dev/tty`) is still logged.
#[test]
fn a_shell_starting_is_no_attempt_on_the_terminal() {
    let quiet = noisy_run(
        World::new("noisy-bash"),
        "shells",
        &["--strict"],
        serde_json::json!({ "only_start": true }),
    );
    let mut p = Problems::new();
    let (ok, detail) = quiet.attempt("bash_started");
    p.check(ok, || format!("bash did not start: {detail}"));
    p.check(quiet.blocked("controlling-terminal").is_empty(), || {
        format!(
            "bash's start-up probe of /dev/tty was logged: {:?}",
            quiet.blocked("controlling-terminal")
        )
    });
    p.check(quiet.out.code() == 0, || {
        format!(
            "--strict failed an install whose script only started bash (exit {})",
            quiet.out.code()
        )
    });
    p.finish(&quiet.context());

    let on_purpose = noisy_run(
        World::new("noisy-bash-tty"),
        "shells",
        &[],
        serde_json::json!({}),
    );
    let mut p = Problems::new();
    let (ok, detail) = on_purpose.attempt("bash_tty");
    p.check(!ok, || format!("bash opened /dev/tty: {detail}"));
    p.check(
        on_purpose
            .blocked("controlling-terminal")
            .iter()
            .any(|e| e["target"] == "/dev/tty" && e["package"] == PACKAGE),
        || "bash's `exec 3<>/dev/tty` is not logged as si-noisy's".into(),
    );
    p.finish(&on_purpose.context());
}

#[test]
fn hostile_names_are_escaped_for_people_and_exact_in_the_log() {
    let world = World::new("noisy-esc");
    let listeners = Listeners::start(&world);
    let extra = serde_json::json!({
        "unix_path": world.outside.join("none.sock"),
        "abstract_name": listeners.abstract_name,
        "old_link": "package.json",
    });
    let r = noisy_run(world, "attempts", &[], extra);
    kill_processes_with_cmdline(&r.world.project.display().to_string());
    let ctx = r.context();
    let mut p = Problems::new();
    let target = r
        .world
        .home
        .join(".ssh")
        .join(HOSTILE)
        .display()
        .to_string();
    // The JSON log is exact: the target and the argv hold the very bytes the script used.
    p.check(
        r.events
            .iter()
            .any(|e| e["target"] == target.as_str() && e["package"] == PACKAGE),
        || "no event with the hostile target, exactly".into(),
    );
    p.check(
        r.events.iter().any(|e| {
            e["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == HOSTILE))
        }),
        || "no event with the hostile argv, exactly".into(),
    );
    // Everything for people shows it escaped, visibly.
    let forbidden = RAW_CONTROLS;
    let summary = r.summary();
    p.check(summary.contains(&escaped(&target)), || {
        format!(
            "the summary does not show the target escaped as {}",
            escaped(&target)
        )
    });
    for (what, text) in [
        ("summary", summary),
        ("annotations", &r.annotations().join("\n")),
        ("step summary", r.step_summary.as_str()),
    ] {
        if let Some(c) = text.chars().find(|c| forbidden.contains(c)) {
            p.push(format!(
                "the {what} contains the raw control character {c:?}"
            ));
        }
    }
    p.check(!summary.contains("all clear\x1b"), || {
        "the forged all-clear reaches the terminal".into()
    });
    p.finish(&ctx);
}

/// Set up by scripts/setup.sh: outside every directory the sandbox shows by default.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A directory outside /tmp for this world (not created) and the guard that removes it.
fn outside_tmp(world: &World) -> (PathBuf, RemoveOnDrop) {
    let base = Path::new(OUTSIDE_TMP).join(format!("i14log-{}", world.token));
    fs::create_dir_all(&base).unwrap_or_else(|e| {
        panic!(
            "create {} ({e}). Fix: scripts/setup.sh as root",
            base.display()
        )
    });
    (base.join("cache"), RemoveOnDrop(base))
}

#[test]
fn a_granted_write_is_logged_as_what_happened() {
    let world = World::new("noisy-grant");
    // Outside /tmp, where the test worlds live: level 2 may write its private /tmp and
    // whatever is mounted beneath it (issue 12 item 7), so only a place outside shows it.
    let (granted, _guard) = outside_tmp(&world);
    write_file(
        &world.project.join(".safe-install.toml"),
        &format!(
            "[[package]]\nname = \"si-noisy\"\nallow-write = [\"{}\"]\nreason = \"its download cache\"\n",
            granted.display()
        ),
    );
    let extra = serde_json::json!({ "granted_dir": granted });
    let r = noisy_run(world, "grant", &["--strict"], extra);
    let ctx = r.context();
    let mut p = Problems::new();
    p.check(r.attempt("granted_write").0, || {
        format!("the granted write failed: {}", r.attempt("granted_write").1)
    });
    p.check(granted.join("downloaded.bin").is_file(), || {
        "the granted write did not land in the granted directory".into()
    });
    let wrong: Vec<&Value> = r
        .events
        .iter()
        .filter(|e| e["verdict"] == "blocked")
        .collect();
    p.check(wrong.is_empty(), || {
        format!("a granted write was logged as blocked: {wrong:?}")
    });
    p.check(r.out.code() == 0, || {
        format!("--strict exited {} for a granted write", r.out.code())
    });
    p.finish(&ctx);
}

#[test]
fn an_ungranted_write_is_still_blocked() {
    // The negative control of the test above: without the grant, the same write fails, is
    // logged and fails --strict.
    let world = World::new("noisy-nogrant");
    let (target, _guard) = outside_tmp(&world);
    fs::create_dir_all(&target).expect("mkdir");
    let extra = serde_json::json!({ "granted_dir": target });
    let r = noisy_run(world, "grant", &["--strict"], extra);
    let ctx = r.context();
    assert!(!r.attempt("granted_write").0, "{ctx}");
    assert_eq!(r.out.code(), 120, "{ctx}");
    assert!(
        r.events
            .iter()
            .any(|e| e["verdict"] == "blocked" && e["package"] == PACKAGE),
        "{ctx}"
    );
    assert!(!target.join("downloaded.bin").exists(), "{ctx}");
}

#[test]
fn a_hard_link_to_a_hidden_file_where_it_cannot_be_covered_is_refused() {
    // A second name of .env inside node_modules (which npm ci removes, so no cover can sit
    // there): safe-install refuses before anything runs, naming the link.
    let world = World::new("hidden-link-nm");
    let link = world.project.join("node_modules/x/copy.txt");
    fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    fs::hard_link(world.project.join(".env"), &link).expect("hard link");
    let out = run(
        &mut world.sandboxed_sh("cat node_modules/x/copy.txt; echo ran > ran"),
        RUN_TIMEOUT,
    );
    let ctx = out.describe();
    assert!(
        !out.stdout.contains(&world.secret(".env")),
        "the link read the secret\n{ctx}"
    );
    assert_eq!(out.code(), 123, "{ctx}");
    assert!(
        out.stderr.contains("node_modules/x/copy.txt") && out.stderr.contains(".env"),
        "the refusal does not name the link and the hidden file\n{ctx}"
    );
    assert!(
        !world.project.join("ran").exists(),
        "the command ran\n{ctx}"
    );
}

#[test]
fn every_name_of_a_hidden_file_reads_empty() {
    // Links made before the run, anywhere else in the project, and one made during it.
    let world = World::new("hidden-link");
    let secret = world.secret(".env");
    fs::create_dir_all(world.project.join("docs")).expect("mkdir");
    fs::hard_link(
        world.project.join(".env"),
        world.project.join("docs/notes.txt"),
    )
    .expect("hard link");
    let out = run(
        &mut world.sandboxed_sh(
            "cat docs/notes.txt; ln .env new.txt 2>/dev/null; cat new.txt 2>/dev/null; ln docs/notes.txt new2.txt 2>/dev/null; cat new2.txt 2>/dev/null; echo done",
        ),
        RUN_TIMEOUT,
    );
    let ctx = out.describe();
    assert_eq!(out.code(), 0, "{ctx}");
    assert!(out.stdout.contains("done"), "{ctx}");
    assert!(
        !out.stdout.contains(&secret),
        "a second name read the secret\n{ctx}"
    );
    // The real file and its other name are untouched.
    assert_eq!(
        fs::read_to_string(world.project.join("docs/notes.txt")).expect("read"),
        format!("{secret}\n")
    );
}
