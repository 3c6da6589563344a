//! The mode ladder: each rung forced by running the real binary under a seccomp filter that
//! refuses what the hosts in question refuse, installed in the forked child before exec:
//!
//! - Docker's default profile: `clone`/`unshare` with CLONE_NEWUSER fail with EPERM
//!   (`clone3` with ENOSYS, so glibc falls back to `clone`) → the landlock rung;
//! - Ubuntu 24.04's AppArmor restriction lets `unshare` succeed and fails a later stage; here
//!   `mount` fails with EPERM, so the first four stages pass and the fifth fails → landlock;
//! - no Landlock either (`landlock_create_ruleset` ENOSYS) → nothing runs (exit 122).
//!
//! The hostile npm and pip installs then run in landlock mode with `--allow-degraded`: every
//! file and environment attack is still blocked and logged, network attacks are blocked and
//! logged, and what the mode does not cover is asserted to be listed in the `degraded` event.

use crate::common::*;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// What the forced host refuses.
#[derive(Clone, Copy)]
struct Refuse {
    userns: bool,
    mount: bool,
    landlock: bool,
}

const DOCKER: Refuse = Refuse {
    userns: true,
    mount: false,
    landlock: false,
};
const APPARMOR_LIKE: Refuse = Refuse {
    userns: false,
    mount: true,
    landlock: false,
};
const NOTHING: Refuse = Refuse {
    userns: true,
    mount: false,
    landlock: true,
};

fn filter(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> BpfProgram {
    let arch = std::env::consts::ARCH.try_into().expect("supported arch");
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch,
    )
    .expect("filter")
    .try_into()
    .expect("compile")
}

fn programs(r: Refuse) -> Vec<BpfProgram> {
    let newuser = libc::CLONE_NEWUSER as u64;
    let has_newuser = || {
        SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(newuser),
            newuser,
        )
        .expect("condition")])
        .expect("rule")
    };
    let mut eperm = BTreeMap::new();
    let mut enosys = BTreeMap::new();
    if r.userns {
        eperm.insert(libc::SYS_clone, vec![has_newuser()]);
        eperm.insert(libc::SYS_unshare, vec![has_newuser()]);
        enosys.insert(libc::SYS_clone3, vec![]);
    }
    if r.mount {
        eperm.insert(libc::SYS_mount, vec![]);
    }
    if r.landlock {
        enosys.insert(libc::SYS_landlock_create_ruleset, vec![]);
    }
    vec![filter(eperm, libc::EPERM), filter(enosys, libc::ENOSYS)]
}

/// Run `cmd` under a seccomp filter refusing what `r` says.
fn forced(cmd: &mut Command, r: Refuse) -> &mut Command {
    let progs = programs(r);
    // SAFETY: the closure runs in the forked child before exec; it makes two syscalls
    // (prctl, seccomp) on programs compiled before the fork and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for p in &progs {
                seccompiler::apply_filter(p).map_err(std::io::Error::other)?;
            }
            Ok(())
        })
    };
    cmd
}

/// The attack suites' configuration: Docker-like host, landlock mode accepted.
fn landlock_mode(cmd: &mut Command) {
    forced(cmd, DOCKER).arg("--allow-degraded");
}

mod npm {
    crate::attack_tests!(
        crate::common::attacks::Kind::Npm,
        crate::common::attacks::Mode::Landlock,
        super::landlock_mode
    );
}

mod pip {
    crate::attack_tests!(
        crate::common::attacks::Kind::Pip,
        crate::common::attacks::Mode::Landlock,
        super::landlock_mode
    );
}

// ---------------------------------------------------------------------------------------
// doctor, snapshot-tested per rung
// ---------------------------------------------------------------------------------------

