//! uv (`uv pip install`, `uv sync`, `uv add`, `uv lock`, `uvx`, …): recognition, the indexes in uv's
//! own configuration ([`config`]; uv reads neither pip.conf nor `PIP_*`), uv's default index
//! read from its executable ([`defaults`]), the environment it installs into, and trust level
//! 2 for its build backends.
//!
//! uv is its own build frontend: it runs each PEP 517 hook as `<build venv>/bin/python -c
//! <script>`, a child of uv, where the build venv (`<cache>/builds-v0/.tmpXXXX`) links its
//! `bin/python` to the base interpreter. safe-install's python shim is mounted over that
//! interpreter (as for pip), and under uv it keeps only uv's own uses of the interpreter at
//! level 1 — the interpreter query and the bytecode compiler, started by the trusted uv
//! executable — and starts every other python at level 2, writing only its own build
//! directories in uv's cache (`shim::python`).
//!
//! uv links installed files from its cache into the environment (`clone`, then `hardlink`,
//! then `copy` on Linux). Both fail with `EXDEV` between two mounts even on one filesystem,
//! and uv then copies everything with a warning: so the cache is a [`LinkedStore`] shown on
//! one mount with the environment (`plan::view`), and uv is pinned to it with
//! `--cache-dir` (which beats a project's `cache-dir` setting).

pub mod config;
pub mod defaults;

use super::{
    Bound, CaTrust, ConfigError, Context, CredentialKind, CredentialSetting, CredentialSettings,
    CredentialValue, Destination, Family, Level2, LinkedStore, PackageManager, ProjectFiles,
    PythonFrontend, Registries,
};
use crate::policy::ScriptsPolicy;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Files that mark a uv project root.
pub const MANIFESTS: &[&str] = &["pyproject.toml", "uv.toml", "uv.lock"];

/// Whether this command line runs uv: `uv`, or `uvx` (which execs the `uv` beside it as
/// `uv tool uvx …`, i.e. `uv tool run`).
pub fn recognise(program: &str) -> bool {
    matches!(program, "uv" | "uvx")
}

#[derive(Debug)]
pub struct Uv;

pub static UV: Uv = Uv;

impl Uv {
    /// The uv executable the sandbox runs (the ELF behind a wrapper script).
    fn executable(ctx: &Context) -> Option<PathBuf> {
        defaults::real_executable(ctx.resolved.program.as_deref()?)
    }
}

/// uv's cache as uv inside the sandbox finds it: `--cache-dir DIR`, else `UV_CACHE_DIR`, else
/// `~/.cache/uv` (`XDG_CACHE_HOME` does not pass into the sandbox, so uv there uses the
/// home's). A project's `cache-dir` setting is overridden ([`Uv::linked_store`]).
pub fn cache_dir(ctx: &Context) -> PathBuf {
    if let Some(v) = cache_dir_arg(&ctx.argv) {
        return ctx.cwd.join(v);
    }
    ctx.var("UV_CACHE_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| ctx.home.join(".cache/uv"))
}

/// The cache named on the command line (`--cache-dir DIR`, `--cache-dir=DIR`).
fn cache_dir_arg(argv: &[OsString]) -> Option<String> {
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        match a.strip_prefix("--cache-dir=") {
            Some(v) => return Some(v.to_string()),
            None if a == "--cache-dir" => return args.next().map(|v| v.into_owned()),
            None => {}
        }
    }
    None
}

/// The environment uv installs into: `VIRTUAL_ENV`, else `UV_PROJECT_ENVIRONMENT`, else the
/// nearest `.venv` from the working directory up (uv's own search), else the project's
/// `.venv` when it exists.
/// Whether the command changes uv's installed tools (`uv tool install`, `upgrade`,
/// `uninstall`): the first two words after the program, options aside.
fn tool_command(ctx: &Context) -> bool {
    let words: Vec<String> = super::command_words(&ctx.argv)
        .into_iter()
        .filter(|a| !a.starts_with('-'))
        .take(2)
        .collect();
    matches!(
        words.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ["tool", "install" | "upgrade" | "uninstall"]
    )
}

/// uv's tools directory (`UV_TOOL_DIR`, else `$XDG_DATA_HOME/uv/tools`, else
/// `~/.local/share/uv/tools`) and its executables directory (`UV_TOOL_BIN_DIR`, else
/// `XDG_BIN_HOME`, else `$XDG_DATA_HOME/../bin`, else `~/.local/bin`), as `uv-dirs` finds them.
fn tool_dirs(ctx: &Context) -> (PathBuf, PathBuf) {
    let abs = |name: &str| ctx.var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let data = abs("XDG_DATA_HOME");
    let tools = abs("UV_TOOL_DIR").unwrap_or_else(|| {
        data.clone()
            .unwrap_or_else(|| ctx.home.join(".local/share"))
            .join("uv/tools")
    });
    let bin = abs("UV_TOOL_BIN_DIR")
        .or_else(|| abs("XDG_BIN_HOME"))
        .or_else(|| {
            data.as_ref()
                .and_then(|d| d.parent())
                .map(|p| p.join("bin"))
        })
        .unwrap_or_else(|| ctx.home.join(".local/bin"));
    (tools, bin)
}

