//! Issue 14, "Writes by package code", end to end through real npm (file: tarball
//! dependencies) as the caller: a dependency's lifecycle script writes its own folder of the
//! install tree and private temp, nothing else. Each attack is refused, logged with package
//! and script, and leaves the host's file as it was; a wiper loses nothing outside its own
//! folder; the project's own scripts (the user's code) write the install tree; a
//! Prisma-style generator writes `node_modules/.prisma` with a grant. Each has its negative
//! control: bare npm, the same attack succeeds.
//!
//! The worlds live in /srv/safe-install-test, not in /tmp: level 2 may write its private
//! /tmp, and a project mounted beneath /tmp would be covered by that rule (issue 12 item 7).

use crate::common::netns::*;
use crate::common::reports::*;
use crate::common::wiper::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// Created by scripts/setup.sh: outside /tmp, writable by every test user.
const OUTSIDE_TMP: &str = "/srv/safe-install-test";

fn world(name: &str) -> World {
    require_npm();
    World::new_in(name, Path::new(OUTSIDE_TMP))
}

fn report_of(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn sandboxed(world: &World, name: &str, flags: &[&str], args: &[&str]) -> LoggedRun {
    let _g = shared_run_guard();
    let log = world.log_path(name);
    let mut cmd = world.safe_install();
    cmd.arg("--log").arg(&log).args(flags).args(args);
    LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log)
}

/// A sandboxed run as a GitHub Actions step with `--report sarif`, and what it reported.
struct CiRun {
    r: LoggedRun,
    step_summary: String,
    sarif: Value,
    sarif_path: PathBuf,
}

impl CiRun {
    /// The workflow commands (annotations) on stderr.
    fn annotations(&self) -> Vec<&str> {
        self.r
            .out
            .stderr
            .lines()
            .filter(|l| l.starts_with("::"))
            .collect()
    }

    /// The SARIF results with this rule.
    fn results(&self, rule: &str) -> Vec<Value> {
        self.sarif["runs"][0]["results"]
            .as_array()
            .map(|r| r.iter().filter(|r| r["ruleId"] == rule).cloned().collect())
            .unwrap_or_default()
    }

    fn context(&self) -> String {
        format!(
            "{}\n--- step summary ---\n{}\n--- sarif ---\n{:#}",
            self.r.context(),
            self.step_summary,
            self.sarif
        )
    }
}

fn sandboxed_ci(world: &World, name: &str, flags: &[&str], args: &[&str]) -> CiRun {
    let step_summary_path = world.root().join(format!("{name}-step-summary.md"));
    let sarif_path = world.root().join(format!("{name}.sarif"));
    let log = world.log_path(name);
    let mut cmd = world.safe_install();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary_path)
        .env("GITHUB_WORKSPACE", world.root())
        .arg("--log")
        .arg(&log)
        .args(["--report", "sarif"])
        .arg(&sarif_path)
        .args(flags)
        .args(args);
    let r = {
        let _g = shared_run_guard();
        LoggedRun::read(run(cmd.current_dir(&world.project), RUN_TIMEOUT), log)
    };
    CiRun {
        r,
        step_summary: fs::read_to_string(&step_summary_path).unwrap_or_default(),
        sarif: fs::read_to_string(&sarif_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
        sarif_path,
    }
}

fn bare(world: &World, args: &[&str]) -> Output {
    let mut cmd = world.setup_command("npm");
    cmd.args(args).env("HOME", &world.home);
    run(cmd.current_dir(&world.project), RUN_TIMEOUT)
}

// ---------------------------------------------------------------------------------------
// A postinstall that plants code where it runs later
// ---------------------------------------------------------------------------------------

struct Writer {
    world: World,
    mark: String,
}

/// A project depending on `si-victim` (a main file and a `.bin` entry) and `si-writer`
/// (whose postinstall tries every write target), with the files a real project has.
fn writer_world(name: &str) -> Writer {
    writer_world_with(name, serde_json::json!({}))
}

/// [`writer_world`], with `extra` added to the writer's target configuration.
fn writer_world_with(name: &str, extra: Value) -> Writer {
    let world = world(name);
    let mark = format!("si-planted-{}", world.token);
    plant_project_files(&world);
    let victim = pack_plain(&world, "trust/npm-victim", "si-victim");
    let staged = stage_npm_fixture(
        &world,
        "trust/npm-writer",
        "si-writer",
        |_| {},
        "writer-target.json",
        &{
            let mut target = serde_json::json!({ "project": world.project, "mark": mark });
            if let (Some(t), Some(e)) = (target.as_object_mut(), extra.as_object()) {
                t.extend(e.clone());
            }
            target
        },
    );
    let writer = pack_npm_dir(&world, &staged);
    write_npm_project(&world, &[&victim, &writer]);
    Writer { world, mark }
}

impl Writer {
    fn report(&self) -> Option<Value> {
        report_of(
            &self
                .world
                .project
                .join("node_modules/si-writer/writer-report.json"),
        )
    }

