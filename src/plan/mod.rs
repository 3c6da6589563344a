//! From policy and context to a complete, inspectable plan of the sandbox: the mounts that
//! make the filesystem view, the Landlock rules of both trust levels, the syscalls to deny,
//! the environment, the level-2 hooks (script shell, python shim). It reads the filesystem to
//! see what exists and never changes it: what the host needs before the run (a missing cache)
//! is a [`HostAction`] the session performs. `explain` prints the plan, the sandbox executes
//! it.

pub mod addresses;
pub mod env;
pub mod gitconfig;
pub mod hidden;
pub mod mode;
#[cfg(test)]
pub mod test_fixtures;
pub mod trust;
mod view;

pub use env::{DropReason, EnvPlan};
pub use hidden::Hidden;
pub use mode::{HostPlaces, Mode};
pub use trust::{PythonPlan, ScriptPlan};
pub use view::{Mount, MountKind};

use crate::pm;
pub use crate::pm::Context;
use crate::policy::Policy;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// User and group ids inside the sandbox and the ids they map to outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inside_uid: u32,
    pub inside_gid: u32,
    pub outside_uid: u32,
    pub outside_gid: u32,
}

/// The uid a root caller becomes inside: never 0, so nothing inside holds a capability of the
/// initial namespace or passes root-only checks.
pub const ROOT_CALLER_INSIDE_ID: u32 = 1000;

impl IdMap {
    pub fn for_caller(uid: u32, gid: u32) -> Self {
        let (inside_uid, inside_gid) = if uid == 0 {
            (ROOT_CALLER_INSIDE_ID, ROOT_CALLER_INSIDE_ID)
        } else {
            (uid, gid)
        };
        IdMap {
            inside_uid,
            inside_gid,
            outside_uid: uid,
            outside_gid: gid,
        }
    }
}

/// Landlock rules, as paths inside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockPlan {
    /// Read and execute beneath these.
    pub read: Vec<PathBuf>,
    /// Full access beneath these.
    pub write: Vec<PathBuf>,
    /// Device files: read, write, ioctl.
    pub devices: Vec<PathBuf>,
    /// TCP connect: `None` leaves it unhandled (the network namespace decides); `Some(ports)`
    /// allows connecting to these ports only (Landlock ABI 4; trust level 2's own proxy port
    /// and the DNS stub).
    pub connect_tcp: Option<Vec<u16>>,
}

/// The complete sandbox plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The sandbox it is for.
    pub mode: Mode,
    pub argv: Vec<OsString>,
    /// The package manager's executable, resolved on the host without running anything
    /// (`pm::resolve`): the sandbox executes exactly this file, never the result of a new
    /// `PATH` search. `None` for other commands, which are searched for inside as execvp does.
    pub program: Option<PathBuf>,
    pub cwd: PathBuf,
    pub env: EnvPlan,
    pub mounts: Vec<Mount>,
    pub hidden: Vec<Hidden>,
    pub landlock: LandlockPlan,
    /// `(name, number)` of syscalls refused with EPERM.
    pub seccomp_deny: Vec<(String, libc::c_long)>,
    pub ids: IdMap,
    pub home: PathBuf,
    pub project: PathBuf,
    /// What safe-install knows about the package manager the command runs.
    pub manager: &'static dyn pm::PackageManager,
    /// Trust level 2 for lifecycle scripts, when the package manager runs them through the
    /// shim; `None`: the whole command is observed at one level.
    pub script: Option<ScriptPlan>,
    /// Trust level 2 for pip's build backends: the interpreter files pip runs as are
    /// safe-install's python shim; `None` when no interpreter could be found in the view.
    pub python: Option<PythonPlan>,
    /// Credential paths (resolved) and why: opening one is always logged.
    pub credentials: Vec<(PathBuf, String)>,
    /// Notes for `explain` and `-v`: what was skipped and why.
    pub notes: Vec<String>,
    /// Why the package manager's package code runs at its own level, when it does
    /// ([`pm::Level2::Unhooked`]): also a warning when the run starts.
    pub unhooked: Option<&'static str>,
    /// Installed packages by directory (absolute) → `name@version`, from the project's
    /// lockfile as it was before the install: how scripts are attributed in the log.
    pub lockfile: Vec<(PathBuf, String)>,
    /// The package manager's own approval list for dependency scripts (`None` for a command
    /// that is no package manager): which packages' scripts it runs at all.
    pub approvals: Option<pm::approvals::Approvals>,
    /// A store the package manager hard-links from (pnpm's, uv's cache) and how it is shown.
    pub store: Option<StoreView>,
    /// How the package manager is pointed at the script shell (variables, arguments), for
    /// `explain`.
    pub hook: Vec<String>,
    /// What the host needs before the child starts, which planning itself never does
    /// (`explain` reads files only): performed by [`Plan::prepare_host`].
    pub before_run: Vec<HostAction>,
}