fn target_env(ctx: &Context) -> Option<PathBuf> {
    candidate_envs(ctx).into_iter().next()
}

/// Every environment uv may install into or build for, in [`target_env`]'s order: which one
/// it takes depends on the subcommand (`uv sync` ignores `VIRTUAL_ENV` without `--active`),
/// and standing in for the interpreters of each is the stricter choice.
fn candidate_envs(ctx: &Context) -> Vec<PathBuf> {
    let nearest = ctx
        .cwd
        .ancestors()
        .map(|d| d.join(".venv"))
        .find(|v| v.join("pyvenv.cfg").is_file());
    let named = [
        ctx.var("VIRTUAL_ENV").map(PathBuf::from),
        ctx.var("UV_PROJECT_ENVIRONMENT")
            .map(|v| ctx.project.join(v)),
        nearest,
    ];
    let mut out: Vec<PathBuf> = Vec::new();
    for env in named.into_iter().flatten() {
        if env.join("pyvenv.cfg").is_file() && !out.contains(&env) {
            out.push(env);
        }
    }
    out
}

/// The interpreter requests uv reads for this run, each with where it comes from and the
/// directory a relative path in it is relative to: `--python`/`-p` on the command line,
/// `UV_PYTHON`, and the lines of the nearest `.python-versions` or `.python-version` from the
/// working directory up and of the user's `~/.config/uv/.python-version` (uv inside gets no
/// `XDG_CONFIG_HOME`).
fn interpreter_requests(ctx: &Context) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    let mut args = ctx.argv.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        let value = match (a.strip_prefix("--python="), a.as_str()) {
            (Some(v), _) => Some(v.to_string()),
            (None, "--python" | "-p") => args.next(),
            _ => None,
        };
        out.extend(value.map(|v| (v, "the command line".to_string(), ctx.cwd.clone())));
    }
    out.extend(ctx.var("UV_PYTHON").map(|v| {
        (
            v.to_string_lossy().into_owned(),
            "UV_PYTHON".into(),
            ctx.cwd.clone(),
        )
    }));
    let nearest = ctx.cwd.ancestors().find_map(|d| {
        [".python-versions", ".python-version"]
            .iter()
            .map(|f| d.join(f))
            .find(|f| f.is_file())
    });
    let user = Some(ctx.home.join(".config/uv/.python-version")).filter(|f| f.is_file());
    for file in nearest.into_iter().chain(user) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| (l.to_string(), file.display().to_string(), dir.clone())),
        );
    }
    out
}

/// The file a request names, canonical: a path (with a `/`), or an executable name uv looks
/// up in its search path ([`search_dirs`]). A version or implementation request (`3.12`,
/// `pypy@3.10`) names no file.
fn requested_file(ctx: &Context, value: &str, base: &Path) -> Option<PathBuf> {
    requested_path(ctx, value, base)
        .and_then(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.is_file())
}

/// [`requested_file`] before it is made canonical: the environment it lies in counts.
fn requested_path(ctx: &Context, value: &str, base: &Path) -> Option<PathBuf> {
    if value.contains('/') {
        // A directory is an environment or installation: uv runs its `bin/python`.
        let path = base.join(value);
        Some(if path.is_dir() {
            path.join("bin/python")
        } else {
            path
        })
    } else if value.is_empty() || value == "." || value == ".." {
        None
    } else {
        search_dirs(ctx)
            .into_iter()
            .map(|d| d.join(value))
            .find(|p| p.is_file())
    }
}

/// Interpreter files the requests name ([`interpreter_requests`]), not canonical, and the
/// environments they lie in (an environment's base is where uv makes build environments
/// from, see [`crate::pm::pip::venv_home`]).
fn named_pythons(ctx: &Context) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let files: Vec<PathBuf> = interpreter_requests(ctx)
        .into_iter()
        .filter_map(|(value, _, base)| requested_path(ctx, &value, &base))
        .collect();
    let envs = files
        .iter()
        .filter_map(|f| crate::pm::pip::venv_of(f))
        .collect();
    (files, envs)
}

