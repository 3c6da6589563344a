//! Which package-manager executable runs, decided on the host by looking at files only.
//!
//! Package code writes the project: its install tree (a package's `bin` entry becomes
//! `node_modules/.bin/<name>`), and a planted file anywhere else it can reach. A global
//! prefix's `lib/node_modules` (where npm itself lives) is the toolchain, read-only inside.
//! With such a directory early on `PATH` (direnv's `layout node`, `PATH=./node_modules/.bin:…`),
//! a plain `npm` would name a program a package chose. So:
//! - the package manager is resolved as `execvp` would, and refused when the first match (or
//!   the file it links to) lies where package code can write: the caller learns which file
//!   and why, and nothing runs;
//! - inside the sandbox the package manager is executed by that absolute path, and its `PATH`
//!   keeps only directories package code cannot write, so `#!/usr/bin/env node` cannot pick a
//!   planted `node` either;
//! - a virtualenv's `bin/` is the exception: it is the package manager's own environment
//!   (pip writes it, never a build backend), and the most common Python workflow runs pip
//!   from there. It is executed only inside the sandbox.
//!
//! Nothing here executes anything: it reads directory entries and symlinks.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the package manager named on the command line cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "refusing to run {found}: it is the first `{program}` on PATH, but it lies {why}, so a \
         package could have put it there, and running it would run package code with the package \
         manager's powers. Fix: remove that directory from PATH (or put the directory of your real \
         `{program}` before it), or name the real one by its full path"
    )]
    PackageWritable {
        program: String,
        found: PathBuf,
        why: &'static str,
    },
}

/// Where package code can write, as far as `path` is concerned; `None` when it cannot.
///
/// `project` is the canonical project directory. Both the path as written and the file it
/// resolves to are judged: a link from a system directory into `node_modules` is no safer.
pub fn package_writable(path: &Path, project: &Path) -> Option<&'static str> {
    let judge = |p: &Path| -> Option<&'static str> {
        if !p.is_absolute() {
            return Some(
                "in a relative PATH entry (the current directory, which the install writes)",
            );
        }
        if !p.starts_with(project) || in_virtualenv_bin(p) {
            return None;
        }
        if p.components().any(|c| c.as_os_str() == "node_modules") {
            return Some(
                "inside the project's node_modules, where packages' bin entries and scripts write",
            );
        }
        Some("inside the project, which the install writes")
    };
    judge(path).or_else(|| {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|real| judge(&real))
    })
}

/// `<venv>/bin/<name>` where `<venv>/pyvenv.cfg` exists (or `<venv>/bin` itself).
fn in_virtualenv_bin(p: &Path) -> bool {
    let bin = if p.file_name().is_some_and(|n| n == "bin") {
        Some(p)
    } else {
        p.parent()
            .filter(|d| d.file_name().is_some_and(|n| n == "bin"))
    };
    bin.and_then(Path::parent)
        .is_some_and(|venv| venv.join("pyvenv.cfg").is_file())
}

/// Resolve `program` as `execvp` would, in `path_var` (relative and empty entries are the
/// current directory to execvp: they count as package-writable here), and refuse a match that
/// package code could have planted.
pub fn resolve_program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    project: &Path,
) -> Result<Option<PathBuf>, ResolveError> {
    let name = || program.to_string_lossy().into_owned();
    if program.as_bytes().contains(&b'/') {
        let Some(found) = std::path::absolute(program)
            .ok()
            .filter(|p| is_executable(p))
        else {
            return Ok(None);
        };
        return match package_writable(&found, project) {
            Some(why) => Err(ResolveError::PackageWritable {
                program: name(),
                found,
                why,
            }),
            None => Ok(Some(found)),
        };
    }
    let Some(path_var) = path_var else {
        return Ok(None);
    };
    for dir in std::env::split_paths(path_var) {
        let candidate = if dir.as_os_str().is_empty() {
            Path::new(".").join(program)
        } else {
            dir.join(program)
        };
        if !is_executable(&candidate) {
            continue;
        }
        if let Some(why) = package_writable(&candidate, project) {
            return Err(ResolveError::PackageWritable {
                program: name(),
                found: std::path::absolute(&candidate).unwrap_or(candidate),
                why,
            });
        }
        return Ok(Some(candidate));
    }
    Ok(None)
}

/// The package manager as it will run: the executable (by absolute path) and the `PATH` it
/// gets inside the sandbox.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The program the sandbox executes; `None` when it was not found (the sandbox then reports
    /// "not found" the way a shell would).
    pub program: Option<PathBuf>,
    /// The `PATH` inside; `None` when the caller has none.
    pub path: Option<OsString>,
    /// `PATH` entries left out, and why (for `explain`).
    pub dropped: Vec<(PathBuf, &'static str)>,
}

