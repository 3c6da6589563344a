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

#[cfg(test)]
mod tests {
    use super::*;

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
