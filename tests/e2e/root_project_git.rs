//! Issue 15 item 4, end to end through real npm against a real `git init`ed project: the root
//! project's own `prepare` (the user's code, as `husky` is) installs git hooks. `.git` stays
//! read-only inside; the script's `git config` writes a scratch copy of the (sanitised)
//! configuration, and after the run safe-install applies to the real `.git/config` exactly one
//! kind of change: `core.hooksPath` set to an existing directory inside the project, outside
//! `.git` and `node_modules`. Anything else is refused, logged and warned about with the fix,
//! and the real configuration stays byte for byte as it was. Never silent.
//!
//! The fixture `prepare` does what husky 9 does (`git config core.hooksPath .husky/_`, then
//! writes `.husky/_/pre-commit` and `.husky/_/h`).

use crate::common::netns::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

/// Created by scripts/setup.sh: outside /tmp, writable by every test user.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

/// What husky 9's `prepare` does, in sh.
const HUSKY: &str = r#"set -e
git config core.hooksPath .husky/_
test -d .husky/_ || mkdir .husky/_
printf '*\n' > .husky/_/.gitignore
printf '#!/usr/bin/env sh\necho husky-hook\n' > .husky/_/h
printf '#!/usr/bin/env sh\n. "${0%%/*}/h"\n' > .husky/_/pre-commit
chmod 755 .husky/_/pre-commit
"#;

/// A git repository holding an npm project whose `prepare` runs `script` (kept in
/// `scripts/prepare.sh`), with a committed `.husky/pre-commit` as a husky project has.
fn git_world(name: &str, script: &str) -> World {
    require_npm();
    require_program("/usr/bin/env", "coreutils");
    let world = World::new_in(name, Path::new(OUTSIDE_TMP));
    let git = which("git").unwrap_or_else(|| panic!("git is required for this test"));
    run(
        world.setup_command(&git).args(["init", "-q", "."]),
        RUN_TIMEOUT,
    )
    .assert_success();
    write_file(&world.project.join("scripts/prepare.sh"), script);
    write_file(&world.project.join(".husky/pre-commit"), "npm test\n");
    write_npm_project(&world, &[]);
    let manifest = world.project.join("package.json");
    let mut pkg: Value =
        serde_json::from_str(&fs::read_to_string(&manifest).expect("read")).expect("json");
    pkg["scripts"] = serde_json::json!({ "prepare": "sh scripts/prepare.sh" });
    write_file(
        &manifest,
        &serde_json::to_string_pretty(&pkg).expect("json"),
    );
    world
}

fn sandboxed(world: &World, name: &str) -> LoggedRun {
    let _g = shared_run_guard();
    let log = world.log_path(name);
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log).args(NPM_CI);
    LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log)
}

fn git_config(world: &World) -> String {
    fs::read_to_string(world.project.join(".git/config")).expect("read .git/config")
}

fn events_with(r: &LoggedRun, verdict: &str, reason: &str, target: &str) -> usize {
    r.events
        .iter()
        .filter(|e| {
            e["verdict"] == verdict
                && e["reason"] == reason
                && e["target"].as_str().unwrap_or("").contains(target)
                && e["package"] == "si-fixture-project@1.0.0"
        })
        .count()
}

#[test]
fn the_projects_prepare_installs_husky_hooks() {
    let world = git_world("i15-husky", HUSKY);
    let before = git_config(&world);
    let r = sandboxed(&world, "husky");
    let after = git_config(&world);
    let stderr = r.out.stderr.clone();
    let mut p = Problems::new();
    p.check(r.out.status.success(), || "npm ci failed".into());
    p.check(
        world.project.join(".husky/_/pre-commit").is_file()
            && world.project.join(".husky/_/h").is_file(),
        || "the prepare script could not write .husky/_".into(),
    );
    p.check(after.contains("hooksPath = .husky/_\n"), || {
        format!("core.hooksPath is not in the real .git/config:\n{after}")
    });
    // Nothing else changed: the old text is still there, line for line.
    p.check(
        before.lines().all(|l| after.lines().any(|a| a == l)),
        || format!("other lines changed:\n--- before\n{before}--- after\n{after}"),
    );
    p.check(
        events_with(&r, "found", "git-config-applied", "core.hooksPath") >= 1,
        || "the applied change is not logged".into(),
    );
    p.check(!r.events.iter().any(|e| e["verdict"] == "blocked"), || {
        "a blocked event in a husky run".into()
    });
    p.check(stderr.contains("core.hooksPath"), || {
        "stderr does not say that core.hooksPath was set".into()
    });
    // The user's own hook stays theirs: the script may write husky's `_` only.
    p.check(
        fs::read_to_string(world.project.join(".husky/pre-commit")).ok()
            == Some("npm test\n".into()),
        || "the committed .husky/pre-commit changed".into(),
    );
    p.finish(&r.context());
}

/// A root `prepare` that changes `.git/config` in a way safe-install must not carry out.
fn refused(name: &str, script: &str, target: &str) {
    let world = git_world(name, script);
    let before = git_config(&world);
    let r = sandboxed(&world, name);
    let after = git_config(&world);
    let stderr = r.out.stderr.clone();
    let mut p = Problems::new();
    p.check(before == after, || {
        format!("the real .git/config changed:\n--- before\n{before}--- after\n{after}")
    });
    p.check(
        events_with(&r, "blocked", "git-config-refused", target) >= 1,
        || format!("no blocked git-config-refused event for {target}"),
    );
    p.check(
        stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains(target) && l.contains("not applied")),
        || format!("no warning line on stderr naming {target}"),
    );
    p.finish(&r.context());
}

#[test]
fn hooks_path_outside_the_project_is_refused() {
    refused(
        "i15-abs",
        "git config core.hooksPath /tmp/x-si-husky\n",
        "core.hooksPath",
    );
}

#[test]
fn hooks_path_into_git_or_node_modules_is_refused() {
    refused(
        "i15-dotgit",
        "git config core.hooksPath .git/hooks2 && git config --get core.hooksPath\n",
        "core.hooksPath",
    );
    refused(
        "i15-nm",
        "git config core.hooksPath node_modules/h\n",
        "core.hooksPath",
    );
    refused(
        "i15-dotdot",
        "git config core.hooksPath .husky/../../x\n",
        "core.hooksPath",
    );
}

#[test]
fn fsmonitor_alias_and_include_are_refused() {
    refused(
        "i15-fsmonitor",
        "git config core.fsmonitor ./evil.sh\n",
        "core.fsmonitor",
    );
    refused(
        "i15-alias",
        "git config alias.st '!sh evil.sh'\n",
        "alias.st",
    );
    refused(
        "i15-include",
        "git config include.path /tmp/evil.config\n",
        "include.path",
    );
}

#[test]
fn a_valid_hooks_path_with_anything_else_is_refused_whole() {
    let script = format!("{HUSKY}git config core.fsmonitor ./evil.sh\n");
    refused("i15-mixed", &script, "core.fsmonitor");
}
