//! Trust levels for pip, end to end with real pip against a real local pypiserver that needs
//! credentials: pip (level 1) authenticates, its build-dependency runner too (build
//! isolation), while its build backends (level 2: a legacy `setup.py` and an in-tree PEP 517
//! backend, both hostile) get nothing of the credentials, no index, and every attempt is
//! logged with the package and hook that made it.

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

const USER: &str = "si-index-user";

/// The thieves' sdists (one with an in-tree PEP 517 backend needing setuptools, one legacy
/// `setup.py`) and the setuptools wheel, in the index's directory.
fn stage_index(world: &World, packages: &Path, index: &str) {
    fs::create_dir_all(packages).expect("mkdir packages");
    let wheel = fs::read_dir("/usr/share/python-wheels")
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("setuptools-")))
        })
        .expect("no setuptools wheel in /usr/share/python-wheels. Fix: apt-get install python3-setuptools-whl (scripts/setup.sh as root)");
    fs::copy(&wheel, packages.join(wheel.file_name().expect("name"))).expect("copy the wheel");
    for (name, kind) in [
        ("si-pip-thief", "pyproject"),
        ("si-pip-legacy", "legacy"),
        ("si-pip-outer", "outer"),
    ] {
        run(
            world
                .setup_command("/usr/bin/python3")
                .arg(fixtures().join("trust/pip-thief/make_sdist.py"))
                .arg(packages)
                .args([name, index, kind])
                .arg(reports_dir(world)),
            RUN_TIMEOUT,
        )
        .assert_success();
    }
}

/// Where the thieves write what they got: outside the project and the venv (which build
/// backends may not write), granted to the run with `--rw`.
fn reports_dir(world: &World) -> std::path::PathBuf {
    let dir = world.root().join("reports");
    fs::create_dir_all(&dir).expect("mkdir reports");
    dir
}

/// The reports of `name`'s build steps, at least `steps` of them (a problem otherwise).
fn thief_reports(p: &mut Problems, world: &World, name: &str, steps: usize) -> Vec<Value> {
    let got = reports(&reports_dir(world), name);
    p.check(got.len() >= steps, || {
        format!(
            "{name}: expected reports from at least {steps} build steps, found {}",
            got.len()
        )
    });
    got
}

fn reports(dir: &Path, name: &str) -> Vec<Value> {
    fs::read_dir(dir)
        .expect("read the reports directory")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-report-"))
        })
        .map(|e| {
            serde_json::from_str(&fs::read_to_string(e.path()).expect("report"))
                .expect("the thief's report is JSON")
        })
        .collect()
}

/// What a thief's report of one build step at level 2 must show: it ran as `venv`'s python,
/// read neither pip's environ nor its memory, and was refused the index (by the proxy) and
/// the package manager's proxy port (by the kernel, below the build-dependency runner too).
fn check_level2_report(p: &mut Problems, name: &str, report: &Value, venv: &Path) {
    let step = report["argv"].to_string();
    p.check(
        report["executable"]
            .as_str()
            .is_some_and(|e| e.starts_with(&venv.display().to_string()))
            && report["prefix"] == venv.display().to_string(),
        || {
            format!(
                "{name} ({step}) did not run as {}'s python: executable {} prefix {}",
                venv.display(),
                report["executable"],
                report["prefix"]
            )
        },
    );
    for what in ["pip_environ", "pip_mem"] {
        p.check(report[what]["ok"] == false, || {
            format!("{name} ({step}) could read {what}: {}", report[what])
        });
    }
    p.check(report["index_get"]["status"] == 403, || {
        format!(
            "{name} ({step}): its request to the index was not refused: {}",
            report["index_get"]
        )
    });
    p.check(report["pm_port_put"]["errno"] == libc::EACCES, || {
        format!(
            "{name} ({step}, under the runner: {}): its PUT through the package manager's port was not refused by the kernel: {}",
            report["under_runner"], report["pm_port_put"]
        )
    });
}

