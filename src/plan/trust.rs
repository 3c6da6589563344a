//! Trust level 2: what lifecycle scripts get, as opposed to the package manager itself.
//!
//! npm runs every lifecycle script through its `script-shell` setting. The sandbox points it
//! at safe-install's own binary (mounted at [`SHIM`]), which reads [`ScriptPlan`] from
//! [`SHIM_CONFIG`], removes the credentials from the environment, registers a seccomp
//! listener with the supervisor (so the script's file and network attempts are observed) and
//! adds a stricter Landlock layer before it execs the real shell. The package manager's own
//! registry configuration, credentials included, lives under [`PRIVATE_DIR`], which that
//! layer does not grant: level 1 reads it, level 2 cannot.

use super::{Context, LandlockPlan, Mount, MountKind};
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The script shell: the safe-install binary, recognised by this file name in `argv[0]`.
pub const SHIM: &str = "/.safe-install/script-shell";
/// The file name the binary answers to as the script shell.
pub const SHIM_NAME: &str = "script-shell";
/// The level-2 plan, as JSON.
pub const SHIM_CONFIG: &str = "/.safe-install/script-shell.json";
/// Level-1-only configuration (registry credentials).
pub const PRIVATE_DIR: &str = "/.safe-install/private";
/// npm's user configuration inside: the caller's `~/.npmrc` and the project's `.npmrc`.
pub const PRIVATE_NPMRC: &str = "/.safe-install/private/npmrc";
/// npm's global configuration inside (`$PREFIX/etc/npmrc` or `globalconfig`): it may hold
/// registry tokens too, so it is moved where only level 1 reads it.
pub const PRIVATE_GLOBAL_NPMRC: &str = "/.safe-install/private/global-npmrc";
/// Temp for lifecycle scripts and build backends (and `TMPDIR` for the whole sandbox when a
/// temp root holds the project, the home or a cache): a tmpfs of its own that lies above
/// nothing else, so a Landlock rule on it gives exactly it.
pub const SCRIPT_TMP: &str = "/.safe-install/tmp";
/// Temp roots level 2 may write as a whole when nothing level 1 writes lies beneath them.
pub const TEMP_ROOTS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];
/// The abstract unix socket on which the supervisor receives script listeners.
pub const CONTROL_SOCKET: &str = "safe-install/control";

/// What a lifecycle script may do, handed to the shim inside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPlan {
    /// The shell the shim execs after restricting itself.
    pub shell: PathBuf,
    /// Read and execute beneath these (level 1's readable places minus the private ones).
    pub read: Vec<PathBuf>,
    /// Full access beneath these (temp, `[fs] rw`); the script's own directory is added at run
    /// time (see [`OwnDir`]).
    pub write: Vec<PathBuf>,
    pub devices: Vec<PathBuf>,
    /// The project root: a script whose package directory lies outside it gets no write
    /// access there.
    pub project: PathBuf,
    /// Where npm clones git dependencies to prepare them (`<cache>/_cacache/tmp`, one fresh
    /// directory per clone): a script running in a directory directly beneath one of these
    /// is that dependency's `prepare`, and may write its own clone (npm packs the result),
    /// nothing else there.
    #[serde(default)]
    pub clone_roots: Vec<PathBuf>,
    /// Install trees outside the project the command writes (`npm install -g`: the global
    /// `node_modules`): a script started in a package folder of one writes that folder, as in
    /// the project's tree.
    #[serde(default)]
    pub trees: Vec<PathBuf>,
    /// Names (`*` patterns allowed, case-insensitive) removed from the environment.
    pub drop_env: Vec<String>,
    /// Per-package extra paths.
    pub packages: Vec<PackagePaths>,
    /// The only TCP ports a script may connect to: its own proxy port and the DNS stub. The
    /// package manager's proxy port is not among them, so level 2 cannot reach level 1's
    /// egress path (or its credentials' way out) at all.
    pub connect_tcp: Vec<u16>,
    /// How the script's own directory follows from the directory it runs in.
    #[serde(default)]
    pub own_dir: OwnDir,
    /// The scratch copy of `.git/config` the root project's own scripts get as `GIT_CONFIG`
    /// (its directory writable by them only); see `supervisor::githooks`.
    #[serde(default)]
    pub git_config: Option<PathBuf>,
    /// Hook directories inside the project the root project's own scripts may write
    /// (husky's `.husky/_`), created by the shim when missing.
    #[serde(default)]
    pub hooks_dirs: Vec<PathBuf>,
    /// Every script may reach the registries (`--scripts-network registry`).
    #[serde(default)]
    pub network_registry: bool,
    /// The system shell file safe-install is mounted over (where `/bin/sh` resolves: yarn 1
    /// runs every script with `/bin/sh -c`); `shell` is then the real one at
    /// [`SYSTEM_SHELL_REAL`]. `None`: the package manager names the script shell itself.
    #[serde(default)]
    pub stands_in_for: Option<PathBuf>,
}

/// Which directory a level-2 process may write besides temp and grants, found from the
/// working directory the package manager (level 1) started it in, before any package code ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnDir {
    /// pip: a build backend's working directory when it lies inside the project (an in-tree
    /// build of a local path); pip's own build directories live in its private temp.
    #[default]
    WorkingDirectory,
    /// npm: a dependency's script writes its own folder of an install tree
    /// (`node_modules/<name>`, `node_modules/@scope/<name>`, nested ones alike), never another
    /// package, `.bin` or the tree's metadata. The project's own scripts (the root's, a
    /// workspace's: the user's code) write the install tree, and a workspace its own folder.
    InstallTree,
}

/// The directories a level-2 process started in `cwd` may write, besides temp and grants.
/// Pure: the shim (Landlock) and the supervisor (the log) decide with the same function.
pub fn own_writable(kind: OwnDir, project: &Path, cwd: &Path) -> Vec<PathBuf> {
    let Ok(rel) = cwd.strip_prefix(project) else {
        // Outside the project (a git dependency's clone in temp): nothing of the project.
        return Vec::new();
    };
    match kind {
        OwnDir::WorkingDirectory => vec![cwd.to_path_buf()],
        OwnDir::InstallTree => {
            let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
            match parts.iter().position(|p| *p == "node_modules") {
                // The project's own scripts: the user's code (`patch-package` changes other
                // packages' files on purpose), not the rest of the project.
                None if parts.is_empty() => vec![project.join("node_modules")],
                // A workspace: its own folder (its build output) and the install tree.
                None => vec![cwd.to_path_buf(), project.join("node_modules")],
                Some(at) if is_package_path(&parts[at..]) => vec![cwd.to_path_buf()],
                // `node_modules` itself, `.bin`, a directory inside a package: npm starts
                // no script there; nothing to write.
                Some(_) => Vec::new(),
            }
        }
    }
}

/// Where a level-2 process's own directory may lie outside the project (see [`own_dirs`]).
#[derive(Debug, Clone, Copy)]
pub struct Elsewhere<'a> {
    /// `ScriptPlan::clone_roots`.
    pub clone_roots: &'a [PathBuf],
    /// `ScriptPlan::trees`.
    pub trees: &'a [PathBuf],
}

