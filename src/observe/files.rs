//! File attempts: from a notified path syscall to a `read` or `write` event, or nothing.
//!
//! The kernel decides (mounts, Landlock); this only explains. A path is resolved the way the
//! process would see it (relative to its working directory or a directory descriptor, through
//! symbolic links inside the sandbox's view via `/proc/<pid>/root`), then judged against the
//! plan: a hidden or masked file, a credential path of the real home, something that exists
//! on the host but not in the view (another project, the real home), or a write where the
//! process's trust level may not write. Anything else (the ordinary work of scripts, probes
//! for files that exist nowhere) is not an event.

use super::process;
use crate::events::{Action, Reason};
use crate::plan::{MountKind, Plan};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Longest path read from a process.
const PATH_MAX: usize = 4096;
/// Symbolic links followed before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// The existing name of a new hard link: read through the new name, and made writable
    /// by it where the new name is. Landlock refuses (EXDEV) a link whose new place grants
    /// rights its old one does not, so a link out of a place the caller may not write is
    /// refused, and logged as a write there.
    LinkFrom,
}

/// An attempt worth an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub action: Action,
    pub reason: Reason,
    pub target: String,
    pub detail: String,
}

/// Who is asking: the package manager (level 1), a lifecycle script or build backend
/// (level 2, with the directories it may write as its own, when known), or a command that is
/// neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level<'a> {
    PackageManager,
    Script {
        /// Where npm started the script (read from its shim before it ran): its package's
        /// place in the install tree, which grants are keyed on.
        package_dir: Option<&'a Path>,
        /// Its own directories (`plan::trust::own_dirs` of where it was started).
        own: &'a [PathBuf],
    },
    Command,
}

/// What the plan says about paths, for judging attempts.
#[derive(Debug, Clone, Default)]
pub struct FileRules {
    /// Hidden and masked places: (path, is a directory, why).
    hidden: Vec<(PathBuf, bool, String)>,
    credentials: Vec<(PathBuf, String)>,
    /// Where the package manager (or a plain command) may write.
    writable: Vec<PathBuf>,
    /// Where scripts may write (`None`: scripts are not a separate level).
    script_writable: Option<Vec<PathBuf>>,
    /// What only the package manager may read (its private configuration).
    script_unreadable: Vec<PathBuf>,
    /// Read-only places inside writable ones (the project's `.git`).
    read_only: Vec<PathBuf>,
    /// Places granted to one package's scripts: (package name, its package directories, path).
    granted: Vec<(String, Vec<PathBuf>, PathBuf)>,
    /// The `allow-write` part of those grants: that package's scripts may write there (their
    /// Landlock layer says so), so such a write is no finding.
    granted_write: Vec<(Vec<PathBuf>, PathBuf)>,
    /// pip: the project, inside which a build backend's working directory (an in-tree build
    /// of a local path) is writable for it.
    pip_project: Option<PathBuf>,
    /// uv: its cache, in which a build step writes its own build directories.
    uv_cache: Option<PathBuf>,
    /// npm: how a script's own directory follows from where it runs, the project, and the
    /// clone roots and other install trees (`ScriptPlan`).
    own_dir: Option<(
        crate::plan::trust::OwnDir,
        PathBuf,
        Vec<PathBuf>,
        Vec<PathBuf>,
    )>,
    /// npm: what the root project's own scripts also write (the scratch copy of
    /// `.git/config`, husky's `.husky/_`; `ScriptPlan::root_project_extra`).
    root_extra: Vec<PathBuf>,
    /// Host directories bound read-write: what is written beneath them outlives the sandbox.
    persistent: Vec<PathBuf>,
    /// npm: the project's install tree, whose contents are judged by the package manager's
    /// own rules (and whose `.bin` by the end-of-run check).
    install_tree: Option<PathBuf>,
}

