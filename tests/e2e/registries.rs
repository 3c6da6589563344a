//! The local registries the egress tests rely on start and serve: Verdaccio (a package
//! published through its API user, then installed bare) and pypiserver (a wheel served
//! from a directory, then downloaded bare with pip). Only 127.0.0.1 is contacted.

use std::fs;
use std::process::Command;

use crate::common::servers::*;
use crate::common::*;

/// Runs a bare client command against the local `server` (`registry` names it in the
/// message); it must succeed, else the failure shows its output and the server's log.
fn run_against(cmd: &mut Command, server: &Server, registry: &str) -> Output {
    let out = run(cmd, RUN_TIMEOUT);
    assert!(
        out.status.success(),
        "{}\n--- {registry} ---\n{}",
        out.describe(),
        server.log()
    );
    out
}

#[test]
fn verdaccio_starts_accepts_a_publish_and_serves_the_package() {
    require_npm();
    let world = World::new("verdaccio");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let tarball = pack_npm_fixture(&world, "benign");
    // The harness's own publish, which the other tests rely on.
    publish_npm(&world, &tarball, &server, &token);

    // A fresh project installs it from the registry (bare; no credentials needed to read).
    let consumer = World::new("verdaccio-consumer");
    write_file(
        &consumer.project.join("package.json"),
        "{ \"name\": \"si-consumer\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    run_against(
        consumer.setup_command("npm").args([
            "install",
            "si-benign@1.0.0",
            "--no-audit",
            "--no-fund",
            "--registry",
            &server.url,
        ]),
        &server,
        "verdaccio",
    );
    let artefact = consumer
        .project
        .join("node_modules/si-benign/build/artefact.txt");
    assert!(
        artefact.is_file(),
        "the installed package's postinstall did not run"
    );
    let lock = fs::read_to_string(consumer.project.join("package-lock.json")).expect("lockfile");
    assert!(
        lock.contains(&format!("127.0.0.1:{}", server.port)),
        "the package did not come from the local registry:\n{lock}"
    );
}

#[test]
fn pypiserver_starts_and_serves_a_wheel() {
    require_python_venv();
    let world = World::new("pypiserver");
    let packages = world.root().join("packages");
    make_wheel(&world, &packages, "si-wheel", "1.0.0");
    let server = start_pypiserver(world.root(), &packages);
    let (status, body) =
        http(server.port, "GET", "/simple/si-wheel/", &[], b"").expect("GET index");
    let body = String::from_utf8_lossy(&body);
    assert!(
        status == 200 && body.contains("si_wheel-1.0.0-py3-none-any.whl"),
        "pypiserver does not list the wheel: HTTP {status}\n{body}\n--- pypiserver ---\n{}",
        server.log()
    );
    let dest = world.root().join("downloaded");
    let out = run_against(
        world
            .setup_command("/usr/bin/python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-cache-dir",
                "--index-url",
                &server.url,
                "-d",
            ])
            .arg(&dest)
            .arg("si-wheel==1.0.0")
            .env("PIP_CONFIG_FILE", "/dev/null"),
        &server,
        "pypiserver",
    );
    assert!(
        dest.join("si_wheel-1.0.0-py3-none-any.whl").is_file(),
        "{}",
        out.describe()
    );
}