/// [`own_writable`]; a git dependency's own clone: npm prepares a git dependency in a fresh
/// directory directly beneath one of the clone roots (`<cache>/_cacache/tmp`), and its
/// `prepare` may write that clone (npm packs the result), nothing else there; and a package
/// folder of another install tree (a global install's), as in the project's.
pub fn own_dirs(kind: OwnDir, project: &Path, elsewhere: Elsewhere, cwd: &Path) -> Vec<PathBuf> {
    let own_clone = cwd
        .parent()
        .is_some_and(|up| elsewhere.clone_roots.iter().any(|r| r == up));
    if own_clone {
        return vec![cwd.to_path_buf()];
    }
    if let Some(tree) = elsewhere.trees.iter().find(|t| cwd.starts_with(t)) {
        let parts: Vec<&std::ffi::OsStr> = match tree.parent().map(|up| cwd.strip_prefix(up)) {
            Some(Ok(rel)) => rel.iter().collect(),
            _ => return Vec::new(),
        };
        return if kind == OwnDir::InstallTree && is_package_path(&parts) {
            vec![cwd.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    own_writable(kind, project, cwd)
}

/// `node_modules/<name>` or `node_modules/@scope/<name>`, repeated for nested trees
/// (`node_modules/a/node_modules/@s/b`), ending with a package folder. Names starting with
/// `.` (`.bin`, `.package-lock.json`, `.prisma`) are the tree's, not a package's, except
/// pnpm's virtual store: `node_modules/.pnpm/<name>@<version>/node_modules/<name>` is where
/// pnpm installs a package and starts its scripts (the folder beside it in that
/// `node_modules` are links to its dependencies, other packages).
fn is_package_path(parts: &[&std::ffi::OsStr]) -> bool {
    let name = |p: &std::ffi::OsStr| {
        p.to_str()
            .is_some_and(|n| !n.is_empty() && !n.starts_with('.') && n != "node_modules")
    };
    let mut i = 0;
    while i < parts.len() {
        if parts[i] != "node_modules" {
            return false;
        }
        // pnpm's virtual store entry: its own `node_modules` follows.
        if parts.get(i + 1).is_some_and(|p| *p == ".pnpm") {
            match parts.get(i + 2) {
                Some(entry) if name(entry) => i += 3,
                _ => return false,
            }
            if parts.get(i).is_none() {
                return false;
            }
            continue;
        }
        let Some(first) = parts.get(i + 1).copied() else {
            return false;
        };
        let scoped = first
            .to_str()
            .is_some_and(|n| n.starts_with('@') && n.len() > 1);
        let (last, next) = if scoped {
            match parts.get(i + 2).copied() {
                Some(n) => (n, i + 3),
                None => return false,
            }
        } else {
            (first, i + 2)
        };
        if !name(last) {
            return false;
        }
        i = next;
    }
    true
}

/// One `[[package]]` grant's paths and the package directories it applies to (the lockfile
/// entries that are that package; see `policy::ScriptsPolicy::bind_to_lockfile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagePaths {
    /// For messages only: never matched against anything a package says about itself.
    pub name: String,
    /// The package directories whose scripts get the grant.
    pub dirs: Vec<PathBuf>,
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    /// The grant names hosts (`allow-hosts`) the package's scripts may reach.
    #[serde(default)]
    pub network: bool,
}

/// Node's own `fetch`/`http` (Node 22.21+/24) honour the proxy variables only when this is
/// set, and then load their whole HTTP client at every start: about 50 ms of CPU for each
/// node process, which npm's own level and most scripts (offline: they reach nothing either
/// way) would pay for nothing. So: set for a command that is not a package manager, and for
/// the scripts that may reach a host ([`ScriptPlan::may_reach_hosts`]), where a plain
/// `fetch` must go through the proxy to work; never for the package managers themselves,
/// which read their own proxy settings (`npm_config_proxy`, `YARN_HTTPS_PROXY`).
pub const NODE_ENV_PROXY: &str = "NODE_USE_ENV_PROXY";

impl ScriptPlan {
    /// Whether a script started in `package_dir` may reach any host (the registries for every
    /// script, or its package's `allow-hosts`), so that Node's own HTTP client must honour
    /// the proxy ([`NODE_ENV_PROXY`]).
    pub fn may_reach_hosts(&self, package_dir: Option<&Path>) -> bool {
        self.network_registry || package_dir.is_some_and(|d| self.grants(d).any(|g| g.network))
    }

    /// The Landlock layer for a script that npm started in `package_dir` (its working
    /// directory before the script ran; `None` when unknown: no package directory, no grant).
    /// Grants go by that directory, the lockfile's identity of the package.
    pub fn landlock(&self, package_dir: Option<&Path>) -> LandlockPlan {
        let mut ll = LandlockPlan {
            read: self.read.clone(),
            write: self.write.clone(),
            devices: self.devices.clone(),
            connect_tcp: Some(self.connect_tcp.clone()),
        };
        let Some(dir) = package_dir else {
            return ll;
        };
        ll.write
            .extend(own_dirs(self.own_dir, &self.project, self.elsewhere(), dir));
        if self.is_root_project(dir) {
            // A real directory only: a symbolic link planted there would carry the rule
            // elsewhere.
            ll.write.extend(
                self.root_project_extra()
                    .into_iter()
                    .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir())),
            );
        }
        for grant in self.grants(dir) {
            ll.read.extend(grant.read.iter().cloned());
            ll.write.extend(grant.write.iter().cloned());
        }
        ll
    }

    /// Where its own directory may lie outside the project.
    pub fn elsewhere(&self) -> Elsewhere<'_> {
        Elsewhere {
            clone_roots: &self.clone_roots,
            trees: &self.trees,
        }
    }

    /// Whether a script npm started in `package_dir` is the root project's own (npm, the
    /// install tree: the user's code, not a dependency's).
    pub fn is_root_project(&self, package_dir: &Path) -> bool {
        self.own_dir == OwnDir::InstallTree && package_dir == self.project
    }

    /// What the root project's own scripts write besides the install tree: the directory of
    /// the scratch `.git/config` and the hooks directories (husky's `.husky/_`).
    pub fn root_project_extra(&self) -> Vec<PathBuf> {
        self.git_config
            .iter()
            .filter_map(|c| c.parent())
            .map(Path::to_path_buf)
            .chain(self.hooks_dirs.iter().cloned())
            .collect()
    }

    /// The `[[package]]` grants of a script running in `package_dir` (bound to the lockfile
    /// entries installed there, never to a name).
    pub fn grants<'p>(&'p self, package_dir: &'p Path) -> impl Iterator<Item = &'p PackagePaths> {
        self.packages
            .iter()
            .filter(move |p| p.dirs.iter().any(|d| d == package_dir))
    }

    /// Whether `name` is a credential the script must not inherit.
    pub fn drops(&self, name: &str) -> bool {
        self.drop_env
            .iter()
            .any(|p| crate::policy::star_match_ignore_case(p, name))
    }
}

/// The variables that point the package manager's level at a cache it alone writes
/// (`[[fs.cache]]` with `export`): level 2 does not inherit them. With Node's compile cache
/// named, every node a script starts would try to write compiled code there (refused, and
/// logged as an attempt the script never made itself).
pub fn exported_cache_vars(policy: &Policy) -> impl Iterator<Item = String> + '_ {
    policy
        .fs
        .cache
        .iter()
        .filter(|e| e.value.export)
        .filter_map(|e| e.value.env.clone())
}

/// A variable's value as level 2 gets it: the package manager's proxy URL becomes the scripts'
/// one (the only proxy port a script's Landlock domain may connect to), wherever it appears
/// (`HTTPS_PROXY`, `npm_config_proxy`, `PIP_PROXY`, a URL with a trailing slash).
pub fn level2_value(value: &std::ffi::OsStr) -> OsString {
    let level1 = crate::plan::addresses::proxy_url();
    let Some(v) = value.to_str().filter(|v| v.contains(&level1)) else {
        return value.to_os_string();
    };
    let level2 = crate::plan::addresses::script_proxy_url();
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find(&level1) {
        let after = &rest[at + level1.len()..];
        // The whole port, not the start of a longer one (`:31280`).
        let whole = !after.starts_with(|c: char| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if whole { &level2 } else { &level1 });
        rest = after;
    }
    out.push_str(rest);
    out.into()
}

/// Credentials npm may receive through its environment, whatever the policy says: its
/// `npm_config_*` spellings of auth settings. Matched case-insensitively.
const NPM_CONFIG_CREDENTIALS: &[&str] = &[
    "npm_config_//*",
    "npm_config__auth*",
    "npm_config_*token*",
    "npm_config_*password*",
    "npm_config_userconfig",
    "npm_config_globalconfig",
];

/// Index and registry URLs: a token may sit in the path (entitlement URLs of the form
/// `https://dl.registry.example.com/<token>/org/repo/…`), where no URL parser can tell it from
/// a directory. Level 2 needs none of them (it has no registry egress of its own), so they are
/// dropped whatever their value. Matched case-insensitively.
const INDEX_URL_VARIABLES: &[&str] = &[
    "npm_config_registry",
    "npm_config_*:registry",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX",
    "UV_INDEX_*",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_PUBLISH_*",
];

