//! The filesystem view as an ordered list of mounts on an empty root.
//!
//! Shape: system directories read-only; the home directory an empty tmpfs holding only the
//! package manager's cache (read-write) and toolchains (read-only); the project read-write
//! with `.git` read-only and hidden files covered; private `/tmp`; own `/proc`; minimal `/dev`.
//! Targets are sorted parents-first so every mount lands on the one it belongs in.

use super::{Context, Hidden, LandlockPlan};
use crate::policy::Policy;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// An empty tmpfs (home, /tmp).
    Tmpfs,
    /// A bind mount of a host path, read-only.
    BindRo(PathBuf),
    /// A bind mount of a host path, read-write.
    BindRw(PathBuf),
    /// A symbolic link with this content (`/bin -> usr/bin`).
    Symlink(PathBuf),
    /// An empty read-only file over a hidden file.
    HideFile,
    /// An empty read-only directory over a hidden directory.
    HideDir,
    /// A procfs of the sandbox's pid namespace.
    Proc,
    /// A tmpfs with the minimal device nodes, devpts and shm.
    Dev,
    /// A read-only file with this content, made by safe-install (`/etc/resolv.conf`).
    File(String),
    /// The system-shell gate ([`super::trust::SYSTEM_SHELL_GATE`]), a program of
    /// safe-install's written by the child: read-only, executable.
    ShellGate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    pub kind: MountKind,
    /// Why it is there (the policy reason or the built-in rule).
    pub why: String,
}

impl Mount {
    fn is_bind(&self) -> bool {
        matches!(self.kind, MountKind::BindRo(_) | MountKind::BindRw(_))
    }
}

pub(super) struct View {
    pub mounts: Vec<Mount>,
    pub notes: Vec<String>,
    /// Directories the view shows read-write that do not exist yet: created by the
    /// supervisor before the run ([`super::HostAction`]), never while planning.
    pub creates: Vec<super::HostAction>,
    /// A bind that only carries others on one mount (see [`View::share_one_mount`]): no
    /// Landlock rule of its own, its places' rules are in `shared_write`.
    pub carrier: Option<PathBuf>,
    /// The places a carrier shows read-write.
    pub shared_write: Vec<PathBuf>,
    /// Install trees in the home the command writes (`npm install -g`'s global
    /// `node_modules`), as shown: each package's own folder of one is its scripts'.
    pub trees: Vec<PathBuf>,
}

impl View {
    pub(super) fn push(&mut self, target: PathBuf, kind: MountKind, why: impl Into<String>) {
        // A later entry for the same target wins (layers are added lowest first).
        self.mounts.retain(|m| m.target != target);
        self.mounts.push(Mount {
            target,
            kind,
            why: why.into(),
        });
    }

    /// Whether `path` shows host content inside (lies beneath a bind mount).
    pub fn visible(&self, path: &Path) -> bool {
        self.covering(path).is_some_and(Mount::is_bind)
    }

