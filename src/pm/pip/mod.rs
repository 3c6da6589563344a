//! pip (`pip`, `pip3.11`, `python -m pip`): recognition, the indexes in pip's
//! configuration ([`config`]), the Python environment an install writes to, the interpreter
//! pip runs as (safe-install stands in for it so that build backends start at trust
//! level 2).

pub mod config;
pub mod defaults;
mod requirements;

use super::{
    Bound, CaTrust, ConfigError, Context, Destination, Family, Level2, PackageManager,
    ProjectFiles, Registries,
};
use crate::policy::ScriptsPolicy;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Files that mark a Python project root.
pub const MANIFESTS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
];

/// Whether this command line runs pip: `pip`, `pip3.11`, or `python… -m pip` (interpreter
/// options before `-m` allowed). uv is its own package manager (`pm::uv`).
pub fn recognise(program: &str, args: &[OsString]) -> bool {
    if is_versioned(program, "pip") {
        return true;
    }
    if is_versioned(program, "python") {
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "-m" {
                return it.next().is_some_and(|m| m == "pip");
            }
            if arg.to_string_lossy().starts_with("-m") {
                return arg == "-mpip";
            }
            if !arg.to_string_lossy().starts_with('-') {
                return false;
            }
        }
    }
    false
}

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

/// The environment `file` lies in as `<env>/bin/<name>`, where `<env>/pyvenv.cfg` exists.
pub(crate) fn venv_of(file: &Path) -> Option<PathBuf> {
    let bin = file
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "bin"))?;
    let env = bin.parent()?;
    env.join("pyvenv.cfg").is_file().then(|| env.to_path_buf())
}

/// The value of `key` in a virtualenv's `pyvenv.cfg`, read as Python reads it (`key = value`
/// lines, the key compared without case).
pub(crate) fn pyvenv_value(venv: &Path, key: &str) -> Option<String> {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().to_string())
    })
}

/// Where the installation a virtualenv was made from keeps its interpreters: the directory
/// its `pyvenv.cfg` names as `home` (relative to the environment when relative), canonical.
/// Python takes its base executable from there (`sys._base_executable`), and uv makes its
/// build environments from that base; with `python -m venv --copies` the environment's own
/// `bin/python` is a copy, and the base is a file of its own.
pub(crate) fn venv_home(venv: &Path) -> Option<PathBuf> {
    pyvenv_value(venv, "home")
        .filter(|h| !h.is_empty())
        .and_then(|h| std::fs::canonicalize(venv.join(h)).ok())
}

/// The environments whose `pip.conf` may be pip's site file (`<sys.prefix>/pip.conf` of
/// the interpreter pip runs as), lowest precedence first: `VIRTUAL_ENV`, the environment
/// holding the pip program (`<env>/bin/pip` run without activating it, as CI does), and the
/// one pip's `--python` names. pip reads one of them; safe-install reads and covers each,
/// the stricter choice.
pub fn site_envs(ctx: &Context) -> Vec<PathBuf> {
    let mut out = base_site_envs(ctx);
    let python = python_option(ctx).and_then(|(v, _)| python_option_file(ctx, &v));
    if let Some(env) = python.and_then(|f| venv_of(&f)) {
        if !out.contains(&env) {
            out.push(env);
        }
    }
    out
}

/// [`site_envs`] but the one `--python` names, which is itself read from configuration.
fn base_site_envs(ctx: &Context) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ctx
        .var("VIRTUAL_ENV")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(env) = target_venv(ctx.resolved.program.as_deref(), None) {
        if !out.contains(&env) {
            out.push(env);
        }
    }
    out
}

