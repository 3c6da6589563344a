//! pnpm 10 and pnpm 12 (issue 16), end to end against a local Verdaccio, with the toolchains
//! `scripts/toolchains.sh` installs:
//!
//! - an approved build script (`allowBuilds` / `onlyBuiltDependencies`) runs at trust level
//!   2 even though the project's own `pnpm-workspace.yaml` names another script shell: its
//!   attempts on the network, the home's `.npmrc`, a `--secret-env` token, the project root,
//!   the files that run later (a workflow, `.vscode`, `.claude`, `.envrc`, the root
//!   `package.json`), another package, `node_modules/.bin` and the user's store (a content
//!   file, a new file, the index, its root; the store stays byte-identical) each fail and are logged as
//!   `si-pnpm-writer@1.0.0` (`postinstall`); the install succeeds and its tree equals a bare
//!   install's but for what the bare script's attacks did (bare pnpm is the negative
//!   control: there they succeed);
//! - a warm-store install inside the sandbox hard-links from the user's global store (inode
//!   numbers shared with the store) and never falls back to a store in the project.
//!
//! The worlds live in /srv/safe-install-test, not in /tmp: level 2 may write its private
//! /tmp, and a project mounted beneath /tmp would be covered by that rule.

use crate::common::netns::*;
use crate::common::servers::{start_verdaccio, verdaccio_add_user, Server};
use crate::common::wiper::*;
use crate::common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Created by scripts/setup.sh: outside /tmp, writable by every test user.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

/// The toolchains under test: (toolchain directory, pnpm's store layout version).
const PNPM10: (&str, &str) = ("pnpm10", "v10");
const PNPM12: (&str, &str) = ("pnpm12", "v11");

/// The variable the sandboxed run hands pnpm as a `--secret-env` token.
const TOKEN_VAR: &str = "SI_PNPM_TOKEN";

fn world(name: &str) -> World {
    World::new_in(name, Path::new(OUTSIDE_TMP))
}

/// The fixture `tests/fixtures/pnpm/<fixture>` packed (by the harness's npm, scripts
/// ignored) with `target.json` beside its files, and published to `server`.
fn publish(world: &World, server: &Server, token: &str, fixture: &str, target: &Value) {
    let staging = world.root().join("staging").join(fixture);
    copy_dir(&fixtures().join("pnpm").join(fixture), &staging);
    write_file(
        &staging.join("target.json"),
        &serde_json::to_string_pretty(target).expect("json"),
    );
    let tarball = pack_npm_dir(world, &staging);
    publish_npm(world, &tarball, server, token);
}

/// A project depending on `deps` (all `1.0.0`) from `server`, with the build of `built`
/// approved the ways pnpm 10 and 12 read, and a script shell of the project's own choosing
/// (`project-shell.sh`, which leaves a marker): pnpm must not use it inside the sandbox.
fn write_project(world: &World, server: &Server, deps: &[&str], built: &str) {
    let dependencies: serde_json::Map<String, Value> = deps
        .iter()
        .map(|d| (d.to_string(), Value::String("1.0.0".into())))
        .collect();
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "name": "si-pnpm-project",
            "version": "1.0.0",
            "private": true,
            "dependencies": dependencies,
        }))
        .expect("json"),
    );
    let shell = world.project.join("project-shell.sh");
    write_file(
        &shell,
        &format!(
            "#!/bin/sh\necho used > {}/project-shell-used\nexec /bin/sh \"$@\"\n",
            world.project.display()
        ),
    );
    fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    write_file(
        &world.project.join("pnpm-workspace.yaml"),
        &format!(
            "allowBuilds:\n  {built}: true\nonlyBuiltDependencies:\n  - {built}\n\
             # Fixtures are minutes old; scripts rerun in every project.\n\
             minimumReleaseAge: 0\nsideEffectsCache: false\n\
             scriptShell: {}\n",
            shell.display()
        ),
    );
    write_file(
        &world.project.join(".npmrc"),
        &format!("registry={}\n", server.url),
    );
}