fn installed(venv: &Path, module: &str) -> bool {
    fs::read_dir(site_packages(venv))
        .expect("site-packages")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(module))
}

/// A virtualenv and the thieves' index behind a password (pypiserver with `USER`): the
/// venv, the password, the index's package directory and the server.
fn venv_and_password_index(
    world: &World,
) -> (std::path::PathBuf, String, std::path::PathBuf, Server) {
    let venv = make_venv(world);
    let password = format!("si-index-pass-{}", world.token);
    let packages = world.root().join("packages");
    // The index URL the thieves try (without credentials) is only known once the server
    // runs; the sdists are made after it starts (pypiserver reads the directory per request).
    fs::create_dir_all(&packages).expect("mkdir packages");
    let server = start_pypiserver_auth(world.root(), &packages, USER, &password);
    stage_index(world, &packages, &server.url);
    (venv, password, packages, server)
}

#[test]
fn index_credentials_reach_pip_and_its_build_dependencies_but_never_a_build_backend() {
    let world = World::new("trust-pip");
    let (venv, password, _, server) = venv_and_password_index(&world);
    let (status, _) =
        http(server.port, "GET", "/simple/si-pip-thief/", &[], b"").expect("ask pypiserver");
    assert_eq!(
        status, 401,
        "the index must refuse requests without credentials"
    );

    let index = format!("http://{USER}:{password}@127.0.0.1:{}/simple/", server.port);
    let _g = shared_run_guard();
    let log = world.log_path("trust-pip");
    let pip = venv.join("bin/pip");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .arg("--rw")
        .arg(reports_dir(&world))
        .args(["--secret-env", "PIP_INDEX_URL"])
        .arg(&pip)
        .args([
            "install",
            "--no-cache-dir",
            "si-pip-thief",
            "si-pip-legacy",
            "si-pip-outer",
        ])
        .env("PIP_INDEX_URL", &index);
    let out = run(cmd.current_dir(&world.project), RUN_TIMEOUT);
    let r = LoggedRun::read(out, log);
    assert!(
        r.out.status.success()
            && installed(&venv, "si_pip_thief")
            && installed(&venv, "si_pip_legacy")
            && installed(&venv, "si_pip_outer"),
        "pip install failed (pip or its build-dependency runner did not authenticate)\n{}\n--- pypiserver ---\n{}",
        r.context(),
        server.log()
    );

    let mut p = Problems::new();
    // si-pip-legacy is built twice: for the venv, and by pip's build-dependency runner for
    // si-pip-outer's build environment.
    let legacy = reports(&reports_dir(&world), "si-pip-legacy");
    p.check(legacy.iter().any(|r| r["under_runner"] == true), || {
        format!("no si-pip-legacy build ran below pip's build-dependency runner: {legacy:?}")
    });
    for (name, hooks) in [
        ("si-pip-thief", 2),
        ("si-pip-legacy", 3),
        ("si-pip-outer", 2),
    ] {
        let got = thief_reports(&mut p, &world, name, hooks);
        for report in &got {
            let step = report["argv"].to_string();
            p.check(!report.to_string().contains(&password), || {
                format!("{name} ({step}) got the password somewhere: {report}")
            });
            p.check(report["env"].get("PIP_INDEX_URL").is_none(), || {
                format!("PIP_INDEX_URL reached {name} ({step})")
            });
            check_level2_report(&mut p, name, report, &venv);
        }
        let package = format!("{name}@1.0.0");
        let target = format!("127.0.0.1:{}", server.port);
        for (action, reason, target) in [
            ("read", "other-process", "/environ"),
            ("read", "other-process", "/mem"),
            ("read", "credential-path", ".netrc"),
            ("proxy", "script-offline", target.as_str()),
            ("connect", "script-offline", "127.0.0.1:3128"),
        ] {
            p.check(
                r.blocked_by(&package, None, action, reason, target) >= 1,
                || {
                    format!(
                        "no blocked {action} event [{reason}] on {target} attributed to {package}"
                    )
                },
            );
        }
    }
    p.check(!r.shows(&password), || {
        "the password appears in the event log or on stderr".into()
    });
    p.finish(&r.context());
}