/// pip's `--python` (pip 22.3 and later): pip starts again as that interpreter, which then
/// runs its build backends. The value as written and where it was read: the command line
/// (`--python X`, `--python=X`, or an abbreviation optparse accepts, `--py` and longer; pip
/// acts on it only before the subcommand, and reading it anywhere is the stricter choice),
/// else `PIP_PYTHON`, else `python` in the `[global]` section of pip's configuration files
/// (the last file that sets it). Empty values are ignored, as pip ignores them.
pub(crate) fn python_option(ctx: &Context) -> Option<(String, String)> {
    let is_option = |name: &str| name.len() >= 4 && "--python".starts_with(name);
    let mut args = ctx.argv.iter().skip(1).map(|a| a.to_string_lossy());
    let mut given = None;
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        match a.split_once('=') {
            Some((name, value)) if is_option(name) => given = Some(value.to_string()),
            None if is_option(&a) => given = args.next().map(|v| v.into_owned()),
            _ => {}
        }
    }
    let given = given.map(|v| (v, "the command line".to_string()));
    given
        .filter(|(v, _)| !v.is_empty())
        .or_else(|| {
            ctx.var("PIP_PYTHON")
                .map(|v| v.to_string_lossy().into_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (v, "PIP_PYTHON".to_string()))
        })
        .or_else(|| config_value(ctx, &["global"], "python"))
}

/// `key`'s value in pip's configuration files, with the file: the first of `sections` that
/// sets it in any file wins (pip merges a command's section over `[global]` whichever file
/// each is in), then the file pip reads last. Empty values count as unset.
fn config_value(ctx: &Context, sections: &[&str], key: &str) -> Option<(String, String)> {
    let src = config::PipSources {
        env: string_env(ctx),
        home: Some(ctx.home.clone()),
        cwd: ctx.cwd.clone(),
        args: Vec::new(),
        root: PathBuf::new(),
        site: base_site_envs(ctx),
    };
    let parsed: Vec<_> = config::config_files(&src)
        .into_iter()
        .rev()
        .filter_map(|f| {
            Some((
                config::parse_pip_conf(&std::fs::read_to_string(&f).ok()?),
                f,
            ))
        })
        .collect();
    sections.iter().find_map(|section| {
        parsed.iter().find_map(|(conf, f)| {
            let value = conf.get(*section)?.get(key).filter(|v| !v.is_empty())?;
            Some((value.clone(), f.display().to_string()))
        })
    })
}

/// pip's reading of a yes/no setting (`strtobool`).
fn truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "y" | "yes" | "t" | "true" | "on" | "1"
    )
}

/// pip's words before `--` when the command is `pip install`: the subcommand is any word
/// `install` there (a global option's value may come first; a package of that name at worst
/// shows pip a destination of its own).
fn install_words(ctx: &Context) -> Option<Vec<String>> {
    let words: Vec<String> = pip_args(&ctx.argv)
        .into_iter()
        .take_while(|a| a != "--")
        .collect();
    words.iter().any(|a| a == "install").then_some(words)
}

/// Whether `pip install` goes into the user site: `--user` on the command line, else
/// `PIP_USER`, else `user` in the `[install]` or `[global]` section of pip's configuration.
fn user_install(ctx: &Context, words: &[String]) -> bool {
    if words.iter().any(|a| a == "--user") {
        return true;
    }
    match ctx.var("PIP_USER").and_then(|v| v.to_str()) {
        Some(v) if !v.is_empty() => truthy(v),
        _ => config_value(ctx, &["install", "global"], "user").is_some_and(|(v, _)| truthy(&v)),
    }
}

/// The directories `pip install` is told to install into instead of an environment:
/// `--target`/`-t`, `--prefix`, `--root` on the command line (the last of each wins), else
/// `PIP_TARGET`, `PIP_PREFIX`, `PIP_ROOT`, else `target`, `prefix`, `root` in pip's
/// configuration; relative to the working directory.
fn install_dirs(ctx: &Context, words: &[String]) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (key, short) in [("target", Some("-t")), ("prefix", None), ("root", None)] {
        let long = format!("--{key}");
        let mut given = None;
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if let Some(v) = w.strip_prefix(&format!("{long}=")) {
                given = Some(v.to_string());
            } else if *w == long || Some(w.as_str()) == short {
                given = it.next().cloned();
            } else if let Some(v) = short
                .and_then(|s| w.strip_prefix(s))
                .filter(|v| !v.is_empty())
            {
                given = Some(v.to_string());
            }
        }
        let env = format!("PIP_{}", key.to_ascii_uppercase());
        let value = given
            .or_else(|| ctx.var(&env).and_then(|v| v.to_str()).map(str::to_string))
            .or_else(|| config_value(ctx, &["install", "global"], key).map(|(v, _)| v))
            .filter(|v| !v.is_empty());
        if let Some(v) = value {
            out.push((key, ctx.cwd.join(v)));
        }
    }
    out
}

