//! Installs whose destination is the home, outside the project: `pip install --user` (the
//! user base, `~/.local`) and `uv tool install` (uv's tools directory and `~/.local/bin`).
//! Inside, the home is a private tmpfs that is thrown away at the end, so without the
//! destination in the view the tool reported success and installed nothing. These places
//! are shown read-write for the package manager only: the tool is installed for real (its
//! console script runs afterwards), and the build backend, which tries to plant a `.pth` and
//! an executable in them (where the next interpreter or shell start would run them), is
//! refused and logged. Bare, the same backend plants all of it (the control).

use crate::common::netns::LoggedRun;
use crate::common::toolchains::path_with;
use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Created by scripts/setup.sh: outside /tmp, where a user's home and project would be (under
/// `/tmp` the package manager's temp rule would let it write the world's directory anyway).
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

/// A world outside `/tmp` whose home already has `~/.local/bin/si-other-tool`, as a user's
/// does: it must be there, unchanged, after the run.
fn home_world(name: &str) -> World {
    let world = World::new_in(name, Path::new(OUTSIDE_TMP));
    write_file(&world.home.join(OTHER_TOOL), "#!/bin/sh\necho other\n");
    world
}

/// A file of the user's own in `~/.local/bin`.
const OTHER_TOOL: &str = ".local/bin/si-other-tool";

/// `python3.11` for the system interpreter (the user site's directory name).
fn python_dir() -> String {
    let out = run(
        Command::new("/usr/bin/python3").args([
            "-c",
            "import sys; print('python%d.%d' % sys.version_info[:2])",
        ]),
        RUN_TIMEOUT,
    );
    out.assert_success();
    out.stdout.trim().to_string()
}

/// The fixture in `world`'s project (`user-tool`), planting `plants` below `world`'s home,
/// whose directories exist already (as in a user's home).
fn stage(world: &World, plants: &[String]) {
    let dir = world.project.join("user-tool");
    copy_dir(&fixtures().join("pip/user-tool"), &dir);
    let plant: Vec<String> = plants
        .iter()
        .map(|p| world.home.join(p).display().to_string())
        .collect();
    for p in plants {
        let parent = world.home.join(p);
        fs::create_dir_all(parent.parent().expect("parent")).expect("plant directory");
    }
    write_file(
        &dir.join("target.json"),
        &serde_json::json!({ "plant": plant }).to_string(),
    );
}

/// `pip install --user` of the fixture with the system's pip.
const PIP_USER_INSTALL: &[&str] = &[
    "/usr/bin/python3",
    "-m",
    "pip",
    "install",
    "--user",
    "--break-system-packages",
    "--no-index",
    "./user-tool",
];

