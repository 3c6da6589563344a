//! uv as its own package manager, end to end with real uv (scripts/toolchains.sh) against a
//! local pypiserver: `uv pip install` and `uv sync` of an sdist whose in-tree PEP 517 backend
//! attacks at every hook. uv (level 1) reaches the index with the real credentials; every
//! hook runs at level 2 (no network but its own proxy port, no credentials, writes only its
//! own build directories in uv's cache and temp), each attempt is refused and logged with
//! `name@version` and the hook; the install succeeds. Bare uv, the negative control, lets
//! the same backend do everything. `explain` names the index from uv's configuration and the
//! hook. With a warm cache, uv inside hard-links installed files from its cache into the
//! environment (a venv outside the project, and the project's `.venv` under `uv sync`)
//! instead of falling back to copying.

use crate::common::netns::*;
use crate::common::servers::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const USER: &str = "si-uv-user";
const NAME: &str = "si-uv-attacker";
const PACKAGE: &str = "si-uv-attacker@1.0.0";

/// The attacker's sdist in `packages`, told where to attack.
fn stage_attacker(world: &World, packages: &Path, index: &str, site: &Path) -> PathBuf {
    let reports = world.root().join("reports");
    fs::create_dir_all(&reports).expect("mkdir reports");
    fs::create_dir_all(packages).expect("mkdir packages");
    let target = serde_json::json!({
        "name": NAME,
        "index": index,
        "project": world.project,
        "site_packages": site,
        "cache": world.home.join(".cache/uv"),
        "reports": reports,
    });
    run(
        world
            .setup_command("/usr/bin/python3")
            .arg(fixtures().join("uv/attacker/make_sdist.py"))
            .arg(packages)
            .arg(NAME)
            .arg(target.to_string()),
        RUN_TIMEOUT,
    )
    .assert_success();
    reports
}

fn read_reports(dir: &Path) -> Vec<Value> {
    fs::read_dir(dir)
        .expect("read the reports directory")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(NAME))
        .map(|e| {
            serde_json::from_str(&fs::read_to_string(e.path()).expect("report"))
                .expect("the attacker's report is JSON")
        })
        .collect()
}

fn installed(site: &Path) -> bool {
    site.join("si_uv_attacker.py").is_file()
}

/// What the attacker must not have got, per report; and the events each hook leaves.
fn check_level2(p: &mut Problems, r: &LoggedRun, got: &[Value], secrets: &[&str], index_port: u16) {
    let hooks: Vec<&str> = got.iter().filter_map(|g| g["hook"].as_str()).collect();
    p.check(
        hooks.contains(&"get_requires_for_build_wheel") && hooks.contains(&"build_wheel"),
        || format!("the backend did not run both hooks: {hooks:?}"),
    );
    for report in got {
        let hook = report["hook"].as_str().unwrap_or("?").to_string();
        for s in secrets {
            p.check(!report.to_string().contains(s), || {
                format!("{hook} got a secret somewhere: {report}")
            });
        }
        p.check(report["env"].get("UV_INDEX_URL").is_none(), || {
            format!("UV_INDEX_URL reached {hook}")
        });
        p.check(report["index_get"]["status"] == 403, || {
            format!(
                "{hook}: its request to the index was not refused: {}",
                report["index_get"]
            )
        });
        p.check(report["pm_port_get"]["errno"] == libc::EACCES, || {
            format!(
                "{hook}: the package manager's proxy port was not closed by the kernel: {}",
                report["pm_port_get"]
            )
        });
        // The home's `.netrc` lies beside uv's cache, which is shown on one mount with the
        // environment: there it is covered by an empty file (hidden-file), otherwise absent
        // (credential-path). Either way the build step reads nothing and is logged.
        p.check(
            report["netrc"]["ok"] == false || report["netrc"]["value"] == "",
            || format!("{hook}: the netrc was read: {}", report["netrc"]),
        );
        p.check(
            ["credential-path", "hidden-file"]
                .iter()
                .map(|reason| r.blocked_by(PACKAGE, Some(&hook), "read", reason, ".netrc"))
                .sum::<usize>()
                >= 1,
            || format!("no blocked read of .netrc attributed to {PACKAGE} ({hook})"),
        );
        for what in [
            "uv_environ",
            "write_project",
            "write_pth",
            "write_victim",
            "write_cache",
        ] {
            p.check(report[what]["ok"] == false, || {
                format!("{hook}: {what} succeeded: {}", report[what])
            });
        }
        let index = format!("127.0.0.1:{index_port}");
        for (action, reason, target) in [
            ("proxy", "script-offline", index.as_str()),
            ("connect", "script-offline", "127.0.0.1:3128"),
            ("read", "other-process", "/environ"),
            ("write", "read-only-path", "si-uv-planted.txt"),
            ("write", "read-only-path", "si_uv_planted.pth"),
            ("write", "read-only-path", "si_uv_victim.py"),
            ("write", "read-only-path", ".cache/uv/si-uv-planted"),
        ] {
            p.check(
                r.blocked_by(PACKAGE, Some(&hook), action, reason, target) >= 1,
                || format!("no blocked {action} [{reason}] on {target} attributed to {PACKAGE} ({hook})"),
            );
        }
    }
}

