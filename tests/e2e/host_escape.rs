//! Nothing from the project, its virtualenv or `node_modules` runs outside the sandbox, or as
//! the package manager: safe-install reads pip's and npm's defaults as data, refuses a
//! package-manager executable that package code could have planted, and gives the package
//! manager a `PATH` without such directories.
//!
//! Each attack is a file a package could have left behind in an earlier run; each test proves
//! first that it is found by the plain tool, then that safe-install never ran it.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A `.pth` line that records, in `$HOME`, that it ran and what it could read there. Inside
/// the sandbox `$HOME` is a private tmpfs, so the marker only survives a run on the host.
fn pth_payload() -> String {
    "import os; h = os.environ.get('HOME', '/nonexistent'); \
     k = open(os.path.join(h, '.ssh/id_rsa')).read() if os.access(os.path.join(h, '.ssh/id_rsa'), os.R_OK) else 'no key'; \
     open(os.path.join(h, 'si-pth-ran'), 'a').write(str(os.getpid()) + ' ' + k)"
        .into()
}

fn pth_marker(world: &World) -> PathBuf {
    world.home.join("si-pth-ran")
}

/// A virtualenv inside the project (`.venv`, as most projects keep it), made bare.
fn project_venv(world: &World) -> PathBuf {
    make_venv_at(world, &world.project.join(".venv"))
}

/// The caller's environment with the virtualenv activated (`. .venv/bin/activate`).
fn activated(venv: &Path, cmd: &mut std::process::Command) {
    cmd.env(
        "PATH",
        format!("{}:{SYSTEM_PATH}", venv.join("bin").display()),
    )
    .env("VIRTUAL_ENV", venv);
}

#[test]
fn a_pth_file_from_an_earlier_install_never_runs_on_the_host() {
    let _guard = shared_run_guard();
    let world = World::new("pth-host");
    let venv = project_venv(&world);
    let vendor = world.project.join("vendor");
    let planter = make_wheel_with_pth(
        &world,
        &vendor,
        "si-pth-planter",
        "1.0.0",
        Some(&pth_payload()),
    );
    let plain = make_wheel_with_pth(&world, &vendor, "si-plain", "1.0.0", None);

    // Run 1: the wheel with the .pth is installed (by pip, inside the sandbox).
    let log1 = world.log_path("install-planter");
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log1).arg(venv.join("bin/pip")).args([
        "install",
        "--no-index",
        "--no-deps",
    ]);
    cmd.arg(&planter);
    run(&mut cmd, RUN_TIMEOUT).assert_success();
    let pth = site_packages(&venv).join("si_pth_planter.pth");
    assert!(pth.is_file(), "run 1 did not install {}", pth.display());

    // Run 2: no index configured anywhere, so pip's default index must be found without
    // starting the virtualenv's interpreter (which would run the .pth): `explain`, then a real
    // install, with the virtualenv activated as users have it.
    let mut cmd = world.safe_install();
    activated(&venv, &mut cmd);
    cmd.args(["explain", "pip", "install", "si-plain"]);
    let explained = run(&mut cmd, RUN_TIMEOUT);
    explained.assert_success();
    assert!(
        explained.stdout.contains("pip's default index"),
        "explain should show the allow rule for pip's default index, read from pip's source:\n{}",
        explained.describe()
    );

    let log2 = world.log_path("install-plain");
    let mut cmd = world.safe_install();
    activated(&venv, &mut cmd);
    cmd.arg("--log")
        .arg(&log2)
        .args(["pip", "install", "--no-deps"])
        .arg(&plain);
    run(&mut cmd, RUN_TIMEOUT).assert_success();
    assert!(
        fs::read_dir(site_packages(&venv))
            .expect("site-packages")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("si_plain")),
        "run 2 did not install si-plain"
    );

    assert!(
        !pth_marker(&world).exists(),
        "the .pth ran on the host, with the caller's home: {:?}",
        fs::read_to_string(pth_marker(&world))
    );

    // The fixture is real: the virtualenv's interpreter, started on the host, runs the .pth
    // and reads the key.
    run(
        world.command(venv.join("bin/python")).args(["-c", "pass"]),
        RUN_TIMEOUT,
    )
    .assert_success();
    let marker = fs::read_to_string(pth_marker(&world)).unwrap_or_default();
    assert!(
        marker.contains(&world.secret(".ssh/id_rsa")),
        "negative control: the .pth should have run on the host bare and read the key, got {marker:?}"
    );
}

