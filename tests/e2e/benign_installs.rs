//! Well-behaved packages install the same inside the sandbox as without it: the installed
//! tree (relative paths, file contents, executable bits, symlinks) is identical to a bare
//! install of the same project, including what their install scripts build.
//!
//! Ignored because they legitimately differ between two installs:
//! - `__pycache__/` and `*.pyc`: byte-compiled files embed source mtimes, and each world
//!   has its own copy of the sdist;
//! - `*.dist-info/RECORD`: it hashes the venv's `bin/` scripts, whose shebangs hold each
//!   venv's own path (written when the venv was made, not by the install under test);
//! - each world's own root path, replaced by `<ROOT>` in every file before comparing.

use std::ffi::OsStr;
use std::path::Path;

use crate::common::*;

fn ignore_in_site_packages(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "__pycache__")
        || rel.extension().is_some_and(|e| e == "pyc")
        || (rel.file_name().is_some_and(|n| n == "RECORD")
            && rel
                .parent()
                .and_then(|p| p.extension())
                .is_some_and(|e| e == "dist-info"))
}

/// `safe-install --strict --project P COMMAND...` in `world`: a benign install makes no
/// noise, nothing is blocked, so it must exit 0.
fn strict_install<S: AsRef<OsStr>>(world: &World, command: &[S]) -> Output {
    let out = {
        let _g = shared_run_guard();
        run(
            world
                .safe_install()
                .arg("--strict")
                .arg("--project")
                .arg(&world.project)
                .args(command),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(out.code(), 0, "{}", out.describe());
    out
}

/// The sandboxed install's tree (`got`) is the bare one's (`want`), entry for entry.
fn assert_same_tree(what: &str, want: &Tree, got: &Tree, out: &Output) {
    let diffs = diff_trees(want, got);
    assert!(
        diffs.is_empty(),
        "{what} differs:\n  {}\n{}",
        diffs.join("\n  "),
        out.describe()
    );
}

#[test]
fn benign_npm_install_matches_a_bare_install() {
    let bare = World::new("benign-npm-bare");
    let sandboxed = World::new("benign-npm-sandboxed");
    let tarball = pack_npm_fixture(&bare, "benign");
    copy_dir(&bare.tarballs, &sandboxed.tarballs);
    write_npm_project(&bare, &[&tarball]);
    write_npm_project(
        &sandboxed,
        &[&sandboxed.tarballs.join(tarball.file_name().expect("name"))],
    );

    run(bare.command("npm").args(&NPM_CI[1..]), RUN_TIMEOUT).assert_success();
    let out = strict_install(&sandboxed, NPM_CI);
    let artefact = sandboxed
        .project
        .join("node_modules/si-benign/build/artefact.txt");
    assert!(
        artefact.is_file(),
        "the postinstall could not write its build artefact into its own package directory\n{}",
        out.describe()
    );
    let want = snapshot_tree(&bare.project.join("node_modules"), bare.root(), &|_| false);
    let got = snapshot_tree(
        &sandboxed.project.join("node_modules"),
        sandboxed.root(),
        &|_| false,
    );
    assert_same_tree("node_modules", &want, &got, &out);
    assert_eq!(
        std::fs::read(bare.project.join("package-lock.json")).ok(),
        std::fs::read(sandboxed.project.join("package-lock.json")).ok(),
        "npm ci must leave package-lock.json as it was"
    );
}

#[test]
fn benign_pip_install_matches_a_bare_install() {
    let bare = World::new("benign-pip-bare");
    let sandboxed = World::new("benign-pip-sandboxed");
    let venvs: Vec<_> = [&bare, &sandboxed]
        .iter()
        .map(|w| {
            stage_pip_fixture(w, "benignpkg");
            make_venv(w)
        })
        .collect();
    let args = pip_install_args(&venvs[0], "benignpkg");
    run(bare.command(&args[0]).args(&args[1..]), RUN_TIMEOUT).assert_success();
    let args = pip_install_args(&venvs[1], "benignpkg");
    let out = strict_install(&sandboxed, &args);
    let want = snapshot_tree(
        &site_packages(&venvs[0]),
        bare.root(),
        &ignore_in_site_packages,
    );
    let got = snapshot_tree(
        &site_packages(&venvs[1]),
        sandboxed.root(),
        &ignore_in_site_packages,
    );
    assert!(
        want.keys().any(|p| p.ends_with("benignpkg/_generated.py")),
        "the bare install lacks the module setup.py generates"
    );
    assert_same_tree("site-packages", &want, &got, &out);
}