/// The mounts and environment that install trust level 2 for a package manager that runs
/// its scripts through a configurable shell (the shim's configuration file is added by
/// [`config_mount`] once level 1's rules are known).
pub struct Hook {
    pub mounts: Vec<Mount>,
    pub env: Vec<(&'static str, OsString)>,
}

/// `shell_vars`: the variables that name the tool's script shell
/// (`PackageManager::script_shell`), each set to [`SHIM`].
pub fn hook(ctx: &Context, shell_vars: &[&'static str]) -> Hook {
    let mut mounts = Vec::new();
    let mut env: Vec<(&'static str, OsString)> =
        shell_vars.iter().map(|name| (*name, SHIM.into())).collect();
    mounts.extend(shim_mount(
        "safe-install as the package manager's script shell: scripts run at trust level 2",
    ));
    let project_npmrc = ctx.project.join(".npmrc");
    let (config, hides_project_npmrc) = private_npmrc(ctx, &project_npmrc);
    if let Some(text) = config {
        mounts.push(Mount {
            target: PRIVATE_NPMRC.into(),
            kind: MountKind::File(text),
            why: "npm's configuration and registry credentials, for npm only".into(),
        });
        env.push(("npm_config_userconfig", PRIVATE_NPMRC.into()));
    }
    if hides_project_npmrc {
        mounts.push(Mount {
            target: project_npmrc,
            kind: MountKind::HideFile,
            why: "moved to npm's private configuration: scripts must not read registry tokens"
                .into(),
        });
    }
    if let Some((path, text)) = global_npmrc(ctx) {
        mounts.push(Mount {
            target: PRIVATE_GLOBAL_NPMRC.into(),
            kind: MountKind::File(text),
            why: "npm's global configuration (may hold registry tokens), for npm only".into(),
        });
        env.push(("npm_config_globalconfig", PRIVATE_GLOBAL_NPMRC.into()));
        mounts.push(Mount {
            target: path,
            kind: MountKind::HideFile,
            why: "moved to npm's private configuration: scripts must not read registry tokens"
                .into(),
        });
    }
    Hook { mounts, env }
}

/// safe-install's own binary at [`SHIM`].
fn shim_mount(why: &str) -> Option<Mount> {
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .ok()?;
    Some(Mount {
        target: SHIM.into(),
        kind: MountKind::BindRo(exe),
        why: why.into(),
    })
}

/// The mounts and environment of a tool's plugin that runs each script through the shim.
pub fn plugin_hook(plugin: crate::pm::Plugin) -> Hook {
    let mut mounts: Vec<Mount> = shim_mount(
        "safe-install as the script shell the package manager's plugin runs each script with: scripts run at trust level 2",
    )
    .into_iter()
    .collect();
    for (target, text, why) in plugin.files {
        mounts.push(Mount {
            target,
            kind: MountKind::File(text),
            why,
        });
    }
    Hook {
        mounts,
        env: plugin.env,
    }
}

/// The shell every `/bin/sh -c` runs with when safe-install stands in for the system shell
/// (the real file `/bin/sh` resolves to, bound read-only).
pub const SYSTEM_SHELL_REAL: &str = "/.safe-install/sh-real";
/// safe-install standing in for the system shell, started by the gate for every shell that
/// is to run at level 2 (`shim::system_shell`).
pub const SYSTEM_SHELL_SHIM: &str = "/.safe-install/system-shell";
/// The system-shell gate (`gate/system_shell_gate.rs`, built by `build.rs`): mounted over the
/// system shell, it starts the real shell ([`SYSTEM_SHELL_REAL`]) where
/// `shim::system_shell::level` would, and [`SYSTEM_SHELL_SHIM`] otherwise, without
/// safe-install's own start-up for every shell. `None` where it could not be built: then
/// safe-install itself is mounted over the system shell.
#[cfg(system_shell_gate)]
pub const SYSTEM_SHELL_GATE: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/system-shell-gate"
)));
#[cfg(not(system_shell_gate))]
pub const SYSTEM_SHELL_GATE: Option<&[u8]> = None;
/// What the system shell may be called for safe-install to stand in for it. Another file
/// there (busybox, whose other applets share it) is not hooked.
pub const SYSTEM_SHELL_NAMES: &[&str] = &["sh", "dash", "bash"];

/// The file `/bin/sh` resolves to on the host (canonical), when it is a shell safe-install
/// can stand in for ([`SYSTEM_SHELL_NAMES`]); `Err` says what it is otherwise.
pub fn system_shell() -> Result<PathBuf, String> {
    let real = std::fs::canonicalize("/bin/sh").map_err(|e| format!("/bin/sh: {e}"))?;
    let named = real
        .file_name()
        .and_then(std::ffi::OsStr::to_str)
        .is_some_and(|n| SYSTEM_SHELL_NAMES.contains(&n));
    let file = std::fs::metadata(&real).is_ok_and(|m| m.is_file());
    if named && file {
        Ok(real)
    } else {
        Err(format!(
            "/bin/sh is {}, not one of the shells safe-install stands in for ({})",
            real.display(),
            SYSTEM_SHELL_NAMES.join(", ")
        ))
    }
}

/// The mounts that make `shell` (the system shell's file, from [`system_shell`]) the gate
/// (or, without one, this binary), with the real shell at [`SYSTEM_SHELL_REAL`] and this
/// binary at [`SYSTEM_SHELL_SHIM`].
pub fn system_shell_hook(shell: &Path) -> Option<Hook> {
    system_shell_mounts(shell, SYSTEM_SHELL_GATE.is_some())
}

fn system_shell_mounts(shell: &Path, gate: bool) -> Option<Hook> {
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .ok()?;
    let mut mounts = vec![Mount {
        target: SYSTEM_SHELL_REAL.into(),
        kind: MountKind::BindRo(shell.to_path_buf()),
        why: format!(
            "the real system shell {}, started by safe-install standing in for it",
            shell.display()
        ),
    }];
    if gate {
        mounts.push(Mount {
            target: SYSTEM_SHELL_SHIM.into(),
            kind: MountKind::BindRo(exe),
            why: "safe-install as the system shell: puts every shell the gate hands it at trust level 2".into(),
        });
        mounts.push(Mount {
            target: shell.to_path_buf(),
            kind: MountKind::ShellGate,
            why: "safe-install's system-shell gate as the system shell (/bin/sh): every shell the package manager starts, its scripts, runs at trust level 2; shells already there run as they are".into(),
        });
    } else {
        mounts.push(Mount {
            target: shell.to_path_buf(),
            kind: MountKind::BindRo(exe),
            why: "safe-install as the system shell (/bin/sh): every shell the package manager starts, its scripts, runs at trust level 2".into(),
        });
    }
    Some(Hook {
        mounts,
        env: Vec::new(),
    })
}