/// Where the index password comes from.
#[derive(Debug, Clone, Copy)]
enum Creds {
    /// `UV_INDEX_URL` with `user:password@` (`--secret-env`), and `~/.netrc`.
    EnvAndNetrc,
    /// An `[[index]]` with `user:password@` in the user's `~/.config/uv/uv.toml`.
    UserConfig,
    /// A named `[[index]]` without credentials in the user's `uv.toml`, its user name and
    /// password in `UV_INDEX_CORP_USERNAME` / `UV_INDEX_CORP_PASSWORD`
    /// (`--secret-env`), as CI passes them.
    NamedIndexVariables,
}

#[test]
fn uv_pip_install_runs_build_backends_at_level_2() {
    uv_pip_install_with(Creds::EnvAndNetrc);
}

#[test]
fn the_users_uv_toml_reaches_uv_and_never_a_build_step() {
    uv_pip_install_with(Creds::UserConfig);
}

#[test]
fn a_named_indexs_password_variable_is_a_placeholder_bound_to_that_index() {
    uv_pip_install_with(Creds::NamedIndexVariables);
}

fn uv_pip_install_with(creds: Creds) {
    let uv = crate::common::toolchains::uv();
    let world = World::new(match creds {
        Creds::EnvAndNetrc => "uv-pip",
        Creds::UserConfig => "uv-pip-conf",
        Creds::NamedIndexVariables => "uv-pip-named",
    });
    let venv = make_venv(&world);
    let site = site_packages(&venv);
    fs::write(site.join("si_uv_victim.py"), "PWNED = False\n").expect("plant the victim");
    let password = format!("si-uv-pass-{}", world.token);
    let token = format!("si-uv-token-{}", world.token);
    let packages = world.root().join("packages");
    fs::create_dir_all(&packages).expect("mkdir packages");
    let server = start_pypiserver_auth(world.root(), &packages, USER, &password);
    let reports = stage_attacker(&world, &packages, &server.url, &site);
    let (status, _) = http(server.port, "GET", "/simple/", &[], b"").expect("ask pypiserver");
    assert_eq!(
        status, 401,
        "the index must refuse requests without credentials"
    );
    let index = format!("http://{USER}:{password}@127.0.0.1:{}/simple/", server.port);
    match creds {
        Creds::EnvAndNetrc => write_file(
            &world.home.join(".netrc"),
            &format!("machine 127.0.0.1\n  login {USER}\n  password {password}\n"),
        ),
        Creds::UserConfig => write_file(
            &world.home.join(".config/uv/uv.toml"),
            &format!("[[index]]\nname = \"private\"\nurl = \"{index}\"\ndefault = true\n"),
        ),
        Creds::NamedIndexVariables => write_file(
            &world.home.join(".config/uv/uv.toml"),
            &format!(
                "[[index]]\nname = \"corp\"\nurl = \"http://127.0.0.1:{}/simple/\"\ndefault = true\n",
                server.port
            ),
        ),
    }

    let _g = shared_run_guard();
    let log = world.log_path("uv-pip");
    let mut cmd = world.safe_install();
    cmd.arg("--log")
        .arg(&log)
        .arg("--rw")
        .arg(&reports)
        .args([
            "--secret-env",
            "UV_INDEX_URL",
            "--secret-env",
            "SI_UV_TOKEN",
            "--secret-env",
            "UV_INDEX_CORP_PASSWORD",
        ])
        .arg(&uv)
        .args(["pip", "install", NAME])
        .env("SI_UV_TOKEN", &token)
        .env("VIRTUAL_ENV", &venv);
    match creds {
        Creds::EnvAndNetrc => {
            cmd.env("UV_INDEX_URL", &index);
        }
        Creds::NamedIndexVariables => {
            cmd.env("UV_INDEX_CORP_USERNAME", USER)
                .env("UV_INDEX_CORP_PASSWORD", &password);
        }
        Creds::UserConfig => {}
    }
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    assert!(
        r.out.status.success() && installed(&site),
        "uv pip install failed (uv did not authenticate, or a build step could not build)\n{}\n--- pypiserver ---\n{}",
        r.context(),
        tail(&server.log(), 3000)
    );
    let mut p = Problems::new();
    let got = read_reports(&reports);
    check_level2(&mut p, &r, &got, &[&password, &token], server.port);
    p.check(
        fs::read_to_string(site.join("si_uv_victim.py")).is_ok_and(|t| t.contains("False")),
        || "another package's module was rewritten".into(),
    );
    p.check(!world.project.join("si-uv-planted.txt").exists(), || {
        "a file was planted in the project root".into()
    });
    p.check(!site.join("si_uv_planted.pth").exists(), || {
        "a .pth file was planted in the venv".into()
    });
    p.check(!r.shows(&password), || {
        "the password appears in the event log or on stderr".into()
    });
    p.finish(&r.context());
}