/// A package manager's store in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreView {
    /// What it is ("pnpm's store", "uv's cache").
    pub what: &'static str,
    pub dir: PathBuf,
    /// The places it links into.
    pub into: Vec<PathBuf>,
    /// The bind that shows it and the project on one mount; `None`: a mount of its own
    /// (why in the plan's notes), so the package manager copies from it.
    pub carrier: Option<PathBuf>,
}

/// A change on the host the run needs before the child starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// A directory the view shows read-write that does not exist yet (a cache, a granted
    /// download folder), created as the caller.
    CreateDir { path: PathBuf, why: String },
}

impl Plan {
    /// Take out the command-line arguments that point the package manager at the script
    /// shell (pnpm's `--config.script-shell=`), for a mode that runs without it (landlock
    /// mode mounts no shim: left in, every script would fail to start). The variables that
    /// name it are the caller's to remove, as they are today.
    pub fn drop_script_shell_args(&mut self) {
        let shim = std::ffi::OsStr::new(trust::SHIM);
        let names_shim = |a: &OsString| {
            use std::os::unix::ffi::OsStrExt;
            a.as_bytes().ends_with(shim.as_bytes())
        };
        let dropped: Vec<OsString> = self
            .argv
            .iter()
            .skip(1)
            .filter(|a| names_shim(a))
            .cloned()
            .collect();
        if dropped.is_empty() {
            return;
        }
        let program = self.argv.first().cloned();
        self.argv = program
            .into_iter()
            .chain(self.argv.iter().skip(1).filter(|a| !names_shim(a)).cloned())
            .collect();
        self.hook
            .retain(|h| !dropped.iter().any(|d| d.to_string_lossy() == h.as_str()));
    }

    /// Perform [`Plan::before_run`]. What cannot be done leaves its mount out of the view
    /// (the child would fail to mount a missing directory) with a note, as a missing
    /// optional directory always has.
    pub fn prepare_host(&mut self) {
        for action in std::mem::take(&mut self.before_run) {
            match action {
                HostAction::CreateDir { path, .. } => {
                    if let Err(err) = std::fs::create_dir_all(&path) {
                        let note = format!("cannot create {}: {err}", path.display());
                        tracing::warn!("{note}");
                        self.notes.push(note);
                        self.mounts.retain(|m| m.target != path);
                        self.landlock.write.retain(|p| p != &path);
                        if let Some(script) = &mut self.script {
                            script.write.retain(|p| p != &path);
                        }
                    }
                }
            }
        }
    }
}