/// The directories uv searches for interpreters: the trusted `PATH`, and
/// `UV_PYTHON_SEARCH_PATH`, which passes in with uv's other settings and replaces `PATH` for
/// uv's search.
fn search_dirs(ctx: &Context) -> Vec<PathBuf> {
    ctx.trusted_path()
        .into_iter()
        .chain(
            ctx.var("UV_PYTHON_SEARCH_PATH")
                .map(OsString::as_os_str)
                .filter(|v| !v.is_empty()),
        )
        .flat_map(std::env::split_paths)
        .filter(|d| d.is_absolute())
        .collect()
}

/// Every interpreter (`python3`, `python3.X`, `pypy3`, …) in `dirs`: uv picks one of those
/// on its search path ([`search_dirs`]) when no environment is named, and any may become a
/// build venv's base, as may one in an environment's home. A directory named twice (merged
/// /usr: `/bin` and `/usr/bin`, a thousand entries; a venv's home that is also on `PATH`) is
/// read once: this runs before every uv sandbox starts.
fn pythons_in(dirs: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut read = std::collections::HashSet::new();
    for dir in dirs {
        let Ok(canonical) = std::fs::canonicalize(&dir) else {
            continue;
        };
        if !read.insert(canonical) {
            continue;
        }
        out.extend(crate::pm::pip::interpreter_names_in(&dir));
    }
    out
}

/// The interpreters uv installed itself (`uv python install`): every interpreter file in each
/// installation's `bin/` under `UV_PYTHON_INSTALL_DIR` and `~/.local/share/uv/python` (uv
/// inside gets no `XDG_DATA_HOME`, so that is where it looks). uv prefers them to the
/// system's (`python-preference = managed`, its default), the base policy shows that
/// directory, and a project without a `.venv` gets one made from them.
fn managed_pythons(ctx: &Context) -> Vec<PathBuf> {
    let mut roots = vec![ctx.home.join(".local/share/uv/python")];
    roots.extend(
        ctx.var("UV_PYTHON_INSTALL_DIR")
            .map(|v| ctx.cwd.join(v))
            .filter(|p| !roots.contains(p)),
    );
    roots
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|entries| entries.flatten())
        .flat_map(|e| crate::pm::pip::interpreter_names_in(&e.path().join("bin")))
        .collect()
}

/// What uv's configuration is read from, for this run.
fn uv_sources(ctx: &Context) -> config::UvSources {
    config::UvSources {
        env: ctx
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
            .collect(),
        home: ctx.home.clone(),
        cwd: ctx.cwd.clone(),
        args: ctx
            .argv
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        root: PathBuf::new(),
    }
}

impl PackageManager for Uv {
    fn family(&self) -> Family {
        Family::Pip
    }