    /// Attack name, the file it changes on the host (relative to the world's root), whether
    /// the host shows the mark there after a successful attack.
    fn planted(&self) -> Vec<(&'static str, String)> {
        let p = &self.world.project;
        let mut found = Vec::new();
        let read = |rel: &str| fs::read_to_string(p.join(rel)).unwrap_or_default();
        for (attack, rel) in [
            ("workflow", ".github/workflows/x.yml"),
            ("package_json", "package.json"),
            ("vscode", ".vscode/tasks.json"),
            ("claude", ".claude/settings.json"),
            ("envrc", ".envrc"),
            ("other_package", "node_modules/si-victim/index.js"),
            ("link_other_package", "node_modules/si-victim/package.json"),
            ("bin_through_link", "node_modules/si-victim/cli.js"),
        ] {
            if read(rel).contains(&self.mark) {
                found.push((attack, rel.to_string()));
            }
        }
        let bin = fs::read_link(p.join("node_modules/.bin/si-victim")).unwrap_or_default();
        if bin != Path::new("../si-victim/cli.js") {
            found.push((
                "bin_replace",
                format!(".bin/si-victim -> {}", bin.display()),
            ));
        }
        // npm rewrites `.package-lock.json` after the scripts: the report and the log tell.
        if self.world.home.join(".npm/_cacache/planted").exists() {
            found.push(("npm_cache", "~/.npm/_cacache/planted".into()));
        }
        found
    }
}

/// The attacks and the reason code the refusal is logged with (the target's tail).
const WRITER_ATTACKS: &[(&str, &str, &str)] = &[
    ("workflow", "read-only-path", "/.github/workflows/x.yml"),
    ("package_json", "read-only-path", "/package.json"),
    ("vscode", "read-only-path", "/.vscode/tasks.json"),
    ("claude", "read-only-path", "/.claude/settings.json"),
    ("envrc", "hidden-file", "/.envrc"),
    (
        "other_package",
        "read-only-path",
        "/node_modules/si-victim/index.js",
    ),
    // The link itself is refused (EXDEV: it would make the file writable in the writer's
    // folder), logged as a write of the file linked.
    (
        "link_other_package",
        "read-only-path",
        "/node_modules/si-victim/package.json",
    ),
    (
        "bin_through_link",
        "read-only-path",
        "/node_modules/si-victim/cli.js",
    ),
    (
        "bin_replace",
        "read-only-path",
        "/node_modules/.bin/si-victim",
    ),
    (
        "package_lock",
        "read-only-path",
        "/node_modules/.package-lock.json",
    ),
    ("npm_cache", "read-only-path", "/_cacache/planted"),
];

#[test]
fn a_dependency_writes_only_its_own_folder_and_temp() {
    let w = writer_world("i14-writer");
    let r = sandboxed(&w.world, "writer", &[], NPM_CI);
    assert!(r.out.status.success(), "npm ci failed\n{}", r.context());
    let report = w
        .report()
        .unwrap_or_else(|| panic!("the postinstall wrote no report\n{}", r.context()));
    let mut p = Problems::new();
    for (attack, reason, target) in WRITER_ATTACKS {
        p.check(report[attack]["ok"] == false, || {
            format!("{attack} succeeded inside: {}", report[attack])
        });
        p.check(
            r.blocked_by("si-writer@1.0.0", Some("postinstall"), "write", reason, target) >= 1,
            || format!("no blocked write of …{target} ({reason}) attributed to si-writer@1.0.0 postinstall"),
        );
    }
    for (attack, what) in w.planted() {
        p.check(false, || format!("{attack}: the host shows it: {what}"));
    }
    for own in ["own_build_output", "temp"] {
        p.check(report[own]["ok"] == true, || {
            format!(
                "{own} must keep working (native builds, temp files): {}",
                report[own]
            )
        });
    }
    p.check(
        w.world
            .project
            .join("node_modules/si-writer/build/Release/addon.node")
            .is_file(),
        || "the package's own build output is missing".into(),
    );
    p.finish(&r.context());
}

/// Negative control: bare, every attack lands.
#[test]
fn bare_npm_the_writer_plants_everything() {
    let w = writer_world("i14-writer-bare");
    bare(&w.world, &NPM_CI[1..]).assert_success();
    let report = w.report().expect("bare: the postinstall wrote no report");
    let planted: Vec<&str> = w.planted().iter().map(|(a, _)| *a).collect();
    for (attack, _, _) in WRITER_ATTACKS {
        let on_host = planted.contains(attack) || *attack == "package_lock";
        assert!(
            report[attack]["ok"] == true && on_host,
            "bare: {attack} did not land (the fixture is broken): {} / host: {planted:?}",
            report[attack]
        );
    }
}

// ---------------------------------------------------------------------------------------
// A wiper
// ---------------------------------------------------------------------------------------

