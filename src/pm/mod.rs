//! Package managers: how to recognise one from the command line, which built-in policy applies,
//! which manifest marks a project, and where its toolchain and target environment live.

pub mod npm;
pub mod npmrc;
pub mod pip;
pub mod pipconf;
pub mod resolve;
#[cfg(test)]
mod test_fixtures;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The family of package manager a command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// npm, npx, pnpm, yarn: Node.js packages with lifecycle scripts.
    Npm,
    /// pip, `python -m pip`, uv: Python packages with build backends.
    Pip,
    /// Anything else: the base policy only.
    Generic,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Npm => "npm",
            Family::Pip => "pip",
            Family::Generic => "generic",
        }
    }

    /// The built-in policy file for this family.
    pub fn builtin_policy(self) -> (&'static str, &'static str) {
        match self {
            Family::Npm => crate::policy::builtin::NPM,
            Family::Pip => crate::policy::builtin::PIP,
            Family::Generic => crate::policy::builtin::GENERIC,
        }
    }

    /// Files whose presence marks a project root.
    pub fn manifests(self) -> &'static [&'static str] {
        match self {
            Family::Npm => npm::MANIFESTS,
            Family::Pip => pip::MANIFESTS,
            Family::Generic => &[],
        }
    }
}

/// What safe-install recognised in the command line.
#[derive(Debug, Clone)]
pub struct Detected {
    pub family: Family,
    /// The tool's name as recognised (`npm`, `pnpm`, `pip`, `python3 -m pip`, `uv`).
    pub tool: String,
}

/// Recognise the package manager from the command line.
pub fn detect(argv: &[OsString]) -> Detected {
    let program = argv.first().map(|a| base_name(a)).unwrap_or_default();
    if npm::is_npm_tool(&program) {
        return Detected {
            family: Family::Npm,
            tool: program,
        };
    }
    if let Some(tool) = pip::recognise(&program, argv.get(1..).unwrap_or_default()) {
        return Detected {
            family: Family::Pip,
            tool,
        };
    }
    Detected {
        family: Family::Generic,
        tool: program,
    }
}

fn base_name(arg: &OsStr) -> String {
    Path::new(arg)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Find `program` the way execvp would, in the caller's PATH.
pub fn which(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return std::path::absolute(p).ok().filter(|p| is_executable(p));
    }
    std::env::split_paths(path_var?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|cand| is_executable(cand))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The project root: walk up from `start` to the nearest directory holding one of the
/// manifests; `start` itself when none does.
pub fn find_project(start: &Path, family: Family) -> PathBuf {
    let manifests = family.manifests();
    if !manifests.is_empty() {
        for dir in start.ancestors() {
            if manifests.iter().any(|m| dir.join(m).exists()) {
                return dir.to_path_buf();
            }
        }
    }
    start.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn recognises_the_package_managers() {
        for (cmd, family) in [
            (&["npm", "ci"][..], Family::Npm),
            (&["/usr/bin/npx", "x"][..], Family::Npm),
            (&["pnpm", "install"][..], Family::Npm),
            (&["yarn", "install"][..], Family::Npm),
            (&["pip", "install", "-r", "r.txt"][..], Family::Pip),
            (&["pip3.11", "install", "."][..], Family::Pip),
            (&["python3", "-m", "pip", "install", "."][..], Family::Pip),
            (
                &["/venv/bin/python", "-m", "pip", "install", "."][..],
                Family::Pip,
            ),
            (&["uv", "pip", "install", "x"][..], Family::Pip),
            (&["python3", "setup.py", "install"][..], Family::Generic),
            (&["/bin/true"][..], Family::Generic),
        ] {
            assert_eq!(detect(&argv(cmd)).family, family, "{cmd:?}");
        }
    }

    #[test]
    fn project_is_the_nearest_manifest_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("package.json"), "{}").expect("write");
        let sub = root.join("src/deep");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert_eq!(find_project(&sub, Family::Npm), root);
        assert_eq!(find_project(&sub, Family::Generic), sub);
    }
}