/// Errors in the caller's setup that make a safe plan impossible.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the project directory {0} is {1}; run safe-install from the project directory or pass --project DIR")]
    UnsafeProject(PathBuf, &'static str),
    #[error(transparent)]
    NpmProgram(#[from] pm::npm::PinError),
    #[error(transparent)]
    ScriptShell(#[from] pm::ScriptShellError),
    #[error(
        "cannot find the Python interpreter {program} runs as, so its build backends could not be \
         kept at trust level 2 (no network of the package manager's, no credentials); refusing \
         rather than running them with pip's powers. Fix: run pip through a real interpreter or \
         virtualenv by its path (`/path/to/venv/bin/pip …`, `/usr/bin/python3 -m pip …`, or \
         `$(pyenv which python) -m pip …` for a pyenv shim)"
    )]
    PipUnhooked { program: String },
    #[error(
        "{manager} is asked for the interpreter `{asked}` (by {by}), which is {file}: \
         safe-install stands in only for interpreters whose file is named as one is \
         (python3.12, pypy3, python3.13t), so its build backends would run with {manager}'s \
         powers; refusing. Fix: name an interpreter file named that way, or, under uv, ask \
         for a version (--python 3.12)"
    )]
    InterpreterUnhookable {
        manager: &'static str,
        asked: String,
        by: String,
        file: PathBuf,
    },
    #[error(
        "{manager} would install {what}, which the sandbox does not keep: its home is a \
         private copy, thrown away at the end of the run. Fix: add the package to a project \
         (`safe-install {manager} add PACKAGE` there), or install the tool globally with npm, \
         whose global packages are kept when its prefix is in your home \
         (`safe-install npm install -g PACKAGE`)"
    )]
    NotKept {
        manager: &'static str,
        what: &'static str,
    },
    #[error(
        "{manager} would install into {} ({why}), which is the home or holds or lies in one of \
         its credential places (~/.ssh, ~/.aws, ~/.npmrc, …): the sandbox would have to show \
         it, and package code could read what lies there. Fix: point the setting that names \
         this directory at one of its own (a prefix, user base or tools directory such as \
         ~/.local)",
        path.display()
    )]
    DestinationHoldsCredentials {
        manager: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error(transparent)]
    HiddenLink(#[from] hidden::HiddenError),
    #[error("reading the package manager's configuration for its plugin")]
    PluginConfig(#[from] pm::ConfigError),
    #[error("the package manager runs scripts through a plugin, but none could be made for it; refusing rather than running its scripts at the package manager's level")]
    NoPlugin,
    #[error("{file} ({place}) fetches {shown} with a credential written into the URL: every process inside the sandbox, lifecycle scripts included, could read it there, and safe-install does not rewrite your project's files to seal it. Fix: remove the user name and token from the URL in {file} (and in the lockfile), and keep them where git looks for them, which safe-install shows inside as a placeholder: `git config --global credential.helper store` and a line `https://USER:TOKEN@HOST` in ~/.git-credentials (or `git config --global http.https://HOST/.extraheader 'Authorization: Bearer TOKEN'`)", file = .file.display())]
    UrlCredential {
        file: PathBuf,
        place: String,
        shown: String,
    },
    #[error("the command names the git dependency {shown} with a credential written into the URL: the package manager would save the URL into package.json as it sees it inside (with the placeholder safe-install shows there instead of your token, which works nowhere else), so the run is refused rather than change your project. Fix: name the dependency without the user name and token, and keep them where git looks for them, which safe-install shows inside as a placeholder: `git config --global credential.helper store` and a line `https://USER:TOKEN@HOST` in ~/.git-credentials (or `git config --global http.https://HOST/.extraheader 'Authorization: Bearer TOKEN'`)")]
    ArgUrlCredential { shown: String },
    #[error("the package manager runs scripts with /bin/sh, which safe-install stands in for to run them at trust level 2, but cannot here: {why}; refusing rather than running its scripts at the package manager's level")]
    ShellUnhooked { why: String },
}

/// Project files that name dependencies by URL: the manifest's dependency maps and the
/// lockfiles of npm, pnpm and yarn.
const DEPENDENCY_FIELDS: &[&str] = &[
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "overrides",
    "resolutions",
];
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
];

/// A dependency URL with a credential in the project's manifest or lockfile is refused (see
/// `PlanError::UrlCredential`): git and the package manager would read it in the clear. So
/// is a git dependency named with one on the command line (`PlanError::ArgUrlCredential`).
fn check_dependency_urls(project: &Path, argv: &[OsString]) -> Result<(), PlanError> {
    for arg in argv.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(shown) = gitconfig::url_credentials(arg)
            .into_iter()
            .find(|u| u.starts_with("git+"))
        {
            return Err(PlanError::ArgUrlCredential { shown });
        }
    }
    let found = |file: &Path, place: String, text: &str| match gitconfig::url_credentials(text)
        .into_iter()
        .next()
    {
        Some(shown) => Err(PlanError::UrlCredential {
            file: file.to_path_buf(),
            place,
            shown,
        }),
        None => Ok(()),
    };
    let manifest = project.join("package.json");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            for field in DEPENDENCY_FIELDS {
                let Some(map) = json.get(field).and_then(|m| m.as_object()) else {
                    continue;
                };
                for (name, spec) in map {
                    // `overrides` nest; their text holds every URL.
                    let spec = match spec.as_str() {
                        Some(s) => s.to_string(),
                        None => spec.to_string(),
                    };
                    found(&manifest, format!("{field}.{name}"), &spec)?;
                }
            }
        }
    }
    for name in LOCKFILES {
        let file = project.join(name);
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            found(&file, format!("line {}", i + 1), line)?;
        }
    }
    Ok(())
}