/// The machine-independent part of `doctor`: from the user-namespace stages on, without the
/// seccomp status line (the forcing filter changes it) and the TIOCSTI sysctl, with Landlock
/// ABI numbers replaced by `N` and the root-only line of the weaker list removed (checked
/// separately).
fn normalise(doctor: &str) -> String {
    let from = doctor
        .find("user namespaces")
        .unwrap_or_else(|| panic!("no user-namespace section in doctor's output:\n{doctor}"));
    let mut out = String::new();
    for line in doctor[from..].lines() {
        if line.starts_with("seccomp:")
            || line.starts_with("legacy_tiocsti:")
            || line.contains("runs as root")
        {
            continue;
        }
        let mut l = String::new();
        let mut rest = line;
        while let Some(at) = rest.find("ABI ") {
            l.push_str(&rest[..at + 4]);
            rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_digit());
            l.push('N');
        }
        l.push_str(rest);
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn doctor(r: Option<Refuse>) -> Output {
    let world = World::new("doctor");
    let mut cmd = world.safe_install();
    cmd.arg("doctor");
    if let Some(r) = r {
        forced(&mut cmd, r);
    }
    run(&mut cmd, RUN_TIMEOUT)
}

fn check_snapshot(name: &str, out: &Output, code: i32) {
    assert_eq!(out.code(), code, "{}", out.describe());
    // Among the fixtures, so SAFE_INSTALL_FIXTURES relocates them for the unprivileged run.
    let path = fixtures().join("snapshots").join(format!("{name}.txt"));
    let got = normalise(&out.stdout);
    if std::env::var_os("SAFE_INSTALL_UPDATE_SNAPSHOTS").is_some() {
        write_file(&path, &got);
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} is missing ({e}); run with SAFE_INSTALL_UPDATE_SNAPSHOTS=1 to write it. Output:\n{got}",
            path.display()
        )
    });
    assert_eq!(got, want, "doctor output changed ({})", path.display());
    let root_line = out.stdout.contains("runs as root (uid 0)");
    let landlock = out.stdout.contains("this machine: landlock");
    assert_eq!(
        root_line,
        landlock && is_root(),
        "the root line belongs to the landlock rung's list exactly when root runs it\n{}",
        out.stdout
    );
}

#[test]
fn doctor_full_rung() {
    check_snapshot("doctor-full", &doctor(None), 0);
}

#[test]
fn doctor_userns_refused_gets_the_landlock_rung() {
    check_snapshot("doctor-landlock-docker", &doctor(Some(DOCKER)), 122);
}

#[test]
fn doctor_later_stage_refused_gets_the_landlock_rung() {
    check_snapshot("doctor-landlock-mount", &doctor(Some(APPARMOR_LIKE)), 122);
}

#[test]
fn doctor_without_landlock_gets_no_rung() {
    check_snapshot("doctor-none", &doctor(Some(NOTHING)), 122);
}

// ---------------------------------------------------------------------------------------
// Choosing the rung when running
// ---------------------------------------------------------------------------------------

fn one_paragraph(out: &Output) {
    let text = out.stderr.trim();
    assert!(
        !text.is_empty() && !text.contains("\n\n") && text.lines().count() == 1,
        "want one paragraph on stderr\n{}",
        out.describe()
    );
}

/// Without the opt-in, a host without user namespaces is refused with the fixes, and the
/// command does not run.
#[test]
fn without_the_opt_in_landlock_mode_is_refused_with_the_fixes() {
    let _g = shared_run_guard();
    let world = World::new("no-opt-in");
    for r in [DOCKER, APPARMOR_LIKE] {
        let out = run(
            forced(&mut world.sandboxed_sh("echo SHOULD-NOT-RUN"), r),
            RUN_TIMEOUT,
        );
        assert_eq!(out.code(), 122, "{}", out.describe());
        assert!(!out.stdout.contains("SHOULD-NOT-RUN"), "{}", out.describe());
        for needle in [
            "Fix:",
            "--allow-degraded",
            "packaging/apparmor/safe-install",
        ] {
            assert!(
                out.stderr.contains(needle),
                "no `{needle}`\n{}",
                out.describe()
            );
        }
        one_paragraph(&out);
    }
}

/// No rung below landlock: without Landlock, even the opt-in is refused.
#[test]
fn without_landlock_even_the_opt_in_is_refused() {
    let _g = shared_run_guard();
    let world = World::new("no-landlock");
    let out = run(
        forced(
            &mut world.sandboxed_sh_with(&["--allow-degraded"], "echo SHOULD-NOT-RUN"),
            NOTHING,
        ),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 122, "{}", out.describe());
    assert!(!out.stdout.contains("SHOULD-NOT-RUN"), "{}", out.describe());
    assert!(out.stderr.contains("Landlock"), "{}", out.describe());
    one_paragraph(&out);
}