/// Resolve the command: for a package manager, refuse a planted executable and keep only
/// trusted `PATH` entries; any other command is the caller's own choice and resolves as
/// `execvp` would.
pub fn resolve(
    program: &OsStr,
    path_var: Option<&OsStr>,
    project: &Path,
    package_manager: bool,
) -> Result<Resolved, ResolveError> {
    if !package_manager {
        return Ok(Resolved {
            program: super::which(program, path_var),
            path: path_var.map(OsStr::to_os_string),
            dropped: Vec::new(),
        });
    }
    let found = resolve_program(program, path_var, project)?;
    let (path, dropped) = match path_var {
        Some(p) => {
            let (kept, dropped) = trusted_path(p, project);
            (Some(kept), dropped)
        }
        None => (None, Vec::new()),
    };
    Ok(Resolved {
        program: found.map(|p| std::path::absolute(&p).unwrap_or(p)),
        path,
        dropped,
    })
}

/// `PATH` without the directories package code can write: what the package manager gets
/// inside the sandbox, and where safe-install looks for a tool's files to read. The second
/// value lists what was left out, for `explain`.
pub fn trusted_path(path_var: &OsStr, project: &Path) -> (OsString, Vec<(PathBuf, &'static str)>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for dir in std::env::split_paths(path_var) {
        match package_writable(&dir, project) {
            Some(why) => dropped.push((dir, why)),
            None => kept.push(dir),
        }
    }
    let joined = std::env::join_paths(&kept).unwrap_or_default();
    (joined, dropped)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    struct Layout {
        _dir: tempfile::TempDir,
        project: PathBuf,
        system: PathBuf,
    }

    fn layout() -> Layout {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let project = root.join("project");
        let system = root.join("system/bin");
        executable(&system.join("npm"));
        executable(&project.join("node_modules/.bin/npm"));
        executable(&project.join("tools/npm"));
        executable(&project.join(".venv/bin/pip"));
        std::fs::write(project.join(".venv/pyvenv.cfg"), "home = /usr/bin\n").expect("cfg");
        Layout {
            _dir: dir,
            project,
            system,
        }
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).expect("join")
    }

    #[test]
    fn a_planted_first_match_is_refused_with_its_path() {
        let l = layout();
        for planted in ["node_modules/.bin", "tools"] {
            let dir = l.project.join(planted);
            let err = resolve_program(
                OsStr::new("npm"),
                Some(&path_of(&[&dir, &l.system])),
                &l.project,
            )
            .expect_err("a planted npm must be refused");
            let text = err.to_string();
            assert!(
                text.contains(&dir.join("npm").display().to_string()),
                "{text}"
            );
            assert!(text.contains("Fix:"), "{text}");
        }
    }

    #[test]
    fn relative_entries_are_the_current_directory() {
        let l = layout();
        for p in ["./npm", "npm", "node_modules/.bin/npm"] {
            assert!(package_writable(Path::new(p), &l.project).is_some(), "{p}");
        }
    }

    #[test]
    fn system_and_virtualenv_programs_resolve() {
        let l = layout();
        let path = path_of(&[&l.project.join(".venv/bin"), &l.system]);
        assert_eq!(
            resolve_program(OsStr::new("npm"), Some(&path), &l.project).expect("system npm"),
            Some(l.system.join("npm"))
        );
        assert_eq!(
            resolve_program(OsStr::new("pip"), Some(&path), &l.project).expect("venv pip"),
            Some(l.project.join(".venv/bin/pip"))
        );
        assert_eq!(
            resolve_program(OsStr::new("absent"), Some(&path), &l.project).expect("absent"),
            None
        );
    }

    #[test]
    fn a_link_into_node_modules_is_judged_by_its_target() {
        let l = layout();
        let bin = l.system.parent().expect("system").join("links");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(l.project.join("node_modules/.bin/npm"), bin.join("npm"))
            .expect("symlink");
        let err = resolve_program(OsStr::new("npm"), Some(&path_of(&[&bin])), &l.project);
        assert!(err.is_err(), "{err:?}");
        let err = resolve_program(bin.join("npm").as_os_str(), None, &l.project);
        assert!(err.is_err(), "{err:?}");
    }

    #[test]
    fn the_trusted_path_keeps_system_and_virtualenv_directories() {
        let l = layout();
        let venv_bin = l.project.join(".venv/bin");
        let nm = l.project.join("node_modules/.bin");
        // A global prefix's node_modules is the toolchain (npm itself lives there).
        let global = Path::new("/usr/lib/node_modules/npm/bin");
        let path = path_of(&[&nm, &venv_bin, Path::new("bin"), &l.system, global]);
        let (kept, dropped) = trusted_path(&path, &l.project);
        assert_eq!(kept, path_of(&[&venv_bin, &l.system, global]));
        let dropped: Vec<PathBuf> = dropped.into_iter().map(|(p, _)| p).collect();
        assert_eq!(dropped, vec![nm, PathBuf::from("bin")]);
    }
}