/// Build the plan for `mode`.
pub fn build(policy: &Policy, ctx: &Context, mode: &Mode) -> Result<Plan, PlanError> {
    let mut plan = build_full(policy, ctx)?;
    if let Mode::Landlock(host) = mode {
        mode::for_landlock(&mut plan, host);
    }
    Ok(plan)
}

/// The full sandbox's plan.
fn build_full(policy: &Policy, ctx: &Context) -> Result<Plan, PlanError> {
    check_project(ctx)?;
    if let Some(what) = ctx.detected.manager.unkept_install(ctx) {
        return Err(PlanError::NotKept {
            manager: ctx.detected.manager.name(),
            what,
        });
    }
    let ids = IdMap::for_caller(ctx.uid, ctx.gid);
    let program = ctx.resolved.program.clone();
    let manager = ctx.detected.manager;
    let is_pm = manager.is_package_manager();
    let venv = manager.install_target(ctx);
    let mut hidden = hidden::find(&ctx.project, &policy.fs)?;
    let mut view = view::build(policy, ctx, program.as_deref(), venv.as_deref(), &hidden);
    // What the command installs into the home: kept, for the package manager only. Level 2
    // may read it, so never the home itself, nor a place that holds or lies in one of the
    // policy's credential places (a prefix or tools directory set to `~` or `~/.ssh`).
    if is_pm {
        let credentials: Vec<PathBuf> = policy
            .fs
            .credential
            .iter()
            .map(|e| e.value.resolve(&ctx.home))
            .collect();
        for mut dest in manager.home_destinations(ctx) {
            // As it will be (`--target ../out` resolved); inside the project it is shown
            // read-write already.
            dest.path = view::real_to_be(&dest.path);
            if !dest.path.starts_with(&ctx.home) || dest.path.starts_with(&ctx.project) {
                continue;
            }
            if dest.path == ctx.home
                || credentials
                    .iter()
                    .any(|c| c.starts_with(&dest.path) || dest.path.starts_with(c))
            {
                return Err(PlanError::DestinationHoldsCredentials {
                    manager: manager.name(),
                    path: dest.path,
                    why: dest.why,
                });
            }
            view.add_rw_created(&dest.path, &dest.why);
            if dest.install_tree {
                view.trees.push(dest.path);
            }
        }
        view.sort();
    }
    // Arguments put right after the program name: the package manager's own highest-precedence
    // settings (its store, its script shell).
    let mut pinned_args: Vec<OsString> = Vec::new();
    let mut store_view = None;
    if let Some(store) = manager.linked_store(ctx).filter(|_| is_pm) {
        let shared = view.share_one_mount(&store.dir, &store.into, &store.why);
        store_view = Some(StoreView {
            what: store.what,
            dir: store.dir.clone(),
            into: store.into.clone(),
            carrier: view.carrier.clone(),
        });
        if let Err(why) = shared {
            view.notes.push(format!(
                "{why}: {} is shown on a mount of its own, and the package manager copies from it",
                store.what
            ));
            view.add_rw_created(&store.dir, &store.why);
            view.sort();
        }
        view.notes.extend(store.notes);
        pinned_args.extend(store.args);
    }
    if is_pm {
        view.push(
            trust::SCRIPT_TMP.into(),
            MountKind::Tmpfs,
            "temp of its own for lifecycle scripts and build backends (TMPDIR when a temp root holds the project, the home or a cache)",
        );
    }
    let mut trust_env = Vec::new();
    let mut hook = Vec::new();
    let mut script = None;
    let mut python = None;
    let mut unhooked = None;
    match manager.level2(ctx) {
        pm::Level2::ScriptShell => {
            let pins = manager.script_shell(ctx, Path::new(trust::SHIM))?;
            view.notes.extend(pins.notes.iter().cloned());
            hook = pins
                .env
                .iter()
                .map(|v| format!("{v}={}", trust::SHIM))
                .chain(pins.args.iter().map(|a| a.to_string_lossy().into_owned()))
                .collect();
            if let Some(outside) = &pins.outside {
                tracing::warn!("{outside}");
                view.notes.push(outside.clone());
            }
            pinned_args.extend(pins.args.iter().cloned());
            let shell_hook = trust::hook(ctx, &pins.env);
            let (plan, env) =
                script_shell_hook(policy, ctx, shell_hook, &mut view, &mut hidden, None)?;
            script = Some(plan);
            trust_env = env;
        }
        pm::Level2::ScriptPlugin => {
            let plugin = manager
                .script_plugin(ctx, Path::new(trust::SHIM))?
                .ok_or(PlanError::NoPlugin)?;
            view.notes.extend(plugin.notes.iter().cloned());
            let plugin_hook = trust::plugin_hook(plugin);
            let (plan, env) =
                script_shell_hook(policy, ctx, plugin_hook, &mut view, &mut hidden, None)?;
            script = Some(plan);
            trust_env = env;
        }
        pm::Level2::SystemShell => {
            let shell = trust::system_shell().map_err(|why| PlanError::ShellUnhooked { why })?;
            if !view.visible(&shell) {
                return Err(PlanError::ShellUnhooked {
                    why: format!("{} is not in the view", shell.display()),
                });
            }
            let shell_hook =
                trust::system_shell_hook(&shell).ok_or_else(|| PlanError::ShellUnhooked {
                    why: "safe-install's own executable cannot be found".into(),
                })?;
            let (plan, env) = script_shell_hook(
                policy,
                ctx,
                shell_hook,
                &mut view,
                &mut hidden,
                Some(&shell),
            )?;
            script = Some(plan);
            trust_env = env;
        }
        pm::Level2::PythonShim => {
            if let Some(u) = manager.unhookable_interpreter(ctx) {
                return Err(PlanError::InterpreterUnhookable {
                    manager: manager.name(),
                    asked: u.asked,
                    by: u.by,
                    file: u.file,
                });
            }
            let (found, env) = pip_hook(policy, ctx, venv.as_deref(), &mut view, &mut hidden);
            if found.is_none() {
                return Err(PlanError::PipUnhooked {
                    program: match program.as_deref() {
                        Some(p) => p.display().to_string(),
                        None => ctx
                            .argv
                            .first()
                            .and_then(|a| Path::new(a).file_name())
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    },
                });
            }
            python = found;
            trust_env = env;
        }
        pm::Level2::Unhooked(why) => {
            if is_pm {
                view.notes.push(why.to_string());
                unhooked = Some(why);
            }
        }
    }

    let cwd = if view.visible(&ctx.cwd) {
        ctx.cwd.clone()
    } else {
        ctx.project.clone()
    };
    // Where /tmp (or /var/tmp, /dev/shm) holds the project, the home or a cache, level 2 may
    // not write it as a whole (Landlock rules are hierarchical): every process's temp is then
    // the sandbox's own temp directory, which level 2 may write.
    let shared = if is_pm {
        trust::shared_temp_roots(&view.landlock())
    } else {
        Vec::new()
    };
    let tmpdir = if shared.is_empty() {
        "/tmp"
    } else {
        view.notes.push(format!(
            "lifecycle scripts and build backends may not write {} as a whole: the project, the home or a cache lies beneath it. TMPDIR is {} (writable by them); a script that hard-codes /tmp paths fails there",
            shared
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            trust::SCRIPT_TMP
        ));
        trust::SCRIPT_TMP
    };
    let mut fixed: Vec<(&str, OsString)> = vec![
        ("HOME", ctx.home.clone().into_os_string()),
        ("TMPDIR", tmpdir.into()),
        ("PWD", cwd.clone().into_os_string()),
    ];
    fixed.extend(proxy_env(is_pm));
    fixed.extend(trust_env);
    if is_pm {
        if let Some(path) = &ctx.resolved.path {
            fixed.push(("PATH", path.clone()));
        }
        for (dir, why) in &ctx.resolved.dropped {
            view.notes.push(format!(
                "PATH entry {} left out inside: it lies {why}",
                dir.display()
            ));
        }
    }
    // Caches whose variable the package manager's level gets (Node's compile cache); level 2
    // loses it (`trust::exported_cache_vars`).
    for (e, dir) in policy.fs.cache.iter().zip(view::cache_dirs(policy, ctx)) {
        if let (true, Some(name)) = (e.value.export, e.value.env.as_deref()) {
            fixed.push((name, dir.into_os_string()));
        }
    }
    let mut env = env::scrub(&policy.env, &ctx.env, &fixed);
    // The shims' mark of a process already at level 2 never comes from outside (a policy's
    // `[[env.set]]`, a caller's variable passed by a pattern): in the package manager's
    // environment it would start its scripts without their Landlock layer.
    if env.pass.iter().any(|(k, _)| k == trust::LEVEL2_MARKER) {
        env.pass.retain(|(k, _)| k != trust::LEVEL2_MARKER);
        env.dropped
            .push((trust::LEVEL2_MARKER.into(), env::DropReason::NotAllowed));
    }
    let seccomp_deny = policy
        .seccomp
        .deny
        .iter()
        .filter_map(|e| crate::sys::syscalls::number(&e.value).map(|nr| (e.value.clone(), nr)))
        .collect();
    let argv = match ctx.argv.split_first() {
        Some((program, rest)) if !pinned_args.is_empty() => {
            view.notes.push(format!(
                "arguments put before the command's own: {}",
                pinned_args
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            std::iter::once(program.clone())
                .chain(pinned_args)
                .chain(rest.iter().cloned())
                .collect()
        }
        _ => ctx.argv.clone(),
    };
    Ok(Plan {
        mode: Mode::Full,
        argv,
        program: if is_pm { program } else { None },
        cwd,
        env,
        landlock: view.landlock(),
        mounts: view.mounts,
        hidden,
        seccomp_deny,
        ids,
        home: ctx.home.clone(),
        project: ctx.project.clone(),
        manager: ctx.detected.manager,
        script,
        python,
        credentials: policy
            .fs
            .credential
            .iter()
            .map(|e| (e.value.resolve(&ctx.home), e.reason.clone()))
            .collect(),
        notes: view.notes,
        unhooked,
        lockfile: Vec::new(),
        approvals: is_pm.then(|| manager.approvals(ctx)),
        store: store_view,
        hook,
        before_run: view.creates,
    })
}

/// Variables a level-2 hook sets for the package manager: `(name, value)`.
type HookEnv = Vec<(&'static str, OsString)>;

/// Lifecycle scripts through the tool's `script-shell`: the tool's configuration moved to a
/// private file only level 1 reads, its program settings pinned, what each package is granted
/// shown in the view, and the level-2 plan the shim applies. `system_shell`: the file
/// safe-install stands in for when the tool runs scripts with `/bin/sh` itself.
fn script_shell_hook(
    policy: &Policy,
    ctx: &Context,
    hook: trust::Hook,
    view: &mut view::View,
    hidden: &mut Vec<Hidden>,
    system_shell: Option<&Path>,
) -> Result<(ScriptPlan, HookEnv), PlanError> {
    check_dependency_urls(&ctx.project, &ctx.argv)?;
    let mut hook = hook;
    // git fetches `git+https://` dependencies at level 1 with the caller's git credentials.
    let (git, git_notes) = trust::git_private_config(ctx);
    let carries_git = !git.env.is_empty();
    view.notes.extend(git_notes);
    hook.mounts.extend(git.mounts);
    hook.env.extend(git.env);
    for m in hook.mounts {
        if m.kind == MountKind::HideFile {
            hidden.push(Hidden {
                path: m.target.clone(),
                is_dir: false,
                rule: ".npmrc (moved to npm's private configuration)".into(),
            });
        }
        view.push(m.target, m.kind, m.why);
    }
    let mut trust_env = hook.env;
    // Settings that name a program, pinned for the tool and every copy of it it starts (the
    // nested `npm install` that prepares a git dependency reads that dependency's own .npmrc).
    for pin in ctx.detected.manager.program_pins(ctx)? {
        view.notes.push(pin.note);
        trust_env.push((pin.env, pin.value.into()));
    }
    // What one package is granted must be in the view; the level-2 layer then gives it to
    // that package's scripts only.
    for g in &policy.scripts.packages {
        let why = format!("granted to package {}: {}", g.value.name, g.reason);
        for p in &g.value.allow_read {
            view.add_ro(&p.resolve(&ctx.home), &why);
        }
        for p in &g.value.allow_write {
            // Created before the run when missing, as a cache is: the grant names a place the
            // package writes to (a download cache), which need not exist before its first run.
            let p = p.resolve(&ctx.home);
            // Inside the install tree (a generator's `node_modules/.prisma`) the view shows it
            // already; a mount point there would make `npm ci`'s removal of `node_modules`
            // fail (EBUSY). The script's shim creates it when missing.
            if p.starts_with(ctx.project.join("node_modules")) {
                continue;
            }
            view.add_rw_created(&p, &why);
        }
    }
    view.sort();
    let mut script = trust::script_plan(policy, ctx, &view.landlock());
    script.trees = view.trees.clone();
    if carries_git {
        script.drop_env.push(trust::GIT_CONFIG_VAR.into());
    }
    if let Some(shell) = system_shell {
        script.shell = trust::SYSTEM_SHELL_REAL.into();
        script.stands_in_for = Some(shell.to_path_buf());
    }
    let config = trust::config_mount(&script);
    view.push(config.target, config.kind, config.why);
    view.sort();
    Ok((script, trust_env))
}

/// pip and uv: credentials moved to a level-1-only configuration, safe-install mounted over
/// the interpreter files the package manager runs build backends with, and the shim's
/// configuration.
fn pip_hook(
    policy: &Policy,
    ctx: &Context,
    venv: Option<&Path>,
    view: &mut view::View,
    hidden: &mut Vec<Hidden>,
) -> (Option<PythonPlan>, Vec<(&'static str, OsString)>) {
    let found = ctx.detected.manager.interpreters(ctx, venv);
    let (shown, unseen): (Vec<PathBuf>, Vec<PathBuf>) =
        found.into_iter().partition(|p| view.visible(p));
    for p in unseen {
        view.notes.push(format!(
            "{}: pip's interpreter is not in the view; not hooked",
            p.display()
        ));
    }
    if shown.is_empty() {
        view.notes.push(
            "pip: no interpreter to hook; build backends run in pip's Landlock domain with its environment".into(),
        );
        return (None, Vec::new());
    }
    let frontend = ctx.detected.manager.python_frontend(ctx);
    let mut config = trust::pip_private_config(ctx);
    let mut level2_drop = Vec::new();
    if let Some(pm::PythonFrontend::Uv { .. }) = &frontend {
        let uv = trust::uv_private_config(ctx);
        // What points uv at its private configuration is nothing level 2 needs (outside the
        // sandbox these are unset or the caller's, which do not pass in).
        level2_drop.extend(uv.env.iter().map(|(k, _)| k.to_string()));
        config.mounts.extend(uv.mounts);
        config.env.extend(uv.env);
    }
    for m in config.mounts {
        if m.kind == MountKind::HideFile {
            hidden.push(Hidden {
                path: m.target.clone(),
                is_dir: false,
                rule: format!(
                    "{} (moved to the package manager's private configuration)",
                    m.target.display()
                ),
            });
        }
        view.push(m.target, m.kind, m.why);
    }
    let (mounts, interpreters) = trust::python_mounts(&shown);
    for m in mounts {
        view.push(m.target, m.kind, m.why);
    }
    let mut python = trust::python_plan(policy, ctx, &view.landlock(), venv, interpreters);
    python.frontend = frontend;
    python.level2.drop_env.extend(level2_drop);
    let m = trust::python_config_mount(&python);
    view.push(m.target, m.kind, m.why);
    view.sort();
    (Some(python), config.env)
}

/// Every client inside is pointed at the supervisor's proxy; nothing bypasses it for "local"
/// names, since inside, local is the sandbox itself. `package_manager`: see
/// [`NODE_ENV_PROXY`].
fn proxy_env(package_manager: bool) -> Vec<(&'static str, OsString)> {
    let url = OsString::from(crate::plan::addresses::proxy_url());
    let mut env: Vec<(&'static str, OsString)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "npm_config_proxy",
        "npm_config_https_proxy",
        "YARN_HTTP_PROXY",
        "YARN_HTTPS_PROXY",
        "PIP_PROXY",
    ]
    .into_iter()
    .map(|name| (name, url.clone()))
    .collect();
    for name in ["NO_PROXY", "no_proxy", "npm_config_noproxy"] {
        env.push((name, OsString::new()));
    }
    if !package_manager {
        env.push((trust::NODE_ENV_PROXY, "1".into()));
    }
    env
}

/// A project that is the home directory (or contains it, or is a system directory) would make
/// everything writable and visible; refuse rather than weaken.
fn check_project(ctx: &Context) -> Result<(), PlanError> {
    let p = &ctx.project;
    if p == Path::new("/") {
        return Err(PlanError::UnsafeProject(p.clone(), "the root directory"));
    }
    if ctx.home.starts_with(p) {
        return Err(PlanError::UnsafeProject(
            p.clone(),
            "your home directory or one of its parents",
        ));
    }
    for sys in [
        "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/proc", "/dev", "/sys",
    ] {
        if p == Path::new(sys) {
            return Err(PlanError::UnsafeProject(p.clone(), "a system directory"));
        }
    }
    Ok(())
}