/// Installed without scripts (bare npm runs no package code with --ignore-scripts), so the
/// tree is complete before the wiper's postinstall runs in `npm rebuild`.
fn wiper_world(name: &str) -> World {
    let world = world(name);
    plant_project_files(&world);
    let victim = pack_plain(&world, "trust/npm-victim", "si-victim");
    let wiper = pack_wiper(&world);
    write_npm_project(&world, &[&victim, &wiper]);
    bare(
        &world,
        &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
    )
    .assert_success();
    world
}

/// The wiper's own folder, and npm's own logs (level 1: they change with every run).
const WIPER_SKIP: Skip = Skip {
    project: &["node_modules/si-wiper"],
    home: &[".npm/_logs"],
};

#[test]
fn a_wiper_loses_nothing_outside_its_own_folder() {
    let world = wiper_world("i14-wiper");
    let before = ProjectAndHome::read(&world, &WIPER_SKIP);
    let r = sandboxed(&world, "wiper", &[], &["npm", "rebuild"]);
    assert!(
        r.out.status.success(),
        "npm rebuild failed\n{}",
        r.context()
    );
    check_wiper(
        &world,
        &r,
        WIPER_SKIP.project[0],
        &WIPER_SKIP,
        &before,
        &["/package.json", "/node_modules/si-victim/"],
    )
    .finish(&r.context());
}

/// Negative control: bare, the wiper empties the project.
#[test]
fn bare_npm_the_wiper_wipes_the_project() {
    let world = wiper_world("i14-wiper-bare");
    bare(&world, &["rebuild"]).assert_success();
    for rel in [
        ".github/workflows/ci.yml",
        "src/index.js",
        "node_modules/si-victim/index.js",
    ] {
        assert!(
            !world.project.join(rel).exists(),
            "bare: the wiper left {rel} (the fixture is broken)"
        );
    }
}

/// A project with files that run later, a venv beside it, and the pip wiper's sdist of `kind`
/// (`pyproject` or `legacy`) in the project's `vendor` (a `--find-links` directory), told to
/// wipe the project, the world's home and the venv and to report into the returned directory
/// (outside all three).
fn pip_wiper_world(name: &str, kind: &str) -> (World, PathBuf, PathBuf) {
    require_python_venv();
    let world = World::new_in(name, Path::new(OUTSIDE_TMP));
    plant_project_files(&world);
    let venv = make_venv(&world);
    let reports = world.root().join("wiper-reports");
    fs::create_dir_all(&reports).expect("mkdir reports");
    let config = serde_json::json!({
        "project": world.project,
        "home": world.home,
        "venv": venv,
        "report_dir": reports,
    });
    run(
        world
            .setup_command("/usr/bin/python3")
            .arg(fixtures().join("trust/pip-wiper/make_sdist.py"))
            .arg(&world.tarballs)
            .arg(config.to_string())
            .arg(kind),
        RUN_TIMEOUT,
    )
    .assert_success();
    (world, venv, reports)
}

/// `<venv>/bin/pip install --no-cache-dir --no-index --find-links <project>/vendor si-wiper`.
fn pip_wiper_args(world: &World, venv: &Path) -> Vec<String> {
    vec![
        venv.join("bin/pip").display().to_string(),
        "install".into(),
        "--no-cache-dir".into(),
        "--no-index".into(),
        "--find-links".into(),
        world.tarballs.display().to_string(),
        "si-wiper".into(),
    ]
}

/// Nothing of the project or the home is left out of a pip wiper's snapshots.
const NO_SKIP: Skip<'static> = Skip {
    project: &[],
    home: &[],
};

/// The pip wiper run sandboxed in `world` (log name `name`), with the snapshot taken just
/// before it: the project, the home, and the venv but for the site-packages entries
/// `installed` (what pip installs for the package itself).
fn run_pip_wiper(
    world: &World,
    venv: &Path,
    reports: &Path,
    name: &str,
    installed: &[&str],
) -> (LoggedRun, ProjectAndHome) {
    let site = site_packages(venv);
    let site_rel = site.strip_prefix(venv).expect("site-packages in the venv");
    let venv_skip: Vec<PathBuf> = installed.iter().map(|f| site_rel.join(f)).collect();
    // safe-install makes pip's cache it shows before each run (`plan::HostAction`), also
    // with --no-cache-dir: made here first, so that the comparison sees only what the run
    // changed.
    fs::create_dir_all(world.home.join(".cache/pip")).expect("mkdir ~/.cache/pip");
    let before = ProjectAndHome::read_with_venv(world, &NO_SKIP, venv, &venv_skip);
    let reports_s = reports.display().to_string();
    let args = pip_wiper_args(world, venv);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = sandboxed(world, name, &["--rw", &reports_s], &args);
    (r, before)
}

