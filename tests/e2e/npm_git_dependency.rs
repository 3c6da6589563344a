//! Level 1 runs no package code (issue 12, item 3), end to end with real npm and git: a git
//! dependency's own `.npmrc` names programs (`git=./evil.sh`, `node-options=--require
//! ./evil.js`). npm prepares a git dependency that has a `prepare` script by running a nested
//! `npm install` in its clone, and that nested npm reads the clone's `.npmrc` as its project
//! configuration. Unpinned, the dependency's program runs as the package manager: with its
//! registry token, its network and write access to the whole project.
//!
//! The fixture (`fixtures/trust/npm-gitdep`) is first installed bare, to prove the attack
//! works (negative control), then through safe-install: the programs it names never run, and
//! the same attempts from its `prepare` script (trust level 2) fail and are logged with
//! `si-gitdep@1.0.0` and `prepare`. Everything stays on local files and a loopback Verdaccio.

use crate::common::servers::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;

const OUTER: &str = "si-gitdep";
const INNER: &str = "si-gitdep-inner";
const PLANTED: &str = ".github/workflows/si-gitdep.yml";

struct Setup {
    world: World,
    server: Server,
    token: String,
}

/// The secrets the payload looks for: the registry token npm authenticates with, the
/// caller's key, the project's `.env`.
fn secrets(s: &Setup) -> Vec<String> {
    vec![
        s.token.clone(),
        s.world.secret(".ssh/id_rsa"),
        s.world.secret(".env"),
    ]
}

/// The fixture directory `name` as a bare repository `<project>/vendor/<as_name>.git` (inside
/// the project: the sandbox shows nothing else of the test's world), `edit` applied to its
/// package.json; returns its `git+file://` URL.
fn repository(s: &Setup, name: &str, as_name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let world = &s.world;
    let base = fixtures().join("trust/npm-gitdep");
    let config = serde_json::json!({
        "project": world.project,
        "reports": attack_report_dir(world, true),
        "registry": s.server.url,
        "registry_token": s.token,
        "secrets": secrets(s),
    });
    let staging = stage_npm_fixture(
        world,
        &format!("trust/npm-gitdep/{name}"),
        as_name,
        edit,
        "gitdep-target.json",
        &config,
    );
    fs::copy(base.join("evil.js"), staging.join("evil.js")).expect("copy evil.js");
    let bare = world.tarballs.join(format!("{as_name}.git"));
    world.setup_bare_repository(&staging, &bare);
    format!("git+file://{}", bare.display())
}

/// A project that depends on the outer git dependency, whose registry (a local Verdaccio)
/// needs a token: npm has it in the project's `.npmrc`, as many projects do.
fn setup(name: &str) -> Setup {
    require_npm();
    require_program("/usr/bin/git", "apt-get install git");
    let world = World::new(name);
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let s = Setup {
        world,
        server,
        token,
    };
    let inner = repository(&s, "inner", INNER, |_| {});
    let outer = repository(&s, "outer", OUTER, |pkg| {
        pkg["dependencies"][INNER] = Value::String(inner.clone());
    });
    write_file(
        &s.world.project.join(".npmrc"),
        &format!(
            "registry={}\n//127.0.0.1:{}/:_authToken={}\n",
            s.server.url, s.server.port, s.token
        ),
    );
    let manifest = serde_json::json!({
        "name": "si-gitdep-consumer",
        "version": "1.0.0",
        "private": true,
        "dependencies": { OUTER: outer },
    });
    write_file(
        &s.world.project.join("package.json"),
        &serde_json::to_string_pretty(&manifest).expect("serialise package.json"),
    );
    s
}

const INSTALL: &[&str] = &["install", "--no-audit", "--no-fund"];

/// One line of the payload's report per run.
fn report(world: &World) -> Vec<Value> {
    let path = attack_report_dir(world, true).join("si-gitdep-report.jsonl");
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a report line is JSON"))
        .collect()
}

fn runs_via<'a>(lines: &'a [Value], via: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["via"] == via).collect()
}

fn got(line: &Value, secret: &str) -> bool {
    line["loot"]
        .as_array()
        .is_some_and(|l| l.iter().any(|s| s == secret))
}

fn planted(world: &World) -> PathBuf {
    world.project.join(PLANTED)
}

#[test]
fn a_git_dependencys_npmrc_runs_its_programs_as_the_package_manager_bare() {
    let s = setup("gitdep-bare");
    let world = &s.world;
    // The caller's own proxy variables point nowhere (the harness plants them to prove they
    // never pass into the sandbox); bare, the payload talks to the registry directly.
    let mut cmd = world.command("npm");
    for (name, _) in PROXY_ENV {
        cmd.env_remove(name);
    }
    let out = run(cmd.args(INSTALL), RUN_TIMEOUT);
    out.assert_success();
    let lines = report(world);
    let ctx = || format!("report: {lines:#?}\n{}", out.describe());
    let mut p = Problems::new();
    let as_git = runs_via(&lines, "git");
    p.check(!as_git.is_empty(), || {
        format!(
            "negative control: npm never ran the dependency's `git=./evil.sh`\n{}",
            ctx()
        )
    });
    for line in &as_git {
        p.check(got(line, &s.token), || {
            format!("negative control: `git=` did not get the registry token: {line}")
        });
        p.check(got(line, &world.secret(".ssh/id_rsa")), || {
            format!("negative control: `git=` did not read ~/.ssh/id_rsa: {line}")
        });
        p.check(line["registry"] == "200", || {
            format!("negative control: `git=` did not use the token at the registry: {line}")
        });
    }
    let required = runs_via(&lines, "node-options");
    p.check(
        required.iter().any(|l| got(l, &s.token)),
        || {
            format!(
                "negative control: `node-options=--require ./evil.js` did not run in the next nested npm with the token\n{}",
                ctx()
            )
        },
    );
    p.check(planted(world).is_file(), || {
        format!("negative control: {PLANTED} was not planted\n{}", ctx())
    });
    p.finish("bare npm install of the git dependency");
}