    /// The deepest mount whose target is `path` or an ancestor of it.
    fn covering(&self, path: &Path) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| path.starts_with(&m.target))
            .max_by_key(|m| m.target.components().count())
    }

    /// Add a read-only host path unless an identical read-only view of it already exists.
    pub(super) fn add_ro(&mut self, path: &Path, why: &str) {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        if meta.file_type().is_symlink() {
            let Ok(real) = std::fs::canonicalize(path) else {
                self.notes
                    .push(format!("{}: dangling link, not shown", path.display()));
                return;
            };
            if let Ok(link) = std::fs::read_link(path) {
                if !self.visible(path) {
                    self.push(path.to_path_buf(), MountKind::Symlink(link), why);
                }
            }
            self.add_ro(&real, why);
            return;
        }
        if let Some(m) = self.covering(path) {
            if matches!(&m.kind, MountKind::BindRo(src) if path.starts_with(src) && src == &m.target)
            {
                return;
            }
        }
        self.push(
            path.to_path_buf(),
            MountKind::BindRo(path.to_path_buf()),
            why,
        );
    }

    pub(super) fn add_rw(&mut self, path: &Path, why: &str) {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.push(real.clone(), MountKind::BindRw(real), why);
    }

    /// Show `path` read-write, creating it before the run when it is missing (a cache or a
    /// granted download folder, which the tool would create on first use anyway). Planning
    /// only records the creation: `explain` changes nothing on disk.
    pub(super) fn add_rw_created(&mut self, path: &Path, why: &str) {
        if path.is_dir() {
            self.add_rw(path, why);
        } else if !path.exists() {
            let real = real_to_be(path);
            self.creates.push(super::HostAction::CreateDir {
                path: real.clone(),
                why: why.to_string(),
            });
            self.push(real.clone(), MountKind::BindRw(real), why);
        }
    }

    /// Parents before children; stable, so equal depths keep their order.
    pub(super) fn sort(&mut self) {
        self.mounts.sort_by_key(|m| m.target.components().count());
    }

    pub fn landlock(&self) -> LandlockPlan {
        let mut ll = LandlockPlan::default();
        ll.write.extend(self.shared_write.iter().cloned());
        for m in &self.mounts {
            match &m.kind {
                // The carrier's own directory and the entries it shows that are not hidden
                // (created after planning) get no right beyond listing.
                MountKind::BindRw(_) if self.carrier.as_ref() == Some(&m.target) => {}
                MountKind::BindRo(_) => ll.read.push(m.target.clone()),
                MountKind::BindRw(_) | MountKind::Tmpfs => ll.write.push(m.target.clone()),
                MountKind::Proc => ll.write.push(m.target.clone()),
                MountKind::Dev => {
                    ll.devices.push(m.target.clone());
                    ll.write.push(m.target.join("shm"));
                }
                // Made by safe-install, read-only: readable (resolv.conf, the private npm
                // configuration, which trust level 2 then leaves out).
                MountKind::File(_) | MountKind::ShellGate => ll.read.push(m.target.clone()),
                MountKind::Symlink(_) | MountKind::HideFile | MountKind::HideDir => {}
            }
        }
        ll
    }
}