/// The tool's environment beside the world's.
fn tool_env(cmd: &mut Command) -> &mut Command {
    cmd.env("PATH", path_with("uv", "uv"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("UV_PYTHON", "/usr/bin/python3")
        .env("UV_PYTHON_DOWNLOADS", "never")
}

/// Where a tool lands and how its console script runs: the installed file and the script,
/// below the home, and the `PYTHONPATH` (below the home) the script needs, if any.
struct Landing<'a> {
    installed: &'a str,
    script: &'a str,
    pythonpath: Option<&'a str>,
}

/// The user's pip `--user` and uv's tool installs: the console script in `~/.local/bin`.
const LOCAL_BIN: &str = ".local/bin/si-user-tool";

/// `install` (`{home}` in it is the world's home) bare in one world (the `plants`, below the
/// home, land: the control) and through safe-install in another: there the tool is installed
/// (`landing`) and its console script runs, and every plant is refused and logged as the
/// package's.
fn installs_into_the_home(name: &str, install: &[&str], landing: Landing, plants: &[String]) {
    let argv = |world: &World| -> Vec<String> {
        let home = world.home.display().to_string();
        install.iter().map(|a| a.replace("{home}", &home)).collect()
    };
    let installed = landing.installed;
    let bare = home_world(&format!("{name}-bare"));
    stage(&bare, plants);
    let bare_argv = argv(&bare);
    run(
        tool_env(&mut bare.command(&bare_argv[0])).args(&bare_argv[1..]),
        RUN_TIMEOUT,
    )
    .assert_success();
    for p in plants {
        assert!(
            bare.home.join(p).is_file(),
            "bare {install:?}: the backend did not plant {p} (the test proves nothing)"
        );
    }
    assert!(
        bare.home.join(installed).exists(),
        "bare {install:?} installed no {installed}"
    );

    let world = home_world(name);
    stage(&world, plants);
    let log = world.log_path(name);
    let out = run(
        tool_env(&mut world.safe_install())
            .arg("--log")
            .arg(&log)
            .args(argv(&world)),
        RUN_TIMEOUT,
    );
    let r = LoggedRun::read(out, log);
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    // uv links a tool's files from its cache, as it does bare: both on one mount.
    p.check(!r.out.stderr.contains("Failed to hardlink"), || {
        "the package manager copied instead of hard-linking from its cache".into()
    });
    p.check(world.home.join(installed).exists(), || {
        format!("{installed} is not in the home after the run: the install was thrown away")
    });
    p.check(
        fs::read_to_string(world.home.join(OTHER_TOOL)).is_ok_and(|t| t.contains("echo other")),
        || format!("the user's own {OTHER_TOOL} did not survive the run"),
    );
    let script: PathBuf = world.home.join(landing.script);
    if script.is_file() {
        let mut cmd = world.command(&script);
        if let Some(rel) = landing.pythonpath {
            cmd.env("PYTHONPATH", world.home.join(rel));
        }
        let ran = run(&mut cmd, RUN_TIMEOUT);
        p.check(
            ran.status.success() && ran.stdout.contains("si-user-tool ran"),
            || {
                format!(
                    "the installed console script does not run:\n{}",
                    ran.describe()
                )
            },
        );
    } else {
        p.push(format!("no console script at {}", script.display()));
    }
    for rel in plants {
        let target = world.home.join(rel);
        p.check(!target.exists(), || format!("the backend planted {rel}"));
        let shown = target.display().to_string();
        p.check(
            r.blocked_by(
                "si-user-tool@1.0.0",
                None,
                "write",
                "read-only-path",
                &shown,
            ) >= 1,
            || {
                format!(
                    "no blocked write [read-only-path] of {shown} attributed to si-user-tool@1.0.0"
                )
            },
        );
    }
    p.finish(&r.context());
}

#[test]
fn pip_user_install_is_kept_and_its_backend_plants_nothing() {
    let python = python_dir();
    installs_into_the_home(
        "pip-user",
        PIP_USER_INSTALL,
        Landing {
            installed: &format!(".local/lib/{python}/site-packages/si_user_tool.py"),
            script: LOCAL_BIN,
            pythonpath: None,
        },
        &[
            ".local/bin/si-planted".into(),
            format!(".local/lib/{python}/site-packages/si-planted.pth"),
        ],
    );
}

/// `pip install --target DIR` with DIR in the home, outside the project: DIR is kept, for
/// pip only.
#[test]
fn pip_target_in_the_home_is_kept_and_its_backend_plants_nothing() {
    installs_into_the_home(
        "pip-target",
        &[
            "/usr/bin/python3",
            "-m",
            "pip",
            "install",
            "--target",
            "{home}/pylibs",
            "--no-index",
            "./user-tool",
        ],
        Landing {
            installed: "pylibs/si_user_tool.py",
            script: "pylibs/bin/si-user-tool",
            pythonpath: Some("pylibs"),
        },
        // Not in `pylibs/bin`: pip --target leaves a `bin` that exists alone.
        &["pylibs/si-planted.pth".into()],
    );
}

#[test]
fn uv_tool_install_is_kept_and_its_backend_plants_nothing() {
    installs_into_the_home(
        "uv-tool",
        &["uv", "tool", "install", "--offline", "./user-tool"],
        Landing {
            installed: ".local/share/uv/tools/si-user-tool/pyvenv.cfg",
            script: LOCAL_BIN,
            pythonpath: None,
        },
        &[
            ".local/bin/si-planted".into(),
            ".local/share/uv/tools/si-planted.pth".into(),
        ],
    );
}

/// npm's global prefix in the tests' homes (`prefix=~/.npm-global`, a common setup).
const NPM_PREFIX: &str = ".npm-global";

/// A packed package with a `bin` whose postinstall writes its own folder, then tries to
/// plant an executable in the prefix's `bin` and to rewrite another global package (the
/// user's `si-other`, placed first); in `world`'s project `vendor/`.
fn stage_global_tool(world: &World) -> PathBuf {
    let staging = world.root().join("staging/si-global-tool");
    let prefix = world.home.join(NPM_PREFIX);
    let script = format!(
        "echo ok > own.txt; echo planted > {p}/bin/si-planted; echo pwned > {p}/lib/node_modules/si-other/index.js; true",
        p = prefix.display()
    );
    write_file(
        &staging.join("package.json"),
        &serde_json::json!({
            "name": "si-global-tool",
            "version": "1.0.0",
            "bin": { "si-global-tool": "cli.js" },
            "scripts": { "postinstall": script },
        })
        .to_string(),
    );
    write_file(
        &staging.join("cli.js"),
        "#!/usr/bin/env node\nconsole.log('si-global-tool ran');\n",
    );
    write_file(
        &prefix.join("lib/node_modules/si-other/index.js"),
        "module.exports = 'the user\\'s';\n",
    );
    fs::create_dir_all(prefix.join("bin")).expect("prefix bin");
    pack_npm_dir(world, &staging)
}

/// `npm install -g TARBALL` with the world's environment and its prefix.
fn npm_global(world: &World, sandboxed: Option<&Path>, tarball: &Path) -> Command {
    let mut cmd = match sandboxed {
        Some(log) => {
            let mut c = world.safe_install();
            c.arg("--log").arg(log).arg("npm");
            c
        }
        None => world.command("npm"),
    };
    cmd.env("PATH", SYSTEM_PATH)
        .env("npm_config_prefix", world.home.join(NPM_PREFIX))
        .env("npm_config_update_notifier", "false")
        .args(["install", "-g", "--no-audit", "--no-fund"])
        .arg(tarball);
    cmd
}

#[test]
fn npm_global_install_is_kept_and_its_script_writes_its_own_folder_only() {
    let bare = home_world("npm-g-bare");
    let tarball = stage_global_tool(&bare);
    run(&mut npm_global(&bare, None, &tarball), RUN_TIMEOUT).assert_success();
    let prefix = bare.home.join(NPM_PREFIX);
    assert!(
        prefix.join("bin/si-planted").is_file()
            && fs::read_to_string(prefix.join("lib/node_modules/si-other/index.js"))
                .is_ok_and(|t| t.contains("pwned")),
        "bare npm -g: the postinstall did not plant (the test proves nothing)"
    );

    let world = home_world("npm-g");
    let tarball = stage_global_tool(&world);
    let log = world.log_path("npm-g");
    let r = LoggedRun::read(
        run(&mut npm_global(&world, Some(&log), &tarball), RUN_TIMEOUT),
        log,
    );
    let prefix = world.home.join(NPM_PREFIX);
    let package = prefix.join("lib/node_modules/si-global-tool");
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed npm -g failed".into()
    });
    p.check(package.join("cli.js").is_file(), || {
        "the global package is not in the prefix after the run: the install was thrown away".into()
    });
    p.check(package.join("own.txt").is_file(), || {
        "the postinstall could not write its own folder".into()
    });
    let bin = prefix.join("bin/si-global-tool");
    if bin.exists() {
        let ran = run(world.command(&bin).env("PATH", SYSTEM_PATH), RUN_TIMEOUT);
        p.check(ran.stdout.contains("si-global-tool ran"), || {
            format!("the global executable does not run:\n{}", ran.describe())
        });
    } else {
        p.push(format!("no executable at {}", bin.display()));
    }
    p.check(!prefix.join("bin/si-planted").exists(), || {
        "the postinstall planted an executable in the prefix".into()
    });
    p.check(
        fs::read_to_string(prefix.join("lib/node_modules/si-other/index.js"))
            .is_ok_and(|t| !t.contains("pwned")),
        || "the postinstall rewrote another global package".into(),
    );
    for target in [
        prefix.join("bin/si-planted"),
        prefix.join("lib/node_modules/si-other/index.js"),
    ] {
        let shown = target.display().to_string();
        p.check(
            r.blocked_by("si-global-tool@1.0.0", Some("postinstall"), "write", "read-only-path", &shown)
                >= 1,
            || format!("no blocked write [read-only-path] of {shown} attributed to si-global-tool@1.0.0 (postinstall)"),
        );
    }
    p.check(
        fs::read_to_string(world.home.join(OTHER_TOOL)).is_ok_and(|t| t.contains("echo other")),
        || format!("the user's own {OTHER_TOOL} did not survive the run"),
    );
    p.finish(&r.context());
}