impl FileRules {
    pub fn from_plan(plan: &Plan) -> Self {
        let hidden = plan
            .mounts
            .iter()
            .filter_map(|m| match m.kind {
                MountKind::HideFile => Some((m.target.clone(), false, m.why.clone())),
                MountKind::HideDir => Some((m.target.clone(), true, m.why.clone())),
                _ => None,
            })
            .collect();
        let mut writable = plan.landlock.write.clone();
        writable.extend(plan.landlock.devices.iter().cloned());
        // npm's scripts, else pip's build backends: level 2's own rules, so that a write
        // level 1 could make but level 2 cannot is logged.
        let level2 = plan
            .script
            .as_ref()
            .or_else(|| plan.python.as_ref().map(|p| &p.level2));
        let script_writable = level2.map(|s| {
            let mut w = s.write.clone();
            w.extend(s.devices.iter().cloned());
            w
        });
        let script_unreadable = level2
            .map(|_| vec![PathBuf::from(crate::plan::trust::PRIVATE_DIR)])
            .unwrap_or_default();
        let pip_project = plan
            .script
            .is_none()
            .then(|| plan.python.as_ref().map(|p| p.level2.project.clone()))
            .flatten();
        let uv_cache = plan
            .python
            .as_ref()
            .and_then(|p| p.frontend.as_ref())
            .map(|f| match f {
                crate::pm::PythonFrontend::Uv { cache, .. } => cache.clone(),
            });
        let read_only = plan
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, MountKind::BindRo(_)))
            .filter(|m| {
                writable
                    .iter()
                    .any(|w| m.target.starts_with(w) && &m.target != w)
            })
            .map(|m| m.target.clone())
            .collect();
        let granted = plan
            .script
            .as_ref()
            .map(|s| {
                s.packages
                    .iter()
                    .flat_map(|g| {
                        g.read
                            .iter()
                            .chain(&g.write)
                            .map(|p| (g.name.clone(), g.dirs.clone(), p.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let granted_write = plan
            .script
            .as_ref()
            .map(|s| {
                s.packages
                    .iter()
                    .flat_map(|g| g.write.iter().map(|p| (g.dirs.clone(), p.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let own_dir = plan.script.as_ref().map(|s| {
            (
                s.own_dir,
                s.project.clone(),
                s.clone_roots.clone(),
                s.trees.clone(),
            )
        });
        let root_extra = plan
            .script
            .as_ref()
            .map(|s| s.root_project_extra())
            .unwrap_or_default();
        let persistent = plan
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, MountKind::BindRw(_)))
            .map(|m| m.target.clone())
            .collect();
        let install_tree = plan.script.as_ref().map(|s| s.project.join("node_modules"));
        FileRules {
            own_dir,
            root_extra,
            persistent,
            install_tree,
            hidden,
            credentials: plan.credentials.clone(),
            writable,
            script_writable,
            script_unreadable,
            read_only,
            granted,
            granted_write,
            pip_project,
            uv_cache,
        }
    }

    /// Whether a script's write the kernel lets through leaves something behind that the
    /// end-of-run check must name: it outlives the sandbox (beneath a read-write host
    /// directory), lies outside the script's own folders and outside the install tree except
    /// its `.bin`, and lands where something runs it later ([`runs_later`]). Only a grant or
    /// `[fs] rw` makes such a write possible, and either is the user's consent to write
    /// there (a download cache): what no grant makes harmless is code planted where an
    /// editor, CI, git, a shell or the next install will run it.
    pub fn left_behind(&self, path: &Path, access: Access, level: Level<'_>) -> bool {
        let Level::Script { own, .. } = level else {
            return false;
        };
        if access != Access::Write || own.iter().any(|d| path.starts_with(d)) {
            return false;
        }
        let in_tree = self
            .install_tree
            .as_ref()
            .is_some_and(|t| path.starts_with(t) && !path.starts_with(t.join(".bin")));
        !in_tree
            && runs_later(path)
            && self.persistent.iter().any(|p| path.starts_with(p))
            && self.may_write(path, level)
    }

    /// Whether `path` lies in the install tree's `.bin`.
    pub fn in_bin(&self, path: &Path) -> bool {
        self.install_tree
            .as_ref()
            .is_some_and(|t| path.starts_with(t.join(".bin")))
    }

    /// The directories a script started in `cwd` writes as its own (what its shim granted),
    /// asked when it registers, just before its shim makes its Landlock layer. A rule needs
    /// an existing directory, so a package directory missing now (the project's
    /// `node_modules` before the first install) is not the script's to create: its refused
    /// `mkdir` is logged, not judged allowed by a rule the kernel never had. The root
    /// project's extras are the shim's own (made before it registers).
    pub fn script_own(&self, cwd: Option<&Path>) -> Vec<PathBuf> {
        match (&self.own_dir, cwd) {
            (Some((kind, project, clone_roots, trees)), Some(cwd)) => {
                let elsewhere = crate::plan::trust::Elsewhere { clone_roots, trees };
                let mut own = crate::plan::trust::own_dirs(*kind, project, elsewhere, cwd);
                own.retain(|d| d.is_dir());
                if *kind == crate::plan::trust::OwnDir::InstallTree && cwd == project {
                    own.extend(self.root_extra.iter().cloned());
                }
                own
            }
            _ => Vec::new(),
        }
    }

    /// Whether a `read-only-path` finding for a pip build backend is a write its Landlock
    /// layer allowed after all: beneath its working directory inside the project (an
    /// in-tree build; `cwd` of the caller), or, under uv, its build directories. These
    /// depend on the process, which `judge` does not know; they only ever remove a finding.
    /// Never the venv: pip's legacy `setup.py install` step writes a stage in temp
    /// (`shim::legacy_stage`).
    pub fn pip_build_may_write(&self, path: &Path, cwd: Option<&Path>) -> bool {
        let Some(project) = &self.pip_project else {
            return false;
        };
        if self.read_only.iter().any(|r| path.starts_with(r)) {
            return false;
        }
        if cwd.is_some_and(|c| c.starts_with(project) && path.starts_with(c)) {
            return true;
        }
        if let Some(cache) = &self.uv_cache {
            // uv's build step: its source tree (`shim::python::uv_build_dirs`), and a build
            // directory in `builds-v0`. Which of those the step got is known to its shim,
            // not here: a write into another build's directory is refused by the kernel
            // but not logged.
            let own_tree = cwd.is_some_and(|c| {
                crate::plan::trust::uv_build_dirs(cache, Some(c), None, &[])
                    .contains(&c.to_path_buf())
                    && path.starts_with(c)
            });
            let in_build = path
                .strip_prefix(cache.join("builds-v0"))
                .is_ok_and(|rel| rel.iter().count() > 1);
            if own_tree || in_build {
                return true;
            }
        }
        false
    }

    /// Judge an attempt on `path` (absolute, as resolved inside). `inside` tells whether a
    /// path exists in the sandbox's view; `on_host` whether it exists outside.
    pub fn judge(
        &self,
        path: &Path,
        access: Access,
        level: Level<'_>,
        inside: &dyn Fn(&Path) -> bool,
        on_host: &dyn Fn(&Path) -> bool,
    ) -> Option<Finding> {
        let action = match access {
            Access::Read | Access::LinkFrom => Action::Read,
            Access::Write => Action::Write,
        };
        // The package manager is trusted code (its own configuration files are covered or
        // moved on purpose, and it reads them); what its scripts do is what is judged.
        if level == Level::PackageManager {
            return None;
        }
        let target = path.display().to_string();
        let finding = |reason: Reason, detail: String| {
            Some(Finding {
                action,
                reason,
                target: target.clone(),
                detail,
            })
        };
        if let Some((_, _, why)) = self
            .hidden
            .iter()
            .find(|(p, dir, _)| path == p || (*dir && path.starts_with(p)))
        {
            let what = match access {
                Access::Read | Access::LinkFrom => "reads return nothing",
                Access::Write => "writes fail",
            };
            return finding(Reason::HiddenFile, format!("{why}; {what}"));
        }
        if let Some((_, why)) = self.credentials.iter().find(|(p, _)| path.starts_with(p)) {
            if !inside(path) {
                return finding(
                    Reason::CredentialPath,
                    format!("a credential path of the real home ({why}); not in the sandbox"),
                );
            }
        }
        if let Level::Script { package_dir, .. } = level {
            if let Some((owner, _, _)) = self.granted.iter().find(|(_, dirs, p)| {
                path.starts_with(p) && !dirs.iter().any(|d| Some(d.as_path()) == package_dir)
            }) {
                return finding(
                    Reason::OutsideView,
                    format!("granted to package {owner} only"),
                );
            }
        }
        if matches!(level, Level::Script { .. })
            && self.script_unreadable.iter().any(|p| path.starts_with(p))
        {
            return finding(
                Reason::CredentialPath,
                "the package manager's private configuration (registry credentials): not readable by scripts".into(),
            );
        }
        // A write where the caller may not write: the parent is visible, so the refusal
        // is the view's (read-only mount or Landlock), whatever exists outside.
        if access == Access::Write && !self.may_write(path, level) {
            // Python tries to cache bytecode next to read-only sources and carries on: it
            // makes a missing `__pycache__` and new temporary names in it, and never
            // truncates or deletes compiled code there. A refused write to an entry that
            // exists (a wiper's, or code that runs later) is logged like any other.
            if path.components().any(|c| c.as_os_str() == "__pycache__") && !inside(path) {
                return None;
            }
            if inside(path) || path.parent().is_some_and(inside) {
                let who = match level {
                    Level::Script { .. } => "lifecycle scripts and build backends",
                    _ => "the command",
                };
                return finding(
                    Reason::ReadOnlyPath,
                    format!("visible but not writable for {who}"),
                );
            }
        }
        // A hard link out of a place the caller may not write, which would make the file
        // writable through its new name: Landlock refuses it with EXDEV (its `refer` right).
        if access == Access::LinkFrom
            && !self.may_write(path, level)
            && !path.components().any(|c| c.as_os_str() == "__pycache__")
            && inside(path)
        {
            return Some(Finding {
                action: Action::Write,
                reason: Reason::ReadOnlyPath,
                target,
                detail: "a hard link to it from a writable place would make it writable there: refused (EXDEV)".into(),
            });
        }
        // A write the caller may make lands in the sandbox (a private /tmp, the throwaway
        // home), whatever the host holds at the same path.
        if access == Access::Write && self.may_write(path, level) {
            return None;
        }
        // Kernel and device pseudo-files outside the view (/sys: runtimes probe cgroup
        // limits there) hold no user data; reporting them would be noise.
        let pseudo = path.starts_with("/sys") || path.starts_with("/dev");
        if !pseudo && !inside(path) && on_host(path) {
            return finding(
                Reason::OutsideView,
                "exists outside the sandbox but is not part of its view".into(),
            );
        }
        None
    }

    fn may_write(&self, path: &Path, level: Level<'_>) -> bool {
        if self.read_only.iter().any(|r| path.starts_with(r)) {
            return false;
        }
        let roots = match (level, &self.script_writable) {
            (Level::Script { package_dir, own }, Some(w)) => {
                if own.iter().any(|d| path.starts_with(d)) {
                    return true;
                }
                // The package's own `allow-write` grant (bound to its lockfile entry's
                // directory): its shim's Landlock layer allows it.
                if self.granted_write.iter().any(|(dirs, p)| {
                    path.starts_with(p) && dirs.iter().any(|d| Some(d.as_path()) == package_dir)
                }) {
                    return true;
                }
                w
            }
            _ => &self.writable,
        };
        roots.iter().any(|r| path.starts_with(r))
    }
}

/// Places whose contents run later, outside any sandbox, with whatever that run holds: each
/// a documented way in of the 2025-2026 worms (design.md, threat 6).
fn runs_later(path: &Path) -> bool {
    // Directories: CI workflows, editor and agent tasks, git hooks and their managers, npm
    // binaries on PATH.
    const DIRS: &[&str] = &[
        ".github",
        ".gitlab",
        ".circleci",
        ".vscode",
        ".idea",
        ".claude",
        ".cursor",
        ".husky",
        ".git",
        ".bin",
    ];
    // Files: direnv, shell start-up, the package managers' own configuration (names a
    // program, a registry), the build and task files a developer runs, Python start-up hooks.
    const FILES: &[&str] = &[
        ".envrc",
        ".bashrc",
        ".bash_profile",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        "config.fish",
        ".npmrc",
        ".yarnrc",
        ".yarnrc.yml",
        ".pnpmfile.cjs",
        "pip.conf",
        "package.json",
        "Makefile",
        "justfile",
        "Taskfile.yml",
        ".pre-commit-config.yaml",
        "sitecustomize.py",
        "usercustomize.py",
    ];
    let named = |set: &[&str], c: &std::ffi::OsStr| c.to_str().is_some_and(|c| set.contains(&c));
    path.parent()
        .is_some_and(|d| d.components().any(|c| named(DIRS, c.as_os_str())))
        || path.file_name().is_some_and(|n| named(FILES, n))
        || path.extension().is_some_and(|e| e == "pth")
}

/// Another process's environment or memory under the sandbox's `/proc` (`me`: the caller's
/// pid inside, looked up only when needed): a script's Landlock domain, nested in the package
/// manager's, may not read the package manager's (ptrace rules). Everything else in `/proc`
/// is the sandbox's own. Whether the caller is a script is the caller's to decide.
pub fn judge_proc(path: &Path, me: impl FnOnce() -> i32) -> Option<Finding> {
    let mut parts = path.strip_prefix("/proc").ok()?.components();
    let pid = parts.next()?.as_os_str().to_str()?;
    let file = parts.next()?.as_os_str().to_str()?;
    if !matches!(file, "environ" | "mem") {
        return None;
    }
    let n: i32 = match pid {
        "self" | "thread-self" => return None,
        p => p.parse().ok()?,
    };
    (n != me()).then(|| Finding {
        action: Action::Read,
        reason: Reason::OtherProcess,
        target: path.display().to_string(),
        detail: format!(
            "another process's {file}: scripts cannot read the package manager's (nested Landlock domain)"
        ),
    })
}

/// A NUL-terminated string from the process's memory, read page by page (a string near the
/// end of a mapping must not make the read fail).
pub fn read_c_string(pid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PATH_MAX {
        let len = (PAGE - at % PAGE) as usize;
        let chunk = process::read_memory(pid, at, len).ok()?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Some(out);
        }
        out.extend_from_slice(&chunk);
        at += len as u64;
    }
    None
}

/// The directory a relative path of `pid` starts from: its working directory, or the
/// directory behind descriptor `dirfd`. Paths are as the process sees them.
pub fn base_dir(pid: i32, dirfd: i32) -> Option<PathBuf> {
    let link = if dirfd == libc::AT_FDCWD {
        format!("/proc/{pid}/cwd")
    } else {
        format!("/proc/{pid}/fd/{dirfd}")
    };
    let base = std::fs::read_link(link).ok()?;
    base.is_absolute().then_some(base)
}

/// The root directory a process sees, held open: `/proc/<pid>/root` as an `O_PATH`
/// descriptor. Each lookup beneath it walks from that directory, instead of through `/proc`,
/// the process and its root link again (one lookup per path component while resolving).
///
/// A root that cannot be opened (the process is gone) leaves every lookup failing, as a
/// lookup through `/proc/<pid>/root` would: paths are then resolved as written.
#[derive(Debug)]
pub struct Root {
    dir: Option<std::os::fd::OwnedFd>,
}

impl Root {
    /// The root of `pid`.
    pub fn of_pid(pid: i32) -> Self {
        Self::open(Path::new(&format!("/proc/{pid}/root"))).unwrap_or(Self { dir: None })
    }

    /// A directory to resolve beneath, as if it were `/`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(dir)?;
        Ok(Self {
            dir: Some(file.into()),
        })
    }

    /// `path` (absolute, inside) relative to the root directory.
    fn relative(path: &Path) -> &Path {
        match path.strip_prefix("/") {
            Ok(rel) if !rel.as_os_str().is_empty() => rel,
            _ => Path::new("."),
        }
    }

    /// Whether `path` exists inside (not following a final link).
    pub fn exists(&self, path: &Path) -> bool {
        self.dir.as_ref().is_some_and(|dir| {
            nix::sys::stat::fstatat(
                dir,
                Self::relative(path),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .is_ok()
        })
    }

    fn read_link(&self, path: &Path) -> nix::Result<std::ffi::OsString> {
        let dir = self.dir.as_ref().ok_or(nix::errno::Errno::ESRCH)?;
        nix::fcntl::readlinkat(dir, Self::relative(path))
    }
}

/// A path as the process would reach it, and whether it exists there when the last lookup
/// told (`None`: not looked at, or the answer was neither "a file" nor "nothing there").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    pub exists: Option<bool>,
}

/// `raw` (relative to `base` unless absolute) with `.`/`..` and symbolic links resolved
/// inside the sandbox's root (`root`, normally [`Root::of_pid`]). A final component that is a
/// link is followed when `follow_last` (open without `O_NOFOLLOW`).
pub fn resolve(root: &Root, base: &Path, raw: &[u8], follow_last: bool) -> Resolved {
    let raw = Path::new(OsStr::from_bytes(raw));
    let start = if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        base.join(raw)
    };
    let mut pending: Vec<PathBuf> = components_rev(&start);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    let mut exists = None;
    while let Some(part) = pending.pop() {
        exists = None;
        if part.as_os_str() == ".." {
            out.pop();
            continue;
        }
        let candidate = out.join(&part);
        let is_last = pending.is_empty();
        if links < MAX_LINKS && (follow_last || !is_last) {
            match root.read_link(&candidate) {
                Ok(target) => {
                    links += 1;
                    let target = PathBuf::from(target);
                    if target.is_absolute() {
                        out = PathBuf::from("/");
                    }
                    pending.extend(components_rev(&target));
                    continue;
                }
                // Not a link: there is something at this name.
                Err(nix::errno::Errno::EINVAL) => exists = Some(true),
                Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => exists = Some(false),
                Err(_) => {}
            }
        }
        out = candidate;
    }
    Resolved { path: out, exists }
}

/// Normal components of `p`, last first (`.` dropped, `..` kept for the resolver).
fn components_rev(p: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rules() -> FileRules {
        FileRules {
            hidden: vec![
                ("/p/.env".into(), false, "hidden by rule .env".into()),
                ("/etc/ssh".into(), true, "masked".into()),
            ],
            credentials: vec![("/home/u/.ssh".into(), "ssh keys".into())],
            writable: vec!["/p".into(), "/tmp".into()],
            script_writable: Some(vec!["/p/node_modules".into(), "/tmp".into()]),
            script_unreadable: vec!["/.safe-install/private".into()],
            read_only: vec!["/p/.git".into()],
            granted: vec![
                (
                    "sharp".into(),
                    vec!["/p/node_modules/sharp".into()],
                    "/opt/vips".into(),
                ),
                (
                    "sharp".into(),
                    vec!["/p/node_modules/sharp".into()],
                    "/p/cache".into(),
                ),
            ],
            granted_write: vec![(vec!["/p/node_modules/sharp".into()], "/p/cache".into())],
            pip_project: None,
            uv_cache: None,
            own_dir: None,
            root_extra: Vec::new(),
            persistent: vec!["/p".into()],
            install_tree: Some("/p/node_modules".into()),
        }
    }

    #[test]
    fn uv_build_steps_write_their_source_tree_and_build_directories_only() {
        let r = FileRules {
            pip_project: Some("/p".into()),
            uv_cache: Some("/c/uv".into()),
            ..rules()
        };
        let src = Path::new("/c/uv/sdists-v11/index/h/x/1.0/id/src");
        let may = |path: &str, cwd: &Path| r.pip_build_may_write(Path::new(path), Some(cwd));
        assert!(may(
            "/c/uv/sdists-v11/index/h/x/1.0/id/src/build/lib/x.py",
            src
        ));
        assert!(may("/c/uv/builds-v0/.tmpA/build_wheel.txt", src));
        // Not the cache's other buckets, not another package's tree, not the project.
        for path in [
            "/c/uv/wheels-v8/index/h/y/y.whl",
            "/c/uv/archive-v0/abc/y.py",
            "/c/uv/builds-v0",
            "/c/uv/sdists-v11/index/h/y/1.0/id/src/setup.py",
            "/p/evil.py",
        ] {
            assert!(!may(path, src), "{path}");
        }
        // Started elsewhere in the cache: no source tree of its own.
        assert!(!may("/c/uv/sdists-v11/x", Path::new("/c/uv/sdists-v11")));
    }

    #[test]
    fn pip_build_backends_write_their_build_dir_and_never_the_venv() {
        let r = FileRules {
            pip_project: Some("/p".into()),
            ..rules()
        };
        let cwd = Some(Path::new("/p/vendor/x"));
        let site = Path::new("/v/lib/python3.11/site-packages/x.pth");
        assert!(r.pip_build_may_write(Path::new("/p/vendor/x/build/a"), cwd));
        assert!(!r.pip_build_may_write(Path::new("/p/src/a"), cwd));
        assert!(!r.pip_build_may_write(site, cwd));
        assert!(!r.pip_build_may_write(site, None));
        assert!(!r.pip_build_may_write(Path::new("/v/pip.conf"), None));
        assert!(!r.pip_build_may_write(Path::new("/p/.git/hooks/x"), Some(Path::new("/p"))));
        assert!(!rules().pip_build_may_write(Path::new("/p/vendor/x/a"), cwd));
    }

    fn judge(path: &str, access: Access, level: Level<'_>) -> Option<Reason> {
        let inside = |p: &Path| p.starts_with("/p") || p.starts_with("/usr") || p == Path::new("/");
        let on_host = |p: &Path| p.starts_with("/home/u/other");
        rules()
            .judge(Path::new(path), access, level, &inside, &on_host)
            .map(|f| f.reason)
    }

    #[test]
    fn a_write_the_package_is_granted_is_no_finding() {
        let level = |dir: &'static str| Level::Script {
            package_dir: Some(Path::new(dir)),
            own: &[],
        };
        let sharp = "/p/node_modules/sharp";
        assert_eq!(judge("/p/cache/x.bin", Access::Write, level(sharp)), None);
        assert_eq!(
            judge(
                "/p/cache/x.bin",
                Access::Write,
                level("/p/node_modules/evil")
            ),
            Some(Reason::OutsideView)
        );
        assert_eq!(
            judge("/p/src/x.js", Access::Write, level(sharp)),
            Some(Reason::ReadOnlyPath)
        );
    }

    #[test]
    fn python_caching_bytecode_is_quiet_but_a_wipe_of_compiled_code_is_logged() {
        let script = Level::Script {
            package_dir: Some(Path::new("/p/node_modules/evil")),
            own: &[],
        };
        let pyc = "/usr/lib/x/__pycache__/y.cpython-311.pyc";
        let inside = |p: &Path| {
            [
                Path::new("/usr/lib/x"),
                Path::new("/usr/lib/x/__pycache__"),
                Path::new(pyc),
            ]
            .contains(&p)
        };
        let judge = |path: &str| {
            rules()
                .judge(Path::new(path), Access::Write, script, &inside, &|_| false)
                .map(|f| f.reason)
        };
        // Python caching bytecode beside read-only sources: a missing `__pycache__`, a new
        // temporary name in an existing one; it carries on without.
        assert_eq!(judge("/usr/lib/x/z/__pycache__"), None);
        assert_eq!(judge(&format!("{pyc}.140234")), None);
        // Truncating or deleting compiled code that exists (a wiper; code that runs later).
        assert_eq!(judge(pyc), Some(Reason::ReadOnlyPath));
    }

    #[test]
    fn judges_by_level() {
        let own = [PathBuf::from("/p/node_modules/evil")];
        let script = Level::Script {
            package_dir: Some(Path::new("/p/node_modules/evil")),
            own: &own,
        };
        assert_eq!(
            judge("/p/.env", Access::Read, script),
            Some(Reason::HiddenFile)
        );
        assert_eq!(judge("/p/.env", Access::Read, Level::PackageManager), None);
        assert_eq!(
            judge("/etc/ssh/ssh_host_rsa_key", Access::Read, script),
            Some(Reason::HiddenFile)
        );
        assert_eq!(
            judge("/home/u/.ssh/id_rsa", Access::Read, script),
            Some(Reason::CredentialPath)
        );
        assert_eq!(
            judge("/home/u/other/.env", Access::Read, script),
            Some(Reason::OutsideView)
        );
        assert_eq!(
            judge("/home/u/other/.env", Access::Read, Level::PackageManager),
            None
        );
        assert_eq!(
            judge("/p/src/index.js", Access::Write, script),
            Some(Reason::ReadOnlyPath)
        );
        assert_eq!(
            judge("/p/src/index.js", Access::Write, Level::Command),
            None
        );
        assert_eq!(
            judge("/p/node_modules/evil/build/x", Access::Write, script),
            None
        );
        // A hard link out of a place it may not write (would make it writable here: EXDEV),
        // out of its own folder (fine), or of a hidden file (a read of it).
        assert_eq!(
            judge("/p/src/index.js", Access::LinkFrom, script),
            Some(Reason::ReadOnlyPath)
        );
        assert_eq!(
            judge("/p/node_modules/evil/build/x", Access::LinkFrom, script),
            None
        );
        assert_eq!(
            judge("/p/.env", Access::LinkFrom, script),
            Some(Reason::HiddenFile)
        );
        assert_eq!(judge("/nowhere/at/all", Access::Read, script), None);
        assert_eq!(
            judge("/opt/vips/lib.so", Access::Read, script),
            Some(Reason::OutsideView)
        );
        let sharp = Level::Script {
            package_dir: Some(Path::new("/p/node_modules/sharp")),
            own: &[],
        };
        assert_eq!(judge("/opt/vips/lib.so", Access::Read, sharp), None);
        // A private /tmp: the host's file of the same name is not what was written.
        let tmp_on_host = |p: &Path| p.starts_with("/tmp");
        assert_eq!(
            rules().judge(
                Path::new("/tmp/core-js-banners"),
                Access::Write,
                script,
                &|p: &Path| p == Path::new("/tmp"),
                &tmp_on_host
            ),
            None
        );
        assert_eq!(
            judge("/.safe-install/private/npmrc", Access::Read, script),
            Some(Reason::CredentialPath)
        );
        assert_eq!(
            judge(
                "/.safe-install/private/npmrc",
                Access::Read,
                Level::PackageManager
            ),
            None
        );
    }

    #[test]
    fn writes_that_outlive_the_sandbox_outside_the_scripts_folder_are_left_behind() {
        let r = FileRules {
            script_writable: Some(vec!["/tmp".into(), "/p/.vscode".into(), "/p/cache".into()]),
            ..rules()
        };
        let own = [PathBuf::from("/p/node_modules/evil")];
        let script = Level::Script {
            package_dir: Some(Path::new("/p/node_modules/evil")),
            own: &own,
        };
        let left = |p: &str| r.left_behind(Path::new(p), Access::Write, script);
        assert!(left("/p/.vscode/tasks.json"));
        // A write the user allowed where nothing runs it later (a download cache): consent.
        assert!(!left("/p/cache/prebuilt.bin"));
        assert!(left("/p/cache/evil.pth"));
        assert!(!left("/p/node_modules/evil/build/a.node"));
        assert!(!left("/tmp/x"));
        assert!(
            !left("/p/src/index.js"),
            "refused, so logged as blocked instead"
        );
        assert!(!r.left_behind(Path::new("/p/.vscode/tasks.json"), Access::Read, script));
        assert!(!r.left_behind(
            Path::new("/p/.vscode/tasks.json"),
            Access::Write,
            Level::PackageManager
        ));
    }

    #[test]
    fn other_processes_environment_and_memory() {
        let r = |p: &str, me| judge_proc(Path::new(p), || me).map(|f| f.reason);
        assert_eq!(r("/proc/2/environ", 7), Some(Reason::OtherProcess));
        assert_eq!(r("/proc/2/mem", 7), Some(Reason::OtherProcess));
        assert_eq!(r("/proc/7/environ", 7), None);
        assert_eq!(r("/proc/self/environ", 7), None);
        assert_eq!(r("/proc/2/cmdline", 7), None);
        assert_eq!(r("/proc/meminfo", 7), None);
    }

    #[test]
    fn resolves_relative_paths_dot_dot_and_links_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        std::fs::create_dir_all(r.join("p/sub")).expect("mkdir");
        std::fs::write(r.join("p/.env"), "").expect("write");
        symlink("/home/u/.ssh/id_rsa", r.join("p/key")).expect("abs link");
        symlink("../.env", r.join("p/sub/env")).expect("rel link");
        symlink("sub", r.join("p/dir")).expect("dir link");
        let root = Root::open(r).expect("open the root");
        let base = Path::new("/p/sub");
        let at = |raw: &[u8], follow: bool| resolve(&root, base, raw, follow).path;
        assert_eq!(at(b"../x", true), PathBuf::from("/p/x"));
        assert_eq!(at(b"/p/key", true), PathBuf::from("/home/u/.ssh/id_rsa"));
        assert_eq!(at(b"/p/key", false), PathBuf::from("/p/key"));
        assert_eq!(at(b"env", true), PathBuf::from("/p/.env"));
        assert_eq!(at(b"/p/dir/env", true), PathBuf::from("/p/.env"));
        assert_eq!(at(b"/../../p/./x", true), PathBuf::from("/p/x"));
        // An absolute link is resolved inside the root, not on the host: the root's own
        // `/p/.env`, whatever the host has at that path.
        symlink("/p/.env", r.join("p/abs-env")).expect("abs link inside");
        assert_eq!(at(b"/p/sub/../abs-env", true), PathBuf::from("/p/.env"));
    }

    #[test]
    fn a_root_that_cannot_be_opened_resolves_paths_as_written() {
        // No such process (pids stop far below this).
        let root = Root::of_pid(i32::MAX);
        let r = resolve(&root, Path::new("/p"), b"../etc/./passwd", true);
        assert_eq!(r.path, PathBuf::from("/etc/passwd"));
        assert_eq!(r.exists, None);
        assert!(!root.exists(Path::new("/")));
    }

    #[test]
    fn the_last_lookup_says_whether_the_path_exists_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        std::fs::create_dir_all(r.join("p")).expect("mkdir");
        std::fs::write(r.join("p/file"), "").expect("write");
        symlink("file", r.join("p/link")).expect("link");
        symlink("gone", r.join("p/dangling")).expect("link");
        let root = Root::open(r).expect("open the root");
        let base = Path::new("/");
        let exists = |raw: &[u8], follow: bool| resolve(&root, base, raw, follow).exists;
        assert_eq!(exists(b"/p/file", true), Some(true));
        assert_eq!(exists(b"/p/link", true), Some(true), "followed to the file");
        assert_eq!(exists(b"/p/dangling", true), Some(false));
        assert_eq!(exists(b"/p/missing", true), Some(false));
        assert_eq!(exists(b"/p/file/x", true), Some(false), "ENOTDIR");
        assert_eq!(exists(b"/nowhere/x", true), Some(false));
        assert_eq!(exists(b"/p/..", true), None, "nothing looked up last");
        assert_eq!(exists(b"/p/link", false), None, "a last link not looked at");
        // A dangling link names where it points.
        assert_eq!(
            resolve(&root, base, b"/p/dangling", true).path,
            PathBuf::from("/p/gone")
        );
        // Each answer agrees with a plain lookup.
        for (raw, inside) in [("/p/file", true), ("/p/missing", false), ("/", true)] {
            assert_eq!(root.exists(Path::new(raw)), inside, "{raw}");
        }
    }
}
