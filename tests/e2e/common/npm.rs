//! npm projects of the tests: packing and staging fixtures, a project's package.json and
//! lockfile made bare with scripts off, publishing to a local Verdaccio.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;

/// Packs the npm fixture `tests/fixtures/npm/<name>` with `npm pack` into the world's
/// tarball directory and returns the tarball's path. The evil fixture gets the syscall
/// probe copied in first.
pub fn pack_npm_fixture(world: &World, name: &str) -> PathBuf {
    require_npm();
    let staging = world.root().join("staging").join(name);
    copy_dir(&fixtures().join("npm").join(name), &staging);
    if name == "evil" {
        fs::copy(
            fixtures().join("probes/syscalls.py"),
            staging.join("syscalls.py"),
        )
        .expect("copy syscalls.py into the evil package");
    }
    pack_npm_dir(world, &staging)
}

/// A copy of the fixture directory `tests/fixtures/<fixture>` at `staging/<as_name>`, its
/// package.json changed by `edit` (a name or version), with `config` written beside it as
/// `config_file` (what its scripts read). Returns the staged directory.
pub fn stage_npm_fixture(
    world: &World,
    fixture: &str,
    as_name: &str,
    edit: impl FnOnce(&mut Value),
    config_file: &str,
    config: &Value,
) -> PathBuf {
    let staging = world.root().join("staging").join(as_name);
    copy_dir(&fixtures().join(fixture), &staging);
    let manifest = staging.join("package.json");
    let mut pkg: Value = serde_json::from_str(
        &fs::read_to_string(&manifest).expect("read the fixture's package.json"),
    )
    .expect("the fixture's package.json is JSON");
    edit(&mut pkg);
    write_file(
        &manifest,
        &serde_json::to_string_pretty(&pkg).expect("serialise package.json"),
    );
    write_file(
        &staging.join(config_file),
        &serde_json::to_string_pretty(config).expect("serialise the fixture's configuration"),
    );
    staging
}

/// Points the project's npm at the local registry `server` (project `.npmrc`).
pub fn use_npm_registry(world: &World, server: &servers::Server) {
    write_file(
        &world.project.join(".npmrc"),
        &format!("registry={}\n", server.url),
    );
}

/// The fixture `tests/fixtures/<fixture>` as it is (no configuration) packed into the
/// world's tarballs, staged as `as_name`.
pub fn pack_plain(world: &World, fixture: &str, as_name: &str) -> PathBuf {
    let staging = world.root().join("staging").join(as_name);
    copy_dir(&fixtures().join(fixture), &staging);
    pack_npm_dir(world, &staging)
}

/// `npm pack` of a staged package directory into the world's tarball directory; returns
/// the tarball's path.
pub fn pack_npm_dir(world: &World, staging: &Path) -> PathBuf {
    let out = run(
        world
            .setup_command("npm")
            .args(["pack", "--ignore-scripts", "--json", "--pack-destination"])
            .arg(&world.tarballs)
            .current_dir(staging),
        RUN_TIMEOUT,
    );
    out.assert_success();
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("npm pack --json printed no JSON ({e}): {}", out.describe()));
    let file = json[0]["filename"]
        .as_str()
        .unwrap_or_else(|| panic!("npm pack --json has no filename: {}", out.stdout));
    // Scoped packages pack as scope-name-version.tgz.
    let path = world
        .tarballs
        .join(file.trim_start_matches('@').replace('/', "-"));
    assert!(path.is_file(), "npm pack did not write {}", path.display());
    path
}

/// Publishes a packed tarball to the local registry `server` with `token` (the token lives
/// in the setup home's .npmrc only while publishing). A failure shows the server's log as it
/// is after the failed publish.
pub fn publish_npm(world: &World, tarball: &Path, server: &servers::Server, token: &str) {
    let port = server.port;
    write_file(
        &world.setup_home.join(".npmrc"),
        &format!("//127.0.0.1:{port}/:_authToken={token}\n"),
    );
    let out = run(
        world
            .setup_command("npm")
            .arg("publish")
            .arg(tarball)
            .args(["--registry", &format!("http://127.0.0.1:{port}/")]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n--- registry ---\n{}",
        out.describe(),
        server.log()
    );
    fs::remove_file(world.setup_home.join(".npmrc")).expect("remove the publish token");
}

/// Writes the project's package.json with `file:` dependencies on the given tarballs
/// (paths relative to the project, so two worlds compare equal) and a package-lock.json
/// made by a bare `npm install --package-lock-only --ignore-scripts`.
pub fn write_npm_project(world: &World, deps: &[&Path]) {
    let mut dependencies = serde_json::Map::new();
    for tarball in deps {
        let file = tarball
            .file_name()
            .and_then(OsStr::to_str)
            .expect("tarball name");
        // si-evil-1.0.0.tgz -> si-evil
        let name = file
            .trim_end_matches(".tgz")
            .rsplit_once('-')
            .map(|(n, _)| n)
            .expect("tarball name has a version");
        dependencies.insert(
            name.to_string(),
            Value::String(format!("file:vendor/{file}")),
        );
    }
    let manifest = serde_json::json!({
        "name": "si-fixture-project",
        "version": "1.0.0",
        "private": true,
        "description": "safe-install test project",
        "dependencies": dependencies,
    });
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&manifest).expect("serialize package.json"),
    );
    write_npm_lockfile(world);
}

/// The project's package-lock.json, made by a bare `npm install --package-lock-only
/// --ignore-scripts` (no script runs outside the sandbox).
pub fn write_npm_lockfile(world: &World) {
    run(
        world.setup_command("npm").args([
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ]),
        RUN_TIMEOUT,
    )
    .assert_success();
    assert!(world.project.join("package-lock.json").is_file());
}

/// The arguments of an offline `npm ci`.
pub const NPM_CI: &[&str] = &["npm", "ci", "--no-audit", "--no-fund"];