/// The interpreter file pip's `--python` value names, as pip finds it
/// (`identify_python_interpreter`): a path relative to the working directory; a directory is
/// an environment, whose `bin/python` runs. Not canonical: the environment it lies in counts.
pub(crate) fn python_option_file(ctx: &Context, value: &str) -> Option<PathBuf> {
    let path = ctx.cwd.join(value);
    // The directory made canonical, the file name kept: `<env>/bin/python` is a link.
    let file = if path.is_dir() {
        std::fs::canonicalize(&path).ok()?.join("bin/python")
    } else {
        std::fs::canonicalize(path.parent()?)
            .ok()?
            .join(path.file_name()?)
    };
    file.exists().then_some(file)
}

/// The program a pyenv shim (`<root>/shims/<name>`, a bash script that runs `pyenv exec`)
/// would run, found the way pyenv picks a version, by reading files only: `PYENV_VERSION`
/// (its first entry), else the nearest `.python-version` from `cwd` up, else
/// `<root>/version`; the version's `bin/<name>`. `None` when `program` is not a shim or the
/// version is `system` or not installed (the caller then refuses rather than guess).
pub fn pyenv_target(program: &Path, pyenv_version: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    let name = program.file_name()?;
    let shims = program
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "shims"))?;
    let root = shims.parent()?;
    let versions = root.join("versions");
    if !versions.is_dir() {
        return None;
    }
    let first_word = |text: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split([':', ' ']).next())
            .map(str::to_owned)
    };
    let version = pyenv_version
        .and_then(first_word)
        .or_else(|| {
            cwd.ancestors().find_map(|d| {
                std::fs::read_to_string(d.join(".python-version"))
                    .ok()
                    .and_then(|t| first_word(&t))
            })
        })
        .or_else(|| {
            std::fs::read_to_string(root.join("version"))
                .ok()
                .and_then(|t| first_word(&t))
        })?;
    // A version is a directory name: no separators, no `..`.
    if version == "system" || version.contains('/') || version.starts_with('.') {
        return None;
    }
    let target = versions.join(&version).join("bin").join(name);
    target.is_file().then_some(target)
}

/// The interpreter files pip runs as: the command itself when it is `python*`, the
/// interpreter of the pip script's shebang, and the target venv's `bin/python*`; each
/// canonical, deduplicated.
pub fn interpreters(
    program: Option<&Path>,
    venv: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    if let Some(prog) = program {
        let is_python = prog.file_name().is_some_and(|n| {
            use std::os::unix::ffi::OsStrExt;
            is_interpreter_name(n.as_bytes())
        });
        if is_python {
            found.push(prog.to_path_buf());
        } else if let Some(interp) = shebang(prog, path_var) {
            found.push(interp);
        }
    }
    if let Some(bin) = venv.map(|v| v.join("bin")) {
        found.extend(interpreter_names_in(&bin));
    }
    let mut real: Vec<PathBuf> = found
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.is_file())
        .collect();
    real.sort();
    real.dedup();
    real
}

/// The files in `dir` named as interpreters are ([`is_interpreter_name`]), sorted (none when
/// it cannot be read): the names an interpreter search takes. The names are compared as the
/// kernel returns them, without an allocation per entry: `/usr/bin` holds about a thousand,
/// and uv's search reads it before every run.
pub(crate) fn interpreter_names_in(dir: &Path) -> Vec<PathBuf> {
    use nix::fcntl::OFlag;
    use std::os::unix::ffi::OsStrExt;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(mut entries) = nix::dir::Dir::open(dir, flags, nix::sys::stat::Mode::empty()) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .iter()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_bytes();
            is_interpreter_name(name).then(|| dir.join(std::ffi::OsStr::from_bytes(name)))
        })
        .collect();
    names.sort();
    names
}

