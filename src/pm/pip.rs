//! pip (`pip`, `pip3.11`, `python -m pip`) and uv: recognition, project manifests, and the
//! Python environment an install writes to.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Files that mark a Python project root.
pub const MANIFESTS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
];

/// The pip-family tool named by this command line, if any.
pub fn recognise(program: &str, args: &[OsString]) -> Option<String> {
    if is_versioned(program, "pip") {
        return Some(program.to_string());
    }
    if program == "uv" {
        return Some("uv".into());
    }
    if is_versioned(program, "python") {
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "-m" {
                return (it.next()? == "pip").then(|| format!("{program} -m pip"));
            }
            if arg.to_string_lossy().starts_with("-m") {
                return (arg == "-mpip").then(|| format!("{program} -m pip"));
            }
            if !arg.to_string_lossy().starts_with('-') {
                return None;
            }
        }
    }
    None
}

/// `pip`, `pip3`, `pip3.11` for base `pip`.
fn is_versioned(program: &str, base: &str) -> bool {
    program
        .strip_prefix(base)
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The virtualenv an install targets: `VIRTUAL_ENV`, else the environment holding the
/// resolved program (`<venv>/bin/pip`, `<venv>/bin/python`).
pub fn target_venv(program: Option<&Path>, virtual_env: Option<&Path>) -> Option<PathBuf> {
    if let Some(v) = virtual_env {
        if v.join("pyvenv.cfg").is_file() {
            return Some(v.to_path_buf());
        }
    }
    let bin_dir = program?.parent()?;
    let env = bin_dir.parent()?;
    env.join("pyvenv.cfg").is_file().then(|| env.to_path_buf())
}

/// The program a pyenv shim (`<root>/shims/<name>`, a bash script that runs `pyenv exec`)
/// would run, found the way pyenv picks a version, by reading files only: `PYENV_VERSION`
/// (its first entry), else the nearest `.python-version` from `cwd` up, else
/// `<root>/version`; the version's `bin/<name>`. `None` when `program` is not a shim or the
/// version is `system` or not installed (the caller then refuses rather than guess).
pub fn pyenv_target(program: &Path, pyenv_version: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    let name = program.file_name()?;
    let shims = program
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "shims"))?;
    let root = shims.parent()?;
    let versions = root.join("versions");
    if !versions.is_dir() {
        return None;
    }
    let first_word = |text: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split([':', ' ']).next())
            .map(str::to_owned)
    };
    let version = pyenv_version
        .and_then(first_word)
        .or_else(|| {
            cwd.ancestors().find_map(|d| {
                std::fs::read_to_string(d.join(".python-version"))
                    .ok()
                    .and_then(|t| first_word(&t))
            })
        })
        .or_else(|| {
            std::fs::read_to_string(root.join("version"))
                .ok()
                .and_then(|t| first_word(&t))
        })?;
    // A version is a directory name: no separators, no `..`.
    if version == "system" || version.contains('/') || version.starts_with('.') {
        return None;
    }
    let target = versions.join(&version).join("bin").join(name);
    target.is_file().then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pyenv_shim_is_followed_by_reading_pyenvs_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("pyenv");
        let shim = root.join("shims/pip");
        for f in [
            &shim,
            &root.join("versions/3.11.7/bin/pip"),
            &root.join("versions/3.12.1/bin/pip"),
        ] {
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, "#!/usr/bin/env bash\n").expect("write");
        }
        std::fs::write(root.join("version"), "3.11.7\n").expect("write");
        let project = dir.path().join("project/sub");
        std::fs::create_dir_all(&project).expect("mkdir");
        let v = |p: &str| root.join(format!("versions/{p}/bin/pip"));
        assert_eq!(pyenv_target(&shim, None, &project), Some(v("3.11.7")));
        std::fs::write(
            dir.path().join("project/.python-version"),
            "# pinned\n3.12.1\n",
        )
        .expect("write");
        assert_eq!(pyenv_target(&shim, None, &project), Some(v("3.12.1")));
        assert_eq!(
            pyenv_target(&shim, Some("3.11.7:3.12.1"), &project),
            Some(v("3.11.7"))
        );
        for refused in ["system", "3.9.0", "../../etc", ".hidden"] {
            assert_eq!(
                pyenv_target(&shim, Some(refused), &project),
                None,
                "{refused}"
            );
        }
        assert_eq!(
            pyenv_target(&root.join("versions/3.11.7/bin/pip"), None, &project),
            None
        );
    }

    #[test]
    fn finds_the_venv_from_the_program_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let venv = dir.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).expect("mkdir");
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").expect("write");
        assert_eq!(
            target_venv(Some(&venv.join("bin/pip")), None),
            Some(venv.clone())
        );
        assert_eq!(target_venv(Some(Path::new("/usr/bin/pip")), None), None);
        assert_eq!(target_venv(None, Some(&venv)), Some(venv));
    }
}
