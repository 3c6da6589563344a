//! Finding the project's files that must be hidden: a walk of the project that does not enter
//! directories the package manager owns (node_modules, virtualenvs) or git's.

use crate::policy::{FsPolicy, HideMatcher};
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// A project file or directory that the sandbox replaces by an empty read-only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    /// Absolute path (canonical project + relative path).
    pub path: PathBuf,
    pub is_dir: bool,
    /// The glob that matched.
    pub rule: String,
}

/// Walk `project` and return what the hide globs match.
pub fn find(project: &Path, fs: &FsPolicy) -> Vec<Hidden> {
    let mut found = Vec::new();
    let matcher = HideMatcher::new(&fs.hide);
    let skip = |name: &str| fs.skip.iter().any(|s| s.value == name);
    let mut walk = WalkDir::new(project).follow_links(false).into_iter();
    while let Some(entry) = walk.next() {
        let Ok(entry) = entry else { continue };
        if entry.depth() == 0 {
            continue;
        }
        let ft = entry.file_type();
        let name = entry.file_name().to_string_lossy();
        if ft.is_dir() && (skip(&name) || entry.path().join("pyvenv.cfg").is_file()) {
            walk.skip_current_dir();
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(project) else {
            continue;
        };
        let Some(rule) = matcher.first_match(rel).map(|i| &fs.hide[i]) else {
            continue;
        };
        let (path, is_dir) = if ft.is_symlink() {
            // A link inside the project to a secret elsewhere in the project: hide the target
            // (mounts follow links). A link leading outside the project points at something
            // the sandbox does not show at all.
            match std::fs::canonicalize(entry.path()) {
                Ok(target) if target.starts_with(project) => {
                    let is_dir = target.is_dir();
                    (target, is_dir)
                }
                _ => continue,
            }
        } else {
            (entry.path().to_path_buf(), ft.is_dir())
        };
        if is_dir {
            walk.skip_current_dir();
        }
        if !found.iter().any(|h: &Hidden| h.path == path) {
            found.push(Hidden {
                path,
                is_dir,
                rule: rule.value.text.clone(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{builtin, Policy};
    use std::fs;

    #[test]
    fn finds_secrets_at_any_depth_but_not_in_package_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        for f in [
            ".env",
            ".vault.env",
            "config/.env.production",
            "packages/app/.env",
            "node_modules/x/.env",
            ".git/.env",
            "venv/lib/.env",
            "certs/server.key",
            "src/index.js",
            ".npmrc",
        ] {
            let path = p.join(f);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, "x").expect("write");
        }
        fs::write(p.join("venv/pyvenv.cfg"), "").expect("venv marker");
        std::os::unix::fs::symlink("config/.env.production", p.join("prod-link")).expect("link");
        let mut policy = Policy::default();
        policy.add_layer("base", builtin::BASE.1).expect("base");
        let mut rels: Vec<String> = find(p, &policy.fs)
            .into_iter()
            .map(|h| {
                h.path
                    .strip_prefix(p)
                    .expect("inside")
                    .display()
                    .to_string()
            })
            .collect();
        rels.sort();
        assert_eq!(
            rels,
            [
                ".env",
                ".vault.env",
                "certs/server.key",
                "config/.env.production",
                "packages/app/.env"
            ]
        );
    }
}