/// A name a Python interpreter goes by, as pip's venvs and uv's search (`find_all_minor`,
/// `executable_names`) name them: an implementation, `python`, `pypy` or `graalpy`; a version
/// of digits and dots, or none; and ABI flags, `t` (free-threaded, `python3.13t`), `d`
/// (debug) or `m` (before 3.8), at most two. Anything else (`python3-config`, `ipython`) is
/// no interpreter.
pub fn is_interpreter_name(name: &[u8]) -> bool {
    let Some(rest) = [&b"python"[..], b"pypy", b"graalpy"]
        .iter()
        .find_map(|implementation| name.strip_prefix(*implementation))
    else {
        return false;
    };
    let version = rest
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    let flags = &rest[version..];
    flags.len() <= 2
        && flags.iter().all(|c| matches!(c, b't' | b'd' | b'm'))
        && (flags.is_empty() || version > 0)
}

/// `#!/path/python` or `#!/usr/bin/env python3` → the interpreter's path. Only a Python
/// interpreter counts: safe-install is mounted over what this returns, and a shell script's
/// `/bin/sh` (a wrapper, a pyenv shim) is no Python to stand in for.
fn shebang(script: &Path, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let interp = shebang_interpreter(script, path_var)?;
    let name = interp.file_name()?.to_str()?;
    name.strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then_some(interp)
}

fn shebang_interpreter(script: &Path, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    let line = text.strip_prefix("#!")?.lines().next()?;
    let mut words = line.split_whitespace();
    let interp = PathBuf::from(words.next()?);
    if interp.file_name().is_some_and(|n| n == "env") {
        let name = words.find(|w| !w.starts_with('-'))?;
        return crate::pm::which(std::ffi::OsStr::new(name), path_var);
    }
    interp.is_absolute().then_some(interp)
}

/// pip and `python -m pip`.
#[derive(Debug)]
pub struct Pip;

pub static PIP: Pip = Pip;

impl PackageManager for Pip {
    fn family(&self) -> Family {
        Family::Pip
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        crate::policy::builtin::PIP
    }