/// npm's global configuration file and its text: `npm_config_globalconfig`, else
/// `$PREFIX/etc/npmrc` with the prefix from `npm_config_prefix` or node's install prefix (as
/// `pm::npm::config` finds it). Only a regular file counts; the path returned is canonical, where
/// the view shows it.
fn global_npmrc(ctx: &Context) -> Option<(PathBuf, String)> {
    let env = |name: &str| {
        ctx.var(name)
            .or_else(|| ctx.var(&name.to_ascii_uppercase()))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let path = env("npm_config_globalconfig").or_else(|| {
        let prefix = env("npm_config_prefix").or_else(|| {
            ctx.trusted_path()
                .and_then(|p| p.to_str())
                .and_then(crate::pm::npm::config::locate_npm)
                .map(|(_, prefix)| prefix)
        })?;
        Some(prefix.join("etc/npmrc"))
    })?;
    let real = std::fs::canonicalize(&path).ok()?;
    std::fs::metadata(&real).ok().filter(|m| m.is_file())?;
    let text = std::fs::read_to_string(&real).ok()?;
    Some((real, text))
}

/// The shim's configuration file.
pub fn config_mount(script: &ScriptPlan) -> Mount {
    Mount {
        target: SHIM_CONFIG.into(),
        kind: MountKind::File(serde_json::to_string_pretty(script).unwrap_or_default()),
        why: "what lifecycle scripts may read and write".into(),
    }
}

/// The temp roots under which level 1 writes somewhere else as well (a project, a home, a
/// cache or virtualenv under `/tmp`, `/var/tmp` or `/dev/shm`: bound at its own path beneath
/// the sandbox's private temp). Landlock rules are hierarchical: a rule on such a root would
/// give level 2 all of that, so level 2 gets [`SCRIPT_TMP`] instead.
pub fn shared_temp_roots(level1: &LandlockPlan) -> Vec<PathBuf> {
    TEMP_ROOTS
        .iter()
        .map(PathBuf::from)
        .filter(|root| {
            level1
                .write
                .iter()
                .any(|w| w != root && w.starts_with(root))
        })
        .collect()
}

/// Trust level 2 from level 1's Landlock rules.
pub fn script_plan(policy: &Policy, ctx: &Context, level1: &LandlockPlan) -> ScriptPlan {
    let private = Path::new(PRIVATE_DIR);
    // Places granted to one package are in level 1's rules (the view shows them); every
    // other package's layer leaves them out.
    let granted: Vec<PathBuf> = policy
        .scripts
        .packages
        .iter()
        .flat_map(|g| g.value.allow_read.iter().chain(&g.value.allow_write))
        .map(|p| {
            let p = p.resolve(&ctx.home);
            std::fs::canonicalize(&p).unwrap_or(p)
        })
        .collect();
    let general = |p: &&PathBuf| !p.starts_with(private) && !granted.contains(p);
    let mut read: Vec<PathBuf> = level1.read.iter().filter(general).cloned().collect();
    // Level 1's writable places stay readable (the project, the caches, the home tmpfs).
    read.extend(level1.write.iter().filter(general).cloned());
    read.push(PathBuf::from(SHIM_CONFIG));
    read.sort();
    read.dedup();
    // Temp roots as a whole only where they hold nothing else level 1 writes; its own temp
    // always (when the view has it).
    let shared = shared_temp_roots(level1);
    let mut write: Vec<PathBuf> = TEMP_ROOTS
        .iter()
        .chain(&["/proc", SCRIPT_TMP])
        .map(PathBuf::from)
        .filter(|p| !shared.contains(p))
        .filter(|p| level1.write.iter().any(|w| p.starts_with(w)))
        .collect();
    // Not the project's `node_modules`: each script gets its own package folder at run time
    // (`own_writable`), so no script rewrites another package, `.bin` or the tree's metadata.
    for e in &policy.fs.rw {
        write.push(e.value.resolve(&ctx.home));
    }
    let mut drop_env: Vec<String> = NPM_CONFIG_CREDENTIALS
        .iter()
        .map(|s| s.to_string())
        .collect();
    drop_env.extend(INDEX_URL_VARIABLES.iter().map(|s| s.to_string()));
    drop_env.extend(policy.credentials.iter().map(|e| e.value.to_string()));
    drop_env.extend(exported_cache_vars(policy));
    let packages = policy
        .scripts
        .packages
        .iter()
        .map(|g| PackagePaths {
            name: g.value.name.clone(),
            dirs: g.value.installed.clone(),
            read: g
                .value
                .allow_read
                .iter()
                .map(|p| p.resolve(&ctx.home))
                .collect(),
            write: g
                .value
                .allow_write
                .iter()
                .map(|p| p.resolve(&ctx.home))
                .collect(),
            network: !g.value.allow_hosts.is_empty(),
        })
        .collect();
    ScriptPlan {
        network_registry: policy.scripts.network == crate::policy::ScriptsNetwork::Registry,
        connect_tcp: vec![
            crate::plan::addresses::SCRIPT_PROXY.port(),
            crate::plan::addresses::DNS.port(),
        ],
        shell: PathBuf::from("/bin/sh"),
        read,
        write,
        devices: level1.devices.clone(),
        project: ctx.project.clone(),
        clone_roots: super::view::cache_dirs(policy, ctx)
            .into_iter()
            .map(|c| c.join("_cacache/tmp"))
            .collect(),
        // Set from the view, which shows them (`plan::script_shell_hook`).
        trees: Vec::new(),
        drop_env,
        packages,
        own_dir: OwnDir::InstallTree,
        git_config: None,
        hooks_dirs: Vec::new(),
        stands_in_for: None,
    }
}

/// The caller's user `.npmrc` followed by the project's (later keys win in npm's parser, so
/// the project keeps its precedence over the user file).
fn private_npmrc(ctx: &Context, project_npmrc: &Path) -> (Option<String>, bool) {
    let user = ctx
        .var("npm_config_userconfig")
        .or_else(|| ctx.var("NPM_CONFIG_USERCONFIG"))
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.home.join(".npmrc"));
    let read = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read_to_string(p).ok())
    };
    let user_text = read(&user);
    let project_text = read(project_npmrc);
    let hides = project_text.is_some();
    if user_text.is_none() && project_text.is_none() {
        return (None, false);
    }
    let mut text = String::from("; written by safe-install for npm only (trust level 1)\n");
    for (what, part) in [("user", user_text), ("project", project_text)] {
        if let Some(part) = part {
            text.push_str(&format!("; from the {what} configuration\n{part}\n"));
        }
    }
    (Some(text), hides)
}

// ---- pip: build backends at trust level 2 ----------------------------------------------
//
// pip has no script shell: it starts every build step as a subprocess of `sys.executable`
// (pyproject_hooks' `_in_process.py`, the legacy `python -c <setup.py shim> egg_info`, and
// its own `python <pip>/__pip-runner__.py install …` for build dependencies). So the sandbox
// puts safe-install's binary where the interpreter file is, keeps the real one at a private
// path, and decides per process (see `shim::python`).

/// The python shim's configuration, as JSON.
pub const PYTHON_CONFIG: &str = "/.safe-install/python.json";
/// The real interpreters, `/.safe-install/python-real/<n>/<its own file name>`.
pub const PYTHON_REAL_DIR: &str = "/.safe-install/python-real";
/// pip's configuration (the caller's user and site files, credentials included), level 1 only.
pub const PRIVATE_PIP_CONF: &str = "/.safe-install/private/pip.conf";
/// The caller's `~/.netrc` (or `$NETRC`), for pip only.
pub const PRIVATE_NETRC: &str = "/.safe-install/private/netrc";
/// Set by the python shim in a level-2 interpreter's environment: its descendants are inside
/// its Landlock domain already, so another layer is not added (forging or removing it gains
/// nothing: Landlock layers are inherited and cannot be left).
pub const LEVEL2_MARKER: &str = "SAFE_INSTALL_TRUST_LEVEL";

/// pip's own spellings of credentials, dropped from a build backend's environment whatever
/// their value (values that are URLs with userinfo are dropped whatever their name).
const PIP_CREDENTIALS: &[&str] = &[
    "PIP_PASSWORD",
    "PIP_CLIENT_CERT",
    "PIP_CONFIG_FILE",
    "PIP_KEYRING_PROVIDER",
    "NETRC",
    "TWINE_*",
];

/// One interpreter file the shim stands in for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// Where pip finds it (canonical; safe-install's binary is mounted here).
    pub path: PathBuf,
    /// The real interpreter, bound read-only at a private path.
    pub real: PathBuf,
}

/// What the python shim needs: which interpreter it stands in for, and level 2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonPlan {
    pub interpreters: Vec<Interpreter>,
    /// Level 2 for build backends (`shell` unused; `project`: a build directory inside it,
    /// an in-tree build of a local path, is writable). The target venv is not writable:
    /// what pip installs there comes from the wheel the backend built, installed by pip.
    pub level2: ScriptPlan,
    /// Where the files a legacy `setup.py install` staged (pip before 23.1 without the
    /// `wheel` package, which installs by running the sdist's own code) may be installed
    /// once it has exited (`shim::legacy_stage`): the venv's `lib`, `include` and `bin`,
    /// never the venv root (its `pip.conf`, `pyvenv.cfg`). The step itself never writes
    /// the venv.
    #[serde(default)]
    pub legacy_install_dirs: Vec<PathBuf>,
    /// The target venv (canonical), whose start-up files the end-of-run check compares.
    #[serde(default)]
    pub venv: Option<PathBuf>,
    /// Who starts the interpreter when that is not pip (uv): how the shim tells the
    /// package manager's own uses of it from build backends.
    #[serde(default)]
    pub frontend: Option<crate::pm::PythonFrontend>,
}

impl PythonPlan {
    /// The real interpreter for the file this process was started as.
    pub fn real_for(&self, exe: &Path) -> Option<&Path> {
        self.interpreters
            .iter()
            .find(|i| i.path == exe)
            .map(|i| i.real.as_path())
    }
}

/// Whether a variable's value holds a URL with a user name or password.
pub fn carries_userinfo(value: &str) -> bool {
    value.split_whitespace().any(|tok| {
        url::Url::parse(tok)
            .is_ok_and(|u| u.has_host() && (!u.username().is_empty() || u.password().is_some()))
    })
}