/// The negative control: the same install with bare uv lets the backend reach the index
/// through any proxy, read the netrc and the environment, and write everywhere it tried.
#[test]
fn bare_uv_lets_the_same_backend_do_everything() {
    let uv = crate::common::toolchains::uv();
    let world = World::new("uv-bare");
    let venv = make_venv(&world);
    let site = site_packages(&venv);
    let packages = world.root().join("packages");
    fs::create_dir_all(&packages).expect("mkdir packages");
    let server = start_pypiserver(world.root(), &packages);
    let reports = stage_attacker(&world, &packages, &server.url, &site);
    let token = format!("si-uv-token-{}", world.token);
    write_file(
        &world.home.join(".netrc"),
        "machine 127.0.0.1\n  login u\n  password p\n",
    );
    let out = run(
        world
            .setup_command(&uv)
            .env("HOME", &world.home)
            .env("VIRTUAL_ENV", &venv)
            .env("UV_CACHE_DIR", world.home.join(".cache/uv"))
            .env("UV_DEFAULT_INDEX", &server.url)
            .env("SI_UV_TOKEN", &token)
            .args(["pip", "install", NAME]),
        RUN_TIMEOUT,
    );
    out.assert_success();
    let got = read_reports(&reports);
    let mut p = Problems::new();
    p.check(!got.is_empty(), || "the backend wrote no report".into());
    for report in &got {
        for what in [
            "netrc",
            "write_project",
            "write_pth",
            "write_victim",
            "write_cache",
            "uv_environ",
        ] {
            p.check(report[what]["ok"] == true, || {
                format!("bare: {what} failed: {}", report[what])
            });
        }
        p.check(report["index_get"]["status"] == 200, || {
            format!("bare: the index did not answer: {}", report["index_get"])
        });
        p.check(report["env"]["SI_UV_TOKEN"] == token.as_str(), || {
            "bare: the token did not reach the backend".into()
        });
    }
    p.finish(&format!("{}\n{}", out.stdout, out.stderr));
}

#[test]
fn uv_sync_builds_at_level_2_from_the_index_in_pyproject() {
    let world = World::new("uv-sync");
    let venv = make_venv_at(&world, &world.project.join(".venv"));
    let site = site_packages(&venv);
    let attacked = uv_sync_attacked(&world, &site, |_| {});
    assert!(
        world.project.join("uv.lock").is_file(),
        "uv sync wrote no uv.lock\n{}",
        attacked.run.context()
    );
    attacked.check_level2();
}

/// A `uv sync` inside the sandbox whose project depends on the attacker from a local index,
/// run and checked to have installed it.
struct SyncAttacked {
    run: LoggedRun,
    reports: PathBuf,
    index_port: u16,
}

impl SyncAttacked {
    /// Every level-2 check of [`check_level2`] on each hook the attacker ran.
    fn check_level2(&self) {
        let mut p = Problems::new();
        check_level2(
            &mut p,
            &self.run,
            &read_reports(&self.reports),
            &[],
            self.index_port,
        );
        p.finish(&self.run.context());
    }
}