/// Issue 14's wiper as a pip build backend (`tests/fixtures/trust/pip-wiper`: an in-tree PEP
/// 517 backend, its sdist in a local `--find-links` directory of the project): at each hook
/// it truncates and deletes every file it reaches in the project, the homes and the venv, and
/// at `build_wheel` also its own build directory in pip's private temp (its proof that it
/// ran: what it deleted there). The project, the home and the venv are as before but for
/// what pip (level 1) installs from the wheel the backend built: `si_wiper.py`, its
/// `.dist-info` and its compiled `__pycache__` entry; every other venv file, pip's own
/// included, is compared. The refused deletions are logged as `si-wiper@1.0.0` and a hook,
/// those of compiled code in a `__pycache__` too.
#[test]
fn a_pip_build_backend_wiper_loses_nothing_outside_its_build_directory() {
    let (world, venv, reports) = pip_wiper_world("i14-pip-wiper", "pyproject");
    let site = site_packages(&venv);
    let pycache = site.join("__pycache__");
    assert!(
        !pycache.exists(),
        "the new venv has a top-level __pycache__ in site-packages"
    );
    // What pip (level 1) installs from the wheel: the module, its .dist-info and the
    // module's compiled entry in a new `__pycache__` (checked below to hold nothing else).
    let (r, before) = run_pip_wiper(
        &world,
        &venv,
        &reports,
        "pip-wiper",
        &["si_wiper.py", "si_wiper-1.0.0.dist-info", "__pycache__"],
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    p.check(site.join("si_wiper.py").is_file(), || {
        "pip did not install the wheel the backend built".into()
    });
    let compiled: Vec<String> = fs::read_dir(&pycache)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    p.check(compiled.iter().all(|n| n.starts_with("si_wiper.")), || {
        format!("site-packages/__pycache__ holds more than si_wiper's entry: {compiled:?}")
    });
    let report = |hook: &str| -> Option<Value> {
        report_of(&reports.join(format!("si-wiper-report-{hook}.json")))
    };
    for hook in [
        "get_requires_for_build_wheel",
        "prepare_metadata_for_build_wheel",
    ] {
        p.check(report(hook).is_some(), || {
            format!("the wiper wrote no report at {hook}")
        });
    }
    match report("build_wheel") {
        Some(counts) => p.check(counts["deleted"].as_u64().unwrap_or(0) > 0, || {
            format!("the wiper deleted nothing, not even its own build directory: {counts}")
        }),
        None => p.push("the wiper wrote no report at build_wheel".into()),
    }
    let venv_s = venv.display().to_string();
    let project_s = world.project.display().to_string();
    let pyvenv = format!("{venv_s}/pyvenv.cfg");
    let pip_own = format!("{}/pip/__init__.py", site.display());
    // Compiled code that exists, where Python's own bytecode caching is not logged.
    let pip_compiled = format!("{}/pip/__pycache__/__init__.cpython-", site.display());
    let workflow = format!("{project_s}/.github/workflows/ci.yml");
    let sdist = format!("{project_s}/vendor/si-wiper-1.0.0.tar.gz");
    check_nothing_lost(
        &mut p,
        &world,
        &r,
        ("si-wiper@1.0.0", Some("build_wheel")),
        &NO_SKIP,
        &before,
        &[&workflow, &sdist, &pyvenv, &pip_own, &pip_compiled],
    );
    // Removing a directory (`rmdir`, once the wiper has tried to empty it) is refused and
    // logged too.
    let workflows = format!("{project_s}/.github/workflows");
    p.check(
        r.events.iter().any(|e| {
            e["verdict"] == "blocked"
                && e["action"] == "write"
                && e["package"] == "si-wiper@1.0.0"
                && e["target"] == workflows.as_str()
        }),
        || format!("the wiper's refused removal of {workflows} is not logged as si-wiper@1.0.0's"),
    );
    // The first hook too: each hook is a process of its own, attributed by its own name.
    for target in [&workflow, &pyvenv] {
        p.check(
            r.blocked_by(
                "si-wiper@1.0.0",
                Some("get_requires_for_build_wheel"),
                "write",
                "read-only-path",
                target,
            ) >= 1,
            || format!("the wiper's refused deletion of {target} at get_requires_for_build_wheel is not logged as si-wiper@1.0.0's"),
        );
    }
    p.finish(&r.context());
}

/// Issue 14's wiper as a legacy `setup.py` (no pyproject.toml; the venv's pip 23.0 has no
/// `wheel` package, so pip runs `setup.py install`, the step that installs by running the
/// package's own code). At `setup.py install` it truncates and deletes every file it reaches
/// in the project, the homes and the venv. The venv is as before but for what the package
/// installs (`si_wiper.py`, its `.egg-info`, its compiled entry): the step writes into a
/// stage of its own and safe-install moves what it installed into the venv once it has
/// exited, so pip's files and `pyvenv.cfg` survive. The refused deletions are logged as
/// `si-wiper@1.0.0` `setup.py install`.
#[test]
fn a_legacy_setup_py_install_wiper_loses_nothing_in_the_venv() {
    let (world, venv, reports) = pip_wiper_world("i14-pip-legacy-wiper", "legacy");
    let site = site_packages(&venv);
    let pip_version = run(
        world.setup_command(venv.join("bin/pip")).arg("--version"),
        RUN_TIMEOUT,
    );
    pip_version.assert_success();
    assert!(
        pip_version.stdout.starts_with("pip 23.0"),
        "the venv's pip is not 23.0 (the legacy install step needs pip < 23.1): {}",
        pip_version.stdout
    );
    assert!(
        !site.join("wheel").exists(),
        "the venv has the wheel package: pip would build a wheel, not run setup.py install"
    );
    let installed = fs::read_dir(&site)
        .expect("read site-packages")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("si_wiper"));
    assert_eq!(installed, None, "si_wiper is installed before the run");
    // setuptools names it without the Python version with --single-version-externally-managed.
    let egg_info = "si_wiper-1.0.0.egg-info";
    let (r, before) = run_pip_wiper(
        &world,
        &venv,
        &reports,
        "pip-legacy-wiper",
        &["si_wiper.py", egg_info, "__pycache__"],
    );
    let mut p = Problems::new();
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    p.check(
        r.out
            .stdout
            .contains("Running setup.py install for si-wiper"),
        || "pip did not take the legacy path (no `Running setup.py install for si-wiper`)".into(),
    );
    p.check(site.join("si_wiper.py").is_file(), || {
        "si_wiper.py is not in the venv: what setup.py install installed was lost".into()
    });
    p.check(
        site.join(egg_info).join("installed-files.txt").is_file(),
        || {
            format!(
                "{egg_info}/installed-files.txt is missing: pip did not read the install record"
            )
        },
    );
    match report_of(&reports.join("si-wiper-report-setup.py-install.json")) {
        Some(counts) => p.check(counts["failed"].as_u64().unwrap_or(0) > 0, || {
            format!("the wiper's deletions at setup.py install did not fail: {counts}")
        }),
        None => p.push("the wiper wrote no report at setup.py install".into()),
    }
    let pyvenv = format!("{}/pyvenv.cfg", venv.display());
    let pip_own = format!("{}/pip/__init__.py", site.display());
    let workflow = format!("{}/.github/workflows/ci.yml", world.project.display());
    check_nothing_lost(
        &mut p,
        &world,
        &r,
        ("si-wiper@1.0.0", Some("setup.py install")),
        &NO_SKIP,
        &before,
        &[&workflow, &pyvenv, &pip_own],
    );
    // pip can still uninstall what the stage installed: the record names the final paths.
    if venv.join("bin/pip").is_file() {
        let uninstall = run(
            world
                .setup_command(venv.join("bin/pip"))
                .args(["uninstall", "-y", "si-wiper"]),
            RUN_TIMEOUT,
        );
        p.check(
            uninstall.status.success() && !site.join("si_wiper.py").exists(),
            || {
                format!(
                    "bare pip cannot uninstall what the stage installed: {}",
                    uninstall.stderr
                )
            },
        );
    }
    p.finish(&r.context());
}

