//! The attack fixtures are real: run bare (no sandbox), each attack succeeds. Without
//! this, a sandbox test passing could only mean a broken fixture. These tests do not use
//! the binary under test.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// Attacks the sandbox must stop that the bare run does not claim: `list_run` only lists
/// /run, whose contents are the host's business.
const NOT_PROVEN_BARE: &[&str] = &["list_run"];

/// Attacks proven bare that are not in `MUST_FAIL_ATTACKS`: the home startup-file writes
/// (in the sandbox they succeed into its throwaway home, which the sandbox tests check),
/// and the syscall probe and the daemon starting at all.
const ALSO_BARE: &[&str] = &[
    "write_home_bashrc",
    "write_home_profile",
    "syscall_probe_ran",
    "daemon_started",
];

/// Attacks that succeed without a sandbox for any user: every attack the sandbox tests
/// require to fail (so their passing cannot mean a broken fixture) but
/// `NOT_PROVEN_BARE`, and `ALSO_BARE`.
fn bare_attacks() -> impl Iterator<Item = &'static str> {
    MUST_FAIL_ATTACKS
        .iter()
        .filter(|name| !NOT_PROVEN_BARE.contains(name))
        .chain(ALSO_BARE)
        .copied()
}

/// The syscalls of `MUST_FAIL_SYSCALLS` that succeed without a sandbox for this caller on
/// the supported hosts (unprivileged user namespaces on, no Yama ptrace restriction).
fn bare_syscalls() -> Vec<&'static str> {
    // TIOCSTI needs dev.tty.legacy_tiocsti=1 (or CAP_SYS_ADMIN) since Linux 6.2.
    let legacy_tiocsti = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|s| s.trim() == "1")
        .unwrap_or(true);
    MUST_FAIL_SYSCALLS
        .iter()
        .copied()
        .filter(|name| match *name {
            // These need root (or a capability) even without a sandbox.
            "mount" | "raw_socket" | "packet_socket" | "bpf" => is_root(),
            "tiocsti" | "tiocsti_high_bits" => legacy_tiocsti || is_root(),
            // A virtual-console ioctl: on the probe's pty it fails bare too.
            "tioclinux" => false,
            _ => true,
        })
        .collect()
}

fn check_bare_report(world: &World, report: &AttackReport, listeners: &Listeners) {
    let mut problems = Problems::new();
    for name in bare_attacks() {
        let (ok, detail) = report.attack(name);
        problems.check(ok, || {
            format!("attack {name} failed without a sandbox: {detail}")
        });
    }
    for name in bare_syscalls() {
        let (ok, detail) = report.syscall(name);
        problems.check(ok, || {
            format!("syscall {name} failed without a sandbox: {detail}")
        });
    }
    let (_, detail) = report.attack("read_dotenv");
    problems.check(detail.contains(&world.secret(".env")), || {
        format!("read_dotenv did not return the planted secret: {detail}")
    });
    let marker = attack_report_dir(world, report.0["runner"] == "npm").join("daemon-marker");
    problems.check(
        wait_until(Duration::from_secs(10), || marker.exists()),
        || "the double-forked daemon never touched its marker".to_string(),
    );
    let got = listeners.received();
    problems.check(got.iter().any(|g| g.starts_with("tcp")), || {
        format!("nothing reached the loopback TCP listener: {got:?}")
    });
    problems.check(got.iter().any(|g| g.starts_with("abstract")), || {
        format!("nothing reached the abstract unix socket: {got:?}")
    });
    problems.check(
        got.iter().any(|g| g.contains(&world.secret(".ssh/id_rsa"))),
        || format!("the exfiltrated data lacks the stolen key: {got:?}"),
    );
    problems.check(!world.project.join(".env").exists(), || {
        "hidden_env_unlink reported success but .env still exists".to_string()
    });
    problems.finish(&report.pretty());
}

#[test]
fn npm_evil_fixture_attacks_succeed_without_sandbox() {
    let world = World::new("bare-npm-evil");
    let listeners = Listeners::start(&world);
    let tarball = pack_npm_fixture(&world, "evil");
    write_npm_project(&world, &[&tarball]);
    write_attack_config(&world, &world.project, &listeners, None);
    // The global prefix is redirected into the world: a bare run as root would otherwise
    // really persist into the system's global node_modules.
    let global = world.root().join("global");
    let out = run(
        world
            .command("npm")
            .args(&NPM_CI[1..])
            .env("npm_config_prefix", &global),
        RUN_TIMEOUT,
    );
    out.assert_success();
    let report = AttackReport::read(&world, &out);
    assert_eq!(
        report.0["global_prefix"].as_str(),
        Some(global.to_str().expect("utf-8 path")),
        "attack.js did not take the global prefix from `npm prefix -g`"
    );
    check_bare_report(&world, &report, &listeners);
    let persisted = global
        .join("lib/node_modules")
        .join(global_package_name(&world))
        .join("index.js");
    assert!(
        persisted.is_file(),
        "{} was not written",
        persisted.display()
    );
    kill_processes_with_cmdline(&world.project.display().to_string());
}

#[test]
fn pip_evil_fixture_attacks_succeed_without_sandbox() {
    let world = World::new("bare-pip-evil");
    let listeners = Listeners::start(&world);
    let venv = make_venv(&world);
    let sdist = stage_pip_fixture(&world, "evilpkg");
    let global = world.root().join("global-site");
    write_attack_config(&world, &sdist, &listeners, Some(&global));
    let args = pip_install_args(&venv, "evilpkg");
    let out = run(world.command(&args[0]).args(&args[1..]), RUN_TIMEOUT);
    out.assert_success();
    let report = AttackReport::read(&world, &out);
    check_bare_report(&world, &report, &listeners);
    let persisted = global.join(format!("{}.pth", global_package_name(&world)));
    assert!(
        persisted.is_file(),
        "{} was not written",
        persisted.display()
    );
    assert!(
        site_packages(&venv).join("si_evilpkg.py").is_file(),
        "the evil sdist did not install its module"
    );
    kill_processes_with_cmdline(&world.project.display().to_string());
}

#[test]
fn benign_npm_fixture_builds_its_artefact_without_sandbox() {
    let world = World::new("bare-npm-benign");
    let tarball = pack_npm_fixture(&world, "benign");
    write_npm_project(&world, &[&tarball]);
    run(world.command("npm").args(&NPM_CI[1..]), RUN_TIMEOUT).assert_success();
    let artefact = world
        .project
        .join("node_modules/si-benign/build/artefact.txt");
    let text =
        std::fs::read_to_string(&artefact).expect("the benign postinstall wrote its artefact");
    assert!(text.contains("package=si-benign@1.0.0"), "{text}");
    assert!(Path::new(&world.project.join("node_modules/.bin/si-benign")).exists());
}