/// `safe-install [--log --rw reports] <flags from configure> uv sync` in `world`'s project,
/// whose `pyproject.toml` depends on the attacker from a local pypiserver (its default
/// index); fails unless the sync succeeded and installed the attacker into `site`.
fn uv_sync_attacked(
    world: &World,
    site: &Path,
    configure: impl FnOnce(&mut std::process::Command),
) -> SyncAttacked {
    let uv = crate::common::toolchains::uv();
    let packages = world.root().join("packages");
    fs::create_dir_all(&packages).expect("mkdir packages");
    let server = start_pypiserver(world.root(), &packages);
    let reports = stage_attacker(world, &packages, &server.url, site);
    write_file(
        &world.project.join("pyproject.toml"),
        &format!(
            "[project]\nname = \"si-uv-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"{NAME}\"]\n\n[[tool.uv.index]]\nname = \"local\"\nurl = \"{}\"\ndefault = true\n",
            server.url
        ),
    );
    let _g = shared_run_guard();
    let log = world.log_path("uv-sync");
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log).arg("--rw").arg(&reports);
    configure(&mut cmd);
    cmd.arg(&uv).arg("sync");
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    assert!(
        r.out.status.success() && installed(site),
        "uv sync failed\n{}\n--- pypiserver ---\n{}",
        r.context(),
        tail(&server.log(), 3000)
    );
    SyncAttacked {
        run: r,
        reports,
        index_port: server.port,
    }
}

/// Where the interpreter uv builds with lives, other than the system's.
#[derive(Debug, Clone, Copy)]
enum Interpreter {
    /// Installed by uv itself (`uv python install`, under `~/.local/share/uv/python`, shown
    /// read-only inside), which uv prefers to the system's.
    Managed,
    /// In a directory `UV_PYTHON_SEARCH_PATH` names (it replaces `PATH` for uv's search).
    SearchPath,
    /// In a directory uv does not search, the base of the project's `.venv`, made beforehand
    /// with `python -m venv --copies`: the environment's `bin/python` is a copy, and uv makes
    /// its build environments from the base the environment's `pyvenv.cfg` names (`home`).
    CopiedVenvBase,
    /// The same, with another environment active (`VIRTUAL_ENV`), which `uv sync` ignores
    /// (it syncs the project's `.venv` unless `--active`).
    CopiedVenvBaseBesideActive,
}

/// uv prefers the interpreters it installed itself (`uv python install`, under
/// `~/.local/share/uv/python`, shown read-only inside) to the system's: `uv sync` without a
/// `.venv` makes one from such an interpreter, and builds the sdist with it. That interpreter
/// is a file of its own (here a copy of the system's, as an installed one is), so it needs the
/// python shim as much as the system's does, or every hook of the build runs at uv's level.
#[test]
fn uv_sync_with_a_uv_managed_python_builds_at_level_2() {
    uv_sync_with_its_own_python_builds_at_level_2(Interpreter::Managed);
}

/// The same with an interpreter found through `UV_PYTHON_SEARCH_PATH`.
#[test]
fn uv_sync_with_a_python_on_uvs_search_path_builds_at_level_2() {
    uv_sync_with_its_own_python_builds_at_level_2(Interpreter::SearchPath);
}

/// The same with a project `.venv` whose interpreter is a copy (`python -m venv --copies`)
/// of a base that lives where uv does not search.
#[test]
fn uv_sync_into_a_venv_with_copied_interpreters_builds_at_level_2() {
    uv_sync_with_its_own_python_builds_at_level_2(Interpreter::CopiedVenvBase);
}

/// The same with another environment active, which `uv sync` ignores.
#[test]
fn uv_sync_into_a_venv_with_copied_interpreters_beside_an_active_one_builds_at_level_2() {
    uv_sync_with_its_own_python_builds_at_level_2(Interpreter::CopiedVenvBaseBesideActive);
}