/// An executable script at `path` that appends a line to `<project>/<marker>` whenever it
/// runs, on the host or in the sandbox (the project is writable in both).
fn plant(world: &World, path: &Path, marker: &str) {
    write_file(
        path,
        &format!(
            "#!/bin/sh\necho \"ran: $0 $*\" >> '{}'\ncat \"$HOME/.ssh/id_rsa\" >> '{}' 2>/dev/null\nexit 0\n",
            world.project.join(marker).display(),
            world.project.join(marker).display()
        ),
    );
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn npm_project(world: &World) {
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-host-escape\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
}

#[test]
fn a_planted_npm_first_on_path_is_refused_and_logged_and_never_runs() {
    require_npm();
    let _guard = shared_run_guard();
    let world = World::new("planted-npm");
    npm_project(&world);
    let bin = world.project.join("node_modules/.bin");
    let planted = bin.join("npm");
    plant(&world, &planted, "planted-npm-ran");
    let path = format!("{}:{SYSTEM_PATH}", bin.display());

    let log = world.log_path("planted-npm");
    let mut cmd = world.safe_install();
    cmd.env("PATH", &path)
        .arg("--log")
        .arg(&log)
        .args(["npm", "install"]);
    let out = run(&mut cmd, RUN_TIMEOUT);
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(
        out.stderr.contains(&planted.display().to_string()) && out.stderr.contains("Fix:"),
        "the refusal must name the planted file and the fix:\n{}",
        out.describe()
    );
    let events = read_log(&log);
    assert!(
        events.iter().any(|e| e["action"] == "exec"
            && e["verdict"] == "blocked"
            && e["reason"] == "planted-executable"
            && e["target"] == planted.display().to_string()),
        "no planted-executable event for {}: {events:?}",
        planted.display()
    );
    assert!(check_event_schema(&events).is_empty(), "{events:?}");

    let mut cmd = world.safe_install();
    cmd.env("PATH", &path).args(["explain", "npm", "install"]);
    let out = run(&mut cmd, RUN_TIMEOUT);
    assert_eq!(
        out.code(),
        123,
        "explain must refuse too:\n{}",
        out.describe()
    );

    let marker = world.project.join("planted-npm-ran");
    assert!(
        !marker.exists(),
        "the planted npm ran: {:?}",
        fs::read_to_string(&marker)
    );

    // The fixture is real: the plain tool runs it.
    run(
        world
            .command("sh")
            .env("PATH", &path)
            .args(["-c", "npm install"]),
        RUN_TIMEOUT,
    );
    assert!(
        marker.exists(),
        "negative control: a bare `npm` with this PATH should run the planted one"
    );
}

#[test]
fn the_package_manager_never_finds_a_planted_interpreter_on_path() {
    require_npm();
    let _guard = shared_run_guard();
    let world = World::new("planted-node");
    npm_project(&world);
    let bin = world.project.join("node_modules/.bin");
    // npm starts with `#!/usr/bin/env node`: with node_modules/.bin first on PATH, a planted
    // `node` there would be the package manager's interpreter.
    plant(&world, &bin.join("node"), "planted-node-ran");
    let path = format!("{}:{SYSTEM_PATH}", bin.display());

    let mut cmd = world.safe_install();
    cmd.env("PATH", &path).args(["npm", "--version"]);
    let out = run(&mut cmd, RUN_TIMEOUT);
    out.assert_success();
    let marker = world.project.join("planted-node-ran");
    assert!(
        !marker.exists(),
        "the planted node ran as the package manager: {:?}",
        fs::read_to_string(&marker)
    );
    let mut cmd = world.safe_install();
    cmd.env("PATH", &path).args(["explain", "npm", "--version"]);
    let explained = run(&mut cmd, RUN_TIMEOUT);
    explained.assert_success();
    assert!(
        explained
            .stdout
            .contains(&format!("PATH entry {} left out", bin.display())),
        "explain should say which PATH entry is left out:\n{}",
        explained.describe()
    );

    // The fixture is real: the plain tool runs it.
    run(
        world
            .command("sh")
            .env("PATH", &path)
            .args(["-c", "npm --version"]),
        RUN_TIMEOUT,
    );
    assert!(
        marker.exists(),
        "negative control: a bare `npm` with this PATH should start the planted node"
    );
}