/// Issue 13: no process inside holds the real index password. It comes in as
/// `PIP_INDEX_URL` with `user:password@` (`--secret-env`, as CI does) and in the home's
/// netrc. Code running inside pip itself (a `.pth` file an earlier run installed into the
/// venv, executed at pip's start-up) searches its environment, the sandbox's files, its own
/// memory and, through a level-1 child, pip's memory and environ, and finds only the
/// placeholder; the placeholder it sends to another allowed host is refused and logged as
/// `credential-misuse` and never arrives; pypiserver authenticated the real password (the
/// install of a wheel it serves only with credentials succeeds). Build backends are covered
/// by the test above.
#[test]
fn no_process_inside_pip_holds_the_real_password() {
    let world = World::new("trust-pip-placeholder");
    let (venv, password, _, server) = venv_and_password_index(&world);
    // What an earlier run's wheel left in the venv: a .pth file and the module it imports.
    let (status, _) =
        http(server.port, "GET", "/simple/setuptools/", &[], b"").expect("ask pypiserver");
    assert_eq!(
        status, 401,
        "the index must refuse requests without credentials"
    );
    let site = site_packages(&venv);
    for f in ["si_insider.pth", "si_insider.py"] {
        fs::copy(fixtures().join("trust/insider").join(f), site.join(f)).expect("plant the .pth");
    }
    let (other_port, other_seen) = recording_server("127.0.0.2");
    let half = password.len() / 2;
    let needle = serde_json::json!({
        "a": &password[..half],
        "b": &password[half..],
        "other": format!("http://127.0.0.2:{other_port}/loot"),
    });
    write_file(&site.join("si_insider_needle.json"), &needle.to_string());
    write_file(
        &world.home.join(".netrc"),
        &format!("machine 127.0.0.1\n  login {USER}\n  password {password}\n"),
    );

    let index = format!("http://{USER}:{password}@127.0.0.1:{}/simple/", server.port);
    // Another address: the netrc entry binds the password to every port of 127.0.0.1, as pip
    // would send it there.
    let allow_other = format!("127.0.0.2:{other_port}");
    let _g = shared_run_guard();
    let log = world.log_path("trust-pip-placeholder");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .args([
            "--secret-env",
            "PIP_INDEX_URL",
            "--allow-host",
            &allow_other,
        ])
        .arg(venv.join("bin/pip"))
        // A wheel only the index serves with credentials (reinstalled: downloaded again).
        .args([
            "install",
            "--no-cache-dir",
            "--force-reinstall",
            "--no-deps",
            "setuptools",
        ])
        .env("PIP_INDEX_URL", &index);
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    assert!(
        r.out.status.success()
            && r.out.stdout.contains(&format!(
                "Downloading http://127.0.0.1:{}/packages/setuptools-",
                server.port
            )),
        "pip install failed (the real password did not reach the index)\n{}\n--- pypiserver ---\n{}",
        r.context(),
        server.log()
    );
    let path = world.project.join("si-insider-report.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the .pth code wrote no report at {} ({e}): it did not run inside pip\n{}",
            path.display(),
            r.context()
        )
    });
    let report: Value = serde_json::from_str(&text).expect("the insider's report is JSON");
    let mut p = Problems::new();
    p.check(
        report["env_placeholders"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "PIP_INDEX_URL")),
        || format!("PIP_INDEX_URL inside pip holds no placeholder: {report}"),
    );
    for what in ["env_real", "files_real", "environ_real"] {
        p.check(
            report[what].as_array().is_some_and(|a| a.is_empty()),
            || {
                format!(
                    "the real password was found inside ({what}): {}",
                    report[what]
                )
            },
        );
    }
    let netrc = "/.safe-install/private/netrc";
    p.check(
        report["files_placeholder"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == netrc)),
        || {
            format!(
                "{netrc} holds no placeholder: {}",
                report["files_placeholder"]
            )
        },
    );
    // pip's own memory, read by the code inside it; a child it starts (dd) is no python
    // and is attributed as a script, so its read of pip's memory may also be refused.
    let s = &report["self_scan"];
    p.check(
        s["read"].as_u64().unwrap_or(0) > 10 << 20
            && s["real"] == false
            && s["placeholder"] == true,
        || format!("pip's own memory: {s}"),
    );
    p.check(report["child_scan"]["real"] == false, || {
        format!(
            "a child of pip read the password from pip's memory: {}",
            report["child_scan"]
        )
    });
    p.check(report["misuse"]["status"] == 403, || {
        format!(
            "the placeholder sent to another host was not refused: {}",
            report["misuse"]
        )
    });
    let loot = other_seen.lock().map(|s| s.clone()).unwrap_or_default();
    p.check(loot.is_empty(), || {
        format!("the other host received requests: {loot:?}")
    });
    p.check(
        r.events.iter().any(|e| {
            e["reason"] == "credential-misuse"
                && e["verdict"] == "blocked"
                && e["target"] == allow_other.as_str()
                && e["package"].is_null()
        }),
        || format!("no blocked credential-misuse event for {allow_other}"),
    );
    p.check(!r.shows(&password), || {
        "the password appears in the event log or on stderr".into()
    });
    p.finish(&format!(
        "{}\n--- pypiserver ---\n{}",
        r.context(),
        tail(&server.log(), 3000)
    ));
}

