//! Finding the project's files that must be hidden: a walk of the project that does not enter
//! directories the package manager owns (node_modules, virtualenvs) or git's.

use crate::policy::{FsPolicy, HideMatcher};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// A hidden file that cannot be hidden under every name.
#[derive(Debug, thiserror::Error)]
pub enum HiddenError {
    #[error("{link} is another name (a hard link) of the hidden file {file}, inside {dir}, which the package manager replaces or git keeps readable, so no empty file can cover it there; remove the link (`rm {link}`) and run again", link = .link.display(), file = .file.display())]
    LinkInManagedDir {
        link: PathBuf,
        file: PathBuf,
        dir: String,
    },
}

/// A project file or directory that the sandbox replaces by an empty read-only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    /// Absolute path (canonical project + relative path).
    pub path: PathBuf,
    pub is_dir: bool,
    /// The glob that matched.
    pub rule: String,
}

/// Walk `project` and return what the hide globs match, and every other name (hard link)
/// of a matched file: a cover hides a name, not the file, so `notes.txt` linked to `.env`
/// before the run would read in full. A link the view cannot cover (inside `node_modules`,
/// `.git`, a virtualenv) is an error naming it. Links made during the run need nothing: a
/// hidden name resolves to its cover, and `link()` from it fails (EXDEV) or links the cover.
pub fn find(project: &Path, fs: &FsPolicy) -> Result<Vec<Hidden>, HiddenError> {
    let mut found = find_by_name(project, fs);
    add_other_names(project, fs, &mut found)?;
    Ok(found)
}

/// Every other name, inside the project, of the hidden files that have more than one.
/// Costs a second walk only when some hidden file has `st_nlink > 1`.
fn add_other_names(
    project: &Path,
    fs: &FsPolicy,
    found: &mut Vec<Hidden>,
) -> Result<(), HiddenError> {
    let mut linked: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut note = |path: &Path| {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if m.is_file() && m.nlink() > 1 {
                linked.insert((m.dev(), m.ino()), path.to_path_buf());
            }
        }
    };
    for h in found.iter() {
        if h.is_dir {
            for e in WalkDir::new(&h.path)
                .follow_links(false)
                .into_iter()
                .flatten()
            {
                note(e.path());
            }
        } else {
            note(&h.path);
        }
    }
    if linked.is_empty() {
        return Ok(());
    }
    let managed = |rel: &Path| {
        rel.ancestors()
            .skip(1)
            .find(|a| {
                a.file_name()
                    .is_some_and(|n| fs.skip.iter().any(|s| s.value == n.to_string_lossy()))
                    || (!a.as_os_str().is_empty() && project.join(a).join("pyvenv.cfg").is_file())
            })
            .map(Path::to_path_buf)
    };
    for entry in WalkDir::new(project)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        let path = entry.path();
        if !entry.file_type().is_file()
            || found
                .iter()
                .any(|h| h.path == path || (h.is_dir && path.starts_with(&h.path)))
        {
            continue;
        }
        let Ok(m) = entry.metadata() else { continue };
        let Some(file) = linked.get(&(m.dev(), m.ino())) else {
            continue;
        };
        let rel = path.strip_prefix(project).unwrap_or(path);
        if let Some(dir) = managed(rel) {
            return Err(HiddenError::LinkInManagedDir {
                link: path.to_path_buf(),
                file: file.clone(),
                dir: dir.display().to_string(),
            });
        }
        let original = file
            .strip_prefix(project)
            .unwrap_or(file)
            .display()
            .to_string();
        found.push(Hidden {
            path: path.to_path_buf(),
            is_dir: false,
            rule: format!("a hard link to {original}"),
        });
    }
    Ok(())
}

/// The files and directories whose name or project-relative path a hide glob matches.
fn find_by_name(project: &Path, fs: &FsPolicy) -> Vec<Hidden> {
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
            .expect("no links")
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

    #[test]
    fn every_name_of_a_hidden_file_is_hidden_or_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        fs::write(p.join(".env"), "secret").expect("write");
        fs::create_dir_all(p.join("docs")).expect("mkdir");
        fs::hard_link(p.join(".env"), p.join("docs/notes.txt")).expect("link");
        let mut policy = Policy::default();
        policy.add_layer("base", builtin::BASE.1).expect("base");
        let found = find(p, &policy.fs).expect("coverable");
        let link = found
            .iter()
            .find(|h| h.path == p.join("docs/notes.txt"))
            .expect("the second name is hidden");
        assert_eq!(link.rule, "a hard link to .env");
        fs::create_dir_all(p.join("node_modules/x")).expect("mkdir");
        fs::hard_link(p.join(".env"), p.join("node_modules/x/copy")).expect("link");
        match find(p, &policy.fs) {
            Err(HiddenError::LinkInManagedDir { link, dir, .. }) => {
                assert_eq!(link, p.join("node_modules/x/copy"));
                assert_eq!(dir, "node_modules");
            }
            other => panic!("{other:?}"),
        }
    }
}