/// The policy key opts in as the flag does; the degraded event is logged and printed.
#[test]
fn policy_mode_landlock_opts_in_and_the_degraded_event_is_recorded() {
    let _g = shared_run_guard();
    let world = World::new("policy-mode");
    write_file(
        &world.project.join(".safe-install.toml"),
        "[sandbox]\nmode = \"landlock\"\nreason = \"this CI container has no user namespaces\"\n",
    );
    let log = world.log_path("mode");
    let out = run(
        forced(
            &mut world.sandboxed_sh_with(
                &["--log".as_ref(), log.as_os_str()],
                "echo RAN; cat .env && echo READ-IT; echo \"tmp=$TMPDIR\"",
            ),
            APPARMOR_LIKE,
        ),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        !out.stdout.contains("READ-IT") && out.stderr.contains("Permission denied"),
        "the hidden .env was readable\n{}",
        out.describe()
    );
    assert!(out.stdout.contains("RAN"), "{}", out.describe());
    assert!(!out.stdout.contains("SI-SECRET"), "{}", out.describe());
    assert!(
        out.stderr.contains("landlock mode") && out.stderr.contains("no pid isolation"),
        "the weaker guarantees are not printed\n{}",
        out.describe()
    );
    let events = read_log(&log);
    let degraded: Vec<_> = events
        .iter()
        .filter(|e| e["verdict"] == "degraded" && e["reason"] == "sandbox-degraded")
        .collect();
    assert_eq!(degraded.len(), 1, "{events:?}");
    for needle in [
        "no private /tmp",
        "no pid isolation",
        "UDP is refused",
        "hidden files",
    ] {
        assert!(
            degraded[0]["detail"]
                .as_str()
                .unwrap_or("")
                .contains(needle),
            "the degraded event does not list `{needle}`: {}",
            degraded[0]
        );
    }
    // TMPDIR is a private directory, removed afterwards.
    let tmp = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("tmp="))
        .expect("TMPDIR printed");
    assert!(tmp.contains("safe-install-tmp-"), "{}", out.describe());
    assert!(
        !Path::new(tmp).exists(),
        "the private TMPDIR {tmp} was left behind"
    );
}

/// UDP (DNS included) is refused and logged; a direct TCP connect is refused and logged;
/// nothing reaches the host's listener.
#[test]
fn udp_and_direct_tcp_are_refused_and_logged() {
    let _g = shared_run_guard();
    let world = World::new("net");
    let listeners = Listeners::start(&world);
    let log = world.log_path("net");
    let script = format!(
        "/usr/bin/python3 - <<'EOF'\nimport socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    print('UDP-OPENED')\nexcept OSError as e:\n    print('udp', e.errno)\ntry:\n    socket.create_connection(('127.0.0.1', {}), timeout=3).sendall(b'si-attack')\n    print('TCP-SENT')\nexcept OSError as e:\n    print('tcp', e.errno)\nEOF",
        listeners.tcp_port
    );
    let flags = [
        "--allow-degraded".as_ref(),
        "--log".as_ref(),
        log.as_os_str(),
    ];
    let out = run(
        forced(&mut world.sandboxed_sh_with(&flags, &script), DOCKER),
        RUN_TIMEOUT,
    );
    out.assert_success();
    assert!(
        out.stdout.contains("udp 1") && out.stdout.contains("tcp 111"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("UDP-OPENED"), "{}", out.describe());
    assert!(!out.stdout.contains("TCP-SENT"), "{}", out.describe());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        listeners.received().is_empty(),
        "{:?}",
        listeners.received()
    );
    let events = read_log(&log);
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "udp-socket" && e["verdict"] == "blocked"),
        "{events:?}"
    );
    assert!(
        has_event(
            &events,
            "connect",
            "blocked",
            &format!("127.0.0.1:{}", listeners.tcp_port)
        ),
        "{events:?}"
    );
}