pub(super) fn build(
    policy: &Policy,
    ctx: &Context,
    program: Option<&Path>,
    venv: Option<&Path>,
    hidden: &[Hidden],
) -> View {
    let mut v = View {
        mounts: Vec::new(),
        notes: Vec::new(),
        creates: Vec::new(),
        carrier: None,
        shared_write: Vec::new(),
        trees: Vec::new(),
    };
    let home = &ctx.home;

    // Private, empty places first: everything below them comes from explicit binds only.
    v.push("/tmp".into(), MountKind::Tmpfs, "private /tmp");
    v.push("/var/tmp".into(), MountKind::Tmpfs, "private /var/tmp");
    v.push(
        home.clone(),
        MountKind::Tmpfs,
        "private home: the real one is invisible",
    );
    // The XDG cache directory exists, as it does in any home: a script creating its own cache
    // (`mkdir -p ~/.cache/NAME`) is then refused at `~/.cache/NAME`, which is what a grant
    // (learned or hinted) names, not at `~/.cache`, which holds every tool's cache.
    v.push(
        home.join(".cache"),
        MountKind::Tmpfs,
        "private ~/.cache: empty but for the caches bound below it",
    );
    v.push(
        "/proc".into(),
        MountKind::Proc,
        "the sandbox's own processes only",
    );
    v.push(
        "/dev".into(),
        MountKind::Dev,
        "null, zero, full, random, urandom, tty, pts, shm",
    );

    for e in &policy.fs.ro {
        v.add_ro(&e.value.resolve(home), &e.reason);
    }

    // The package manager's caches: read-write so warm-cache installs stay fast. The first one
    // listed is created before the run if missing (the package manager would create it
    // anyway), and so is one whose variable the run sets (it must be the real directory).
    for (i, (e, dir)) in policy
        .fs
        .cache
        .iter()
        .zip(cache_dirs(policy, ctx))
        .enumerate()
    {
        if i == 0 || e.value.export {
            v.add_rw_created(&dir, &e.reason);
        } else if dir.is_dir() {
            v.add_rw(&dir, &e.reason);
        }
    }

    // Toolchains found through PATH and the command itself: read-only so the command runs
    // wherever it is installed (nvm, pyenv, volta, a venv outside the project).
    if let Some(path_var) = ctx.var("PATH") {
        for dir in std::env::split_paths(path_var) {
            if !dir.is_absolute() || !dir.is_dir() || home.starts_with(&dir) {
                continue;
            }
            if !v.visible(&dir) {
                v.add_ro(&dir, "a directory of PATH");
            }
            // Shim managers (pyenv, rbenv, asdf) exec from the directory above their shims.
            if dir.file_name().is_some_and(|n| n == "shims") {
                if let Some(root) = dir.parent().filter(|r| !home.starts_with(r)) {
                    if !v.visible(root) {
                        v.add_ro(root, "the root of a shim-based toolchain in PATH");
                    }
                }
            }
        }
    }
    if let Some(real) = program.and_then(|p| std::fs::canonicalize(p).ok()) {
        if !v.visible(&real) {
            let prefix = real
                .parent()
                .filter(|d| d.file_name().is_some_and(|n| n == "bin"))
                .and_then(Path::parent)
                .or_else(|| real.parent());
            if let Some(prefix) = prefix.filter(|p| !home.starts_with(p)) {
                v.add_ro(prefix, "the toolchain of the command");
            }
        }
    }

    // Where the install writes.
    if let Some(venv) = venv {
        v.add_rw(venv, "the target virtualenv of pip");
    }
    for e in &policy.fs.rw {
        v.add_rw(&e.value.resolve(home), &e.reason);
    }
    v.add_rw(&ctx.project, "the project");
    let git = ctx.project.join(".git");
    if git.exists() {
        v.push(
            git.clone(),
            MountKind::BindRo(git),
            "git metadata: hooks must not be planted",
        );
        // CI checkouts keep a credential in the repository's configuration (see
        // `plan::gitconfig`): everyone inside sees it without.
        for name in ["config", "config.worktree"] {
            let file = ctx.project.join(".git").join(name);
            if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                continue;
            }
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    if let Some(clean) = super::gitconfig::sanitize(&text) {
                        v.push(
                            file,
                            MountKind::File(clean),
                            "git configuration without its credentials (extraheader, URL user names and passwords, includes, credential helpers)",
                        );
                    }
                }
                // Unreadable as text: shown as nothing rather than as it is.
                Err(_) => v.push(
                    file,
                    MountKind::HideFile,
                    "git configuration that could not be read to remove credentials",
                ),
            }
        }
    }
    resolver(&mut v);
    for e in &policy.fs.mask {
        let path = e.value.resolve(home);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() || !v.visible(&path) {
            continue;
        }
        let kind = if meta.is_dir() {
            MountKind::HideDir
        } else {
            MountKind::HideFile
        };
        v.push(path, kind, format!("masked: {}", e.reason));
    }
    // The CI runner's temporary directory holds the checkout's credential (actions/checkout
    // v6 keeps `git-credentials-*.config` there). It is outside the view unless the project
    // or a grant contains it; then it is covered.
    if let Some(temp) = ctx
        .var("RUNNER_TEMP")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.is_dir())
    {
        if v.visible(&temp) {
            v.push(
                temp,
                MountKind::HideDir,
                "the CI runner's temporary directory (RUNNER_TEMP): checkout credentials",
            );
        }
    }
    for h in hidden {
        let kind = if h.is_dir {
            MountKind::HideDir
        } else {
            MountKind::HideFile
        };
        v.push(h.path.clone(), kind, format!("hidden by rule {}", h.rule));
    }

    v.sort();
    v
}

/// Why a store and the places it links into cannot be shown on one mount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ShareError {
    #[error("{store} and {target} are on different filesystems: hard links between them are impossible outside the sandbox too")]
    OtherFilesystem { store: PathBuf, target: PathBuf },
    #[error("the nearest directory holding both {store} and {targets} is {ancestor}, too close to the root to show through one mount")]
    TooHigh {
        store: PathBuf,
        targets: String,
        ancestor: PathBuf,
    },
}

/// Directories the shared bind may not be at or above: the root and its first level (a
/// system directory, `/home`, `/tmp` itself), where hiding every other entry would hide the
/// system the view shows.
const MIN_CARRIER_DEPTH: usize = 3;