fn uv_sync_with_its_own_python_builds_at_level_2(kind: Interpreter) {
    let world = World::new(match kind {
        Interpreter::Managed => "uv-managed",
        Interpreter::SearchPath => "uv-search-path",
        Interpreter::CopiedVenvBase => "uv-copied-venv",
        Interpreter::CopiedVenvBaseBesideActive => "uv-copied-venv-active",
    });
    let system = fs::canonicalize("/usr/bin/python3").expect("the system python3");
    let version = run(
        world.setup_command(&system).args([
            "-c",
            "import platform, sys; print(platform.python_version(), '%d.%d' % sys.version_info[:2])",
        ]),
        RUN_TIMEOUT,
    );
    version.assert_success();
    let (full, minor) = version
        .stdout
        .trim()
        .split_once(' ')
        .map(|(f, m)| (f.to_string(), m.to_string()))
        .expect("the interpreter's version");
    let bin = match kind {
        Interpreter::Managed => world.home.join(format!(
            ".local/share/uv/python/cpython-{full}-linux-{}-gnu/bin",
            std::env::consts::ARCH
        )),
        Interpreter::SearchPath
        | Interpreter::CopiedVenvBase
        | Interpreter::CopiedVenvBaseBesideActive => world.root().join("pythons/bin"),
    };
    let managed = copy_system_python(&bin, Some(&format!("python{minor}")));
    std::os::unix::fs::symlink(format!("python{minor}"), bin.join("python3"))
        .expect("its python3 link");
    let copied = matches!(
        kind,
        Interpreter::CopiedVenvBase | Interpreter::CopiedVenvBaseBesideActive
    );
    if copied {
        run(
            world
                .setup_command(&managed)
                .args(["-m", "venv", "--copies", "--without-pip"])
                .arg(world.project.join(".venv")),
            RUN_TIMEOUT,
        )
        .assert_success();
        let python = world.project.join(".venv/bin/python");
        assert!(
            fs::symlink_metadata(&python).is_ok_and(|m| m.file_type().is_file()),
            "{} is not a copy (the test proves nothing)",
            python.display()
        );
    }
    let site = world
        .project
        .join(format!(".venv/lib/python{minor}/site-packages"));
    let attacked = uv_sync_attacked(&world, &site, |cmd| match kind {
        Interpreter::Managed => {}
        Interpreter::SearchPath => {
            cmd.arg("--ro")
                .arg(world.root().join("pythons"))
                .env("UV_PYTHON_SEARCH_PATH", &bin);
        }
        Interpreter::CopiedVenvBase => {
            cmd.arg("--ro").arg(world.root().join("pythons"));
        }
        Interpreter::CopiedVenvBaseBesideActive => {
            let active = crate::common::pip::make_venv_at(&world, &world.root().join("active"));
            cmd.arg("--ro")
                .arg(world.root().join("pythons"))
                .arg("--ro")
                .arg(&active)
                .env("VIRTUAL_ENV", &active);
        }
    });
    let cfg = fs::read_to_string(world.project.join(".venv/pyvenv.cfg")).unwrap_or_default();
    assert!(
        cfg.lines()
            .any(|l| l.starts_with("home") && l.ends_with(&*bin.to_string_lossy())),
        "uv did not make the environment from {kind:?}'s interpreter (the test proves nothing)\n{cfg}\n{}",
        attacked.run.context()
    );
    if copied {
        assert!(
            fs::symlink_metadata(world.project.join(".venv/bin/python"))
                .is_ok_and(|m| m.file_type().is_file()),
            "uv made the environment again (the test proves nothing)\n{}",
            attacked.run.context()
        );
    }
    attacked.check_level2();
}