/// A real install from the local Verdaccio succeeds in landlock mode, through the proxy.
#[test]
fn npm_ci_from_the_registry_goes_through_the_proxy() {
    require_npm();
    let _g = shared_run_guard();
    let world = World::new("ll-verdaccio");
    let server = crate::common::servers::start_verdaccio(&world.root().join("verdaccio"));
    let token =
        crate::common::servers::verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let tarball = pack_npm_fixture(&world, "benign");
    publish_npm(&world, &tarball, &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-consumer\", \"version\": \"1.0.0\", \"private\": true, \"dependencies\": { \"si-benign\": \"1.0.0\" } }\n",
    );
    use_npm_registry(&world, &server);
    write_npm_lockfile(&world);
    let log = world.log_path("ci");
    let mut cmd = world.safe_install();
    cmd.arg("--allow-degraded")
        .arg("--log-allowed")
        .arg("--log")
        .arg(&log)
        .arg("--project")
        .arg(&world.project)
        .args(NPM_CI);
    let out = run(forced(&mut cmd, DOCKER), RUN_TIMEOUT);
    assert_eq!(
        out.code(),
        0,
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    assert!(
        world
            .project
            .join("node_modules/si-benign/package.json")
            .is_file(),
        "{}",
        out.describe()
    );
    let events = read_log(&log);
    assert!(
        events.iter().any(|e| e["verdict"] == "allowed"
            && e["target"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("127.0.0.1:{}", server.port)))),
        "no allowed request to the registry through the proxy: {events:?}"
    );
    assert!(
        !events.iter().any(|e| e["verdict"] == "blocked"),
        "a benign install had something blocked: {events:?}"
    );
}

/// A non-loopback IPv4 address of this machine (the route to a documentation address; no
/// packet is sent). An "outside" client reaches a socket bound to 0.0.0.0 through it.
fn outside_address() -> std::net::Ipv4Addr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    let addr = probe
        .connect("192.0.2.1:9")
        .and_then(|_| probe.local_addr())
        .map(|a| a.ip());
    match addr {
        Ok(std::net::IpAddr::V4(v4)) if !v4.is_loopback() && !v4.is_unspecified() => v4,
        other => panic!(
            "this test needs a non-loopback IPv4 address on this machine (a route to 192.0.2.1); got {other:?}"
        ),
    }
}

/// Item 7 of issue 12: in landlock mode a postinstall that calls listen() without bind() (the
/// kernel auto-binds 0.0.0.0:<ephemeral>, no bind() for Landlock to refuse) gets no inbound
/// socket on a non-loopback address, and the attempt is logged with its package and script.
#[test]
fn landlock_mode_refuses_a_listening_socket_reachable_from_outside() {
    require_npm();
    let _g = shared_run_guard();
    let world = World::new("ll-listen");
    let outside = outside_address();
    // The door exists: listen() on an unbound socket binds the wildcard address (no bind()).
    // SAFETY: plain socket calls on a descriptor this test owns and closes.
    let auto = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let ok = libc::listen(fd, 1) == 0;
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let named =
            libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) == 0;
        libc::close(fd);
        ok && named && addr.sin_addr.s_addr == 0 && addr.sin_port != 0
    };
    assert!(
        auto,
        "listen() without bind() did not auto-bind 0.0.0.0 on this kernel"
    );
    let server = crate::common::servers::start_verdaccio(&world.root().join("verdaccio"));
    let token =
        crate::common::servers::verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let staging = world.root().join("staging/npm-listener");
    copy_dir(&fixtures().join("trust/npm-listener"), &staging);
    publish_npm(&world, &pack_npm_dir(&world, &staging), &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-consumer\", \"version\": \"1.0.0\", \"private\": true, \"dependencies\": { \"si-listener\": \"1.0.0\" } }\n",
    );
    use_npm_registry(&world, &server);
    write_npm_lockfile(&world);
    let secret = "SI-LISTEN-SECRET-4f1c";
    let log = world.log_path("listen");
    let mut cmd = world.safe_install();
    cmd.env("SI_LISTEN_SECRET", secret)
        .arg("--allow-degraded")
        .args(["--allow-env", "SI_LISTEN_SECRET"])
        .arg("--log")
        .arg(&log)
        .arg("--project")
        .arg(&world.project)
        .args(NPM_CI);
    let child = spawn(forced(&mut cmd, DOCKER));
    // Connect from outside while the script waits for a client.
    let report_path = world.project.join("node_modules/.si-listen.json");
    let mut served = String::new();
    let reported = wait_until(std::time::Duration::from_secs(90), || report_path.is_file());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap_or_default())
            .unwrap_or_default();
    if let Some(port) = report["port"].as_u64() {
        use std::io::Read;
        let addr = std::net::SocketAddr::from((outside, port as u16));
        if let Ok(mut conn) =
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        {
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = conn.read_to_string(&mut served);
        }
    }
    let out = wait_output(child, "safe-install npm ci (listener)".into(), RUN_TIMEOUT);
    assert!(
        reported,
        "the listener's postinstall wrote no report\n{}",
        out.describe()
    );
    assert!(
        !served.contains(secret),
        "a connection from outside ({outside}) was served the secret: the script listened on {}\n{}",
        report["address"],
        out.describe()
    );
    assert!(
        report["listen"]
            .as_str()
            .is_some_and(|s| s.starts_with("error")),
        "listen() without bind() succeeded: {report}\n{}",
        out.describe()
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let events = read_log(&log);
    assert!(
        events.iter().any(|e| e["verdict"] == "blocked"
            && e["action"] == "connect"
            && e["reason"] == "inbound-socket"
            && e["package"] == "si-listener@1.0.0"
            && e["script"] == "postinstall"
            && e["target"].as_str().is_some_and(|t| t.contains("0.0.0.0"))),
        "no blocked inbound-socket event on 0.0.0.0 attributed to si-listener@1.0.0 (postinstall): {events:?}"
    );
}