/// pnpm's and yarn's global installs are not kept by the sandbox: the run is refused before
/// anything runs (exit 123, naming the fix), instead of the install failing inside on the pnpm
/// home or vanishing with the private home (yarn 1's global folder).
#[test]
fn pnpm_and_yarn_global_installs_are_refused_with_the_fix() {
    let world = home_world("global-refused");
    write_file(
        &world.project.join("package.json"),
        r#"{ "name": "si-proj", "version": "1.0.0", "private": true }"#,
    );
    for (tool, toolchain, argv) in [
        (
            "pnpm",
            "pnpm10",
            &["add", "-g", "--offline", "left-pad"][..],
        ),
        (
            "pnpm",
            "pnpm12",
            &["add", "--global", "--offline", "left-pad"][..],
        ),
        (
            "yarn",
            "yarn1",
            &["global", "add", "--offline", "left-pad"][..],
        ),
    ] {
        let out = run(
            world
                .safe_install()
                .env("PATH", path_with(toolchain, tool))
                .env("PNPM_HOME", world.home.join("pnpm-home"))
                // Were it not refused, nothing would leave the machine.
                .env("npm_config_registry", "http://127.0.0.1:9/")
                .env("YARN_REGISTRY", "http://127.0.0.1:9/")
                .arg(tool)
                .args(argv),
            RUN_TIMEOUT,
        );
        assert!(
            out.status.code() == Some(123)
                && out.stderr.contains("global")
                && out.stderr.contains("Fix:"),
            "{toolchain} {argv:?} was not refused with the fix\n{}",
            out.describe()
        );
    }
}