/// The environment pnpm runs with bare and for the harness's setup steps: the toolchain
/// first on PATH, the world's home, nothing planted.
fn bare_env(world: &World, toolchain: &str) -> Vec<(String, String)> {
    vec![
        (
            "PATH".into(),
            crate::common::toolchains::path_with(toolchain, "pnpm"),
        ),
        ("HOME".into(), world.home.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
    ]
}

fn bare_pnpm(world: &World, toolchain: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("pnpm");
    cmd.env_clear()
        .envs(bare_env(world, toolchain))
        .env(TOKEN_VAR, world.env_secret(TOKEN_VAR))
        .args(args)
        .current_dir(&world.project);
    run(&mut cmd, RUN_TIMEOUT)
}

/// `safe-install --log L FLAGS pnpm ARGS` with the world's (planted) environment and the
/// toolchain first on PATH.
fn sandboxed_pnpm(
    world: &World,
    toolchain: &str,
    name: &str,
    flags: &[&str],
    args: &[&str],
) -> LoggedRun {
    let _g = shared_run_guard();
    let log = world.log_path(name);
    let mut cmd = world.safe_install();
    cmd.env(
        "PATH",
        crate::common::toolchains::path_with(toolchain, "pnpm"),
    )
    .env(TOKEN_VAR, world.env_secret(TOKEN_VAR))
    .arg("--log")
    .arg(&log)
    .args(flags)
    .arg("pnpm")
    .args(args);
    LoggedRun::read(run(&mut cmd, RUN_TIMEOUT), log)
}

/// The report si-pnpm-writer's postinstall left in its own folder.
fn writer_report(world: &World) -> Option<Value> {
    let path = world
        .project
        .join("node_modules/.pnpm/si-pnpm-writer@1.0.0/node_modules/si-pnpm-writer/si-report.json");
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

const VICTIM_INDEX: &str =
    "node_modules/.pnpm/si-pnpm-victim@1.0.0/node_modules/si-pnpm-victim/index.js";

/// The installed tree (`node_modules`), without what changes from run to run (pnpm's state
/// files, which name the store and carry times), the writer's report and what a bare
/// script's attacks write there.
fn installed_tree(world: &World) -> Tree {
    let skip: HashSet<PathBuf> = [
        ".modules.yaml",
        ".pnpm-workspace-state-v1.json",
        ".bin/si-pnpm-evil",
        ".pnpm/si-pnpm-writer@1.0.0/node_modules/si-pnpm-writer/si-report.json",
        ".pnpm/si-pnpm-victim@1.0.0/node_modules/si-pnpm-victim/index.js",
        // One published file that names both worlds (their stores): each tree shows its own
        // world's root replaced, the other's not.
        ".pnpm/si-pnpm-victim@1.0.0/node_modules/si-pnpm-victim/target.json",
        ".pnpm/si-pnpm-writer@1.0.0/node_modules/si-pnpm-writer/target.json",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    // pnpm run as root (the bare control under a root test run) makes a package's
    // `node_modules/.tmp`, its TMPDIR (npm-lifecycle's `!unsafePerm` branch); inside, the
    // caller is never root. Left out, with the `node_modules` made for it when it holds
    // nothing else.
    let root_tmp = |rel: &Path| rel.ends_with("node_modules/.tmp");
    let mut tree = snapshot_tree(
        &world.project.join("node_modules"),
        world.root(),
        &|rel: &Path| skip.contains(rel) || root_tmp(rel),
    );
    let empty: Vec<PathBuf> = tree
        .keys()
        .filter(|k| k.ends_with("node_modules"))
        .filter(|k| !tree.keys().any(|o| o != *k && o.starts_with(k)))
        .filter(|k| {
            world
                .project
                .join("node_modules")
                .join(k)
                .join(".tmp")
                .is_dir()
        })
        .cloned()
        .collect();
    for k in empty {
        tree.remove(&k);
    }
    tree
}

/// The user's pnpm store of `world` for this layout (`v10`, `v11`): pnpm's default beneath
/// the home the runs have.
fn store_of(world: &World, layout: &str) -> PathBuf {
    world.home.join(".local/share/pnpm/store").join(layout)
}

/// The store as a tree, byte for byte.
fn store_tree(world: &World, layout: &str) -> Tree {
    let store = store_of(world, layout);
    assert!(store.is_dir(), "no pnpm store at {}", store.display());
    snapshot_tree(&store, world.root(), &|_: &Path| false)
}

/// A registry with the two fixtures, and a project (with its lockfile) in `world` and in
/// `bare`. `world`'s store is warm (a bare install without scripts, its `node_modules`
/// removed), so that its sandboxed install adds nothing to it: any change is the script's.
fn scripts_world(
    world: &World,
    server: &Server,
    token: &str,
    (toolchain, layout): (&str, &str),
    bare: &World,
) {
    let target = serde_json::json!({
        "registry": server.url,
        "secrets": [
            world.secret(".npmrc"),
            world.env_secret(TOKEN_VAR),
            bare.secret(".npmrc"),
            bare.env_secret(TOKEN_VAR),
        ],
        // Each project's own store only: the bare run must not write the other world's.
        "stores": {
            world.project.display().to_string(): store_of(world, layout),
            bare.project.display().to_string(): store_of(bare, layout),
        },
    });
    publish(world, server, token, "victim", &target);
    publish(world, server, token, "writer", &target);
    for w in [world, bare] {
        write_project(
            w,
            server,
            &["si-pnpm-victim", "si-pnpm-writer"],
            "si-pnpm-writer",
        );
        // The lockfile, as the project would have committed it (no script runs).
        bare_pnpm(
            w,
            toolchain,
            &["install", "--lockfile-only", "--ignore-scripts"],
        )
        .assert_success();
        assert!(w.project.join("pnpm-lock.yaml").is_file());
    }
    bare_pnpm(
        world,
        toolchain,
        &["install", "--frozen-lockfile", "--ignore-scripts"],
    )
    .assert_success();
    fs::remove_dir_all(world.project.join("node_modules")).expect("rm node_modules");
}

/// `explain` names the pnpm that decides, the list it reads (pnpm 12: `allowBuilds` only,
/// saying that `onlyBuiltDependencies` is ignored) and what the approved package may do.
fn explain_names_pnpms_approvals(world: &World, toolchain: &str) {
    let mut cmd = world.safe_install();
    cmd.env(
        "PATH",
        crate::common::toolchains::path_with(toolchain, "pnpm"),
    )
    .args(["explain", "pnpm", "install", "--frozen-lockfile"]);
    let out = run(&mut cmd, RUN_TIMEOUT);
    out.assert_success();
    let workspace = world.project.join("pnpm-workspace.yaml");
    let pnpm12 = toolchain == PNPM12.0;
    let mut p = Problems::new();
    let mut needles = vec![
        format!("decided by: pnpm {}.", if pnpm12 { 12 } else { 10 }),
        format!("approval list: allowBuilds in {}", workspace.display()),
        "packages with install scripts: pnpm-lock.yaml (version 9) does not record".to_string(),
        "si-pnpm-writer (approved): may: no network, no credentials, writes only its own folder"
            .to_string(),
    ];
    if pnpm12 {
        needles.push("packages the list does not name: the install fails on them".into());
        needles.push(format!(
            "onlyBuiltDependencies in {} is ignored by pnpm 12",
            workspace.display()
        ));
    } else {
        needles.push(format!(
            "and onlyBuiltDependencies in {}",
            workspace.display()
        ));
        needles.push("packages the list does not name: skipped".into());
    }
    // Native builds use the node-gyp pnpm ships (its node-gyp shim runs
    // `$npm_config_node_gyp`), not npm's, which a machine may not have.
    let own = crate::common::toolchains::toolchain_bin(toolchain);
    let own = own.parent().expect("toolchain root");
    needles.push(format!("`node-gyp` pinned to \"{}/", own.display()));
    needles.push("node-gyp/bin/node-gyp.js\" (from the one pnpm ships)".into());
    for needle in needles {
        p.check(out.stdout.contains(&needle), || {
            format!("explain lacks `{needle}`")
        });
    }
    p.finish(&out.describe());
}

fn approved_script_runs_at_level_2((toolchain, layout): (&str, &str)) {
    let world = world(&format!("{toolchain}-scripts"));
    let bare = World::new_in(&format!("{toolchain}-bare"), Path::new(OUTSIDE_TMP));
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    scripts_world(&world, &server, &token, (toolchain, layout), &bare);
    explain_names_pnpms_approvals(&world, toolchain);

    // Negative control: bare pnpm, the script's attacks succeed.
    let out = bare_pnpm(&bare, toolchain, &["install", "--frozen-lockfile"]);
    out.assert_success();
    let report = writer_report(&bare).unwrap_or_else(|| {
        panic!(
            "bare: the writer's script left no report\n{}",
            out.describe()
        )
    });
    let mut p = Problems::new();
    for what in ["write_root", "write_other", "write_bin", "read_npmrc"]
        .into_iter()
        .chain(LATER.iter().map(|(what, ..)| *what))
        .chain(STORE.iter().map(|(what, ..)| *what))
    {
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
    p.check(bare.project.join("project-shell-used").exists(), || {
        "bare: pnpm did not use the project's scriptShell, so the fixture proves nothing about it"
            .into()
    });
    p.finish(&out.describe());

    // Sandboxed: the install succeeds, every attempt fails and is logged.
    let store_before = store_tree(&world, layout);
    let r = sandboxed_pnpm(
        &world,
        toolchain,
        "install",
        &["--secret-env", TOKEN_VAR],
        &["install", "--frozen-lockfile"],
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
        report["package"] == "si-pnpm-writer@1.0.0" && report["event"] == "postinstall",
        || format!("pnpm gave the script no npm_package_* variables: {report}"),
    );
    for what in ["write_root", "write_other", "write_bin", "read_npmrc"]
        .into_iter()
        .chain(LATER.iter().map(|(what, ..)| *what))
        .chain(STORE.iter().map(|(what, ..)| *what))
    {
        p.check(report[what]["ok"] == false, || {
            format!("the script's {what} succeeded: {}", report[what])
        });
    }
    for (what, reason, target) in LATER {
        let target = format!("{}/{target}", world.project.display());
        p.check(
            r.blocked_by(
                "si-pnpm-writer@1.0.0",
                Some("postinstall"),
                "write",
                reason,
                &target,
            ) >= 1,
            || format!("{what}: no blocked write [{reason}] of {target} attributed to si-pnpm-writer@1.0.0"),
        );
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
    p.check(!world.project.join("project-shell-used").exists(), || {
        "pnpm ran the script through the project's scriptShell, not safe-install's".into()
    });
    p.check(!world.project.join("si-pwned.txt").exists(), || {
        "si-pwned.txt was written to the project root".into()
    });
    p.check(
        !exists_nofollow(&world.project.join("node_modules/.bin/si-pnpm-evil")),
        || "node_modules/.bin/si-pnpm-evil was written".into(),
    );
    p.check(
        fs::read_to_string(world.project.join(VICTIM_INDEX)).ok()
            == fs::read_to_string(fixtures().join("pnpm/victim/index.js")).ok(),
        || "si-pnpm-victim's index.js was changed".into(),
    );
    let writer = "si-pnpm-writer@1.0.0";
    let project = world.project.display().to_string();
    for (action, reason, target) in [
        ("write", "read-only-path", format!("{project}/si-pwned.txt")),
        (
            "write",
            "read-only-path",
            format!("{project}/{VICTIM_INDEX}"),
        ),
        // pnpm 10 makes `.bin` after the builds: the script's mkdir is what is refused.
        (
            "write",
            "read-only-path",
            format!("{project}/node_modules/.bin"),
        ),
        ("read", "hidden-file", "/.npmrc".to_string()),
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
            r.blocked_by(writer, Some("postinstall"), action, reason, &target) >= 1,
            || format!("no blocked {action} event [{reason}] on {target} attributed to {writer} (postinstall)"),
        );
    }
    // The store: every write refused and logged, not a byte changed, the content file's
    // included (the script's own files, written in place, must not be the store's).
    let store = store_of(&world, layout).display().to_string();
    let content = report["store_content_file"].as_str().unwrap_or_default();
    p.check(content.starts_with(&format!("{store}/files/")), || {
        format!("the script found no store file of si-pnpm-victim's index.js: {report}")
    });
    for (what, target) in STORE {
        let target = match *target {
            "<content>" => content.to_string(),
            "<beside content>" => format!(
                "{}/si-planted",
                content.rsplit_once('/').map_or("", |(d, _)| d)
            ),
            "<index>" if layout == "v10" => format!("{store}/index/si-planted.json"),
            "<index>" => format!("{store}/index.db"),
            rel => format!("{store}/{rel}"),
        };
        p.check(
            r.blocked_by(writer, Some("postinstall"), "write", "read-only-path", &target) >= 1,
            || format!("{what}: no blocked write [read-only-path] of {target} attributed to {writer} (postinstall)"),
        );
    }
    // pnpm copies (never hard-links) the files of a package it builds, so its own files are
    // its to change; the store stays as it was (checked next).
    p.check(report["own_in_place"]["ok"] == true, || {
        format!(
            "the script could not change its own file: {}",
            report["own_in_place"]
        )
    });
    for d in diff_trees(&store_before, &store_tree(&world, layout)) {
        p.check(false, || format!("the store changed: {d}"));
    }
    // The tree equals the bare one, but for the bare attacks' own writes (skipped).
    let diffs = diff_trees(&installed_tree(&bare), &installed_tree(&world));
    p.check(diffs.is_empty(), || {
        format!("the installed tree differs from the bare one: {diffs:#?}")
    });
    p.finish(&r.context());
}

/// The writer's attempts on files that run later (the report's key, the reason its refusal
/// is logged with, the target below the project: `mkdir` of the directory is the first write
/// refused where there is none yet).
const LATER: &[(&str, &str, &str)] = &[
    ("later_workflow", "read-only-path", ".github"),
    ("later_vscode", "read-only-path", ".vscode"),
    ("later_claude", "read-only-path", ".claude"),
    // No `.envrc` in this project: a new one in the root, refused as any write there.
    ("later_envrc", "read-only-path", ".envrc"),
    ("later_package_json", "read-only-path", "package.json"),
];

/// The writer's attempts on the store (the report's key, the target: the file of
/// si-pnpm-victim's content it found, a new file beside it, the index, a path below the
/// store). Each is refused as a write of a read-only path.
const STORE: &[(&str, &str)] = &[
    ("store_content", "<content>"),
    ("store_new", "<beside content>"),
    ("store_index", "<index>"),
    ("store_root", "si-planted"),
];

#[test]
fn pnpm10_approved_script_runs_at_level_2() {
    approved_script_runs_at_level_2(PNPM10);
}

#[test]
fn pnpm12_approved_script_runs_at_level_2() {
    approved_script_runs_at_level_2(PNPM12);
}

/// Every regular file beneath `dir` as (path, inode, link count).
fn files(dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().expect("metadata");
            (e.path().to_path_buf(), m.ino(), m.nlink())
        })
        .collect()
}

/// A Verdaccio of the world's with a user (its token) and the victim package published.
fn registry_with_victim(world: &World) -> (Server, String) {
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    publish(
        world,
        &server,
        &token,
        "victim",
        &serde_json::json!({ "registry": server.url, "secrets": [] }),
    );
    (server, token)
}

fn warm_store_is_hard_linked((toolchain, layout): (&str, &str)) {
    let world = world(&format!("{toolchain}-store"));
    let (server, _) = registry_with_victim(&world);
    write_project(&world, &server, &["si-pnpm-victim"], "si-pnpm-writer");
    // Warm the user's store the way the user did: a bare install.
    bare_pnpm(&world, toolchain, &["install"]).assert_success();
    fs::remove_dir_all(world.project.join("node_modules")).expect("rm node_modules");
    let store = world.home.join(".local/share/pnpm/store").join(layout);
    let store_inodes: HashSet<u64> = files(&store).iter().map(|(_, ino, _)| *ino).collect();
    assert!(
        !store_inodes.is_empty(),
        "the bare install left no store at {}",
        store.display()
    );

    let r = sandboxed_pnpm(
        &world,
        toolchain,
        "warm",
        &[],
        &["install", "--frozen-lockfile"],
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    let package = world
        .project
        .join("node_modules/.pnpm/si-pnpm-victim@1.0.0/node_modules/si-pnpm-victim");
    // The package's files, not the `node_modules/.bin` pnpm 12 makes inside it.
    let installed: Vec<_> = files(&package)
        .into_iter()
        .filter(|(p, _, _)| !p.starts_with(package.join("node_modules")))
        .collect();
    p.check(installed.len() >= 5, || {
        format!("the package was not installed: {installed:?}")
    });
    for (path, ino, nlink) in &installed {
        p.check(*nlink > 1 && store_inodes.contains(ino), || {
            format!(
                "{} is not a hard link into the store {} (links {nlink})",
                path.display(),
                store.display()
            )
        });
    }
    p.check(
        !world.project.join("node_modules/.pnpm-store").exists(),
        || "pnpm fell back to a store inside the project (node_modules/.pnpm-store)".into(),
    );
    let modules =
        fs::read_to_string(world.project.join("node_modules/.modules.yaml")).unwrap_or_default();
    p.check(modules.contains(&store.display().to_string()), || {
        format!("pnpm did not record the user's store: {modules}")
    });
    let output = format!("{}{}", r.out.stdout, r.out.stderr);
    p.check(!output.contains("copied"), || {
        "pnpm says it copied from the store instead of linking".into()
    });
    p.finish(&r.context());
}

#[test]
fn pnpm10_warm_store_is_hard_linked() {
    warm_store_is_hard_linked(PNPM10);
}

#[test]
fn pnpm12_warm_store_is_hard_linked() {
    warm_store_is_hard_linked(PNPM12);
}

/// Issue 14's wiper through pnpm 12, approved in `allowBuilds`: its postinstall deletes and
/// truncates everything it reaches in the project and the home (where the store is). npm's
/// bare control (`package_writes`) proves the fixture wipes.
#[test]
fn pnpm12_a_wiper_loses_nothing_outside_its_own_folder() {
    let (toolchain, layout) = PNPM12;
    let world = world("pnpm12-wiper");
    plant_project_files(&world);
    let (server, token) = registry_with_victim(&world);
    publish_npm(&world, &pack_wiper(&world), &server, &token);
    write_project(&world, &server, &["si-pnpm-victim", "si-wiper"], "si-wiper");
    // The tree as a bare install without scripts makes it (the reference), the store warm;
    // then the same install inside, from an empty `node_modules`, with the wiper.
    bare_pnpm(&world, toolchain, &["install", "--ignore-scripts"]).assert_success();
    let skip = Skip {
        project: &[
            "node_modules/.pnpm/si-wiper@1.0.0/node_modules/si-wiper",
            // pnpm's state (level 1): it records the builds it ran or skipped.
            "node_modules/.modules.yaml",
            "node_modules/.pnpm-workspace-state-v1.json",
        ],
        home: &[],
    };
    let store = format!(".local/share/pnpm/store/{layout}/files");
    let before = ProjectAndHome::read_with_store(&world, &skip, &store, "");
    fs::remove_dir_all(world.project.join("node_modules")).expect("rm node_modules");
    let r = sandboxed_pnpm(
        &world,
        toolchain,
        "wiper",
        &[],
        &["install", "--frozen-lockfile"],
    );
    let mut p = check_wiper(
        &world,
        &r,
        skip.project[0],
        &skip,
        &before,
        &[
            "/package.json",
            "/node_modules/.pnpm/si-pnpm-victim@1.0.0/node_modules/si-pnpm-victim/",
            &format!("/.local/share/pnpm/store/{layout}/"),
        ],
    );
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    p.finish(&r.context());
}
