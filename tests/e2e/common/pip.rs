//! pip projects of the tests: virtualenvs made bare, pip fixtures staged into the project,
//! wheels built for a local index.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// Creates a virtualenv at `<root>/venv` with `/usr/bin/python3 -m venv` and returns it.
pub fn make_venv(world: &World) -> PathBuf {
    make_venv_at(world, &world.root().join("venv"))
}

/// Creates a virtualenv at `venv` with `/usr/bin/python3 -m venv` (bare, as the harness's own
/// setup) and returns it.
pub fn make_venv_at(world: &World, venv: &Path) -> PathBuf {
    require_python_venv();
    let venv = venv.to_path_buf();
    run(
        world
            .setup_command("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(&venv),
        RUN_TIMEOUT,
    )
    .assert_success();
    assert!(venv.join("bin/pip").is_file(), "the venv has no bin/pip");
    venv
}

/// Copies the pip fixture `tests/fixtures/pip/<name>` into `<project>/vendor/<name>`
/// (inside the project, since only the project is visible in the sandbox) and writes a
/// requirements.txt naming it. The evil fixture gets the syscall probe copied in.
pub fn stage_pip_fixture(world: &World, name: &str) -> PathBuf {
    let dest = world.project.join("vendor").join(name);
    copy_dir(&fixtures().join("pip").join(name), &dest);
    if name == "evilpkg" {
        fs::copy(
            fixtures().join("probes/syscalls.py"),
            dest.join("syscalls.py"),
        )
        .expect("copy syscalls.py into the evil sdist");
    }
    write_file(
        &world.project.join("requirements.txt"),
        &format!("./vendor/{name}\n"),
    );
    dest
}

/// `<venv>/bin/pip install --no-index --no-build-isolation ./vendor/<name>`.
pub fn pip_install_args(venv: &Path, name: &str) -> Vec<String> {
    vec![
        venv.join("bin/pip").display().to_string(),
        "install".into(),
        "--no-index".into(),
        "--no-build-isolation".into(),
        "--no-cache-dir".into(),
        format!("./vendor/{name}"),
    ]
}

/// The venv's site-packages directory.
pub fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let entry = fs::read_dir(&lib)
        .expect("read venv lib")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("venv lib has a pythonX.Y dir");
    entry.path().join("site-packages")
}

/// Builds the wheel `name`-`version` into `dir` (created if missing) with
/// `tests/fixtures/pip/make_wheel.py`, bare, for a local index to serve.
pub fn make_wheel(world: &World, dir: &Path, name: &str, version: &str) {
    make_wheel_with_pth(world, dir, name, version, None);
}

/// [`make_wheel`], and with `pth` a `<name>.pth` of that one line (code every later Python
/// start in the environment runs). Returns the wheel's path.
pub fn make_wheel_with_pth(
    world: &World,
    dir: &Path,
    name: &str,
    version: &str,
    pth: Option<&str>,
) -> PathBuf {
    fs::create_dir_all(dir).expect("mkdir for the wheel");
    let out = run(
        world
            .setup_command("/usr/bin/python3")
            .arg(fixtures().join("pip/make_wheel.py"))
            .arg(dir)
            .args([name, version])
            .args(pth),
        RUN_TIMEOUT,
    );
    out.assert_success();
    PathBuf::from(out.stdout.trim())
}

/// A copy of the system's interpreter (`/usr/bin/python3`, canonical) in `dir` (created), as
/// `name` or under its own file name: an interpreter of its own that no `PATH` names, as one
/// built into `/opt`, installed by uv, or named by another name is. Returns its path.
pub fn copy_system_python(dir: &Path, name: Option<&str>) -> PathBuf {
    let system = fs::canonicalize("/usr/bin/python3").expect("the system python3");
    fs::create_dir_all(dir).expect("mkdir for the interpreter");
    let copy = dir.join(name.map_or_else(
        || system.file_name().expect("a file name").to_os_string(),
        Into::into,
    ));
    fs::copy(&system, &copy).expect("copy the interpreter");
    copy
}