/// Negative control: bare, the pip wiper empties the project and the venv (pip's own files
/// included, so pip may fail on the way).
#[test]
fn bare_pip_the_build_backend_wiper_wipes_the_project_and_the_venv() {
    let (world, venv, _reports) = pip_wiper_world("i14-pip-wiper-bare", "pyproject");
    let args = pip_wiper_args(&world, &venv);
    let pip_own = site_packages(&venv).join("pip/__init__.py");
    let _ = run(world.setup_command(&args[0]).args(&args[1..]), RUN_TIMEOUT);
    for gone in [
        world.project.join(".github/workflows/ci.yml"),
        world.project.join("src/index.js"),
        venv.join("pyvenv.cfg"),
        pip_own,
    ] {
        assert!(
            !gone.exists(),
            "bare: the wiper left {} (the fixture is broken)",
            gone.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The project's own scripts, and a generator with a grant
// ---------------------------------------------------------------------------------------

/// The root project's postinstall (the user's code, as `patch-package` is): it patches a
/// dependency's file, which it may, and tries a workflow, which it may not.
const ROOT_SCRIPT: &str = r#"
const fs = require("fs"), path = require("path");
const out = {};
const at = (n, f) => { try { f(); out[n] = true; } catch (e) { out[n] = String(e.code); } };
at("patch_dependency", () => fs.appendFileSync("node_modules/si-victim/index.js", "// patched\n"));
at("workflow", () => fs.writeFileSync(".github/workflows/root.yml", "on: push\n"));
at("source", () => fs.appendFileSync("src/index.js", "// changed\n"));
fs.writeFileSync(path.join("node_modules", ".si-root-report.json"), JSON.stringify(out));
"#;

#[test]
fn the_projects_own_scripts_write_the_install_tree_only() {
    let world = world("i14-root");
    plant_project_files(&world);
    write_file(&world.project.join("scripts/patch.js"), ROOT_SCRIPT);
    let victim = pack_plain(&world, "trust/npm-victim", "si-victim");
    write_npm_project(&world, &[&victim]);
    let manifest = world.project.join("package.json");
    let mut pkg: Value =
        serde_json::from_str(&fs::read_to_string(&manifest).expect("read")).expect("json");
    pkg["scripts"] = serde_json::json!({ "postinstall": "node scripts/patch.js" });
    write_file(
        &manifest,
        &serde_json::to_string_pretty(&pkg).expect("json"),
    );
    let r = sandboxed(&world, "root", &[], NPM_CI);
    assert!(r.out.status.success(), "npm ci failed\n{}", r.context());
    let out = report_of(&world.project.join("node_modules/.si-root-report.json"))
        .unwrap_or_else(|| panic!("the root postinstall wrote no report\n{}", r.context()));
    let mut p = Problems::new();
    p.check(out["patch_dependency"] == true, || {
        format!("the project's postinstall could not patch a dependency: {out}")
    });
    for refused in ["workflow", "source"] {
        p.check(out[refused] != true, || {
            format!("the project's postinstall wrote {refused}: {out}")
        });
    }
    p.check(
        !world.project.join(".github/workflows/root.yml").exists(),
        || "root.yml exists on the host".into(),
    );
    p.check(
        r.blocked_by(
            "si-fixture-project@1.0.0",
            Some("postinstall"),
            "write",
            "read-only-path",
            "/.github/workflows/root.yml",
        ) >= 1,
        || "the refused workflow is not logged with the project's name".into(),
    );
    p.finish(&r.context());
}

/// The project's own script may write the install tree, but a Landlock rule needs an existing
/// directory: before the first install there is no `node_modules`, so its `mkdir` is refused
/// (the project root is not the script's to write), and that refusal is logged like any other
/// rather than judged allowed by a rule the kernel never had.
#[test]
fn a_refused_mkdir_of_a_missing_install_tree_is_logged() {
    let world = world("i14-root-mkdir");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-root-mkdir\", \"version\": \"1.0.0\", \"private\": true,\n  \"scripts\": { \"probe\": \"mkdir node_modules\" } }\n",
    );
    let r = sandboxed(&world, "root-mkdir", &[], &["npm", "run", "probe"]);
    let mut p = Problems::new();
    p.check(!r.out.status.success(), || {
        "mkdir node_modules succeeded".into()
    });
    p.check(!world.project.join("node_modules").exists(), || {
        "node_modules exists on the host".into()
    });
    p.check(
        r.blocked_by(
            "si-root-mkdir@1.0.0",
            Some("probe"),
            "write",
            "read-only-path",
            "/node_modules",
        ) >= 1,
        || "the refused mkdir is not logged with the project's name".into(),
    );
    p.finish(&r.context());
}

/// A Prisma-style generator: its postinstall writes `node_modules/.prisma/client`.
fn generator_world(name: &str) -> World {
    let world = world(name);
    let staging = world.root().join("staging/si-gen");
    write_file(
        &staging.join("package.json"),
        r#"{ "name": "si-gen", "version": "1.0.0", "scripts": { "postinstall": "node gen.js" } }"#,
    );
    write_file(
        &staging.join("gen.js"),
        r#"const fs = require("fs"), path = require("path");
const out = path.join(process.env.INIT_CWD, "node_modules/.prisma/client");
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "index.js"), "module.exports = 'generated';\n");
"#,
    );
    let tarball = pack_npm_dir(&world, &staging);
    write_npm_project(&world, &[&tarball]);
    world
}