    fn manifests(&self) -> &'static [&'static str] {
        MANIFESTS
    }

    /// A pyenv shim is a bash script that picks the real pip: follow it by reading pyenv's
    /// files, so the interpreter pip runs as can be found and hooked.
    fn follow_shim(
        &self,
        program: &Path,
        env: &[(OsString, OsString)],
        cwd: &Path,
    ) -> Option<PathBuf> {
        let pyenv_version = env
            .iter()
            .find(|(k, _)| k == "PYENV_VERSION")
            .and_then(|(_, v)| v.to_str());
        pyenv_target(program, pyenv_version, cwd)
    }

    /// The environment of the interpreter pip runs as: the one `--python` names (none when
    /// that interpreter is no virtualenv's), else [`target_venv`].
    /// `pip install --user`: the user base (`PYTHONUSERBASE`, else `~/.local`): its `lib`
    /// (site-packages) and `bin` (console scripts). `--target`, `--prefix`, `--root`: that
    /// directory.
    fn home_destinations(&self, ctx: &Context) -> Vec<Destination> {
        let Some(words) = install_words(ctx) else {
            return Vec::new();
        };
        let mut out: Vec<Destination> = install_dirs(ctx, &words)
            .into_iter()
            .map(|(key, path)| Destination {
                path,
                why: format!("pip install --{key}: where it installs, for pip only"),
                install_tree: false,
            })
            .collect();
        if user_install(ctx, &words) {
            let base = ctx
                .var("PYTHONUSERBASE")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| ctx.home.join(".local"));
            out.extend([("lib", "site-packages"), ("bin", "console scripts")].map(
                |(dir, what)| Destination {
                    path: base.join(dir),
                    why: format!("pip install --user: the user base's {what}, for pip only"),
                    install_tree: false,
                },
            ));
        }
        out
    }

    fn install_target(&self, ctx: &Context) -> Option<PathBuf> {
        if let Some((value, _)) = python_option(ctx) {
            return python_option_file(ctx, &value).and_then(|f| venv_of(&f));
        }
        target_venv(
            ctx.resolved.program.as_deref(),
            ctx.var("VIRTUAL_ENV").map(Path::new),
        )
    }

    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError> {
        let src = config::PipSources {
            env: string_env(ctx),
            home: Some(ctx.home.clone()),
            cwd: ctx.cwd.clone(),
            args: pip_args(&ctx.argv),
            root: PathBuf::new(),
            site: site_envs(ctx),
        };
        let configured = config::discover(&src)?;
        let python = interpreter(ctx);
        let endpoints = configured.finish(|| match &python {
            Some(py) => defaults::pip_defaults_from_source(py, &ctx.home),
            None => Err(config::PipConfError::NoInterpreter),
        })?;
        let rules = endpoints.rules().map_err(|source| ConfigError::Rule {
            rule: "pip index".into(),
            source_name: "pip configuration".into(),
            source,
        })?;
        let local_paths = endpoints
            .local_find_links
            .iter()
            .map(|l| (l.path.clone(), format!("pip find-links from {}", l.origin)))
            .collect();
        Ok(Registries { rules, local_paths })
    }

    /// Under pip no lockfile says which installed package a build is, and the name a build
    /// directory gives itself is the attacker's to choose: no grant applies.
    fn bind_grants(
        &self,
        scripts: &mut ScriptsPolicy,
        _ctx: &Context,
        _from_registry: &dyn Fn(&url::Url) -> bool,
    ) -> Bound {
        no_grants_for_builds(scripts, "pip")
    }

    fn level2(&self, _ctx: &Context) -> Level2 {
        Level2::PythonShim
    }

    /// [`interpreters`], and the one pip's `--python` names, which pip starts again as.
    fn interpreters(&self, ctx: &Context, venv: Option<&Path>) -> Vec<PathBuf> {
        let mut found = interpreters(ctx.resolved.program.as_deref(), venv, ctx.trusted_path());
        let option = python_option(ctx).and_then(|(v, _)| python_option_file(ctx, &v));
        if let Some(real) = option.and_then(|f| std::fs::canonicalize(f).ok()) {
            if real.is_file() && !found.contains(&real) {
                found.push(real);
                found.sort();
            }
        }
        found
    }

    /// pip's `--python` naming a file that is not named as an interpreter is: the python
    /// shim mounted over it would not answer to that name.
    fn unhookable_interpreter(&self, ctx: &Context) -> Option<super::UnhookableInterpreter> {
        use std::os::unix::ffi::OsStrExt;
        let (asked, by) = python_option(ctx)?;
        let file = std::fs::canonicalize(python_option_file(ctx, &asked)?).ok()?;
        (!is_interpreter_name(file.file_name()?.as_bytes()))
            .then_some(super::UnhookableInterpreter { asked, by, file })
    }

    fn project_files(&self, project: &Path, cwd: &Path, argv: &[OsString]) -> ProjectFiles {
        let first = |names: &[&str]| names.iter().map(|n| project.join(n)).find(|p| p.is_file());
        ProjectFiles {
            lock: requirements_file(argv)
                .map(|r| cwd.join(r))
                .filter(|p| p.is_file())
                .or_else(|| first(&["requirements.txt"])),
            manifest: first(MANIFESTS),
        }
    }

    fn ca_trust(&self) -> CaTrust {
        CaTrust::Python
    }
}

/// Under a Python build frontend (pip, uv) no grant applies: no lockfile says which
/// installed package a build is, and the name a build directory gives itself is the
/// attacker's to choose. Every grant is dropped, each with a note.
pub fn no_grants_for_builds(scripts: &mut ScriptsPolicy, tool: &str) -> Bound {
    let notes = scripts
        .packages
        .iter()
        .map(|g| format!(
            "the grant for package {} ({}) is not applied: under {tool} no lockfile says which installed package a build is, and the name a build directory gives itself is the attacker's to choose",
            g.value.name, g.origin
        ))
        .collect();
    scripts.packages.clear();
    Bound {
        lockfile: Vec::new(),
        notes,
    }
}