/// Issue 13 over HTTPS for pip: pypiserver behind a TLS terminator with a CA of the test's
/// own, which the user configured as pip's `cert`; the index URL with `user:password@` sits
/// in the user's pip.conf. The proxy terminates TLS for that host only (the run's CA, trusted
/// through `PIP_CERT`), puts the real password back and verifies the index against the
/// user's CA. The `.pth` code inside pip finds only placeholders and no private key in the
/// view; the placeholder sent elsewhere is refused.
#[test]
fn an_https_index_gets_the_real_password_only_through_the_proxy() {
    let world = World::new("trust-pip-https");
    let (venv, password, _, server) = venv_and_password_index(&world);
    let ca = test_ca(&world.root().join("ca"));
    let front = tls_front(server.port, &ca);
    let site = site_packages(&venv);
    for f in ["si_insider.pth", "si_insider.py"] {
        fs::copy(fixtures().join("trust/insider").join(f), site.join(f)).expect("plant the .pth");
    }
    let (other_port, other_seen) = recording_server("127.0.0.2");
    let half = password.len() / 2;
    let needle = serde_json::json!({
        "a": &password[..half],
        "b": &password[half..],
        "other": format!("http://127.0.0.2:{other_port}/loot"),
    });
    write_file(&site.join("si_insider_needle.json"), &needle.to_string());
    write_file(
        &world.home.join(".config/pip/pip.conf"),
        &format!(
            "[global]\nindex-url = https://{USER}:{password}@127.0.0.1:{front}/simple/\ncert = {}\n",
            ca.ca.display()
        ),
    );
    let allow_other = format!("127.0.0.2:{other_port}");
    let _g = shared_run_guard();
    let log = world.log_path("trust-pip-https");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .args(["--log-allowed", "--allow-host", &allow_other])
        .arg(venv.join("bin/pip"))
        .args([
            "install",
            "--no-cache-dir",
            "--force-reinstall",
            "--no-deps",
            "setuptools",
        ]);
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    assert!(
        r.out.status.success()
            && r.out.stdout.contains(&format!(
                "Downloading https://127.0.0.1:{front}/packages/setuptools-"
            )),
        "pip install over HTTPS failed\n{}\n--- pypiserver ---\n{}",
        r.context(),
        server.log()
    );
    let path = world.project.join("si-insider-report.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the .pth code wrote no report ({e})\n{}", r.context()));
    let report: Value = serde_json::from_str(&text).expect("the insider's report is JSON");
    let mut p = Problems::new();
    for what in [
        "env_real",
        "files_real",
        "environ_real",
        "files_private_key",
    ] {
        p.check(
            report[what].as_array().is_some_and(|a| a.is_empty()),
            || format!("found inside ({what}): {}", report[what]),
        );
    }
    let conf = "/.safe-install/private/pip.conf";
    p.check(
        report["files_placeholder"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == conf)),
        || {
            format!(
                "{conf} holds no placeholder: {}",
                report["files_placeholder"]
            )
        },
    );
    let s = &report["self_scan"];
    p.check(
        s["read"].as_u64().unwrap_or(0) > 10 << 20
            && s["real"] == false
            && s["placeholder"] == true,
        || format!("pip's own memory: {s}"),
    );
    p.check(report["child_scan"]["real"] == false, || {
        format!("a child of pip read the password: {}", report["child_scan"])
    });
    p.check(report["misuse"]["status"] == 403, || {
        format!(
            "the placeholder sent elsewhere was not refused: {}",
            report["misuse"]
        )
    });
    let loot = other_seen.lock().map(|s| s.clone()).unwrap_or_default();
    p.check(loot.is_empty(), || {
        format!("the other host received: {loot:?}")
    });
    p.check(r.intercepted(front), || {
        format!("no allowed, intercepted CONNECT to 127.0.0.1:{}", front)
    });
    p.check(!r.shows(&password), || {
        "the password appears in the event log or on stderr".into()
    });
    p.finish(&r.context());
}