#[test]
fn a_generator_writes_node_modules_prisma_with_a_grant_only() {
    let world = generator_world("i14-gen");
    let generated = world.project.join("node_modules/.prisma/client/index.js");
    let r = sandboxed(&world, "gen-refused", &[], NPM_CI);
    let mut p = Problems::new();
    p.check(!generated.exists(), || "generated without a grant".into());
    p.check(
        r.blocked_by(
            "si-gen@1.0.0",
            Some("postinstall"),
            "write",
            "read-only-path",
            "/node_modules/.prisma",
        ) >= 1,
        || "the refused generate is not logged".into(),
    );
    let policy = world.root().join("grant.toml");
    write_file(
        &policy,
        &format!(
            "[[package]]\nname = \"si-gen\"\nallow-write = [\"{}\"]\nreason = \"generates its client into node_modules/.prisma\"\n",
            world.project.join("node_modules/.prisma").display()
        ),
    );
    let policy = policy.display().to_string();
    let r2 = sandboxed(&world, "gen-granted", &["--policy", &policy], NPM_CI);
    p.check(r2.out.status.success(), || {
        format!("npm ci with the grant failed\n{}", r2.context())
    });
    p.check(generated.is_file(), || {
        "not generated with the grant".into()
    });
    p.finish(&r.context());
}

// ---------------------------------------------------------------------------------------
// What the install leaves behind
// ---------------------------------------------------------------------------------------

fn found<'a>(r: &'a LoggedRun, reason: &str, target_end: &str) -> Vec<&'a Value> {
    r.events
        .iter()
        .filter(|e| {
            e["verdict"] == "found"
                && e["reason"] == reason
                && e["target"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(target_end))
        })
        .collect()
}