/// `safe-install npm install` of the fixture: its output, events and the payload's report.
struct Sandboxed {
    out: Output,
    events: Vec<Value>,
    lines: Vec<Value>,
    log: PathBuf,
}

impl Sandboxed {
    fn run(s: &Setup) -> Sandboxed {
        let world = &s.world;
        let log = world.log_path("gitdep");
        let out = {
            let _g = shared_run_guard();
            let mut cmd = world.safe_install();
            cmd.arg("--log")
                .arg(&log)
                .args(attack_report_flags(world))
                .arg("npm")
                .args(INSTALL);
            run(&mut cmd, RUN_TIMEOUT)
        };
        Sandboxed {
            events: read_log(&log),
            lines: report(world),
            out,
            log,
        }
    }

    fn context(&self) -> String {
        format!(
            "report: {:#?}\nevents: {}\n{}",
            self.lines,
            serde_json::to_string_pretty(&self.events).unwrap_or_default(),
            self.out.describe()
        )
    }

    /// A blocked event of `action` (with `reason`, when given) on `target`, attributed to the
    /// outer dependency's prepare script.
    fn blocked_by_prepare(&self, action: &str, reason: Option<&str>, target: &str) -> bool {
        self.events.iter().any(|e| {
            e["verdict"] == "blocked"
                && e["action"] == action
                && match reason {
                    Some(r) => e["reason"] == r,
                    None => true,
                }
                && e["target"].as_str().unwrap_or("").contains(target)
                && e["package"] == format!("{OUTER}@1.0.0")
                && e["script"] == "prepare"
        })
    }
}

#[test]
fn a_git_dependencys_npmrc_names_no_program_under_safe_install() {
    let s = setup("gitdep-sandboxed");
    let world = &s.world;
    let r = Sandboxed::run(&s);
    let lines = &r.lines;
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "the install failed".into());
    for name in [OUTER, INNER] {
        p.check(
            world
                .project
                .join(format!("node_modules/{name}/package.json"))
                .is_file(),
            || format!("{name} was not installed"),
        );
    }
    // The programs the dependency's .npmrc names never run: every npm process runs the ones
    // safe-install pinned.
    for via in ["git", "node-options"] {
        p.check(runs_via(lines, via).is_empty(), || {
            format!("the dependency's `{via}` program ran inside the install")
        });
    }
    // What runs of the dependency's code runs at level 2: no credential, whoever ran it.
    for line in lines {
        for secret in secrets(&s) {
            p.check(!got(line, &secret), || {
                format!("the payload got a secret ({secret}): {line}")
            });
        }
    }
    let prepare = runs_via(lines, "prepare");
    p.check(!prepare.is_empty(), || {
        "si-gitdep's prepare did not run".into()
    });
    for line in &prepare {
        p.check(line["reads"]["private_npmrc"] == "EACCES", || {
            format!("the prepare script could open npm's private configuration: {line}")
        });
    }
    p.check(
        r.blocked_by_prepare("read", Some("credential-path"), "/.safe-install/private/npmrc"),
        || format!("no blocked read of npm's private configuration attributed to {OUTER}@1.0.0 prepare"),
    );
    p.check(check_event_schema(&r.events).is_empty(), || {
        format!("event schema: {:?}", check_event_schema(&r.events))
    });
    let log_text = fs::read_to_string(&r.log).unwrap_or_default();
    p.check(!log_text.contains(&s.token), || {
        "the registry token appears in the event log".into()
    });
    p.finish(&r.context());
}

/// The rest of the worm, from where the dependency's code does run (its prepare script, trust
/// level 2): no workflow planted in the project, no request to the registry, each attempt
/// logged with the package and script. (Depends on level 2's write rules for a project under
/// /tmp, where the test worlds live, and on its network being refused by more than process-tree
/// attribution through the nested npm: issue 12, items 7 and 2.)
#[test]
fn a_git_dependencys_prepare_script_plants_nothing_and_reaches_no_registry() {
    let s = setup("gitdep-prepare");
    let world = &s.world;
    let r = Sandboxed::run(&s);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "the install failed".into());
    for line in &r.lines {
        p.check(line["plant"] != "written", || {
            format!("the payload planted {PLANTED}: {line}")
        });
        p.check(line["registry"] != "200", || {
            format!("the payload reached the registry: {line}")
        });
    }
    p.check(!planted(world).exists(), || format!("{PLANTED} exists"));
    let registry = format!("127.0.0.1:{}", s.server.port);
    for (action, reason, target) in [
        ("write", None, ".github"),
        ("proxy", Some("script-offline"), registry.as_str()),
    ] {
        p.check(r.blocked_by_prepare(action, reason, target), || {
            format!("no blocked {action} event ({reason:?}) on {target} attributed to {OUTER}@1.0.0 prepare")
        });
    }
    p.finish(&r.context());
}
