//! yarn as its own package manager: the registries it reaches come from yarn's own
//! configuration (yarn 1's `.yarnrc`, yarn 4's `.yarnrc.yml`) and, when nothing is
//! configured, from the default in yarn's shipped source, read as text. Only 127.0.0.1 is
//! contacted.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use crate::common::servers::*;
use crate::common::toolchains::toolchain_bin;
use crate::common::*;

/// `PATH` with toolchain `name` first.
fn path_with(name: &str) -> OsString {
    let mut dirs = vec![toolchain_bin(name)];
    dirs.extend(std::env::split_paths(SYSTEM_PATH));
    std::env::join_paths(dirs).expect("PATH")
}

/// The host of the first `http(s)://` string literal after `marker` in `file`: how the test
/// knows yarn's default registry without naming it (a different reading from the product's).
fn default_host_in(file: &Path, marker: &str) -> String {
    let text = fs::read_to_string(file).expect("read yarn's source");
    let at = text.find(marker).unwrap_or_else(|| {
        panic!("{marker} not in {}", file.display());
    });
    let rest = &text[at..];
    let start = rest.find("https://").expect("a URL after the marker") + "https://".len();
    let host: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    assert!(host.contains('.'), "no host after {marker}: {host}");
    host
}

/// The toolchain's package directory (`<toolchain>/lib`, holding yarn's `package.json`).
fn yarn_package(name: &str) -> std::path::PathBuf {
    toolchain_bin(name)
        .parent()
        .expect("toolchain root")
        .join("lib")
}

fn explain(world: &World, toolchain: &str) -> String {
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with(toolchain))
            .args(["explain", "--", "yarn", "install"]),
        RUN_TIMEOUT,
    );
    out.assert_success();
    out.stdout.clone()
}

fn allow_lines(explain: &str) -> Vec<&str> {
    explain
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("allow "))
        .collect()
}

#[test]
fn yarn1_default_registry_is_read_from_its_source() {
    let world = World::new("yarn1-default");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    let host = default_host_in(
        &yarn_package("yarn1").join("lib/cli.js"),
        "var YARN_REGISTRY = ",
    );
    let text = explain(&world, "yarn1");
    let allow = allow_lines(&text);
    assert_eq!(allow.len(), 1, "{text}");
    assert!(
        allow[0].starts_with(&format!("allow {host}:443 "))
            && allow[0].contains("yarn 1's default"),
        "{text}"
    );
    assert!(
        text.contains("yarn 1 runs dependencies' lifecycle scripts"),
        "{text}"
    );
}

#[test]
fn yarn4_default_registry_is_read_from_its_source() {
    let world = World::new("yarn4-default");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    // An .npmrc is not yarn 4's configuration: its registry must not be allowed.
    write_file(
        &world.project.join(".npmrc"),
        "registry=http://127.0.0.1:9/\n",
    );
    let host = default_host_in(
        &yarn_package("yarn4").join("bin/yarn.js"),
        "npmRegistryServer:{",
    );
    let text = explain(&world, "yarn4");
    let allow = allow_lines(&text);
    assert_eq!(allow.len(), 1, "{text}");
    assert!(
        allow[0].starts_with(&format!("allow {host}:443 "))
            && allow[0].contains("npmRegistryServer"),
        "{text}"
    );
}

#[test]
fn yarn1_with_a_cold_cache_reaches_the_registry_of_its_yarnrc() {
    let world = World::new("yarn1-yarnrc");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let tarball = pack_npm_fixture(&world, "benign");
    publish_npm(&world, &tarball, &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-benign\": \"1.0.0\" } }\n",
    );
    // Only yarn's own file names the registry: no .npmrc anywhere.
    write_file(
        &world.project.join(".yarnrc"),
        &format!("registry \"{}\"\n", server.url),
    );
    let text = explain(&world, "yarn1");
    assert!(
        allow_lines(&text)
            .iter()
            .any(|l| l.starts_with(&format!("allow 127.0.0.1:{} ", server.port))),
        "{text}"
    );
    assert!(
        !world.home.join(".cache/yarn").exists(),
        "the cache is not cold"
    );
    let out = run(
        world.safe_install().env("PATH", path_with("yarn1")).args([
            "--",
            "yarn",
            "install",
            "--non-interactive",
            "--no-progress",
        ]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    assert!(
        out.stderr
            .contains("yarn 1 runs dependencies' lifecycle scripts"),
        "the run does not say at its start that scripts are not at level 2:\n{}",
        out.describe()
    );
    assert!(
        world
            .project
            .join("node_modules/si-benign/package.json")
            .is_file(),
        "si-benign was not installed:\n{}",
        out.describe()
    );
    let lock = fs::read_to_string(world.project.join("yarn.lock")).expect("yarn.lock");
    assert!(
        lock.contains(&format!("127.0.0.1:{}", server.port)),
        "the package did not come from the registry of .yarnrc:\n{lock}"
    );
}