/// A grant lets the writer through to `.bin` and `.vscode` (as a careless policy would): the
/// end-of-run check names what it left, with the package, and `--strict` fails.
#[test]
fn what_a_grant_let_through_is_reported_at_the_end() {
    let w = writer_world("i14-left");
    let p = &w.world.project;
    let policy = w.world.root().join("careless.toml");
    write_file(
        &policy,
        &format!(
            "[[package]]\nname = \"si-writer\"\nallow-write = [\"{}\"]\nreason = \"a careless grant\"\n",
            p.join("node_modules/.bin").display()
        ),
    );
    let vscode = p.join(".vscode").display().to_string();
    let policy = policy.display().to_string();
    let r = sandboxed(
        &w.world,
        "left",
        &["--strict", "--policy", &policy, "--rw", &vscode],
        NPM_CI,
    );
    let mut pr = Problems::new();
    pr.check(r.out.status.code() == Some(120), || {
        format!("--strict must fail on what was planted: {:?}", r.out.status)
    });
    for target in ["/node_modules/.bin/si-victim", "/.vscode/tasks.json"] {
        let hits = found(&r, "planted", target);
        pr.check(
            hits.iter()
                .any(|e| e["package"] == "si-writer@1.0.0" && e["script"] == "postinstall"),
            || format!("no `planted` finding for …{target} attributed to si-writer@1.0.0 postinstall: {hits:?}"),
        );
    }
    pr.check(r.out.stderr.contains("left"), || {
        "the summary does not say what the install left".into()
    });
    pr.finish(&r.context());
}