/// An interpreter asked for by a name that is not an interpreter's (`--python mypython`, a
/// copy of the system's on `PATH`): the python shim would not answer to that name,
/// so the run is refused before anything runs, naming the request and the fix. Bare uv finds
/// and would use it.
#[test]
fn an_interpreter_requested_by_another_name_is_refused() {
    let uv = crate::common::toolchains::uv();
    let world = World::new("uv-named");
    let bin = world.root().join("pythons/bin");
    copy_system_python(&bin, Some("mypython"));
    let path = format!("{}:{SYSTEM_PATH}", bin.display());
    let found = run(
        world
            .setup_command(&uv)
            .env("PATH", &path)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .args(["python", "find", "mypython"]),
        RUN_TIMEOUT,
    );
    found.assert_success();
    assert_eq!(
        found.stdout.trim(),
        bin.join("mypython").to_string_lossy(),
        "bare uv does not find the interpreter by that name (the test proves nothing)"
    );
    write_file(
        &world.project.join("pyproject.toml"),
        "[project]\nname = \"si-uv-app\"\nversion = \"0.1.0\"\ndependencies = []\n",
    );
    let out = run(
        world
            .safe_install()
            .arg("--ro")
            .arg(world.root().join("pythons"))
            .env("PATH", &path)
            .env("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple/")
            .arg(&uv)
            .args(["sync", "--python", "mypython"])
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    assert!(
        !out.status.success()
            && out
                .stderr
                .contains("uv is asked for the interpreter `mypython` (by the command line)")
            && out.stderr.contains("Fix:"),
        "the run was not refused naming the request\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        !world.project.join(".venv").exists(),
        "uv ran: it made the environment"
    );
}

/// uv told to work in another directory (`--directory`, `--project`, or their variables
/// `UV_WORKING_DIR`, `UV_PROJECT`) acts on that directory's project: its configuration and
/// its `.venv`, whose interpreters the plan has not looked at (a `--copies` environment's
/// base would then run build backends at uv's level). Refused unless it is the project, as
/// npm's `--prefix` is; bare, the control, syncs `sub/.venv`.
#[test]
fn uv_told_to_work_in_another_directory_is_refused() {
    let world = World::new("uv-dir");
    let project = |dir: &Path, name: &str| {
        write_file(
            &dir.join("pyproject.toml"),
            &format!("[project]\nname = \"{name}\"\nversion = \"0.1.0\"\ndependencies = []\n"),
        )
    };
    project(&world.project, "si-uv-root");
    let sub = world.project.join("sub");
    project(&sub, "si-uv-sub");
    let uv_env = |cmd: &mut std::process::Command| {
        cmd.env("PATH", crate::common::toolchains::path_with("uv", "uv"))
            .env("UV_PYTHON", "/usr/bin/python3")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple/");
    };
    let mut bare = world.command("uv");
    uv_env(&mut bare);
    run(
        bare.args(["--directory", "sub", "sync", "--offline"]),
        RUN_TIMEOUT,
    )
    .assert_success();
    assert!(
        sub.join(".venv/pyvenv.cfg").is_file(),
        "bare uv --directory sub did not sync sub's environment (the test proves nothing)"
    );
    fs::remove_dir_all(sub.join(".venv")).expect("remove sub/.venv");
    // Each case: its options, or the variable set to `sub`.
    for (options, var) in [
        (&["--directory", "sub"][..], None),
        (&["--directory=sub"][..], None),
        (&["--project", "sub"][..], None),
        (&[][..], Some("UV_WORKING_DIR")),
        (&[][..], Some("UV_PROJECT")),
    ] {
        let mut cmd = world.safe_install();
        uv_env(&mut cmd);
        if let Some(name) = var {
            cmd.env(name, "sub");
        }
        let out = run(
            cmd.arg("uv").args(options).args(["sync", "--offline"]),
            RUN_TIMEOUT,
        );
        assert!(
            out.status.code() == Some(123)
                && out.stderr.contains("installs another directory")
                && out.stderr.contains("Fix:")
                && !sub.join(".venv").exists(),
            "uv {options:?} {var:?} was not refused before it ran\n{}",
            out.describe()
        );
    }
}

/// An interpreter behind a wrapper script that picks the program from its own name, as a pyenv
/// shim does (`exec … "${0##*/}"`): under uv the python shim starts the real file, here that
/// script, as it was named, so the script still finds its interpreter.
#[test]
fn an_interpreter_behind_a_wrapper_script_runs_under_uv() {
    let uv = crate::common::toolchains::uv();
    let world = World::new("uv-wrapper");
    let system = fs::canonicalize("/usr/bin/python3").expect("the system python3");
    let name = system
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let bin = world.root().join("shims/bin");
    let script = bin.join(&name);
    write_file(
        &script,
        &format!(
            "#!/bin/sh\nexec \"{}/${{0##*/}}\" \"$@\"\n",
            system.parent().expect("a directory").display()
        ),
    );
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!("{}:{SYSTEM_PATH}", bin.display());
    let find = |sandboxed: bool| {
        let mut cmd = if sandboxed {
            let mut c = world.safe_install();
            c.arg("--ro")
                .arg(world.root().join("shims"))
                .env("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple/")
                .arg(&uv);
            c
        } else {
            let mut c = world.setup_command(&uv);
            c.env("UV_PYTHON_DOWNLOADS", "never");
            c
        };
        cmd.env("PATH", &path)
            .args(["python", "find"])
            .arg(&script)
            .current_dir(&world.project);
        run(&mut cmd, RUN_TIMEOUT)
    };
    let bare = find(false);
    bare.assert_success();
    let inside = find(true);
    assert!(
        inside.status.success() && inside.stdout.trim() == bare.stdout.trim(),
        "uv inside did not find the interpreter behind the wrapper as bare uv does ({})\n{}\n{}",
        bare.stdout.trim(),
        inside.stdout,
        inside.stderr
    );
}

#[test]
fn explain_names_the_index_from_uvs_configuration_and_the_hook() {
    let uv = crate::common::toolchains::uv();
    let world = World::new("uv-explain");
    write_file(
        &world.project.join("uv.toml"),
        "[[index]]\nurl = \"http://u:secret@127.0.0.1:18765/simple\"\ndefault = true\n",
    );
    let out = run(
        world
            .safe_install()
            .arg("explain")
            .arg(&uv)
            .args(["pip", "install", "x"])
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    out.assert_success();
    let mut p = Problems::new();
    let text = &out.stdout;
    p.check(text.contains("policy:    uv"), || {
        "not planned as uv".into()
    });
    p.check(
        text.lines().any(|l| {
            l.contains("allow 127.0.0.1:18765")
                && l.contains("default-index")
                && l.contains("uv.toml")
        }),
        || "the index from uv.toml is not in the allow-list".into(),
    );
    p.check(!text.contains("secret"), || {
        "the index password is shown".into()
    });
    p.check(
        text.contains("uv's build steps") && text.contains("build_wheel"),
        || "the level-2 hook for uv's build backends is not shown".into(),
    );
    p.check(
        text.contains("level 1 (uv's): only uv's interpreter query"),
        || "what stays at level 1 is not shown".into(),
    );
    p.finish(&format!("{}\n{}", out.stdout, out.stderr));
}

/// With no index configured, uv's own default comes from its executable, read as data; a
/// uv whose executable does not say it is refused with the fix.
#[test]
fn uvs_default_index_is_read_from_its_executable_or_the_run_refuses() {
    let uv = crate::common::toolchains::uv();
    let world = World::new("uv-default");
    let out = run(
        world
            .safe_install()
            .arg("explain")
            .arg(&uv)
            .args(["pip", "install", "x"])
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    out.assert_success();
    assert!(
        out.stdout.lines().any(|l| l.contains("allow ")
            && l.contains("default-index from uv's default index (read from")),
        "uv's default index is not in the allow-list\n{}",
        out.stdout
    );
    // An executable called uv that names no default index.
    let fake = world.root().join("fake-uv/uv");
    write_file(&fake, "\u{7f}ELF not uv at all\n");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(
        world
            .safe_install()
            .arg("explain")
            .arg(&fake)
            .args(["pip", "install", "x"])
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(123), "{}", out.describe());
    assert!(
        out.stderr.contains("--default-index URL"),
        "the refusal does not name the fix: {}",
        out.stderr
    );
}

/// Where the linked install goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `uv pip install` into a venv beside the project (`VIRTUAL_ENV`).
    VenvOutside,
    /// `uv sync` into the project's `.venv`.
    ProjectVenv,
}

/// Every regular file beneath `dir` as (path, inode, link count).
fn files(dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().expect("metadata");
            (e.path().to_path_buf(), m.ino(), m.nlink())
        })
        .collect()
}