/// A destination that is the home, or holds or lies in one of the home's credential places
/// (`UV_TOOL_BIN_DIR=~/.ssh`, `PYTHONUSERBASE=~/.aws`), is never shown: package code could
/// read what lies there. The run is refused before anything runs (exit 123, naming the
/// place and the fix), and nothing is installed there.
#[test]
fn a_destination_holding_the_homes_credentials_is_refused() {
    let world = home_world("dest-credentials");
    stage(&world, &[]);
    let ssh_key = fs::read(world.home.join(".ssh/id_rsa")).expect("the planted key");
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &["uv", "tool", "install", "--offline", "./user-tool"],
            "UV_TOOL_BIN_DIR",
            ".ssh",
        ),
        (
            &["uv", "tool", "install", "--offline", "./user-tool"],
            "UV_TOOL_DIR",
            "",
        ),
        (PIP_USER_INSTALL, "PYTHONUSERBASE", ".aws"),
    ];
    for (install, var, rel) in cases {
        let place = world.home.join(rel);
        let out = run(
            tool_env(&mut world.safe_install())
                .env(var, &place)
                .args(install),
            RUN_TIMEOUT,
        );
        assert!(
            out.status.code() == Some(123)
                && out
                    .stderr
                    .contains(place.display().to_string().trim_end_matches('/'))
                && out.stderr.contains("credential")
                && out.stderr.contains("Fix:"),
            "{var}={} was not refused\n{}",
            place.display(),
            out.describe()
        );
    }
    assert_eq!(
        fs::read(world.home.join(".ssh/id_rsa")).expect("the key"),
        ssh_key
    );
    assert!(
        !world.home.join(".ssh/si-user-tool").exists() && !world.home.join(".aws/lib").exists(),
        "something was installed into a credential place"
    );
}