/// The mounts for pip's interpreters: safe-install over each, the real one at a private path.
pub fn python_mounts(interpreters: &[PathBuf]) -> (Vec<Mount>, Vec<Interpreter>) {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return (Vec::new(), Vec::new());
    };
    let mut mounts = Vec::new();
    let mut list = Vec::new();
    for (i, path) in interpreters.iter().enumerate() {
        // Under its own file name: a wrapper script standing for an interpreter (a pyenv
        // shim) picks the program it runs from `$0`, which is the path it was started from.
        let name = path.file_name().unwrap_or(std::ffi::OsStr::new("python"));
        let real = Path::new(PYTHON_REAL_DIR).join(i.to_string()).join(name);
        mounts.push(Mount {
            target: real.clone(),
            kind: MountKind::BindRo(path.clone()),
            why: format!(
                "the real interpreter {}, started by safe-install's python shim",
                path.display()
            ),
        });
        mounts.push(Mount {
            target: path.clone(),
            kind: MountKind::BindRo(exe.clone()),
            why: "safe-install as pip's interpreter: build backends run at trust level 2".into(),
        });
        list.push(Interpreter {
            path: path.clone(),
            real,
        });
    }
    (mounts, list)
}

/// git's private global configuration inside (`GIT_CONFIG_GLOBAL`): the credential parts of
/// the caller's (see `plan::gitconfig::private_config`), for the package manager's git only.
pub const PRIVATE_GITCONFIG: &str = "/.safe-install/private/gitconfig";
/// The entries of the caller's `store` helper files (`~/.git-credentials`), for that git only.
pub const PRIVATE_GIT_CREDENTIALS: &str = "/.safe-install/private/git-credentials";
/// The variable that points the package manager's git at [`PRIVATE_GITCONFIG`]; level 2 does
/// not get it (it could not read the file, and git refuses to run with an unreadable one).
pub const GIT_CONFIG_VAR: &str = "GIT_CONFIG_GLOBAL";

/// The credentials a package manager's `git` fetches `git+https://` dependencies with: the
/// caller's global git configuration (`$GIT_CONFIG_GLOBAL`, else
/// `$XDG_CONFIG_HOME/git/config` then `~/.gitconfig`, as git reads them), which the private
/// home hides, carried as a private copy of its credential parts only: the `store` helper's
/// files (`~/.git-credentials`) and `http.<url>.extraheader`. The real values are replaced by
/// placeholders afterwards (`creds::seal`). Nothing when the caller's git uses no credential.
pub fn git_private_config(ctx: &Context) -> (Hook, Vec<String>) {
    let mut hook = Hook {
        mounts: Vec::new(),
        env: Vec::new(),
    };
    let read = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read_to_string(p).ok())
    };
    let xdg = ctx
        .var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| ctx.home.join(".config"));
    let files: Vec<PathBuf> = match ctx
        .var(GIT_CONFIG_VAR)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(file) => vec![file],
        None => vec![xdg.join("git/config"), ctx.home.join(".gitconfig")],
    };
    let text: String = files
        .iter()
        .filter_map(|f| read(f))
        .collect::<Vec<_>>()
        .join("\n");
    let user = super::gitconfig::parse_user(&text);
    if !user.has_credentials() {
        return (hook, Vec::new());
    }
    let expand = |f: &str| match f.strip_prefix("~/") {
        Some(rest) => ctx.home.join(rest),
        None => PathBuf::from(f),
    };
    let mut stores: Vec<PathBuf> = Vec::new();
    for file in &user.store {
        let paths = match file {
            Some(f) => vec![expand(f)],
            None => vec![
                ctx.home.join(".git-credentials"),
                xdg.join("git/credentials"),
            ],
        };
        for p in paths {
            if p.is_absolute() && !stores.contains(&p) {
                stores.push(p);
            }
        }
    }
    let entries: String = stores
        .iter()
        .filter_map(|f| read(f))
        .map(|t| {
            if t.ends_with('\n') {
                t
            } else {
                format!("{t}\n")
            }
        })
        .collect();
    let credentials = (!entries.is_empty()).then_some(PRIVATE_GIT_CREDENTIALS);
    let (config, notes) = super::gitconfig::private_config(&user, credentials);
    if credentials.is_none() && !config.contains("extraheader") {
        return (hook, notes);
    }
    if let Some(target) = credentials {
        hook.mounts.push(Mount {
            target: target.into(),
            kind: MountKind::File(entries),
            why: "git's stored credentials (the store helper's files), for the package manager's git only".into(),
        });
    }
    hook.mounts.push(Mount {
        target: PRIVATE_GITCONFIG.into(),
        kind: MountKind::File(config),
        why: format!(
            "the credential parts of git's global configuration ({}), for the package manager's git only",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    hook.env.push((GIT_CONFIG_VAR, PRIVATE_GITCONFIG.into()));
    (hook, notes)
}

/// uv's user and system configuration inside, for uv only: `XDG_CONFIG_HOME` and
/// `XDG_CONFIG_DIRS` point uv at them (uv reads `<each>/uv/uv.toml`).
pub const PRIVATE_UV_USER: &str = "/.safe-install/private/uv-user";
pub const PRIVATE_UV_SYSTEM: &str = "/.safe-install/private/uv-system";

/// uv's user configuration (`$XDG_CONFIG_HOME/uv/uv.toml`, default `~/.config/uv/uv.toml`,
/// which the private home does not show) and system configuration (the first of
/// `$XDG_CONFIG_DIRS/uv/uv.toml`, default `/etc/xdg/uv/uv.toml`, and `/etc/uv/uv.toml`, as uv
/// picks it), moved where only level 1 reads them: an index URL there may carry a password.
/// The visible system file is covered by an empty one.
pub fn uv_private_config(ctx: &Context) -> Hook {
    let mut mounts = Vec::new();
    let mut env: Vec<(&'static str, OsString)> = Vec::new();
    let read = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read_to_string(p).ok())
    };
    let abs_var = |name: &str| ctx.var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let user = abs_var("XDG_CONFIG_HOME")
        .unwrap_or_else(|| ctx.home.join(".config"))
        .join("uv/uv.toml");
    if let Some(text) = read(&user) {
        mounts.push(Mount {
            target: Path::new(PRIVATE_UV_USER).join("uv/uv.toml"),
            kind: MountKind::File(text),
            why: format!("uv's user configuration ({}), for uv only", user.display()),
        });
        env.push(("XDG_CONFIG_HOME", PRIVATE_UV_USER.into()));
    }
    let dirs = ctx
        .var("XDG_CONFIG_DIRS")
        .and_then(|v| v.to_str())
        .filter(|v| !v.is_empty())
        .unwrap_or("/etc/xdg")
        .split(':')
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("uv/uv.toml"))
        .chain(std::iter::once(PathBuf::from("/etc/uv/uv.toml")));
    if let Some((path, text)) = dirs.filter_map(|p| Some((p.clone(), read(&p)?))).next() {
        mounts.push(Mount {
            target: Path::new(PRIVATE_UV_SYSTEM).join("uv/uv.toml"),
            kind: MountKind::File(text),
            why: format!(
                "uv's system configuration ({}), for uv only",
                path.display()
            ),
        });
        env.push(("XDG_CONFIG_DIRS", PRIVATE_UV_SYSTEM.into()));
        mounts.push(Mount {
            target: std::fs::canonicalize(&path).unwrap_or(path),
            kind: MountKind::HideFile,
            why: "moved to uv's private configuration: build steps must not read index credentials"
                .into(),
        });
    }
    Hook { mounts, env }
}

