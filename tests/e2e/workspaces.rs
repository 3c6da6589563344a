//! Monorepos. npm, pnpm, yarn 1 and 4 and uv, started in a workspace member's directory,
//! take the workspace's root as their project: its configuration, its lockfile, its
//! `node_modules` or `.venv`. safe-install must take the same root, or the tool inside sees a
//! lone package (the root is outside the view), writes a lockfile and an install tree into
//! the member, and the members' own scripts cannot write their folders. Each test installs a
//! two-member workspace from `packages/a`, bare in one world and sandboxed in another, and
//! compares the projects' shapes.
//!
//! A package manager's configuration below the project root (`packages/b/.npmrc`, `.yarnrc`,
//! `.yarnrc.yml`) is never the workspace install's: npm and pnpm read the root's only, and
//! safe-install seals the root's. A token kept there is hidden from package code: a member's
//! script reads empty files, logged as `hidden-file`; bare, the same script reads the tokens
//! (the control).

use crate::common::netns::LoggedRun;
use crate::common::toolchains::path_with;
use crate::common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// How a workspace declares its members.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// `workspaces` in the root `package.json` (npm, yarn 1).
    PackageJson,
    /// The same with yarn 4's `.yarnrc.yml` and `workspace:` ranges.
    Yarn4,
    /// `pnpm-workspace.yaml`.
    Pnpm,
    /// `[tool.uv.workspace]` in the root `pyproject.toml`.
    Uv,
}