/// pip told to run as another interpreter (`pip --python ENV`, pip 22.3+): pip starts again
/// as that interpreter, and so do its build backends. Here ENV is a virtualenv made from a
/// copy of the system's interpreter outside `PATH` (as a python built into `/opt`, or another
/// venv's base): the backend still runs at level 2, no index, no pip environ or memory, its
/// attempts logged with the package; and the install lands in ENV.
#[test]
fn pips_python_option_keeps_build_backends_at_level_2() {
    let world = World::new("trust-pip-python");
    let venv = make_venv(&world);
    let base = copy_system_python(&world.root().join("pythons/bin"), None);
    let other = world.project.join("other-venv");
    run(
        world
            .setup_command(&base)
            .args(["-m", "venv", "--without-pip"])
            .arg(&other),
        RUN_TIMEOUT,
    )
    .assert_success();
    let packages = world.root().join("packages");
    fs::create_dir_all(&packages).expect("mkdir packages");
    let server = start_pypiserver(world.root(), &packages);
    stage_index(&world, &packages, &server.url);

    let _g = shared_run_guard();
    let log = world.log_path("trust-pip-python");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .arg("--rw")
        .arg(reports_dir(&world))
        .arg("--ro")
        .arg(world.root().join("pythons"))
        .arg(venv.join("bin/pip"))
        .arg("--python")
        .arg(&other)
        .args([
            "install",
            "--no-cache-dir",
            "--index-url",
            &server.url,
            "si-pip-thief",
        ]);
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    assert!(
        r.out.status.success() && installed(&other, "si_pip_thief"),
        "pip --python did not install into the other environment\n{}\n--- pypiserver ---\n{}",
        r.context(),
        server.log()
    );
    let mut p = Problems::new();
    let got = thief_reports(&mut p, &world, "si-pip-thief", 2);
    for report in &got {
        check_level2_report(&mut p, "si-pip-thief", report, &other);
    }
    let target = format!("127.0.0.1:{}", server.port);
    for (action, reason, target) in [
        ("read", "other-process", "/environ"),
        ("proxy", "script-offline", target.as_str()),
    ] {
        p.check(
            r.blocked_by("si-pip-thief@1.0.0", None, action, reason, target) >= 1,
            || format!("no blocked {action} event [{reason}] on {target} attributed to si-pip-thief@1.0.0"),
        );
    }
    p.finish(&r.context());
}