/// pip's user configuration and `~/.netrc`, moved where only level 1 reads them, and the
/// variables that point pip there.
pub fn pip_private_config(ctx: &Context) -> Hook {
    let mut mounts = Vec::new();
    let mut env: Vec<(&'static str, OsString)> = Vec::new();
    let read = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read_to_string(p).ok())
    };
    let netrc = ctx
        .var("NETRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.home.join(".netrc"));
    if let Some(text) = read(&netrc) {
        mounts.push(Mount {
            target: PRIVATE_NETRC.into(),
            kind: MountKind::File(text),
            why: "the caller's .netrc (index credentials), for pip only".into(),
        });
        env.push(("NETRC", PRIVATE_NETRC.into()));
    }
    // pip's own order (see pm::pip::config): global files, user files, then the site file, then
    // PIP_CONFIG_FILE. The merged file is given as PIP_CONFIG_FILE, which pip reads last.
    let env_file = ctx.var("PIP_CONFIG_FILE").map(PathBuf::from);
    if env_file.as_deref() == Some(Path::new("/dev/null")) {
        return Hook { mounts, env };
    }
    // pip's global files first (lowest precedence): `<each XDG_CONFIG_DIRS>/pip/pip.conf`,
    // then `/etc/pip.conf`. They are system-wide and visible, and may hold an index token.
    let mut files = Vec::new();
    let xdg_dirs = ctx
        .var("XDG_CONFIG_DIRS")
        .and_then(|v| v.to_str())
        .filter(|v| !v.is_empty())
        .unwrap_or("/etc/xdg");
    let mut global: Vec<PathBuf> = xdg_dirs
        .split(':')
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("pip/pip.conf"))
        .collect();
    global.push(PathBuf::from("/etc/pip.conf"));
    files.extend(global.iter().cloned());
    if !env_file.as_ref().is_some_and(|p| p.exists()) {
        files.push(ctx.home.join(".pip/pip.conf"));
        let xdg = ctx
            .var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| ctx.home.join(".config"));
        files.push(xdg.join("pip/pip.conf"));
    }
    // The site file and PIP_CONFIG_FILE come last (highest precedence); the global files,
    // read first above, are hidden with them but must not be read again here, or their
    // values would beat the user's.
    let mut later = Vec::new();
    later.extend(
        crate::pm::pip::site_envs(ctx)
            .into_iter()
            .map(|env| env.join("pip.conf")),
    );
    later.extend(env_file);
    files.extend(later.iter().cloned());
    let mut visible = global;
    visible.extend(later);
    let mut merged: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        Default::default();
    let mut any = false;
    for f in &files {
        if let Some(text) = read(f) {
            any = true;
            for (section, keys) in crate::pm::pip::config::parse_pip_conf(&text) {
                merged.entry(section).or_default().extend(keys);
            }
        }
    }
    if any {
        let mut text = String::from("# written by safe-install for pip only (trust level 1)\n");
        for (section, keys) in merged {
            text.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                text.push_str(&format!("{k} = {}\n", v.replace('\n', "\n    ")));
            }
        }
        mounts.push(Mount {
            target: PRIVATE_PIP_CONF.into(),
            kind: MountKind::File(text),
            why: "pip's global, user and site configuration (index credentials), for pip only"
                .into(),
        });
        env.push(("PIP_CONFIG_FILE", PRIVATE_PIP_CONF.into()));
        // The global files, the site file (in the venv) and a PIP_CONFIG_FILE may lie inside
        // the view: covered, their content now lives in the private copy.
        for f in visible.into_iter().filter(|f| f.is_file()) {
            mounts.push(Mount {
                target: std::fs::canonicalize(&f).unwrap_or(f),
                kind: MountKind::HideFile,
                why: "moved to pip's private configuration: build backends must not read index credentials".into(),
            });
        }
    }
    Hook { mounts, env }
}

/// Level 2 for pip's build backends, from level 1's Landlock rules: what scripts get but
/// `node_modules`, and the venv's directories a staged legacy `setup.py install` installs
/// into, pip's credential variables dropped.
pub fn python_plan(
    policy: &Policy,
    ctx: &Context,
    level1: &LandlockPlan,
    venv: Option<&Path>,
    interpreters: Vec<Interpreter>,
) -> PythonPlan {
    let mut level2 = script_plan(policy, ctx, level1);
    level2.own_dir = OwnDir::WorkingDirectory;
    // Not the venv: a build backend writes its wheel into pip's temp directory and pip
    // (level 1) installs it. A `.pth` file, a `pip.conf` or a console script written there
    // directly would run at level 1 in the next run, with nothing recording it.
    let legacy_install_dirs = venv.map(legacy_install_dirs).unwrap_or_default();
    level2.read.retain(|r| *r != Path::new(SHIM_CONFIG));
    level2.read.push(PathBuf::from(PYTHON_CONFIG));
    level2.drop_env = PIP_CREDENTIALS.iter().map(|s| s.to_string()).collect();
    level2
        .drop_env
        .extend(INDEX_URL_VARIABLES.iter().map(|s| s.to_string()));
    level2
        .drop_env
        .extend(policy.credentials.iter().map(|e| e.value.to_string()));
    level2.drop_env.extend(exported_cache_vars(policy));
    // Package names come from the build directory, which the attacker wrote: no per-package
    // grants for build backends.
    level2.packages.clear();
    level2.shell = PathBuf::new();
    PythonPlan {
        interpreters,
        level2,
        legacy_install_dirs,
        venv: venv.map(|v| std::fs::canonicalize(v).unwrap_or_else(|_| v.to_path_buf())),
        frontend: None,
    }
}

