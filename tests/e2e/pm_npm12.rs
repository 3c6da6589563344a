//! npm 12 on Node 24 (issue 16), end to end against a local Verdaccio, with the toolchain
//! `scripts/toolchains.sh` installs. npm 12 runs a dependency's install scripts only when the
//! project's `allowScripts` approves it; safe-install reads that list as data:
//!
//! - the approved package's `postinstall` (pnpm's writer fixture: the same attempts) runs at
//!   trust level 2: its attempts on the network, the home's `.npmrc` token, a `--secret-env`
//!   token, the project root, another package and `node_modules/.bin` each fail and are
//!   logged as `si-pnpm-writer@1.0.0` (`postinstall`); the install succeeds and its tree
//!   equals a bare install's but for what the bare script's attacks did (bare npm is the
//!   negative control: there they succeed);
//! - an unapproved package's `postinstall` does not run, bare or sandboxed (npm 12 skips it
//!   and says so), no `not-approved` report is made for it, and `explain` says which package
//!   runs and what it may do, and which does not run;
//! - `--learn` proposes a grant for the approved package only.
//!
//! The worlds live in /srv/safe-install-test, not in /tmp: level 2 may write its private
//! /tmp, and a project mounted beneath /tmp would be covered by that rule.

use crate::common::netns::*;
use crate::common::servers::{start_verdaccio, verdaccio_add_user, Server};
use crate::common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Created by scripts/setup.sh: outside /tmp, writable by every test user.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

const TOOLCHAIN: &str = "npm12";

/// The variable the sandboxed run hands npm as a `--secret-env` token.
const TOKEN_VAR: &str = "SI_NPM12_TOKEN";

const WRITER: &str = "si-pnpm-writer";
const VICTIM: &str = "si-pnpm-victim";
const UNAPPROVED: &str = "si-npm12-unapproved";

fn world(name: &str) -> World {
    World::new_in(name, Path::new(OUTSIDE_TMP))
}

/// The fixture `tests/fixtures/<dir>` packed (by the harness's npm, scripts ignored) with
/// `target.json` beside its files, and published to `server`.
fn publish(world: &World, server: &Server, token: &str, dir: &str, target: &Value) {
    let staging = world.root().join("staging").join(dir.replace('/', "-"));
    copy_dir(&fixtures().join(dir), &staging);
    write_file(
        &staging.join("target.json"),
        &serde_json::to_string_pretty(target).expect("json"),
    );
    let tarball = pack_npm_dir(world, &staging);
    publish_npm(world, &tarball, server, token);
}

/// A project depending on the three fixtures (all `1.0.0`) from `server`, approving the
/// writer's scripts only, as `npm approve-scripts` writes it.
fn write_project(world: &World, server: &Server) {
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "name": "si-npm12-project",
            "version": "1.0.0",
            "private": true,
            "dependencies": { VICTIM: "1.0.0", WRITER: "1.0.0", UNAPPROVED: "1.0.0" },
            "allowScripts": { format!("{WRITER}@1.0.0"): true },
        }))
        .expect("json"),
    );
    write_file(
        &world.project.join(".npmrc"),
        &format!("registry={}\n", server.url),
    );
}