impl View {
    /// Show `store` (read-write) and the places it links into (`into`: the project, a
    /// virtualenv; read-write) on ONE mount, so that `link()` between them works: the kernel
    /// refuses a hard link (and a reflink) between two mounts (`EXDEV`) even on one
    /// filesystem. The nearest directory holding them all is bound once (the carrier, with
    /// no Landlock rule of its own); every entry along the way to any of them that is
    /// neither on the way nor shown by a mount of its own is covered: a directory by an
    /// empty private tmpfs (as the private home is), anything else by an empty read-only
    /// file. Symbolic links are left (a mount on one would land on its target): they lead
    /// only to what the view shows anyway. Level 1 gets every place read-write (and so
    /// Landlock's REFER right between them, which a link across directories needs); level 2
    /// reads them and writes none.
    pub(super) fn share_one_mount(
        &mut self,
        store: &Path,
        into: &[PathBuf],
        why: &str,
    ) -> Result<(), ShareError> {
        use std::os::unix::fs::MetadataExt;
        let store_real = real_to_be(store);
        let into: Vec<PathBuf> = into.iter().map(|p| real_to_be(p)).collect();
        let dev = |p: &Path| {
            let existing = p.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
            std::fs::metadata(existing).map(|m| m.dev()).ok()
        };
        if let Some(other) = into.iter().find(|t| dev(t) != dev(&store_real)) {
            return Err(ShareError::OtherFilesystem {
                store: store_real,
                target: other.clone(),
            });
        }
        let ancestor: PathBuf = store_real
            .ancestors()
            .find(|a| into.iter().all(|t| t.starts_with(a)))
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        if ancestor.components().count() < MIN_CARRIER_DEPTH
            || super::trust::TEMP_ROOTS
                .iter()
                .any(|t| Path::new(t).starts_with(&ancestor))
        {
            return Err(ShareError::TooHigh {
                store: store_real,
                targets: into
                    .iter()
                    .map(|t| t.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                ancestor,
            });
        }
        let ends: Vec<PathBuf> = std::iter::once(store_real.clone()).chain(into).collect();
        let on_way = |p: &Path| ends.iter().any(|e| e.starts_with(p));
        // Mounts on the way (the private home, the project's, the store's and a virtualenv's
        // own binds) would split the one mount again: the carrier shows those places itself.
        let removed: Vec<Mount> = self
            .mounts
            .iter()
            .filter(|m| m.target.starts_with(&ancestor) && on_way(&m.target))
            .cloned()
            .collect();
        self.mounts
            .retain(|m| !(m.target.starts_with(&ancestor) && on_way(&m.target)));
        // A private tmpfs below the carrier needs its mount point on the host now.
        for m in &self.mounts {
            if m.kind == MountKind::Tmpfs
                && m.target.starts_with(&ancestor)
                && !m.target.exists()
                && !self.creates.iter().any(
                    |c| matches!(c, super::HostAction::CreateDir { path, .. } if path == &m.target),
                )
            {
                self.creates.push(super::HostAction::CreateDir {
                    path: m.target.clone(),
                    why: m.why.clone(),
                });
            }
        }
        if !store_real.exists() {
            self.creates.push(super::HostAction::CreateDir {
                path: store_real.clone(),
                why: why.to_string(),
            });
        }
        // Cover every other entry of each directory on the way; not inside a place shown (a
        // virtualenv in the project: the project is shown whole).
        let mut covers = Vec::new();
        for end in &ends {
            for dir in end
                .ancestors()
                .filter(|d| d.starts_with(&ancestor) && !ends.iter().any(|e| d.starts_with(e)))
            {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if on_way(&path)
                        || self.mounts.iter().any(|m| m.target == path)
                        || covers.iter().any(|(p, _)| p == &path)
                    {
                        continue;
                    }
                    let Ok(meta) = std::fs::symlink_metadata(&path) else {
                        continue;
                    };
                    if meta.file_type().is_symlink() {
                        continue;
                    }
                    let kind = if meta.is_dir() {
                        MountKind::Tmpfs
                    } else {
                        MountKind::HideFile
                    };
                    covers.push((path, kind));
                }
            }
        }
        let was_home_tmpfs = removed.iter().any(|m| m.kind == MountKind::Tmpfs);
        self.push(
            ancestor.clone(),
            MountKind::BindRw(ancestor.clone()),
            format!(
                "carries {} on one mount ({why}); everything else in it is covered below",
                ends.iter()
                    .map(|e| e.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        );
        for (path, kind) in covers {
            let why = if kind == MountKind::Tmpfs {
                "private and empty: not on the way to the store or where it links into"
            } else {
                "hidden: not on the way to the store or where it links into"
            };
            self.push(path, kind, why);
        }
        self.carrier = Some(ancestor.clone());
        self.shared_write = ends.clone();
        self.notes.push(format!(
            "{} are shown through one bind of {} so that hard links between them work; every other entry on the way is covered{}",
            ends.iter()
                .map(|e| e.display().to_string())
                .collect::<Vec<_>>()
                .join(" and "),
            ancestor.display(),
            if was_home_tmpfs {
                " (the home's entries by private, empty directories and files, as the private home would be)"
            } else {
                ""
            }
        ));
        self.sort();
        Ok(())
    }
}

/// Point the resolver at the DNS stub. When the host's `/etc/resolv.conf` is a link (to
/// `/run/systemd/resolve/...`), the file goes where the link leads, on a private tmpfs if that
/// place is not otherwise shown, so `/run` and its sockets stay absent.
fn resolver(v: &mut View) {
    let content = format!(
        "# written by safe-install: names are resolved by its proxy, never inside\nnameserver {}\noptions timeout:1 attempts:1\n",
        crate::plan::addresses::DNS.ip()
    );
    let mut target = PathBuf::from("/etc/resolv.conf");
    for _ in 0..8 {
        match std::fs::read_link(&target) {
            Ok(link) => {
                target = match target.parent() {
                    Some(dir) if link.is_relative() => normalise(&dir.join(link)),
                    _ => normalise(&link),
                };
            }
            Err(_) => break,
        }
    }
    if !v.visible(&target) {
        if let Some(top) = target.components().nth(1) {
            let top = Path::new("/").join(top);
            if v.covering(&top).is_none() {
                v.push(
                    top,
                    MountKind::Tmpfs,
                    "private: holds the resolver file only",
                );
            }
        }
    }
    v.push(
        target,
        MountKind::File(content),
        "DNS goes to safe-install's stub, which logs every name",
    );
}

/// Lexically resolve `.` and `..` (link targets are not canonicalised: they may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Where a missing `path` will really be once created: its deepest existing ancestor
/// resolved (a home whose `.cache` is a link elsewhere), the missing rest appended.
pub(super) fn real_to_be(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    while !at.exists() {
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
    let mut real = std::fs::canonicalize(at).unwrap_or_else(|_| at.to_path_buf());
    real.extend(missing.iter().rev());
    real
}

/// Where each `[[fs.cache]]` entry points for this caller: its variable when set to an
/// absolute path, else its path.
pub(super) fn cache_dirs(policy: &Policy, ctx: &Context) -> Vec<PathBuf> {
    policy
        .fs
        .cache
        .iter()
        .map(|e| {
            e.value
                .env
                .as_ref()
                .and_then(|name| ctx.var(name))
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| e.value.path.resolve(&ctx.home))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build as build_plan;
    use crate::plan::test_fixtures::{npm_ci, npm_policy, Project};

    fn fixture() -> (tempfile::TempDir, crate::plan::Context) {
        npm_ci(Project::InHome)
    }

    #[test]
    fn planning_creates_nothing_a_missing_cache_is_created_before_the_run() {
        let (_dir, ctx) = fixture();
        let cache = ctx.home.join(".npm");
        std::fs::remove_dir(&cache).expect("rmdir");
        let compile = ctx.home.join(".cache/safe-install/node-compile-cache");
        let mut plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        assert!(!cache.exists(), "building the plan must not touch the disk");
        assert!(
            !compile.exists(),
            "building the plan must not touch the disk"
        );
        let create = |path: &Path| crate::plan::HostAction::CreateDir {
            path: path.to_path_buf(),
            why: plan
                .mounts
                .iter()
                .find(|m| m.target == path)
                .expect("the cache is in the view before it exists")
                .why
                .clone(),
        };
        // The first cache, and the one whose variable the run sets (it must be the real one).
        assert_eq!(plan.before_run, vec![create(&cache), create(&compile)]);
        plan.prepare_host();
        assert!(cache.is_dir() && compile.is_dir());
        assert!(plan.before_run.is_empty());
    }

    #[test]
    fn the_package_managers_node_is_not_told_to_load_its_proxy_client() {
        let (_dir, ctx) = fixture();
        let plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        let proxy = |k: &std::ffi::OsString| k == crate::plan::trust::NODE_ENV_PROXY;
        assert!(
            !plan.env.pass.iter().any(|(k, _)| proxy(k)),
            "npm reads npm_config_proxy: {:?}",
            plan.env.pass
        );
        assert!(
            plan.env.pass.iter().any(|(k, _)| k == "npm_config_proxy"),
            "npm is still pointed at the proxy"
        );
    }

    #[test]
    fn node_compile_cache_is_the_package_managers_only() {
        let (_dir, ctx) = fixture();
        let compile = ctx.home.join(".cache/safe-install/node-compile-cache");
        let plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        assert!(
            plan.env
                .pass
                .iter()
                .any(|(k, v)| k == "NODE_COMPILE_CACHE" && Path::new(v) == compile),
            "level 1 is pointed at the kept compile cache: {:?}",
            plan.env.pass
        );
        assert!(plan.landlock.write.contains(&compile), "level 1 writes it");
        let script = plan.script.as_ref().expect("npm has the script shell");
        assert!(
            script.drops("NODE_COMPILE_CACHE"),
            "level 2 does not inherit it"
        );
        assert!(
            !script.write.iter().any(|w| compile.starts_with(w)),
            "level 2 may not write it: {:?}",
            script.write
        );
    }

    #[test]
    fn a_cache_that_cannot_be_created_leaves_the_view() {
        let (_dir, ctx) = fixture();
        let cache = ctx.home.join(".npm");
        std::fs::remove_dir(&cache).expect("rmdir");
        let mut plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        // A file where the cache's parent should be: creation fails whoever runs the test.
        std::fs::remove_dir_all(&ctx.home).expect("rm home");
        std::fs::write(&ctx.home, "not a directory").expect("file");
        plan.prepare_host();
        assert!(!plan.mounts.iter().any(|m| m.target == cache));
        assert!(!plan.landlock.write.contains(&cache));
        assert!(plan.notes.iter().any(|n| n.contains("cannot create")));
    }

    #[test]
    fn home_is_private_with_only_the_cache_and_project() {
        let (_dir, ctx) = fixture();
        let plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        let find = |p: &Path| plan.mounts.iter().find(|m| m.target == p).map(|m| &m.kind);
        assert_eq!(find(&ctx.home), Some(&MountKind::Tmpfs));
        assert!(matches!(
            find(&ctx.home.join(".npm")),
            Some(MountKind::BindRw(_))
        ));
        assert!(matches!(find(&ctx.project), Some(MountKind::BindRw(_))));
        assert!(matches!(
            find(&ctx.project.join(".git")),
            Some(MountKind::BindRo(_))
        ));
        assert_eq!(find(&ctx.project.join(".env")), Some(&MountKind::HideFile));
        assert_eq!(
            find(&ctx.project.join("config/.env.production")),
            Some(&MountKind::HideFile)
        );
        assert!(plan
            .mounts
            .iter()
            .all(|m| !m.target.starts_with(ctx.home.join(".ssh"))));
        assert!(matches!(
            find(Path::new("/usr")),
            Some(MountKind::BindRo(_))
        ));
        assert_eq!(find(Path::new("/tmp")), Some(&MountKind::Tmpfs));
    }

    #[test]
    fn mounts_are_ordered_parents_first() {
        let (_dir, ctx) = fixture();
        let plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        for (i, m) in plan.mounts.iter().enumerate() {
            for later in &plan.mounts[i + 1..] {
                assert!(
                    !m.target.starts_with(&later.target) || m.target == later.target,
                    "{} comes before its parent {}",
                    m.target.display(),
                    later.target.display()
                );
            }
        }
    }

    #[test]
    fn landlock_splits_read_and_write() {
        let (_dir, ctx) = fixture();
        let plan = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect("plan");
        assert!(plan.landlock.write.contains(&ctx.project));
        assert!(plan.landlock.read.contains(&PathBuf::from("/usr")));
        assert!(!plan.landlock.write.contains(&PathBuf::from("/usr")));
        assert!(plan.landlock.read.contains(&ctx.project.join(".git")));
    }

    #[test]
    fn refuses_home_as_project() {
        let (_dir, mut ctx) = fixture();
        ctx.project = ctx.home.clone();
        let err = build_plan(&npm_policy(), &ctx, &crate::plan::Mode::Full).expect_err("home");
        assert!(err.to_string().contains("--project"));
    }
}