/// The venv's `lib`, `lib64`, `include` and `bin` that are real directories, each as named
/// and canonical: setuptools stages beneath the prefix Python derived from the interpreter
/// path pip ran, which may go through a symbolic link (`PythonPlan::legacy_install_dirs`).
fn legacy_install_dirs(venv: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in ["lib", "lib64", "include", "bin"]
        .iter()
        .map(|d| venv.join(d))
    {
        if !std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let canonical = std::fs::canonicalize(&d).ok();
        for dir in std::iter::once(d).chain(canonical) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// The directories a uv build step may write besides temp: its source tree when it runs in
/// one (`<cache>/sdists-v*/…/src`, unpacked by uv), its build venv (`VIRTUAL_ENV`, a
/// directory directly in `<cache>/builds-v0`, where uv has the hook write its result file),
/// and the directories in `<cache>/builds-v0` uv's hook script names (the wheel's output
/// directory). All chosen by uv before any package code ran in this process; only real
/// directories count (a planted symbolic link would carry the rule elsewhere).
pub fn uv_build_dirs(
    cache: &Path,
    cwd: Option<&Path>,
    build_env: Option<&Path>,
    args: &[OsString],
) -> Vec<PathBuf> {
    let builds = cache.join("builds-v0");
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let mut out = Vec::new();
    if let Some(cwd) = cwd {
        let in_sdists = cwd
            .strip_prefix(cache)
            .ok()
            .and_then(|rel| rel.iter().next())
            .and_then(std::ffi::OsStr::to_str)
            .is_some_and(|first| first.starts_with("sdists-v"));
        if in_sdists && cwd.strip_prefix(cache).is_ok_and(|r| r.iter().count() > 2) {
            out.push(cwd.to_path_buf());
        }
    }
    let script = match args {
        [_, c, script, ..] if c == "-c" => script.to_str().unwrap_or_default(),
        _ => "",
    };
    let named = script
        .split("fsdecode(b\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(PathBuf::from);
    for p in build_env.map(Path::to_path_buf).into_iter().chain(named) {
        if p.parent() == Some(builds.as_path()) && is_dir(&p) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The python shim's configuration file.
pub fn python_config_mount(plan: &PythonPlan) -> Mount {
    Mount {
        target: PYTHON_CONFIG.into(),
        kind: MountKind::File(serde_json::to_string_pretty(plan).unwrap_or_default()),
        why: "which interpreters pip runs as, and what its build backends may do".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate is a separate program: the paths it starts and the mark it looks for are
    /// written there as bytes, and must be the ones the crate uses.
    #[test]
    fn the_system_shell_gate_names_the_crates_own_paths_and_mark() {
        let gate = SYSTEM_SHELL_GATE.expect("this build has the system-shell gate");
        assert!(gate.starts_with(b"\x7fELF"), "not a program");
        assert!(
            gate.len() < 16 * 1024,
            "{} bytes: more than a gate",
            gate.len()
        );
        let has = |text: String| gate.windows(text.len()).any(|w| w == text.as_bytes());
        for text in [
            format!("{SYSTEM_SHELL_REAL}\0"),
            format!("{SYSTEM_SHELL_SHIM}\0"),
            format!("{LEVEL2_MARKER}=2\0"),
        ] {
            assert!(has(text.clone()), "the gate does not name {text:?}");
        }
    }

    /// Without the gate (another architecture), safe-install itself stands over the shell and
    /// nothing is bound at the gate's hand-off path; with it, the gate stands over the shell.
    #[test]
    fn without_the_gate_safe_install_itself_stands_over_the_system_shell() {
        let shell = Path::new("/usr/bin/dash");
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .expect("exe");
        let kinds = |gate: bool| {
            system_shell_mounts(shell, gate)
                .expect("hook")
                .mounts
                .into_iter()
                .map(|m| (m.target, m.kind))
                .collect::<Vec<_>>()
        };
        let real = (
            PathBuf::from(SYSTEM_SHELL_REAL),
            MountKind::BindRo(shell.into()),
        );
        assert_eq!(
            kinds(false),
            [real.clone(), (shell.into(), MountKind::BindRo(exe.clone()))]
        );
        assert_eq!(
            kinds(true),
            [
                real,
                (SYSTEM_SHELL_SHIM.into(), MountKind::BindRo(exe)),
                (shell.into(), MountKind::ShellGate),
            ]
        );
    }

    /// On the host the gate's targets do not exist: it says so and exits 126, as a shell does
    /// for a command it cannot run, with nothing else run.
    #[test]
    fn the_system_shell_gate_fails_closed_without_its_shells() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sh");
        std::fs::write(&path, SYSTEM_SHELL_GATE.expect("gate")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        for marked in [false, true] {
            let mut cmd = std::process::Command::new(&path);
            cmd.args(["-c", "echo ran"]).env_remove(LEVEL2_MARKER);
            if marked {
                cmd.env(LEVEL2_MARKER, "2");
            }
            let out = cmd.output().expect("run the gate");
            assert_eq!(out.status.code(), Some(126), "marked: {marked}");
            assert!(out.stdout.is_empty());
            assert!(String::from_utf8_lossy(&out.stderr).contains("could not be started"));
        }
    }

    fn plan() -> ScriptPlan {
        ScriptPlan {
            shell: "/bin/sh".into(),
            read: vec!["/usr".into()],
            write: vec!["/tmp".into()],
            devices: vec![],
            project: "/p".into(),
            clone_roots: vec!["/home/u/.npm/_cacache/tmp".into()],
            trees: vec!["/home/u/.npm-global/lib/node_modules".into()],
            own_dir: OwnDir::InstallTree,
            drop_env: vec!["NPM_TOKEN".into(), "npm_config_//*".into()],
            packages: vec![PackagePaths {
                name: "@scope/sharp".into(),
                dirs: vec!["/p/node_modules/@scope/sharp".into()],
                read: vec!["/opt/vips".into()],
                write: vec![],
                network: true,
            }],
            connect_tcp: vec![3129, 53],
            git_config: None,
            hooks_dirs: vec![],
            network_registry: false,
            stands_in_for: None,
        }
    }

    #[test]
    fn node_honours_the_proxy_only_in_scripts_that_may_reach_a_host() {
        let mut p = plan();
        let sharp = Path::new("/p/node_modules/@scope/sharp");
        assert!(p.may_reach_hosts(Some(sharp)), "its grant names hosts");
        assert!(!p.may_reach_hosts(Some(Path::new("/p/node_modules/other"))));
        assert!(!p.may_reach_hosts(None), "unknown directory: no grant");
        p.packages[0].network = false;
        assert!(!p.may_reach_hosts(Some(sharp)), "a grant of files only");
        p.network_registry = true;
        assert!(
            p.may_reach_hosts(None),
            "--scripts-network registry: every script"
        );
    }

    #[test]
    fn only_the_root_projects_scripts_write_the_git_scratch_and_hooks() {
        let t = tempfile::tempdir().expect("tempdir");
        let (git, hooks) = (t.path().join("git"), t.path().join("p/.husky/_"));
        std::fs::create_dir_all(&git).expect("mkdir");
        std::fs::create_dir_all(&hooks).expect("mkdir");
        let mut p = plan();
        p.project = t.path().join("p");
        p.git_config = Some(git.join("config"));
        p.hooks_dirs = vec![hooks.clone()];
        let root = p.landlock(Some(&p.project.clone())).write;
        assert!(root.contains(&git) && root.contains(&hooks), "{root:?}");
        let dep = p.project.join("node_modules/x");
        let dep = p.landlock(Some(&dep)).write;
        assert!(!dep.contains(&git) && !dep.contains(&hooks), "{dep:?}");
        // A symbolic link where the hooks directory should be gives nothing.
        std::fs::remove_dir(&hooks).expect("rmdir");
        std::os::unix::fs::symlink(&git, &hooks).expect("symlink");
        let root = p.landlock(Some(&p.project.clone())).write;
        assert!(!root.contains(&hooks), "{root:?}");
    }

    #[test]
    fn a_git_dependencys_prepare_writes_its_own_clone_only() {
        let p = plan();
        let clone = Path::new("/home/u/.npm/_cacache/tmp/git-cloneAbc");
        assert!(p.landlock(Some(clone)).write.contains(&clone.to_path_buf()));
        for elsewhere in [
            "/home/u/.npm/_cacache/tmp",
            "/home/u/.npm/_cacache/tmp/a/b",
            "/home/u/.npm",
        ] {
            let ll = p.landlock(Some(Path::new(elsewhere)));
            assert!(
                !ll.write.iter().any(|w| w.starts_with("/home/u")),
                "{elsewhere}: {:?}",
                ll.write
            );
        }
    }

    #[test]
    fn a_global_packages_script_writes_its_own_folder_of_the_global_tree_only() {
        let p = plan();
        let tree = Path::new("/home/u/.npm-global/lib/node_modules");
        for own in ["tool", "@s/tool", "tool/node_modules/dep"] {
            let dir = tree.join(own);
            assert_eq!(
                p.landlock(Some(&dir))
                    .write
                    .iter()
                    .filter(|w| w.starts_with("/home/u"))
                    .collect::<Vec<_>>(),
                [&dir],
                "{own}"
            );
        }
        for none in ["", ".bin", "tool/lib", "@s"] {
            let ll = p.landlock(Some(&tree.join(none)));
            assert!(
                !ll.write.iter().any(|w| w.starts_with("/home/u")),
                "{none}: {:?}",
                ll.write
            );
        }
    }

    #[test]
    fn level2_gets_its_own_proxy_port_only() {
        let ll = plan().landlock(Some(Path::new("/p/node_modules/left-pad")));
        assert_eq!(ll.connect_tcp, Some(vec![3129, 53]));
        assert_eq!(
            level2_value(std::ffi::OsStr::new("http://127.0.0.1:3128/")),
            OsString::from("http://127.0.0.1:3129/")
        );
        assert_eq!(
            level2_value(std::ffi::OsStr::new("http://127.0.0.1:31280")),
            OsString::from("http://127.0.0.1:31280")
        );
    }

    #[test]
    fn drops_credentials_by_name_and_pattern() {
        let p = plan();
        assert!(p.drops("NPM_TOKEN"));
        assert!(p.drops("npm_token"));
        assert!(p.drops("npm_config_//registry.example.com/:_authToken"));
        assert!(!p.drops("PATH"));
        assert!(!p.drops("npm_config_registry"));
    }

    #[test]
    fn a_dependency_writes_its_own_folder_only() {
        let own = |cwd: &str| own_writable(OwnDir::InstallTree, Path::new("/p"), Path::new(cwd));
        let p = |s: &str| vec![PathBuf::from(s)];
        assert_eq!(own("/p/node_modules/a"), p("/p/node_modules/a"));
        assert_eq!(own("/p/node_modules/@s/a"), p("/p/node_modules/@s/a"));
        assert_eq!(
            own("/p/node_modules/a/node_modules/@s/b"),
            p("/p/node_modules/a/node_modules/@s/b")
        );
        // pnpm's virtual store: the package's folder inside its entry.
        for dir in [
            "/p/node_modules/.pnpm/a@1.0.0/node_modules/a",
            "/p/node_modules/.pnpm/@s+b@1.0.0/node_modules/@s/b",
            "/p/node_modules/.pnpm/a@1.0.0_b@2.0.0/node_modules/a",
        ] {
            assert_eq!(own(dir), p(dir), "{dir}");
        }
        // The tree's own places and paths that are no package folder: nothing.
        for cwd in [
            "/p/node_modules/.pnpm",
            "/p/node_modules/.pnpm/a@1.0.0",
            "/p/node_modules/.pnpm/a@1.0.0/node_modules",
            "/p/node_modules/.pnpm/node_modules/a",
            "/p/node_modules/.pnpm/lock.yaml",
            "/p/node_modules",
            "/p/node_modules/.bin",
            "/p/node_modules/.prisma",
            "/p/node_modules/@s",
            "/p/node_modules/a/lib",
            "/p/node_modules/a/node_modules",
            "/p/node_modules/a/node_modules/.bin",
            "/elsewhere/node_modules/a",
            "/pother/node_modules/a",
        ] {
            assert_eq!(own(cwd), Vec::<PathBuf>::new(), "{cwd}");
        }
        // The project's own scripts write the install tree; a workspace also its folder.
        assert_eq!(own("/p"), p("/p/node_modules"));
        assert_eq!(
            own("/p/packages/app"),
            vec![
                PathBuf::from("/p/packages/app"),
                PathBuf::from("/p/node_modules")
            ]
        );
        // pip: a build backend's working directory inside the project.
        let pip =
            |cwd: &str| own_writable(OwnDir::WorkingDirectory, Path::new("/p"), Path::new(cwd));
        assert_eq!(pip("/p/vendor/x"), p("/p/vendor/x"));
        assert_eq!(pip("/tmp/pip-build-x"), Vec::<PathBuf>::new());
        // The layer itself: no `node_modules` as a whole, ever.
        let ll = plan().landlock(Some(Path::new("/p/node_modules/left-pad")));
        assert!(!ll.write.contains(&PathBuf::from("/p/node_modules")));
        assert!(ll
            .write
            .contains(&PathBuf::from("/p/node_modules/left-pad")));
    }

    #[test]
    fn package_dir_writable_only_inside_the_project_and_grants_per_package_dir() {
        let p = plan();
        let sharp = Path::new("/p/node_modules/@scope/sharp");
        let ll = p.landlock(Some(sharp));
        assert!(ll.write.contains(&sharp.to_path_buf()));
        assert!(!ll.write.contains(&PathBuf::from("/p/node_modules")));
        assert!(ll.read.contains(&PathBuf::from("/opt/vips")));
        // Another directory gets no grant, whatever its package calls itself.
        let other = p.landlock(Some(Path::new("/p/node_modules/x")));
        assert!(other.write.contains(&PathBuf::from("/p/node_modules/x")));
        assert!(!other.read.contains(&PathBuf::from("/opt/vips")));
        let outside = p.landlock(Some(Path::new("/elsewhere")));
        assert!(!outside.write.contains(&PathBuf::from("/elsewhere")));
        // Unknown: no package directory, no grant.
        assert_eq!(p.landlock(None).write, p.write);
    }

    fn pip_ctx(home: &Path, env: Vec<(OsString, OsString)>) -> Context {
        let argv: Vec<OsString> = vec!["pip".into(), "install".into()];
        Context {
            resolved: Default::default(),
            detected: crate::pm::detect(&argv),
            argv,
            env,
            cwd: home.join("p"),
            home: home.to_path_buf(),
            project: home.join("p"),
            uid: 1,
            gid: 1,
        }
    }

    #[test]
    fn pip_credentials_in_files_move_to_the_private_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        std::fs::create_dir_all(home.join(".config/pip")).expect("mkdir");
        std::fs::create_dir_all(home.join("venv")).expect("mkdir");
        std::fs::write(home.join(".netrc"), "machine h login u password p\n").expect("write");
        std::fs::write(
            home.join(".config/pip/pip.conf"),
            "[global]\nindex-url = http://u:p@h/simple\ntimeout = 5\n",
        )
        .expect("write");
        std::fs::write(home.join("venv/pip.conf"), "[global]\ntimeout = 9\n").expect("write");
        let venv = home.join("venv").into_os_string();
        let hook = pip_private_config(&pip_ctx(home, vec![("VIRTUAL_ENV".into(), venv)]));
        let file = |t: &str| {
            hook.mounts.iter().find_map(|m| match &m.kind {
                MountKind::File(text) if m.target == Path::new(t) => Some(text.clone()),
                _ => None,
            })
        };
        assert!(file(PRIVATE_NETRC).is_some_and(|t| t.contains("password p")));
        let conf = file(PRIVATE_PIP_CONF).expect("merged pip.conf");
        assert!(conf.contains("index-url = http://u:p@h/simple"));
        assert!(
            conf.contains("timeout = 9"),
            "the site file wins over the user file: {conf}"
        );
        assert!(hook
            .mounts
            .iter()
            .any(|m| m.kind == MountKind::HideFile && m.target.ends_with("venv/pip.conf")));
        let names: Vec<_> = hook.env.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["NETRC", "PIP_CONFIG_FILE"]);
        let none = pip_private_config(&pip_ctx(
            home,
            vec![
                ("PIP_CONFIG_FILE".into(), "/dev/null".into()),
                ("NETRC".into(), "/nope".into()),
            ],
        ));
        assert!(none.mounts.is_empty() && none.env.is_empty());
    }

    #[test]
    fn the_users_pip_conf_beats_the_global_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let xdg = home.join("xdg");
        std::fs::create_dir_all(xdg.join("pip")).expect("mkdir");
        std::fs::create_dir_all(home.join(".config/pip")).expect("mkdir");
        std::fs::write(xdg.join("pip/pip.conf"), "[global]\ncert = /global.pem\n").expect("write");
        std::fs::write(
            home.join(".config/pip/pip.conf"),
            "[global]\ncert = /user.pem\n",
        )
        .expect("write");
        let hook = pip_private_config(&pip_ctx(
            home,
            vec![("XDG_CONFIG_DIRS".into(), xdg.into_os_string())],
        ));
        let conf = hook
            .mounts
            .iter()
            .find_map(|m| match &m.kind {
                MountKind::File(t) if m.target == Path::new(PRIVATE_PIP_CONF) => Some(t.clone()),
                _ => None,
            })
            .expect("merged pip.conf");
        assert!(conf.contains("cert = /user.pem"), "{conf}");
    }

    #[test]
    fn a_temp_root_holding_the_project_or_a_cache_is_not_level_2s() {
        let level1 = |extra: &[&str]| LandlockPlan {
            read: vec!["/usr".into()],
            write: ["/tmp", "/var/tmp", "/dev/shm", "/proc", SCRIPT_TMP]
                .iter()
                .chain(extra)
                .map(PathBuf::from)
                .collect(),
            devices: vec![],
            connect_tcp: None,
        };
        // Elsewhere: the temp roots stay writable for scripts.
        let home = level1(&["/home/u/p", "/home/u"]);
        assert!(shared_temp_roots(&home).is_empty());
        // Under each temp root: that root is withheld, the others and SCRIPT_TMP are not.
        for (root, project) in [
            ("/tmp", "/tmp/w/p"),
            ("/var/tmp", "/var/tmp/p"),
            ("/dev/shm", "/dev/shm/x/p"),
        ] {
            let ll = level1(&[project, "/home/u"]);
            assert_eq!(shared_temp_roots(&ll), [PathBuf::from(root)]);
            let dir = tempfile::tempdir().expect("tempdir");
            let ctx = Context {
                resolved: Default::default(),
                detected: crate::pm::detect(&["npm".into(), "ci".into()]),
                argv: vec!["npm".into(), "ci".into()],
                env: vec![],
                cwd: project.into(),
                home: dir.path().to_path_buf(),
                project: project.into(),
                uid: 1,
                gid: 1,
            };
            let plan = script_plan(&Policy::default(), &ctx, &ll);
            assert!(
                !plan.write.contains(&PathBuf::from(root)),
                "{root}: {plan:?}"
            );
            assert!(plan.write.contains(&PathBuf::from(SCRIPT_TMP)));
            for other in TEMP_ROOTS.iter().filter(|r| **r != root) {
                assert!(plan.write.contains(&PathBuf::from(other)), "{other}");
            }
            // Nothing level 2 may write lies above the project (only its node_modules).
            let p = Path::new(project);
            assert!(
                !plan.write.iter().any(|w| p.starts_with(w)),
                "{root}: {:?}",
                plan.write
            );
        }
        // A cache (the home) under /tmp, the project elsewhere: /tmp is withheld too.
        let cache = level1(&["/home/u/p", "/tmp/home/.npm"]);
        assert_eq!(shared_temp_roots(&cache), [PathBuf::from("/tmp")]);
    }

    #[test]
    fn userinfo_urls_are_credentials() {
        assert!(carries_userinfo("http://u:p@127.0.0.1/simple"));
        assert!(carries_userinfo(
            "https://a.example.com https://t@registry.example.com/x"
        ));
        assert!(!carries_userinfo("https://registry.example.com/simple"));
        assert!(!carries_userinfo("user@host"));
    }

    #[test]
    fn a_staged_legacy_install_may_go_beneath_the_venv_as_named_and_as_canonical() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = std::fs::canonicalize(dir.path())
            .expect("canonical")
            .join("venv");
        for d in ["lib", "include", "bin"] {
            std::fs::create_dir_all(real.join(d)).expect("mkdir");
        }
        // A link, as Debian's venvs have for lib64: never a place of its own.
        std::os::unix::fs::symlink("lib", real.join("lib64")).expect("symlink");
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&real, &linked).expect("symlink");
        let dirs = legacy_install_dirs(&linked);
        for d in ["lib", "include", "bin"] {
            assert!(dirs.contains(&linked.join(d)), "{dirs:?}");
            assert!(dirs.contains(&real.join(d)), "{dirs:?}");
        }
        assert!(!dirs.iter().any(|d| d.ends_with("lib64")), "{dirs:?}");
        assert!(!dirs.contains(&real) && !dirs.contains(&linked), "{dirs:?}");
        assert_eq!(legacy_install_dirs(&real).len(), 3, "no duplicates");
    }
}