/// npm 12 first on PATH, the world's home, nothing planted.
fn bare_env(world: &World) -> Vec<(String, String)> {
    vec![
        (
            "PATH".into(),
            crate::common::toolchains::path_with(TOOLCHAIN, "npm"),
        ),
        ("HOME".into(), world.home.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("npm_config_update_notifier".into(), "false".into()),
        ("npm_config_audit".into(), "false".into()),
        ("npm_config_fund".into(), "false".into()),
    ]
}

fn bare_npm(world: &World, args: &[&str]) -> Output {
    let mut cmd = Command::new("npm");
    cmd.env_clear()
        .envs(bare_env(world))
        .env(TOKEN_VAR, world.env_secret(TOKEN_VAR))
        .args(args)
        .current_dir(&world.project);
    run(&mut cmd, RUN_TIMEOUT)
}

/// `safe-install FLAGS npm ARGS` with the world's (planted) environment and npm 12 first on
/// PATH.
fn safe_install_npm(world: &World, flags: &[&str], args: &[&str]) -> Output {
    let mut cmd = world.safe_install();
    cmd.env(
        "PATH",
        crate::common::toolchains::path_with(TOOLCHAIN, "npm"),
    )
    .env(TOKEN_VAR, world.env_secret(TOKEN_VAR))
    .args(flags)
    .arg("npm")
    .args(args);
    run(&mut cmd, RUN_TIMEOUT)
}

/// The report the writer's postinstall left in its own folder.
fn writer_report(world: &World) -> Option<Value> {
    let path = world
        .project
        .join(format!("node_modules/{WRITER}/si-report.json"));
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// The marker the unapproved package's postinstall would leave.
fn unapproved_ran(world: &World) -> bool {
    world
        .project
        .join(format!("node_modules/{UNAPPROVED}/ran.txt"))
        .exists()
}

fn victim_index() -> String {
    format!("node_modules/{VICTIM}/index.js")
}

/// The installed tree (`node_modules`) without the writer's report and what a bare
/// script's attacks write there.
fn installed_tree(world: &World) -> Tree {
    let skip: HashSet<PathBuf> = [
        ".bin/si-pnpm-evil".to_string(),
        format!("{WRITER}/si-report.json"),
        format!("{VICTIM}/index.js"),
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    snapshot_tree(
        &world.project.join("node_modules"),
        &world.project,
        &|rel: &Path| skip.contains(rel),
    )
}

#[test]
fn npm12_approved_script_runs_at_level_2_and_the_unapproved_one_not_at_all() {
    let world = world("npm12-scripts");
    let bare = World::new_in("npm12-bare", Path::new(OUTSIDE_TMP));
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let target = serde_json::json!({
        "registry": server.url,
        "secrets": [
            world.secret(".npmrc"),
            world.env_secret(TOKEN_VAR),
            bare.secret(".npmrc"),
            bare.env_secret(TOKEN_VAR),
        ],
    });
    publish(&world, &server, &token, "pnpm/victim", &target);
    publish(&world, &server, &token, "pnpm/writer", &target);
    publish(&world, &server, &token, "npm12/unapproved", &target);
    for w in [&world, &bare] {
        write_project(w, &server);
        // The lockfile, as the project would have committed it (no script runs).
        bare_npm(w, &["install", "--package-lock-only", "--ignore-scripts"]).assert_success();
    }

    // Negative control: bare npm 12 runs the approved script, whose attacks succeed, and
    // skips the unapproved one, saying so.
    let out = bare_npm(&bare, &["ci"]);
    out.assert_success();
    let report = writer_report(&bare).unwrap_or_else(|| {
        panic!(
            "bare: the writer's script left no report\n{}",
            out.describe()
        )
    });
    let mut p = Problems::new();
    for what in ["write_root", "write_other", "write_bin", "read_npmrc"] {
        p.check(report[what]["ok"] == true, || {
            format!(
                "bare: {what} failed, the fixture proves nothing: {}",
                report[what]
            )
        });
    }
    p.check(report["network"]["status"] == 200, || {
        format!("bare: the network attempt failed: {}", report["network"])
    });
    p.check(
        report["env_leaks"] == serde_json::json!([TOKEN_VAR]),
        || {
            format!(
                "bare: the token did not reach the script: {}",
                report["env_leaks"]
            )
        },
    );
    p.check(!unapproved_ran(&bare), || {
        "bare: npm 12 ran the unapproved package's script (is this npm 12?)".into()
    });
    p.check(out.stderr.contains(UNAPPROVED), || {
        "bare: npm 12 did not name the package whose scripts it skipped".into()
    });
    p.finish(&out.describe());

    // explain: who runs scripts (npm's list), and what each may do (our policy).
    let explained = safe_install_npm(&world, &["explain"], &["ci"]);
    explained.assert_success();
    let text = &explained.stdout;
    let mut p = Problems::new();
    for needle in [
        "decided by: npm 12.".to_string(),
        format!(
            "approval list: allowScripts in {}",
            world.project.join("package.json").display()
        ),
        "packages the list does not name: skipped".to_string(),
        format!("{WRITER}@1.0.0: runs (approved by allowScripts in"),
        "may: no network, no credentials, writes only its own folder".to_string(),
        format!("{UNAPPROVED}@1.0.0: does not run (not approved by allowScripts in"),
    ] {
        p.check(text.contains(&needle), || {
            format!("explain lacks `{needle}`")
        });
    }
    p.check(!text.contains(&format!("{VICTIM}@1.0.0:")), || {
        "explain lists the package without scripts as one with scripts".into()
    });
    p.finish(&explained.describe());

    // Sandboxed: the install succeeds, every attempt fails and is logged; the unapproved
    // script does not run and nothing is reported for it.
    let _g = shared_run_guard();
    let log = world.log_path("ci");
    let learned = world.root().join("learned.toml");
    let r = LoggedRun::read(
        safe_install_npm(
            &world,
            &[
                "--log",
                &log.display().to_string(),
                "--secret-env",
                TOKEN_VAR,
                &format!("--learn={}", learned.display()),
            ],
            &["ci"],
        ),
        log,
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    let Some(report) = writer_report(&world) else {
        panic!(
            "sandboxed: the writer's script left no report\n{}",
            r.context()
        );
    };
    p.check(
        report["package"] == format!("{WRITER}@1.0.0") && report["event"] == "postinstall",
        || format!("npm gave the script no npm_package_* variables: {report}"),
    );
    for what in ["write_root", "write_other", "write_bin", "read_npmrc"] {
        p.check(report[what]["ok"] == false, || {
            format!("the script's {what} succeeded: {}", report[what])
        });
    }
    p.check(report["network"]["status"] != 200, || {
        format!("the script reached the registry: {}", report["network"])
    });
    p.check(report["env_leaks"] == serde_json::json!([]), || {
        format!(
            "secrets in the script's environment: {}",
            report["env_leaks"]
        )
    });
    p.check(!world.project.join("si-pwned.txt").exists(), || {
        "si-pwned.txt was written to the project root".into()
    });
    p.check(
        !exists_nofollow(&world.project.join("node_modules/.bin/si-pnpm-evil")),
        || "node_modules/.bin/si-pnpm-evil was written".into(),
    );
    p.check(
        fs::read_to_string(world.project.join(victim_index())).ok()
            == fs::read_to_string(fixtures().join("pnpm/victim/index.js")).ok(),
        || format!("{VICTIM}'s index.js was changed"),
    );
    let writer = format!("{WRITER}@1.0.0");
    let project = world.project.display().to_string();
    for (action, reason, target) in [
        ("write", "read-only-path", format!("{project}/si-pwned.txt")),
        (
            "write",
            "read-only-path",
            format!("{project}/{}", victim_index()),
        ),
        (
            "write",
            "read-only-path",
            format!("{project}/node_modules/.bin"),
        ),
        // The home's .npmrc (its token): a credential path, out of the view.
        (
            "read",
            "credential-path",
            format!("{}/.npmrc", world.home.display()),
        ),
        // Its plain http.get goes straight to the registry's port (Node honours the proxy
        // variables only in scripts that may reach a host): refused and logged as a direct
        // connection.
        (
            "connect",
            "direct-connect",
            format!("127.0.0.1:{}", server.port),
        ),
    ] {
        p.check(
            r.blocked_by(&writer, Some("postinstall"), action, reason, &target) >= 1,
            || format!("no blocked {action} event [{reason}] on {target} attributed to {writer} (postinstall)"),
        );
    }
    p.check(!unapproved_ran(&world), || {
        "the unapproved package's script ran inside the sandbox".into()
    });
    p.check(
        !r.events.iter().any(|e| e["reason"] == "not-approved"),
        || "a not-approved report, though npm ran no unapproved script".into(),
    );
    p.check(
        !r.events.iter().any(|e| {
            e["package"]
                .as_str()
                .is_some_and(|p| p.starts_with(UNAPPROVED))
        }),
        || "an event attributed to the unapproved package, whose script must not run".into(),
    );
    // --learn: a grant for the approved package, none for anything else.
    let learned = fs::read_to_string(&learned).unwrap_or_default();
    p.check(learned.contains(&format!("name = \"{WRITER}\"")), || {
        format!("no learned grant for the approved package:\n{learned}")
    });
    p.check(!learned.contains(UNAPPROVED), || {
        format!("a learned entry for the unapproved package:\n{learned}")
    });
    // The tree equals the bare one, but for the bare attacks' own writes (skipped).
    let diffs = diff_trees(&installed_tree(&bare), &installed_tree(&world));
    p.check(diffs.is_empty(), || {
        format!("the installed tree differs from the bare one: {diffs:#?}")
    });
    p.finish(&r.context());
}