/// A warm cache (a bare install of the same wheel into another venv), then the install
/// inside: the package's files are hard links of the cache's (this filesystem, ext4, cannot
/// clone, so uv's default `clone` falls to `hardlink`), and uv says nothing of copying.
fn warm_cache_is_hard_linked(target: Target) {
    let uv = crate::common::toolchains::uv();
    let world = World::new_in(
        match target {
            Target::VenvOutside => "uv-link-pip",
            Target::ProjectVenv => "uv-link-sync",
        },
        Path::new(OUTSIDE_TMP),
    );
    let packages = world.root().join("packages");
    make_wheel(&world, &packages, LINKED, "1.0.0");
    let server = start_pypiserver(world.root(), &packages);
    let cache = world.home.join(".cache/uv");
    let warm = make_venv_at(&world, &world.root().join("warm-venv"));
    run(
        world
            .setup_command(&uv)
            .env("HOME", &world.home)
            .env("VIRTUAL_ENV", &warm)
            .env("UV_CACHE_DIR", &cache)
            .env("UV_DEFAULT_INDEX", &server.url)
            .args(["pip", "install", LINKED]),
        RUN_TIMEOUT,
    )
    .assert_success();
    let cached: std::collections::HashSet<u64> =
        files(&cache).iter().map(|(_, ino, _)| *ino).collect();

    let _g = shared_run_guard();
    let log = world.log_path("uv-link");
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log).arg(&uv);
    let venv = match target {
        Target::VenvOutside => {
            let venv = make_venv_at(&world, &world.root().join("venv"));
            cmd.args(["pip", "install", LINKED])
                .env("VIRTUAL_ENV", &venv)
                .env("UV_DEFAULT_INDEX", &server.url);
            venv
        }
        Target::ProjectVenv => {
            write_file(
                &world.project.join("pyproject.toml"),
                &format!(
                    "[project]\nname = \"si-uv-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"{LINKED}\"]\n\n[[tool.uv.index]]\nname = \"local\"\nurl = \"{}\"\ndefault = true\n",
                    server.url
                ),
            );
            cmd.arg("sync");
            make_venv_at(&world, &world.project.join(".venv"))
        }
    };
    let r = LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log);
    let site = site_packages(&venv);
    let module = site.join(format!("{}.py", LINKED.replace('-', "_")));
    assert!(
        r.out.status.success() && module.is_file(),
        "the install failed\n{}",
        r.context()
    );
    let mut p = Problems::new();
    let installed: Vec<_> = files(&site)
        .into_iter()
        .filter(|(path, _, _)| {
            path == &module
                || path
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d.to_string_lossy().starts_with("si_uv_linked-"))
                    && path
                        .file_name()
                        .is_some_and(|n| n == "METADATA" || n == "WHEEL")
        })
        .collect();
    p.check(installed.len() == 3, || {
        format!("the module and its METADATA and WHEEL are not all there: {installed:?}")
    });
    for (path, ino, nlink) in &installed {
        p.check(*nlink > 1 && cached.contains(ino), || {
            format!(
                "{} is not a hard link of a file in the cache {} (links {nlink})",
                path.display(),
                cache.display()
            )
        });
    }
    p.check(
        !r.out.stderr.contains("falling back to full copy")
            && !r.out.stderr.contains("Failed to hardlink"),
        || "uv says it copied instead of linking".into(),
    );
    p.finish(&r.context());
}