/// `explain --allow-degraded` on a host that gets landlock mode shows the plan that runs
/// there (issue 17: the plan is built for the mode, never rewritten after): the mode line,
/// the host's loopback proxy, no script shell; and what runs agrees: its proxy variable names
/// the host's loopback, not the full sandbox's fixed address, and npm's script shell is not
/// safe-install's. On the same host without the filter, `explain` shows the full sandbox.
#[test]
fn explain_shows_the_landlock_plan_that_runs() {
    let _g = shared_run_guard();
    let world = World::new("ll-explain");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-explain\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    let mut cmd = world.safe_install();
    cmd.arg("--allow-degraded")
        .arg("--project")
        .arg(&world.project)
        .args(["explain", "npm", "ci"]);
    let landlock = run(forced(&mut cmd, DOCKER), RUN_TIMEOUT);
    assert_eq!(landlock.code(), 0, "{}", landlock.describe());
    let text = &landlock.stdout;
    assert!(
        text.contains("mode:      landlock"),
        "explain does not say landlock mode:\n{text}"
    );
    assert!(
        text.contains("on the host's loopback"),
        "explain does not name the host's loopback proxy:\n{text}"
    );
    assert!(
        !text.contains("127.0.0.1:3128"),
        "explain shows the full sandbox's proxy address in landlock mode:\n{text}"
    );
    assert!(
        !text.contains("/.safe-install/script-shell"),
        "explain shows a script shell landlock mode does not have:\n{text}"
    );

    let mut full = world.safe_install();
    full.arg("--allow-degraded")
        .arg("--project")
        .arg(&world.project)
        .args(["explain", "npm", "ci"]);
    let full = run(&mut full, RUN_TIMEOUT);
    assert_eq!(full.code(), 0, "{}", full.describe());
    assert!(
        !full.stdout.contains("mode:      landlock") && full.stdout.contains("127.0.0.1:3128"),
        "explain on a host with user namespaces does not show the full sandbox:\n{}",
        full.stdout
    );

    // What runs in landlock mode agrees with what explain said.
    let out = run(
        forced(
            &mut world.sandboxed_sh_with(
                &["--allow-degraded"],
                "echo \"proxy=$HTTP_PROXY\"; echo \"shell=$npm_config_script_shell\"",
            ),
            DOCKER,
        ),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let proxy = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("proxy="))
        .unwrap_or_default();
    assert!(
        proxy.starts_with("http://127.0.0.1:") && !proxy.ends_with(":3128"),
        "the landlock run's proxy is not the host loopback one explain named: {proxy:?}\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("shell=/.safe-install/script-shell"),
        "the landlock run points npm at a script shell it does not have\n{}",
        out.describe()
    );
}