/// `packages/a`, whose install script writes `built.txt` in its own folder (`script`
/// replaces it when given), and `packages/b`, which depends on `a`; the root declares both.
fn monorepo(project: &Path, layout: Layout, script: Option<&str>) {
    let script = script.unwrap_or("echo a > built.txt");
    let member = |name: &str, extra: &str| {
        format!(r#"{{ "name": "si-ws-{name}", "version": "1.0.0", "private": true{extra} }}"#)
    };
    let range = match layout {
        Layout::PackageJson => "1.0.0",
        _ => "workspace:*",
    };
    match layout {
        Layout::Uv => {
            let member = |name: &str| {
                format!("[project]\nname = \"si-ws-{name}\"\nversion = \"1.0.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n")
            };
            write_file(
                &project.join("pyproject.toml"),
                &format!(
                    // The world's `packages/app` holds a planted `.env` only: uv requires
                    // every member to be a project.
                    "{}\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\nexclude = [\"packages/app\"]\n",
                    member("root")
                ),
            );
            write_file(&project.join("packages/a/pyproject.toml"), &member("a"));
            write_file(&project.join("packages/b/pyproject.toml"), &member("b"));
            return;
        }
        Layout::Pnpm => {
            write_file(&project.join("package.json"), &member("root", ""));
            write_file(
                &project.join("pnpm-workspace.yaml"),
                "packages:\n  - \"packages/*\"\n",
            );
        }
        Layout::PackageJson | Layout::Yarn4 => write_file(
            &project.join("package.json"),
            &member("root", r#", "workspaces": ["packages/*"]"#),
        ),
    }
    if layout == Layout::Yarn4 {
        write_file(
            &project.join(".yarnrc.yml"),
            "nodeLinker: node-modules\nenableTelemetry: false\n",
        );
    }
    let script = serde_json::to_string(script).expect("JSON string");
    write_file(
        &project.join("packages/a/package.json"),
        &member(
            "a",
            &format!(r#", "scripts": {{ "postinstall": {script} }}"#),
        ),
    );
    write_file(
        &project.join("packages/b/package.json"),
        &member(
            "b",
            &format!(r#", "dependencies": {{ "si-ws-a": "{range}" }}"#),
        ),
    );
}

/// The project as a map of relative path to what is there: directories, link targets, and
/// the content of files outside the install trees (the world's root and token replaced). Inside `node_modules` and `.venv` only the
/// entries' names count (their metadata holds times and absolute paths); yarn 4's binary
/// install state only by its presence.
fn shape(world: &World) -> BTreeMap<String, String> {
    let root = world.root().display().to_string();
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(&world.project)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let Ok(rel) = e.path().strip_prefix(&world.project) else {
            continue;
        };
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.is_empty() || parts[0] == "vendor" {
            continue;
        }
        let tree = parts
            .iter()
            .position(|p| p == "node_modules" || p == ".venv");
        if tree.is_some_and(|i| parts.len() > i + 2) {
            continue;
        }
        // pnpm run as root (the bare side under a root test run) makes a member's
        // `node_modules/.tmp` (npm-lifecycle's `!unsafePerm` TMPDIR); inside, the caller is
        // never root. Left out, with a `node_modules` made for it alone.
        if rel.ends_with("node_modules/.tmp")
            || (rel.ends_with("node_modules")
                && fs::read_dir(e.path()).is_ok_and(|d| {
                    d.flatten().map(|x| x.file_name()).collect::<Vec<_>>() == [".tmp"]
                }))
        {
            continue;
        }
        let ft = e.file_type();
        let what = if ft.is_symlink() {
            format!("link {}", fs::read_link(e.path()).expect("link").display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else if tree.is_some() || rel.ends_with("install-state.gz") {
            "file".to_string()
        } else {
            fs::read_to_string(e.path())
                .map(|t| t.replace(&root, "<ROOT>").replace(&world.token, "<TOKEN>"))
                .unwrap_or_else(|_| "binary".into())
        };
        out.insert(rel.display().to_string(), what);
    }
    out
}

/// Every difference between two shapes, one line each.
fn shape_diff(
    bare: &BTreeMap<String, String>,
    sandboxed: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (path, want) in bare {
        match sandboxed.get(path) {
            None => diffs.push(format!("missing in the sandboxed project: {path}")),
            Some(got) if got != want => diffs.push(format!(
                "differs: {path}\n  bare: {want}\n  sandboxed: {got}"
            )),
            Some(_) => {}
        }
    }
    for path in sandboxed.keys().filter(|p| !bare.contains_key(*p)) {
        diffs.push(format!("only in the sandboxed project: {path}"));
    }
    diffs
}

/// The environment a tool needs beside the world's: its `PATH`, and for uv its interpreter
/// and cache with no downloads.
fn tool_env(world: &World, path: &str, cmd: &mut std::process::Command) {
    cmd.env("PATH", path)
        .env("UV_PYTHON", "/usr/bin/python3")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_CACHE_DIR", world.home.join(".cache/uv"))
        .env("YARN_ENABLE_TELEMETRY", "0");
}

/// Installs the workspace from `packages/a`, bare in one world and through safe-install in
/// another; the two projects must have the same shape, with the lockfile and the install
/// tree at the root and `a`'s script's file in `a`. `expected`: paths the bare install must
/// have made (what proves the tool took the root).
fn installs_from_a_member_as_bare(
    tool: &str,
    path: &str,
    layout: Layout,
    install: &[&str],
    expected: &[&str],
) {
    let bare = World::new(&format!("ws-{tool}-bare"));
    monorepo(&bare.project, layout, None);
    let mut cmd = bare.command(tool);
    tool_env(&bare, path, &mut cmd);
    run(
        cmd.args(install)
            .current_dir(bare.project.join("packages/a")),
        RUN_TIMEOUT,
    )
    .assert_success();
    let want = shape(&bare);
    for p in expected {
        assert!(
            want.contains_key(*p),
            "bare {tool} from a member did not make {p} at the root (the test proves nothing): {want:#?}"
        );
    }

    let world = World::new(&format!("ws-{tool}"));
    monorepo(&world.project, layout, None);
    let log = world.log_path(tool);
    let mut cmd = world.safe_install();
    tool_env(&world, path, &mut cmd);
    let out = run(
        cmd.arg("--log")
            .arg(&log)
            .arg(tool)
            .args(install)
            .current_dir(world.project.join("packages/a")),
        RUN_TIMEOUT,
    );
    let r = LoggedRun::read(out, log);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    for d in shape_diff(&want, &shape(&world)) {
        p.push(d);
    }
    p.check(!r.events.iter().any(|e| e["verdict"] == "blocked"), || {
        "the sandboxed install logged blocked attempts".into()
    });
    p.finish(&r.context());
}

#[test]
fn npm_from_a_workspace_member_installs_the_workspace() {
    installs_from_a_member_as_bare(
        "npm",
        SYSTEM_PATH,
        Layout::PackageJson,
        &["install", "--offline", "--no-audit", "--no-fund"],
        &[
            "package-lock.json",
            "node_modules/si-ws-a",
            "packages/a/built.txt",
        ],
    );
}

#[test]
fn pnpm10_from_a_workspace_member_installs_the_workspace() {
    installs_from_a_member_as_bare(
        "pnpm",
        &path_with("pnpm10", "pnpm"),
        Layout::Pnpm,
        &["install", "--offline"],
        &[
            "pnpm-lock.yaml",
            "packages/b/node_modules/si-ws-a",
            "packages/a/built.txt",
        ],
    );
}

#[test]
fn pnpm12_from_a_workspace_member_installs_the_workspace() {
    installs_from_a_member_as_bare(
        "pnpm",
        &path_with("pnpm12", "pnpm"),
        Layout::Pnpm,
        &["install", "--offline"],
        &[
            "pnpm-lock.yaml",
            "packages/b/node_modules/si-ws-a",
            "packages/a/built.txt",
        ],
    );
}

#[test]
fn yarn1_from_a_workspace_member_installs_the_workspace() {
    installs_from_a_member_as_bare(
        "yarn",
        &path_with("yarn1", "yarn"),
        Layout::PackageJson,
        &["install", "--offline"],
        &["yarn.lock", "node_modules/si-ws-a", "packages/a/built.txt"],
    );
}

#[test]
fn yarn4_from_a_workspace_member_installs_the_workspace() {
    installs_from_a_member_as_bare(
        "yarn",
        &path_with("yarn4", "yarn"),
        Layout::Yarn4,
        &["install"],
        &["yarn.lock", "node_modules/si-ws-a", "packages/a/built.txt"],
    );
}

#[test]
fn uv_sync_from_a_workspace_member_syncs_the_workspace() {
    installs_from_a_member_as_bare(
        "uv",
        &path_with("uv", "uv"),
        Layout::Uv,
        &["sync", "--offline"],
        &["uv.lock", ".venv/pyvenv.cfg"],
    );
}

/// Configuration files below the root that hold a token.
const NESTED: &[(&str, &str)] = &[
    ("packages/b/.npmrc", "//127.0.0.1:9/:_authToken=TOKEN\n"),
    ("packages/b/.yarnrc", "_authToken \"TOKEN\"\n"),
    ("packages/b/.yarnrc.yml", "npmAuthToken: \"TOKEN\"\n"),
];

/// `a`'s postinstall copies every nested configuration file into `read.txt` beside
/// `marker`; bare it reads each token, sandboxed each read is refused and logged.
fn nested_configuration_is_hidden(tool: &str, path: &str, layout: Layout, install: &[&str]) {
    let world = World::new(&format!("ws-nested-{tool}"));
    let token = format!("si-ws-nested-token-{}", world.token);
    let marker = world.root().join("read.txt");
    let script = NESTED
        .iter()
        .map(|(f, _)| format!("cat ../../{f} >> {}", marker.display()))
        .collect::<Vec<_>>()
        .join("; ");
    monorepo(&world.project, layout, Some(&format!("{script}; true")));
    for (file, text) in NESTED {
        write_file(&world.project.join(file), &text.replace("TOKEN", &token));
    }
    let mut cmd = world.command(tool);
    tool_env(&world, path, &mut cmd);
    run(cmd.args(install), RUN_TIMEOUT).assert_success();
    let read = fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(
        read.matches(&token).count(),
        NESTED.len(),
        "bare {tool}: a's postinstall did not read every nested token (the test proves nothing): {read:?}"
    );
    fs::remove_file(&marker).expect("remove the marker");
    for dir in [
        "node_modules",
        "packages/a/node_modules",
        "packages/b/node_modules",
    ] {
        let _ = fs::remove_dir_all(world.project.join(dir));
    }

    let log = world.log_path(tool);
    let mut cmd = world.safe_install();
    tool_env(&world, path, &mut cmd);
    let out = run(
        cmd.arg("--log")
            .arg(&log)
            .arg("--rw")
            .arg(world.root())
            .arg(tool)
            .args(install),
        RUN_TIMEOUT,
    );
    let r = LoggedRun::read(out, log);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    let read = fs::read_to_string(&marker).unwrap_or_default();
    p.check(!read.contains(&token), || {
        format!("a's postinstall read a nested token: {read:?}")
    });
    for (file, _) in NESTED {
        let target = world.project.join(file).display().to_string();
        p.check(
            r.blocked_by("si-ws-a@1.0.0", Some("postinstall"), "read", "hidden-file", &target)
                >= 1,
            || format!("no blocked read [hidden-file] of {target} attributed to si-ws-a@1.0.0 (postinstall)"),
        );
    }
    p.check(!r.shows(&token), || {
        "the token appears in the log or on stderr".into()
    });
    p.finish(&r.context());
}

#[test]
fn npm_nested_registry_configuration_is_hidden_from_scripts() {
    nested_configuration_is_hidden(
        "npm",
        SYSTEM_PATH,
        Layout::PackageJson,
        &["install", "--offline", "--no-audit", "--no-fund"],
    );
}

#[test]
fn yarn1_nested_registry_configuration_is_hidden_from_scripts() {
    nested_configuration_is_hidden(
        "yarn",
        &path_with("yarn1", "yarn"),
        Layout::PackageJson,
        &["install", "--offline"],
    );
}