/// `pip --python` naming an interpreter file by another name (`mypython`, a copy of the
/// system's): the python shim would not answer to that name, so the run is refused before
/// anything runs, naming the option and the fix. Bare pip runs as it.
#[test]
fn pips_python_option_naming_no_interpreter_is_refused() {
    let world = World::new("trust-pip-python-named");
    let venv = make_venv(&world);
    let dir = world.root().join("named");
    let named = copy_system_python(&dir, Some("mypython"));
    let probe = "--version";
    let bare = run(
        world
            .setup_command(venv.join("bin/pip"))
            .arg("--python")
            .arg(&named)
            .arg(probe)
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    bare.assert_success();
    assert!(
        bare.stdout.starts_with("pip "),
        "bare pip did not run as {} (the test proves nothing): {}",
        named.display(),
        bare.stdout
    );
    let out = run(
        world
            .safe_install()
            .arg("--ro")
            .arg(&dir)
            .arg(venv.join("bin/pip"))
            .arg("--python")
            .arg(&named)
            .arg(probe)
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.code() == Some(123)
            && out.stderr.contains(&format!(
                "pip is asked for the interpreter `{}` (by the command line)",
                named.display()
            ))
            && out.stderr.contains("Fix:")
            && !out.stdout.contains("pip "),
        "the run was not refused naming the option\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// pip's site file, `<environment>/pip.conf`, of the environment pip runs in, here not
/// activated (`<venv>/bin/pip` run directly, as CI does, so no `VIRTUAL_ENV`), with the index
/// password in its `index-url`: it reaches pip (the install authenticates against the index)
/// and never a build backend, which reads `<sys.prefix>/pip.conf` first from a local build
/// (`--no-index --find-links`), then from the index's.
#[test]
fn the_site_pip_conf_of_an_environment_not_activated_reaches_pip_only() {
    let world = World::new("trust-pip-site-conf");
    let (venv, password, packages, server) = venv_and_password_index(&world);
    write_file(
        &venv.join("pip.conf"),
        &format!(
            "[global]\nindex-url = http://{USER}:{password}@127.0.0.1:{}/simple/\n",
            server.port
        ),
    );
    let _g = shared_run_guard();
    let mut p = Problems::new();
    for (step, args) in [
        (
            "local",
            vec![
                "--no-index",
                "--find-links",
                packages.to_str().expect("utf-8"),
            ],
        ),
        ("index", vec![]),
    ] {
        let log = world.log_path(&format!("site-conf-{step}"));
        let out = run(
            world
                .safe_install()
                .arg("--log")
                .arg(&log)
                .arg("--rw")
                .arg(reports_dir(&world))
                .arg(venv.join("bin/pip"))
                .args(["install", "--no-cache-dir", "--force-reinstall"])
                .args(&args)
                .arg("si-pip-thief")
                .current_dir(&world.project),
            RUN_TIMEOUT,
        );
        let r = LoggedRun::read(out, log);
        p.check(r.out.status.success(), || {
            format!("{step}: pip install failed\n{}", r.context())
        });
        p.check(!r.shows(&password), || {
            format!("{step}: the password appears in the event log or on stderr")
        });
    }
    // Each sandbox numbers its processes from 1, so a later run's report may replace an
    // earlier one of the same pid: at least one run's two hooks are there.
    let got = thief_reports(&mut p, &world, "si-pip-thief", 2);
    for report in &got {
        p.check(!report.to_string().contains(&password), || {
            format!(
                "a build step ({}) got the password: {}",
                report["argv"], report["site_pip_conf"]
            )
        });
    }
    p.finish("");
}