/// Wheels installed by pip (level 1, from local wheels): a `.pth` with an import line is
/// information (`pth-installed`, with the package) unless a policy allows its package; a
/// wheel's `sitecustomize.py` is `planted`; `--strict` fails on the latter only. Run as a
/// GitHub Actions step with `--report sarif`: the `.pth` is a `::notice` and a SARIF `note`,
/// `sitecustomize.py` an `::error` and an `error`, both in the step summary.
#[test]
fn pth_and_sitecustomize_from_wheels_are_reported_at_the_end() {
    require_python_venv();
    let world = World::new_in("i14-pth", Path::new(OUTSIDE_TMP));
    let venv = make_venv(&world);
    let wheels = world.project.join("wheels");
    make_wheel_with_pth(&world, &wheels, "si-pth", "1.0.0", Some("import os"));
    make_wheel_with_pth(&world, &wheels, "si-pth-ok", "1.0.0", Some("import sys"));
    fs::create_dir_all(&wheels).expect("mkdir");
    run(
        world
            .setup_command("/usr/bin/python3")
            .arg(fixtures().join("pip/make_wheel.py"))
            .arg(&wheels)
            .args(["si-sitecustom", "1.0.0", "import os", "sitecustomize.py"]),
        RUN_TIMEOUT,
    )
    .assert_success();
    let policy = world.root().join("pth.toml");
    write_file(
        &policy,
        "[[pth.allow]]\npackage = \"si-pth-ok\"\nreason = \"a known .pth\"\n",
    );
    let policy = policy.display().to_string();
    let pip = venv.join("bin/pip").display().to_string();
    let wheels_s = wheels.display().to_string();
    let ci = sandboxed_ci(
        &world,
        "pth",
        &["--strict", "--policy", &policy],
        &[
            &pip,
            "install",
            "--no-index",
            "--find-links",
            &wheels_s,
            "si-pth",
            "si-pth-ok",
            "si-sitecustom",
        ],
    );
    let r = &ci.r;
    let mut pr = Problems::new();
    pr.check(r.out.status.code() == Some(120), || {
        format!("--strict must fail on sitecustomize.py: {:?}", r.out.status)
    });
    let pth = found(r, "pth-installed", "/si_pth.pth");
    pr.check(
        pth.len() == 1 && pth[0]["package"] == "si_pth@1.0.0",
        || format!("no pth-installed finding for si_pth.pth with its package: {pth:?}"),
    );
    pr.check(
        found(r, "pth-installed", "/si_pth_ok.pth").is_empty(),
        || "the allowed package's .pth was reported".into(),
    );
    pr.check(found(r, "planted", "/sitecustomize.py").len() == 1, || {
        "no planted finding for sitecustomize.py".into()
    });
    // Every report, at its severity.
    let annotations = ci.annotations();
    for (command, reason, file) in [
        ("::notice ", "[pth-installed]", "si_pth.pth"),
        ("::error ", "[planted]", "sitecustomize.py"),
    ] {
        pr.check(
            annotations
                .iter()
                .any(|l| l.starts_with(command) && l.contains(reason) && l.contains(file)),
            || format!("no {command}annotation {reason} for {file}"),
        );
        pr.check(
            ci.step_summary.lines().any(|l| {
                l.starts_with("| ")
                    && l.contains(&reason[1..reason.len() - 1])
                    && l.contains(&file.replace('_', "\\_"))
            }),
            || format!("no step-summary row {reason} for {file}"),
        );
    }
    pr.check(!annotations.iter().any(|l| l.contains("si_pth_ok")), || {
        "the allowed package's .pth was annotated".into()
    });
    let levels = |rule: &str| -> Vec<String> {
        ci.results(rule)
            .iter()
            .map(|r| r["level"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    pr.check(levels("pth-installed") == ["note"], || {
        format!(
            "pth-installed SARIF results: {:?} (want one note)",
            levels("pth-installed")
        )
    });
    pr.check(levels("planted") == ["error"], || {
        format!(
            "planted SARIF results: {:?} (want one error)",
            levels("planted")
        )
    });
    if let Err(errors) = validate_sarif(&ci.sarif_path) {
        pr.push(format!("not valid SARIF 2.1.0: {errors}"));
    }
    pr.finish(&ci.context());
}

/// The `.bin` grant and `--rw .vscode` of [`what_a_grant_let_through_is_reported_at_the_end`],
/// run as a GitHub Actions step with `--report sarif`: what the install left reaches the
/// annotations (`::error` with `--strict`), the step summary and a schema-valid SARIF log,
/// attributed like a blocked attempt; a planted file named to rewrite the terminal is
/// exact in the JSON log and escaped in the summary, the annotations and the step summary.
#[test]
fn what_is_left_behind_shows_in_every_report() {
    let w = writer_world_with(
        "i14-left-ci",
        serde_json::json!({ "hostile_name": HOSTILE }),
    );
    let world = &w.world;
    let p = &world.project;
    let policy = world.root().join("careless.toml");
    write_file(
        &policy,
        &format!(
            "[[package]]\nname = \"si-writer\"\nallow-write = [\"{}\"]\nreason = \"a careless grant\"\n",
            p.join("node_modules/.bin").display()
        ),
    );
    let vscode = p.join(".vscode").display().to_string();
    let policy = policy.display().to_string();
    let ci = sandboxed_ci(
        world,
        "left-ci",
        &["--strict", "--policy", &policy, "--rw", &vscode],
        NPM_CI,
    );
    let (r, step_summary) = (&ci.r, &ci.step_summary);
    let annotations = ci.annotations();
    let left = r
        .out
        .stderr
        .find("safe-install: the install left")
        .map_or("", |at| &r.out.stderr[at..]);
    let ctx = ci.context();
    let mut pr = Problems::new();
    pr.check(r.out.status.code() == Some(120), || {
        format!("--strict must fail on what was planted: {:?}", r.out.status)
    });
    let hostile = p.join(".vscode").join(HOSTILE).display().to_string();
    for target in [
        p.join("node_modules/.bin/si-victim").display().to_string(),
        p.join(".vscode/tasks.json").display().to_string(),
        hostile.clone(),
    ] {
        // The JSON log: exact, attributed.
        pr.check(
            r.events.iter().any(|e| {
                e["verdict"] == "found"
                    && e["reason"] == "planted"
                    && e["target"] == target.as_str()
                    && e["package"] == "si-writer@1.0.0"
                    && e["script"] == "postinstall"
            }),
            || format!("no exact `planted` event for {target:?} attributed to si-writer@1.0.0"),
        );
        let tail = escaped(&target[p.display().to_string().len()..]);
        pr.check(
            left.lines()
                .any(|l| l.contains("si-writer@1.0.0 (postinstall)") && l.contains(&tail)),
            || format!("no summary line for {tail}"),
        );
        pr.check(
            annotations.iter().any(|l| {
                l.starts_with("::error ")
                    && l.contains("si-writer@1.0.0")
                    && l.contains("[planted]")
                    && l.contains(&tail)
            }),
            || format!("no ::error annotation for planted {tail}"),
        );
        // Markdown-escaped: the file's last two names are plain; the hostile one's text is.
        let plain = if target == hostile {
            "all clear".to_string()
        } else {
            target
                .rsplitn(3, '/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/")
        };
        pr.check(
            step_summary.lines().any(|l| {
                l.starts_with("| si-writer") && l.contains("planted") && l.contains(&plain)
            }),
            || format!("no step-summary row for planted …{plain}"),
        );
        pr.check(
            ci.results("planted").iter().any(|res| {
                res["level"] == "error"
                    && res["properties"]["target"] == target.as_str()
                    && res["properties"]["package"] == "si-writer@1.0.0"
                    && res["properties"]["script"] == "postinstall"
            }),
            || format!("no SARIF `planted` error result for {target:?}"),
        );
    }
    let rules = ci.sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    pr.check(rules.iter().any(|r| r["id"] == "planted"), || {
        "no SARIF rule `planted`".into()
    });
    match validate_sarif(&ci.sarif_path) {
        Ok(()) => {}
        Err(errors) => pr.push(format!("not valid SARIF 2.1.0: {errors}")),
    }
    // Escaped wherever people read it.
    pr.check(left.contains(&escaped(&hostile)), || {
        format!("the summary does not show {:?} escaped", escaped(&hostile))
    });
    for (what, text) in [
        ("summary", left.to_string()),
        ("annotations", annotations.join("\n")),
        ("step summary", step_summary.clone()),
    ] {
        if let Some(c) = text.chars().find(|c| RAW_CONTROLS.contains(c)) {
            pr.push(format!(
                "the {what} contains the raw control character {c:?}"
            ));
        }
    }
    pr.finish(&ctx);
}