    fn name(&self) -> &'static str {
        "uv"
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        crate::policy::builtin::UV
    }

    fn manifests(&self) -> &'static [&'static str] {
        MANIFESTS
    }

    /// uv (`find_workspace`): the first ancestor holding a `pyproject.toml` decides: the
    /// workspace root when its `[tool.uv.workspace]` lists the project among its `members`
    /// and not in `exclude`, else none.
    fn workspace_root(&self, ctx: &Context) -> Option<PathBuf> {
        let dir = ctx
            .project
            .ancestors()
            .skip(1)
            .find(|d| d.join("pyproject.toml").is_file())?;
        let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
        let table: toml::Table = toml::from_str(&text).ok()?;
        let ws = table.get("tool")?.get("uv")?.get("workspace")?;
        let list = |key: &str| -> Vec<String> {
            ws.get(key)
                .and_then(toml::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Exclusions last: the last pattern that matches decides, and `exclude` wins in uv.
        let mut patterns = list("members");
        patterns.extend(list("exclude").into_iter().map(|p| format!("!{p}")));
        crate::pm::workspace::is_member(dir, &ctx.project, &patterns).then(|| dir.to_path_buf())
    }

    /// uv then acts on that directory's project: its configuration and its `.venv`.
    fn directory_options(&self) -> &'static [&'static str] {
        &["--directory", "--project"]
    }

    fn directory_variables(&self) -> &'static [&'static str] {
        &["UV_WORKING_DIR", "UV_PROJECT"]
    }

    /// `uv tool install`, `upgrade`, `uninstall`: the tools and executables directories.
    fn home_destinations(&self, ctx: &Context) -> Vec<Destination> {
        if !tool_command(ctx) {
            return Vec::new();
        }
        let (tools, bin) = tool_dirs(ctx);
        vec![
            Destination {
                path: tools,
                why: "uv tool: the tools' environments, for uv only".into(),
                install_tree: false,
            },
            Destination {
                path: bin,
                why: "uv tool: the tools' executables, for uv only".into(),
                install_tree: false,
            },
        ]
    }

    fn install_target(&self, ctx: &Context) -> Option<PathBuf> {
        target_env(ctx)
    }

    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError> {
        let src = uv_sources(ctx);
        let configured = config::discover(&src)?.finish(|| {
            let uv = Self::executable(ctx).ok_or_else(|| config::UvConfError::DefaultUnknown {
                detail: "the uv executable behind the command could not be found".into(),
            })?;
            // The target environment's own python first (its pip, when it has one), then
            // the interpreters it and PATH lead to.
            let venv = target_env(ctx);
            let pythons: Vec<PathBuf> = venv
                .iter()
                .map(|v| v.join("bin/python"))
                .chain(self.interpreters(ctx, venv.as_deref()))
                .collect();
            defaults::uv_defaults(&uv, &pythons, &ctx.home)
        })?;
        let rules = configured.rules().map_err(|source| ConfigError::Rule {
            rule: "uv index".into(),
            source_name: "uv configuration".into(),
            source,
        })?;
        let local_paths = configured
            .local
            .iter()
            .map(|(p, origin)| (p.clone(), format!("uv index or find-links from {origin}")))
            .collect();
        Ok(Registries { rules, local_paths })
    }

    /// As under pip: a build names itself from the sdist it unpacked, which is the
    /// attacker's to write (uv.lock names the package, not which build step is which).
    fn bind_grants(
        &self,
        scripts: &mut ScriptsPolicy,
        _ctx: &Context,
        _from_registry: &dyn Fn(&url::Url) -> bool,
    ) -> Bound {
        crate::pm::pip::no_grants_for_builds(scripts, "uv")
    }

    fn level2(&self, _ctx: &Context) -> Level2 {
        Level2::PythonShim
    }

    /// A requested interpreter whose file is not named as an interpreter is: uv would run it
    /// (an executable name or a path in `--python`, `UV_PYTHON` or `.python-version`), and
    /// the python shim, mounted over it, would not answer to that name.
    fn unhookable_interpreter(&self, ctx: &Context) -> Option<super::UnhookableInterpreter> {
        use std::os::unix::ffi::OsStrExt;
        interpreter_requests(ctx)
            .into_iter()
            .find_map(|(asked, by, base)| {
                let file = requested_file(ctx, &asked, &base)?;
                let name = file.file_name()?.as_bytes();
                (!crate::pm::pip::is_interpreter_name(name))
                    .then_some(super::UnhookableInterpreter { asked, by, file })
            })
    }

    /// The interpreters uv may run build backends with: each candidate environment's
    /// ([`candidate_envs`]) and its base's, those named by `--python`/`UV_PYTHON` (with
    /// their environment's base), those uv installed itself, and every interpreter on the
    /// trusted `PATH` (canonical, deduplicated). A build venv's `bin/python` links to one of
    /// these.
    fn interpreters(&self, ctx: &Context, venv: Option<&Path>) -> Vec<PathBuf> {
        let (named, named_envs) = named_pythons(ctx);
        let mut envs = candidate_envs(ctx);
        for env in venv.map(Path::to_path_buf).into_iter().chain(named_envs) {
            if !envs.contains(&env) {
                envs.push(env);
            }
        }
        let mut found = Vec::new();
        for env in &envs {
            found.extend(crate::pm::pip::interpreters(
                None,
                Some(env),
                ctx.trusted_path(),
            ));
        }
        let homes = envs.iter().filter_map(|e| crate::pm::pip::venv_home(e));
        found.extend(
            named
                .into_iter()
                .chain(managed_pythons(ctx))
                .chain(pythons_in(homes.chain(search_dirs(ctx))))
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .filter(|p| p.is_file()),
        );
        found.sort();
        found.dedup();
        found
    }

    /// The cache, on one mount with the environment uv links into: an existing target
    /// environment outside the project alone (the project need not share the mount); else
    /// the project, which holds `.venv` (and the environment itself when it is there, since
    /// its own bind would split the mount).
    fn linked_store(&self, ctx: &Context) -> Option<LinkedStore> {
        let dir = cache_dir(ctx);
        let venv = target_env(ctx).map(|v| std::fs::canonicalize(&v).unwrap_or(v));
        let mut into = match venv {
            Some(v) if !v.starts_with(&ctx.project) => vec![v],
            Some(v) => vec![ctx.project.clone(), v],
            None => vec![ctx.project.clone()],
        };
        // A tool's environment links from the cache too.
        if tool_command(ctx) {
            into.push(tool_dirs(ctx).0);
        }
        let mut args = Vec::new();
        let mut notes = Vec::new();
        if cache_dir_arg(&ctx.argv).is_none() {
            let mut arg = OsString::from("--cache-dir=");
            arg.push(&dir);
            args.push(arg);
            if let Some(set) = ["uv.toml", "pyproject.toml"].iter().find(|f| {
                std::fs::read_to_string(ctx.project.join(f)).is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.trim_start().starts_with("cache-dir") && l.contains('='))
                })
            }) {
                notes.push(format!(
                    "the project's {set} names a uv cache: overridden by --cache-dir={} (a project file does not choose a read-write place)",
                    dir.display()
                ));
            }
        }
        Some(LinkedStore {
            what: "uv's cache",
            dir,
            into,
            args,
            why: "uv's cache, on one mount with the environment: uv links installed files from it"
                .into(),
            notes,
        })
    }

    fn python_frontend(&self, ctx: &Context) -> Option<PythonFrontend> {
        Some(PythonFrontend::Uv {
            executable: Self::executable(ctx),
            cache: cache_dir(ctx),
        })
    }

    fn project_files(&self, project: &Path, _cwd: &Path, _argv: &[OsString]) -> ProjectFiles {
        let first = |names: &[&str]| names.iter().map(|n| project.join(n)).find(|p| p.is_file());
        ProjectFiles {
            lock: first(&["uv.lock", "requirements.txt"]),
            manifest: first(&["pyproject.toml"]),
        }
    }

    fn ca_trust(&self) -> CaTrust {
        CaTrust::Uv
    }

    /// A named index's password from `UV_INDEX_<NAME>_PASSWORD`, bound to that index's host
    /// (uv sends it to the index and its files there). Credentials in URLs, netrc and uv's
    /// files the seal reads itself.
    fn credential_settings(&self, ctx: &Context) -> Result<CredentialSettings, ConfigError> {
        let src = uv_sources(ctx);
        let configured = config::discover(&src)?;
        let mut out = CredentialSettings::default();
        for (name, url) in configured.named {
            let var = config::index_variable(&name, "PASSWORD");
            if src.env.get(&var).is_none_or(|v| v.is_empty()) {
                continue;
            }
            let mut realm = url.clone();
            realm.set_path("/");
            out.settings.push(CredentialSetting {
                source: format!("uv's password for index `{name}`"),
                file: None,
                key: "",
                kind: CredentialKind::Password,
                value: CredentialValue::Variable(var),
                registries: vec![realm],
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_install_keeps_the_tools_and_executables_directories() {
        let d = Path::new("/d");
        let dests = |argv: &[&str], env: &[(&str, &str)]| -> Vec<PathBuf> {
            Uv.home_destinations(&ctx(d, argv, env))
                .into_iter()
                .map(|x| x.path)
                .collect()
        };
        let local = vec![
            d.join("home/.local/share/uv/tools"),
            d.join("home/.local/bin"),
        ];
        assert_eq!(dests(&["uv", "tool", "install", "ruff"], &[]), local);
        assert_eq!(
            dests(&["uv", "--offline", "tool", "upgrade", "--all"], &[]),
            local
        );
        assert_eq!(dests(&["uv", "tool", "uninstall", "ruff"], &[]), local);
        assert!(dests(&["uv", "tool", "run", "ruff"], &[]).is_empty());
        assert!(dests(&["uv", "sync"], &[]).is_empty());
        assert!(dests(&["uvx", "ruff"], &[]).is_empty());
        assert_eq!(
            dests(
                &["uv", "tool", "install", "x"],
                &[("XDG_DATA_HOME", "/xd/share")]
            ),
            vec![
                PathBuf::from("/xd/share/uv/tools"),
                PathBuf::from("/xd/bin")
            ]
        );
        assert_eq!(
            dests(
                &["uv", "tool", "install", "x"],
                &[
                    ("UV_TOOL_DIR", "/t"),
                    ("UV_TOOL_BIN_DIR", "/b"),
                    ("XDG_BIN_HOME", "/x")
                ]
            ),
            vec![PathBuf::from("/t"), PathBuf::from("/b")]
        );
        assert_eq!(
            dests(&["uv", "tool", "install", "x"], &[("XDG_BIN_HOME", "/x")])[1],
            PathBuf::from("/x")
        );
        // The tools' environments link from uv's cache: on its mount.
        let store = Uv
            .linked_store(&ctx(d, &["uv", "tool", "install", "x"], &[]))
            .expect("store");
        assert!(
            store.into.contains(&d.join("home/.local/share/uv/tools")),
            "{:?}",
            store.into
        );
    }

    fn ctx(dir: &Path, argv: &[&str], env: &[(&str, &str)]) -> Context {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        Context {
            resolved: Default::default(),
            detected: crate::pm::detect(&argv),
            argv,
            env: env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            cwd: dir.join("p/sub"),
            home: dir.join("home"),
            project: dir.join("p"),
            uid: 1,
            gid: 1,
        }
    }

    #[test]
    fn a_requested_interpreter_not_named_as_one_is_unhookable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("bin")).expect("mkdir");
        std::fs::create_dir_all(d.join("p/sub")).expect("mkdir");
        for name in ["mypython", "python3.12"] {
            std::fs::write(d.join("bin").join(name), "").expect("write");
        }
        let path = d.join("bin");
        let search = [("UV_PYTHON_SEARCH_PATH", path.to_str().expect("utf-8"))];
        let asked = |argv: &[&str], env: &[(&str, &str)]| {
            Uv.unhookable_interpreter(&ctx(d, argv, env))
                .map(|u| (u.asked, u.by, u.file))
        };
        // By name through uv's search path, by path, by UV_PYTHON.
        assert_eq!(
            asked(&["uv", "sync", "--python", "mypython"], &search),
            Some((
                "mypython".into(),
                "the command line".into(),
                path.join("mypython")
            ))
        );
        let by_path = path.join("mypython");
        assert_eq!(
            asked(&["uv", "sync", "-p", by_path.to_str().expect("utf-8")], &[]).map(|a| a.2),
            Some(by_path.clone())
        );
        let env = [search[0], ("UV_PYTHON", "mypython")];
        assert_eq!(
            asked(&["uv", "sync"], &env).map(|a| a.1),
            Some("UV_PYTHON".into())
        );
        // Interpreter names and version requests are fine, and the former are hooked.
        for ok in ["python3.12", "3.12", "pypy@3.10", "cpython3.12"] {
            assert_eq!(
                asked(&["uv", "sync", "--python", ok], &search),
                None,
                "{ok}"
            );
        }
        let c = ctx(d, &["uv", "sync", "--python", "python3.12"], &search);
        assert_eq!(named_pythons(&c).0, [path.join("python3.12")]);
        // The nearest .python-version from the working directory up.
        std::fs::write(d.join("p/.python-version"), "# pinned\nmypython\n").expect("write");
        assert_eq!(
            asked(&["uv", "sync"], &search).map(|a| a.1),
            Some(d.join("p/.python-version").display().to_string())
        );
    }

    #[test]
    fn a_venvs_base_interpreters_are_hooked_with_it() {
        // `python -m venv --copies`: the environment's python is a copy; uv builds with the
        // base its pyvenv.cfg names (`home`, here relative, with the key in capitals).
        let dir = tempfile::tempdir().expect("tempdir");
        let d = std::fs::canonicalize(dir.path()).expect("canonical");
        crate::pm::test_fixtures::write_files(
            &d,
            &[
                ("base/bin/python3.12", ""),
                ("base/bin/python3.11", ""),
                ("base/bin/pip", ""),
                ("p/.venv/bin/python", ""),
                ("p/.venv/pyvenv.cfg", "HOME = ../../base/bin\n"),
            ],
        );
        // A link is stood in for by its target (safe-install is mounted over files).
        std::os::unix::fs::symlink("python3.12", d.join("base/bin/python3")).expect("link");
        std::fs::create_dir_all(d.join("p/sub")).expect("mkdir");
        let venv = d.join("p/.venv");
        let base = [d.join("base/bin/python3.11"), d.join("base/bin/python3.12")];
        let found = Uv.interpreters(&ctx(&d, &["uv", "sync"], &[]), Some(&venv));
        for f in base.iter().chain([&venv.join("bin/python")]) {
            assert!(found.contains(f), "{} not in {found:?}", f.display());
        }
        for f in ["base/bin/pip", "base/bin/python3"] {
            assert!(!found.contains(&d.join(f)), "{f} in {found:?}");
        }
        // Another environment active: `uv sync` still syncs the project's.
        std::fs::create_dir_all(d.join("active/bin")).expect("mkdir");
        std::fs::write(d.join("active/pyvenv.cfg"), "home = /nowhere\n").expect("write");
        let active = d.join("active");
        let c = ctx(
            &d,
            &["uv", "sync"],
            &[("VIRTUAL_ENV", active.to_str().expect("utf-8"))],
        );
        assert_eq!(candidate_envs(&c), [active.clone(), venv.clone()]);
        let found = Uv.interpreters(&c, Some(&active));
        for f in &base {
            assert!(found.contains(f), "{} not in {found:?}", f.display());
        }
        // Another environment, outside the project, asked for by --python, as a directory
        // and as its python.
        crate::pm::test_fixtures::write_files(
            &d,
            &[("base2/bin/python3.13", ""), ("other/bin/python", "")],
        );
        let home = format!("home = {}\n", d.join("base2/bin").display());
        std::fs::write(d.join("other/pyvenv.cfg"), home).expect("write");
        let other = d.join("other");
        for asked in [other.clone(), other.join("bin/python")] {
            let argv = [
                "uv",
                "pip",
                "install",
                "--python",
                asked.to_str().expect("utf-8"),
            ];
            let found = Uv.interpreters(&ctx(&d, &argv, &[]), None);
            let want = d.join("base2/bin/python3.13");
            assert!(found.contains(&want), "{} not in {found:?}", want.display());
        }
    }

    #[test]
    fn uvs_own_search_path_is_searched_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("opt/py/bin")).expect("mkdir");
        std::fs::write(d.join("opt/py/bin/python3.13t"), "").expect("write");
        let search = d.join("opt/py/bin");
        let c = ctx(
            d,
            &["uv", "sync"],
            &[("UV_PYTHON_SEARCH_PATH", search.to_str().expect("utf-8"))],
        );
        assert_eq!(pythons_in(search_dirs(&c)), [search.join("python3.13t")]);
    }

    #[test]
    fn a_directory_on_path_twice_is_read_once() {
        // Merged /usr: `/bin` is a link to `usr/bin`, and a PATH names both.
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("usr/bin")).expect("mkdir");
        for name in ["python3", "python3.11", "pythonista", "env"] {
            std::fs::write(d.join("usr/bin").join(name), "").expect("write");
        }
        std::os::unix::fs::symlink("usr/bin", d.join("bin")).expect("link");
        let mut c = ctx(d, &["uv", "sync"], &[]);
        let path = std::env::join_paths([d.join("usr/bin"), d.join("bin")]).expect("join");
        c.resolved.path = Some(path);
        assert_eq!(
            pythons_in(search_dirs(&c)),
            vec![d.join("usr/bin/python3"), d.join("usr/bin/python3.11")]
        );
    }

    #[test]
    fn the_cache_is_where_uv_inside_looks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        assert_eq!(
            cache_dir(&ctx(d, &["uv", "sync"], &[])),
            d.join("home/.cache/uv")
        );
        assert_eq!(
            cache_dir(&ctx(d, &["uv", "sync"], &[("UV_CACHE_DIR", "/c/uv")])),
            PathBuf::from("/c/uv")
        );
        assert_eq!(
            cache_dir(&ctx(
                d,
                &["uv", "--cache-dir", "c", "sync"],
                &[("UV_CACHE_DIR", "/c/uv")]
            )),
            d.join("p/sub/c")
        );
    }

    #[test]
    fn no_grant_applies_to_a_build_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = crate::policy::Policy::default();
        p.add_layer(
            "g.toml",
            "[[package]]\nname = \"numpy\"\nallow-hosts = [\"downloads.example.com:443\"]\nreason = \"x\"\n",
        )
        .expect("policy");
        let c = ctx(dir.path(), &["uv", "sync"], &[]);
        let bound = UV.bind_grants(&mut p.scripts, &c, &|_| true);
        assert!(p.scripts.packages.is_empty());
        assert!(bound
            .notes
            .iter()
            .any(|n| n.contains("numpy") && n.contains("under uv")));
    }

    #[test]
    fn the_target_is_the_nearest_venv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("p/sub")).expect("mkdir");
        std::fs::create_dir_all(d.join("p/.venv")).expect("mkdir");
        assert_eq!(target_env(&ctx(d, &["uv", "sync"], &[])), None);
        std::fs::write(d.join("p/.venv/pyvenv.cfg"), "home = /usr/bin\n").expect("write");
        assert_eq!(
            target_env(&ctx(d, &["uv", "sync"], &[])),
            Some(d.join("p/.venv"))
        );
        assert_eq!(
            named_pythons(&ctx(
                d,
                &["uv", "pip", "install", "--python", "/usr/bin/python3", "x"],
                &[("UV_PYTHON", "3.11")]
            ))
            .0,
            [PathBuf::from("/usr/bin/python3")]
        );
    }

    /// `uv pip install x` in the plan fixtures' tree, the project in the home, with the base
    /// and uv policies and the environment `env`.
    fn uv_plan(
        env: impl Fn(&Path) -> Vec<(OsString, OsString)>,
        venv: impl Fn(&Context) -> PathBuf,
    ) -> (tempfile::TempDir, Context, PathBuf, crate::plan::Plan) {
        let (dir, mut ctx) =
            crate::plan::test_fixtures::npm_ci(crate::plan::test_fixtures::Project::InHome);
        ctx.argv = ["uv", "pip", "install", "x"].map(OsString::from).to_vec();
        ctx.detected = crate::pm::detect(&ctx.argv);
        // The build steps' interpreter is found in the trusted PATH.
        ctx.resolved.path = Some("/usr/bin:/bin".into());
        let venv = venv(&ctx);
        std::fs::create_dir_all(venv.join("lib")).expect("mkdir venv");
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").expect("write");
        std::fs::create_dir_all(ctx.project.join("src")).expect("mkdir src");
        ctx.env.extend(env(&venv));
        let mut policy = crate::policy::Policy::default();
        policy
            .add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        let (name, text) = crate::policy::builtin::UV;
        policy.add_layer(name, text).expect("uv policy");
        let plan = crate::plan::build(&policy, &ctx, &crate::plan::Mode::Full).expect("plan");
        (dir, ctx, venv, plan)
    }

    /// The shared mount's invariants: one read-write bind at the nearest common directory,
    /// nothing between it and the places that splits it, every place read-write for uv and
    /// none for its build steps.
    fn assert_one_mount(plan: &crate::plan::Plan, ends: &[&Path]) -> PathBuf {
        use crate::plan::MountKind;
        let carrier = ends[0]
            .ancestors()
            .find(|a| ends.iter().all(|e| e.starts_with(a)))
            .expect("common ancestor")
            .to_path_buf();
        let store = plan.store.as_ref().expect("a linked store");
        assert_eq!(store.carrier.as_ref(), Some(&carrier));
        assert!(plan
            .mounts
            .iter()
            .any(|m| m.target == carrier && m.kind == MountKind::BindRw(carrier.clone())));
        for m in &plan.mounts {
            let splits = m.target.starts_with(&carrier)
                && m.target != carrier
                && ends.iter().any(|e| e.starts_with(&m.target));
            assert!(!splits, "{} splits the shared mount", m.target.display());
        }
        for e in ends {
            assert!(plan.landlock.write.contains(&e.to_path_buf()), "{e:?}");
        }
        assert!(!plan.landlock.write.contains(&carrier));
        let python = plan.python.as_ref().expect("level 2 for build steps");
        for e in ends {
            assert!(
                !python.level2.write.iter().any(|w| e.starts_with(w)),
                "{e:?}"
            );
        }
        carrier
    }

    #[test]
    fn the_cache_and_a_venv_outside_the_project_share_one_mount() {
        let (_dir, ctx, venv, plan) = uv_plan(
            |v| vec![("VIRTUAL_ENV".into(), v.as_os_str().to_owned())],
            |ctx| ctx.home.join("venvs/tool"),
        );
        let cache = ctx.home.join(".cache/uv");
        let carrier = assert_one_mount(&plan, &[&cache, &venv]);
        assert_eq!(carrier, ctx.home);
        let find = |p: &Path| plan.mounts.iter().find(|m| m.target == p).map(|m| &m.kind);
        // The project keeps its own bind; what else the home holds is covered.
        assert_eq!(
            find(&ctx.project),
            Some(&crate::plan::MountKind::BindRw(ctx.project.clone()))
        );
        assert_eq!(
            find(&ctx.home.join(".ssh")),
            Some(&crate::plan::MountKind::Tmpfs)
        );
        assert!(!cache.exists(), "planning creates nothing");
        assert_eq!(
            plan.argv[1],
            OsString::from(format!("--cache-dir={}", cache.display()))
        );
        let frontend = plan.python.as_ref().and_then(|p| p.frontend.clone());
        assert!(
            matches!(frontend, Some(PythonFrontend::Uv { cache: c, .. }) if c == cache),
            "the build steps' cache is the one uv is pinned to"
        );
    }

    #[test]
    fn a_venv_in_the_project_is_shown_by_the_projects_share_of_the_mount() {
        let (_dir, ctx, venv, plan) = uv_plan(|_| Vec::new(), |ctx| ctx.project.join(".venv"));
        let cache = ctx.home.join(".cache/uv");
        assert_one_mount(&plan, &[&cache, &ctx.project, &venv]);
        let find = |p: &Path| plan.mounts.iter().find(|m| m.target == p).map(|m| &m.kind);
        // The project's own files are not covered; its hidden files still are.
        assert_eq!(find(&ctx.project.join("src")), None);
        assert_eq!(
            find(&ctx.project.join(".env")),
            Some(&crate::plan::MountKind::HideFile)
        );
    }

    #[test]
    fn a_cache_named_on_the_command_line_is_not_pinned_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ctx(dir.path(), &["uv", "--cache-dir", "/c", "sync"], &[]);
        let store = UV.linked_store(&c).expect("store");
        assert!(store.args.is_empty());
        assert_eq!(store.dir, PathBuf::from("/c"));
        assert_eq!(store.into, [dir.path().join("p")]);
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        std::fs::write(dir.path().join("p/uv.toml"), "cache-dir = \"/x\"\n").expect("write");
        let c = ctx(dir.path(), &["uv", "sync"], &[]);
        let store = UV.linked_store(&c).expect("store");
        assert_eq!(
            store.args,
            [OsString::from(format!(
                "--cache-dir={}",
                dir.path().join("home/.cache/uv").display()
            ))]
        );
        assert!(store.notes.iter().any(|n| n.contains("uv.toml")));
    }
}