const LINKED: &str = "si-uv-linked";

/// Not below the temp roots, where a user's project would be.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

#[test]
fn uv_pip_install_hard_links_from_the_warm_cache_into_a_venv() {
    warm_cache_is_hard_linked(Target::VenvOutside);
}

#[test]
fn uv_sync_hard_links_from_the_warm_cache_into_the_projects_venv() {
    warm_cache_is_hard_linked(Target::ProjectVenv);
}

/// `uvx` is uv (`uv tool run`): planned with uv's policy and hook, and a tool it downloads
/// from the index runs; a Python program it starts is one of uv's pythons, at level 2.
#[test]
fn uvx_is_uv_and_runs_a_tool_from_the_index() {
    let uvx = crate::common::toolchains::bin_dir("uv", "uvx").join("uvx");
    let world = World::new("uvx");
    let packages = world.root().join("packages");
    make_wheel(&world, &packages, LINKED, "1.0.0");
    let server = start_pypiserver(world.root(), &packages);
    let explained = run(
        world
            .safe_install()
            .arg("explain")
            .arg(&uvx)
            .args(["--from", LINKED, "python"])
            .env("UV_DEFAULT_INDEX", &server.url)
            .current_dir(&world.project),
        RUN_TIMEOUT,
    );
    explained.assert_success();
    let mut p = Problems::new();
    p.check(explained.stdout.contains("policy:    uv"), || {
        format!("uvx is not planned as uv:\n{}", explained.stdout)
    });
    p.check(explained.stdout.contains("uv's build steps"), || {
        "uv's level-2 hook is not shown for uvx".into()
    });
    let _g = shared_run_guard();
    let log = world.log_path("uvx");
    let r = LoggedRun::read(
        run(
            world
                .safe_install()
                .arg("--log")
                .arg(&log)
                .args(["--secret-env", "SI_UV_SECRET"])
                .arg(&uvx)
                .args(["--from", LINKED, "python", "-c"])
                .arg("import si_uv_linked, os; print('tool says', si_uv_linked.VALUE, os.environ.get('SI_UV_SECRET', 'no-secret'))")
                .env("UV_DEFAULT_INDEX", &server.url)
                .env("SI_UV_SECRET", "si-uvx-secret")
                .current_dir(&world.project),
            RUN_TIMEOUT,
        ),
        log,
    );
    p.check(
        r.out.status.success()
            && r.out
                .stdout
                .contains(&format!("tool says {LINKED} no-secret")),
        || "uvx did not run the tool from the index, or the tool saw the secret".into(),
    );
    p.finish(&format!("{}\n{}", explained.stdout, r.context()));
}