/// The first `-r FILE` / `--requirement FILE` of a pip command line.
pub fn requirements_file(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().map(|a| a.as_os_str());
    while let Some(arg) = args.next() {
        let s = arg.to_string_lossy();
        if s == "-r" || s == "--requirement" {
            return args.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--requirement=") {
            return Some(PathBuf::from(v));
        }
        if let Some(v) = s.strip_prefix("-r").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The arguments pip itself sees: after `pip` or `python -m pip`.
fn pip_args(argv: &[std::ffi::OsString]) -> Vec<String> {
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let start = words
        .iter()
        .position(|w| w == "pip" || w == "-mpip")
        .map(|i| i + 1)
        .or_else(|| words.iter().position(|w| w == "-m").map(|i| i + 2))
        .unwrap_or(1);
    words.get(start..).unwrap_or_default().to_vec()
}

/// The interpreter behind the pip command: `python -m pip` names it; a `pip` script names it
/// in its `#!` line; else the `python3` on the trusted PATH. Found by reading files only.
fn interpreter(ctx: &Context) -> Option<PathBuf> {
    let program = ctx.resolved.program.as_deref();
    let venv = target_venv(program, ctx.var("VIRTUAL_ENV").map(Path::new));
    interpreters(program, venv.as_deref(), ctx.trusted_path())
        .into_iter()
        .next()
        .or_else(|| {
            let python3 = crate::pm::which("python3".as_ref(), ctx.trusted_path())?;
            let pyenv_version = ctx.var("PYENV_VERSION").and_then(|v| v.to_str());
            Some(pyenv_target(&python3, pyenv_version, &ctx.cwd).unwrap_or(python3))
        })
}

fn string_env(ctx: &Context) -> std::collections::BTreeMap<String, String> {
    ctx.env
        .iter()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::write_files;

    fn pip_ctx(d: &Path, argv: &[&str], env: &[(&str, &str)]) -> Context {
        crate::pm::test_fixtures::tool_context(
            d.join("venv/bin/pip"),
            argv,
            env,
            &d.join("home"),
            &d.join("p"),
        )
    }

    /// Where `argv` with `env` installs in the home, by pip's reading.
    fn destinations(d: &Path, argv: &[&str], env: &[(&str, &str)]) -> Vec<PathBuf> {
        Pip.home_destinations(&pip_ctx(d, argv, env))
            .into_iter()
            .map(|x| x.path)
            .collect()
    }

    #[test]
    fn an_install_into_a_directory_keeps_that_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let dests = |argv: &[&str], env: &[(&str, &str)]| destinations(d, argv, env);
        let p = d.join("p");
        for argv in [
            &["pip", "install", "--target", "out", "x"][..],
            &["pip", "install", "--target=out", "x"],
            &["pip", "install", "-t", "out", "x"],
            &["pip", "install", "-tout", "x"],
            &["pip", "install", "-t", "first", "--target", "out", "x"],
        ] {
            assert_eq!(dests(argv, &[]), [p.join("out")], "{argv:?}");
        }
        assert_eq!(
            dests(
                &["pip", "install", "--prefix", "/pre", "--root=/r", "x"],
                &[]
            ),
            [PathBuf::from("/pre"), PathBuf::from("/r")]
        );
        assert_eq!(
            dests(&["pip", "install", "x"], &[("PIP_TARGET", "/t")]),
            [PathBuf::from("/t")]
        );
        assert!(dests(&["pip", "download", "-d", "out", "x"], &[]).is_empty());
        assert!(dests(&["pip", "install", "x", "--", "--target", "o"], &[]).is_empty());
        write_files(
            d,
            &[(
                "home/.config/pip/pip.conf",
                "[install]\nprefix = /from-conf\n",
            )],
        );
        assert_eq!(
            dests(&["pip", "install", "x"], &[]),
            [PathBuf::from("/from-conf")]
        );
    }

    #[test]
    fn a_user_install_keeps_the_user_base_lib_and_bin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let dests = |argv: &[&str], env: &[(&str, &str)]| destinations(d, argv, env);
        let local = vec![d.join("home/.local/lib"), d.join("home/.local/bin")];
        assert_eq!(dests(&["pip", "install", "--user", "x"], &[]), local);
        assert_eq!(
            dests(
                &[
                    "python3",
                    "-m",
                    "pip",
                    "--cache-dir",
                    "c",
                    "install",
                    "--user",
                    "x"
                ],
                &[]
            ),
            local
        );
        assert_eq!(
            dests(&["pip", "install", "x"], &[("PIP_USER", "yes")]),
            local
        );
        assert!(dests(&["pip", "install", "x"], &[("PIP_USER", "0")]).is_empty());
        assert!(dests(&["pip", "install", "x"], &[]).is_empty());
        assert!(dests(&["pip", "download", "--user", "x"], &[]).is_empty());
        assert!(dests(&["pip", "install", "x", "--", "--user"], &[]).is_empty());
        assert_eq!(
            dests(
                &["pip", "install", "--user", "x"],
                &[("PYTHONUSERBASE", "/ub")]
            ),
            vec![PathBuf::from("/ub/lib"), PathBuf::from("/ub/bin")]
        );
        // pip's configuration: `[install]` beats `[global]` whichever file holds each;
        // the environment beats both.
        write_files(
            d,
            &[("home/.config/pip/pip.conf", "[global]\nuser = false\n")],
        );
        assert!(dests(&["pip", "install", "x"], &[]).is_empty());
        write_files(d, &[("home/.pip/pip.conf", "[install]\nuser = true\n")]);
        assert_eq!(dests(&["pip", "install", "x"], &[]), local);
        assert!(dests(&["pip", "install", "x"], &[("PIP_USER", "off")]).is_empty());
    }

    #[test]
    fn pips_python_option_is_read_from_the_command_line_the_environment_and_global_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("home/.config/pip")).expect("mkdir");
        let asked = |argv: &[&str], env: &[(&str, &str)]| python_option(&pip_ctx(d, argv, env));
        let cli = |v: &str| Some((v.to_string(), "the command line".to_string()));
        assert_eq!(
            asked(&["pip", "--python", "/a/python", "install", "x"], &[]),
            cli("/a/python")
        );
        assert_eq!(
            asked(&["pip", "--python=/b", "install", "x"], &[]),
            cli("/b")
        );
        // optparse takes an unambiguous abbreviation; after the subcommand too (stricter).
        assert_eq!(
            asked(&["pip", "--pyth", "/c", "install", "x"], &[]),
            cli("/c")
        );
        assert_eq!(asked(&["pip", "install", "--py=/d", "x"], &[]), cli("/d"));
        assert_eq!(
            asked(&["pip", "install", "--", "--python", "/e"], &[]),
            None
        );
        assert_eq!(asked(&["pip", "--p", "/f", "install"], &[]), None);
        let env = [("PIP_PYTHON", "/g/python")];
        assert_eq!(
            asked(&["pip", "install", "x"], &env),
            Some(("/g/python".into(), "PIP_PYTHON".into()))
        );
        assert_eq!(
            asked(&["pip", "--python", "/a", "install"], &env),
            cli("/a")
        );
        let conf = d.join("home/.config/pip/pip.conf");
        std::fs::write(
            &conf,
            "[install]\npython = /no\n[global]\npython = /h/python3\n",
        )
        .expect("write");
        assert_eq!(
            asked(&["pip", "install", "x"], &[]),
            Some(("/h/python3".into(), conf.display().to_string()))
        );
        assert_eq!(
            asked(&["pip", "install", "x"], &env).map(|a| a.1),
            Some("PIP_PYTHON".into())
        );
        assert_eq!(
            asked(&["pip", "install", "x"], &[("PIP_PYTHON", "")]).map(|a| a.1),
            Some(conf.display().to_string())
        );
    }

    #[test]
    fn pips_python_option_is_hooked_targeted_or_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = std::fs::canonicalize(dir.path()).expect("canonical");
        crate::pm::test_fixtures::write_files(
            &d,
            &[
                ("other/bin/python3.12", ""),
                ("venv/bin/pip", ""),
                ("venv/bin/python", ""),
                ("named/mypython", ""),
                ("p/x", ""),
                ("venv/pyvenv.cfg", "home = /usr/bin\n"),
                ("other/pyvenv.cfg", "home = /usr/bin\n"),
            ],
        );
        std::os::unix::fs::symlink("python3.12", d.join("other/bin/python")).expect("link");
        let c = |argv: &[&str]| pip_ctx(&d, argv, &[]);
        // A directory is an environment: its bin/python, canonical; pip installs there.
        let other = c(&["pip", "--python", "../other", "install", "x"]);
        assert!(PIP
            .interpreters(&other, None)
            .contains(&d.join("other/bin/python3.12")));
        assert_eq!(PIP.install_target(&other), Some(d.join("other")));
        // Its pip.conf and that of the program's environment may be pip's site file.
        assert_eq!(site_envs(&other), [d.join("venv"), d.join("other")]);
        assert_eq!(PIP.unhookable_interpreter(&other), None);
        // Without it, the program's environment.
        assert_eq!(
            PIP.install_target(&c(&["pip", "install", "x"])),
            Some(d.join("venv"))
        );
        // A file not named as an interpreter is refused; one outside an environment is no
        // install target of ours.
        let named = c(&["pip", "--python", "../named/mypython", "install", "x"]);
        let refused = PIP.unhookable_interpreter(&named).expect("refused");
        assert_eq!(
            (refused.asked.as_str(), refused.file),
            ("../named/mypython", d.join("named/mypython"))
        );
        assert_eq!(PIP.install_target(&named), None);
    }

    #[test]
    fn a_venvs_base_is_the_home_its_pyvenv_cfg_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = &std::fs::canonicalize(dir.path()).expect("canonical");
        std::fs::create_dir_all(d.join("v/bin")).expect("mkdir");
        std::fs::create_dir_all(d.join("b")).expect("mkdir");
        std::fs::write(d.join("b/python3.11"), "").expect("write");
        std::fs::write(d.join("v/pyvenv.cfg"), "version = 3.11\n home=/nowhere\n").expect("write");
        assert_eq!(venv_home(&d.join("v")), None);
        let home = format!(
            "include-system-site-packages = false\nhome = {}\n",
            d.join("b").display()
        );
        std::fs::write(d.join("v/pyvenv.cfg"), home).expect("write");
        assert_eq!(venv_home(&d.join("v")), Some(d.join("b")));
        assert_eq!(venv_of(&d.join("v/bin/python")), Some(d.join("v")));
        assert_eq!(venv_of(&d.join("v/python")), None);
    }

    #[test]
    fn an_implementation_a_version_and_abi_flags_make_an_interpreter_name() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let names: [&[u8]; 22] = [
            b"python",
            b"python3",
            b"python3.12",
            b"python3.13t",
            b"python3.13td",
            b"python3.7m",
            b"pypy",
            b"pypy3",
            b"pypy3.10",
            b"graalpy",
            b"graalpy3.11",
            b"python3.12-config",
            b"pythonw",
            b"pythont",
            b"python3.13tdm",
            b"python3.13x",
            b"ipython",
            b"python3.\xff",
            b"pip3",
            b"py",
            b"pypy-c",
            b"python2.7",
        ];
        for n in names {
            std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(n)), "").expect("write");
        }
        let found: Vec<String> = interpreter_names_in(dir.path())
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            found,
            [
                "graalpy",
                "graalpy3.11",
                "pypy",
                "pypy3",
                "pypy3.10",
                "python",
                "python2.7",
                "python3",
                "python3.12",
                "python3.13t",
                "python3.13td",
                "python3.7m",
            ]
        );
        assert!(interpreter_names_in(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn a_pyenv_shim_is_followed_by_reading_pyenvs_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("pyenv");
        let shim = root.join("shims/pip");
        for f in [
            &shim,
            &root.join("versions/3.11.7/bin/pip"),
            &root.join("versions/3.12.1/bin/pip"),
        ] {
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, "#!/usr/bin/env bash\n").expect("write");
        }
        std::fs::write(root.join("version"), "3.11.7\n").expect("write");
        let project = dir.path().join("project/sub");
        std::fs::create_dir_all(&project).expect("mkdir");
        let v = |p: &str| root.join(format!("versions/{p}/bin/pip"));
        assert_eq!(pyenv_target(&shim, None, &project), Some(v("3.11.7")));
        std::fs::write(
            dir.path().join("project/.python-version"),
            "# pinned\n3.12.1\n",
        )
        .expect("write");
        assert_eq!(pyenv_target(&shim, None, &project), Some(v("3.12.1")));
        assert_eq!(
            pyenv_target(&shim, Some("3.11.7:3.12.1"), &project),
            Some(v("3.11.7"))
        );
        for refused in ["system", "3.9.0", "../../etc", ".hidden"] {
            assert_eq!(
                pyenv_target(&shim, Some(refused), &project),
                None,
                "{refused}"
            );
        }
        assert_eq!(
            pyenv_target(&root.join("versions/3.11.7/bin/pip"), None, &project),
            None
        );
    }

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
