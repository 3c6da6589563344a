//! npm's registries, derived the way npm itself resolves them, so the egress allow-list names
//! exactly the hosts this install will talk to and nothing is hard-coded.
//!
//! Sources, highest precedence first (as in `@npmcli/config`):
//! 1. command-line flags in the npm argv (`--registry URL`, `--@scope:registry=URL`);
//! 2. environment: `npm_config_registry`, `NPM_CONFIG_REGISTRY`, `npm_config_@scope:registry`
//!    (prefix case-insensitive, `_` → `-`, empty values ignored);
//! 3. the project's `.npmrc`;
//! 4. the user config: `npm_config_userconfig` or `~/.npmrc`;
//! 5. the global config: `npm_config_globalconfig` or `$PREFIX/etc/npmrc`, where the prefix is
//!    `npm_config_prefix`, a `prefix` set in the files above, or node's install prefix;
//! 6. npm's builtin config `<npm package dir>/npmrc`.
//!
//! When none of them sets `registry`, npm's own default is read as text from npm's source
//! ([`npm_default_from_source`], its `registry` config definition) — never written here, and
//! never by running npm on the host.
//!
//! Files are ini as npm's `ini` package reads them: `;`/`#` comments (also inline, unless
//! escaped), optional quotes, keys under a `[section]` ignored, `${VAR}` (error when unset)
//! and `${VAR?}` (empty when unset) expanded in keys and values.
//!
//! Auth entries (`//host/:_authToken`, `_auth`, …) are reported by file and key only; their
//! values are never kept, returned or logged.

use crate::policy::allow::{redacted_url, Rule, RuleError, RuleSource};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use url::Url;

/// Errors deriving npm's registries.
#[derive(Debug, thiserror::Error)]
pub enum NpmrcError {
    #[error("cannot read npm config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: `{key}` uses ${{{var}}}, which is not set")]
    UnsetVar {
        origin: Origin,
        key: String,
        var: String,
    },
    #[error("{origin}: `{key}` is not an http(s) URL: {value}")]
    BadUrl {
        origin: Origin,
        key: String,
        value: String,
    },
    #[error(
        "no registry is configured, and npm's default cannot be read from npm's own source \
         ({0}). Fix: set `registry=URL` in the project's .npmrc (or pass --registry URL)"
    )]
    DefaultUnknown(String),
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    CommandLine,
    Env(String),
    File {
        kind: FileKind,
        path: PathBuf,
    },
    /// npm's own default, read from its source.
    NpmDefault,
}

/// Which of npm's config files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Project,
    User,
    Global,
    Builtin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => f.write_str("npm command line"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::File { kind, path } => {
                let kind = match kind {
                    FileKind::Project => "project",
                    FileKind::User => "user",
                    FileKind::Global => "global",
                    FileKind::Builtin => "builtin",
                };
                write!(f, "{kind} config {}", path.display())
            }
            Origin::NpmDefault => f.write_str("npm's default (its registry config definition)"),
        }
    }
}

/// A registry URL and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub url: Url,
    pub origin: Origin,
}

/// The registries an install uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmRegistries {
    pub default: Registry,
    /// `@scope` → registry.
    pub scoped: BTreeMap<String, Registry>,
}

impl NpmRegistries {
    /// One allow rule per registry host:port (credentials dropped).
    pub fn rules(&self) -> Result<Vec<Rule>, RuleError> {
        let mut out = Vec::new();
        let all = std::iter::once((String::from("registry"), &self.default)).chain(
            self.scoped
                .iter()
                .map(|(s, r)| (format!("{s}:registry"), r)),
        );
        for (key, reg) in all {
            let source = RuleSource::Npm(format!("{key} from {}", reg.origin));
            out.push(Rule::for_url(&reg.url, source)?);
        }
        Ok(out)
    }
}

/// A credential-bearing key in a config file; the value is never kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuthEntry {
    pub path: PathBuf,
    pub key: String,
}

/// One parsed `.npmrc`: top-level keys with values still unexpanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Npmrc {
    pub entries: Vec<(String, String)>,
}

/// Parse ini text as npm's `ini` package does (top-level keys only).
pub fn parse_npmrc(text: &str) -> Npmrc {
    let mut entries = Vec::new();
    let mut in_section = false;
    for line in text.split(['\r', '\n']) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            in_section = true;
            continue;
        }
        if in_section {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (unquote(k), unquote(v)),
            None => (unquote(line), String::from("true")),
        };
        let key = key.strip_suffix("[]").map(str::to_owned).unwrap_or(key);
        if !key.is_empty() {
            entries.push((key, value));
        }
    }
    Npmrc { entries }
}

/// The `ini` package's value decoding: quoted strings lose their quotes; otherwise an
/// unescaped `;` or `#` starts a comment, `\;` `\#` `\\` are escapes, and the rest is trimmed.
fn unquote(raw: &str) -> String {
    let v = raw.trim();
    let quoted = |q: char| v.len() >= 2 && v.starts_with(q) && v.ends_with(q);
    if quoted('"') {
        let inner = &v[1..v.len() - 1];
        // JSON string semantics for the common escapes.
        return inner.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    if quoted('\'') {
        return v[1..v.len() - 1].to_owned();
    }
    let mut out = String::with_capacity(v.len());
    let mut escaping = false;
    for c in v.chars() {
        if escaping {
            if !matches!(c, '\\' | ';' | '#') {
                out.push('\\');
            }
            out.push(c);
            escaping = false;
        } else if c == '\\' {
            escaping = true;
        } else if c == ';' || c == '#' {
            break;
        } else {
            out.push(c);
        }
    }
    if escaping {
        out.push('\\');
    }
    out.trim().to_owned()
}

/// Expand `${VAR}` / `${VAR?}` as npm does; `\${VAR}` stays literal (one backslash removed).
/// `Err(name)` for the first unset, non-optional variable.
pub fn expand_env(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find("${") {
        let (before, after) = rest.split_at(pos);
        let Some(end) = after.find('}') else {
            break;
        };
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            out.push_str(&before[..before.len() - 1]);
            out.push_str(&after[..=end]);
            rest = &after[end + 1..];
            continue;
        }
        out.push_str(before);
        let name = &after[2..end];
        let (name, optional) = match name.strip_suffix('?') {
            Some(n) => (n, true),
            None => (name, false),
        };
        match env(name) {
            Some(v) => out.push_str(&v),
            None if optional => {}
            None => return Err(name.to_owned()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Keys that carry credentials: `//host/path/:_authToken` and friends, and the legacy
/// top-level forms.
pub fn is_auth_key(key: &str) -> bool {
    const SUFFIXES: [&str; 6] = [
        "_authToken",
        "_auth",
        "_password",
        "username",
        "certfile",
        "keyfile",
    ];
    if key.starts_with("//") {
        return key
            .rsplit_once(':')
            .is_some_and(|(_, k)| SUFFIXES.contains(&k));
    }
    matches!(key, "_auth" | "_authToken" | "_password")
}

/// Everything discovery needs, explicit so tests do not touch the machine.
#[derive(Debug, Clone, Default)]
pub struct NpmSources {
    /// The project root (where `package.json` is); empty in global mode (no project file).
    pub project_dir: PathBuf,
    /// `$HOME` of the invoking user.
    pub home: Option<PathBuf>,
    /// The caller's environment.
    pub env: BTreeMap<String, String>,
    /// The npm argv after `npm` (`ci`, `--registry`, …).
    pub args: Vec<String>,
    /// node's install prefix (`/usr` for `/usr/bin/node`): the default global prefix.
    pub node_prefix: Option<PathBuf>,
    /// npm's package directory (holding the builtin `npmrc`).
    pub npm_package_dir: Option<PathBuf>,
}

/// What the config files and environment say, before npm's default is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmConfigured {
    pub default: Option<Registry>,
    pub scoped: BTreeMap<String, Registry>,
    /// Config files read, in precedence order (missing ones skipped).
    pub files: Vec<PathBuf>,
    pub auth: Vec<AuthEntry>,
}

impl NpmConfigured {
    /// Complete with npm's default registry when nothing set one; `ask` runs only then.
    pub fn finish(
        self,
        ask: impl FnOnce() -> Result<Url, NpmrcError>,
    ) -> Result<(NpmRegistries, Vec<AuthEntry>), NpmrcError> {
        let default = match self.default {
            Some(r) => r,
            None => Registry {
                url: ask()?,
                origin: Origin::NpmDefault,
            },
        };
        Ok((
            NpmRegistries {
                default,
                scoped: self.scoped,
            },
            self.auth,
        ))
    }
}

/// One layer of settings: (key, raw value, origin), highest precedence first.
type Layer = Vec<(String, String, Origin)>;

/// The configuration as npm layers it, highest precedence first, with the files read and the
/// auth entries found (values never kept).
struct Layers {
    layers: Vec<Layer>,
    files: Vec<PathBuf>,
    auth: Vec<AuthEntry>,
}

fn read_layers(src: &NpmSources) -> Result<Layers, NpmrcError> {
    let env_lookup = |name: &str| src.env.get(name).cloned();
    let mut layers: Vec<Layer> = vec![cli_layer(&src.args), env_layer(&src.env)];
    let mut files = Vec::new();
    let mut auth = Vec::new();

    let mut read =
        |kind: FileKind, path: PathBuf, layers: &mut Vec<Layer>| -> Result<(), NpmrcError> {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(source) => return Err(NpmrcError::Read { path, source }),
            };
            let origin = Origin::File {
                kind,
                path: path.clone(),
            };
            let mut layer = Layer::new();
            for (key, value) in parse_npmrc(&text).entries {
                // npm expands keys too; an unset variable in a key leaves it as written.
                let key = expand_env(&key, &env_lookup).unwrap_or(key);
                if is_auth_key(&key) {
                    auth.push(AuthEntry {
                        path: path.clone(),
                        key,
                    });
                    continue;
                }
                layer.push((key, value, origin.clone()));
            }
            files.push(path);
            layers.push(layer);
            Ok(())
        };

    // No project: npm's global mode, which reads no project configuration.
    if !src.project_dir.as_os_str().is_empty() {
        read(
            FileKind::Project,
            src.project_dir.join(".npmrc"),
            &mut layers,
        )?;
    }
    let userconfig = setting(&layers, "userconfig", &env_lookup)?
        .map(|(v, _)| expand_home(&v, src.home.as_deref()))
        .or_else(|| src.home.as_ref().map(|h| h.join(".npmrc")));
    if let Some(p) = userconfig {
        read(FileKind::User, p, &mut layers)?;
    }
    let prefix = setting(&layers, "prefix", &env_lookup)?
        .map(|(v, _)| expand_home(&v, src.home.as_deref()))
        .or_else(|| src.node_prefix.clone());
    let globalconfig = setting(&layers, "globalconfig", &env_lookup)?
        .map(|(v, _)| expand_home(&v, src.home.as_deref()))
        .or_else(|| prefix.map(|p| p.join("etc/npmrc")));
    if let Some(p) = globalconfig {
        read(FileKind::Global, p, &mut layers)?;
    }
    if let Some(dir) = &src.npm_package_dir {
        read(FileKind::Builtin, dir.join("npmrc"), &mut layers)?;
    }
    Ok(Layers {
        layers,
        files,
        auth,
    })
}

/// What the caller's configuration (command line, environment, project, user, global and
/// builtin files, by npm's precedence) sets for each of `keys`, expanded, with where it was
/// set. Keys nothing sets are absent.
pub fn settings(
    src: &NpmSources,
    keys: &[&str],
) -> Result<BTreeMap<String, (String, Origin)>, NpmrcError> {
    let env_lookup = |name: &str| src.env.get(name).cloned();
    let Layers { layers, .. } = read_layers(src)?;
    let mut out = BTreeMap::new();
    for key in keys {
        if let Some(found) = setting(&layers, key, &env_lookup)? {
            out.insert((*key).to_owned(), found);
        }
    }
    Ok(out)
}

/// Read the config layers and pick `registry` and `@scope:registry` by precedence.
pub fn discover(src: &NpmSources) -> Result<NpmConfigured, NpmrcError> {
    let env_lookup = |name: &str| src.env.get(name).cloned();
    let Layers {
        layers,
        files,
        mut auth,
    } = read_layers(src)?;

    let default = match setting(&layers, "registry", &env_lookup)? {
        Some((value, origin)) => Some(registry_url("registry", value, origin)?),
        None => None,
    };
    let mut scoped = BTreeMap::new();
    for layer in layers.iter().rev() {
        for (key, _, _) in layer {
            if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
                if let Some((value, origin)) = setting(&layers, key, &env_lookup)? {
                    scoped.insert(scope.to_owned(), registry_url(key, value, origin)?);
                }
            }
        }
    }
    auth.sort();
    auth.dedup();
    Ok(NpmConfigured {
        default,
        scoped,
        files,
        auth,
    })
}

/// The highest-precedence value of `key`, expanded.
fn setting(
    layers: &[Layer],
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, Origin)>, NpmrcError> {
    // Within a file the last assignment wins; across layers the first layer wins.
    for layer in layers {
        if let Some((k, v, origin)) = layer.iter().rev().find(|(k, _, _)| k == key) {
            let value = expand_env(v, env).map_err(|var| NpmrcError::UnsetVar {
                origin: origin.clone(),
                key: k.clone(),
                var,
            })?;
            return Ok(Some((value, origin.clone())));
        }
    }
    Ok(None)
}

fn registry_url(key: &str, value: String, origin: Origin) -> Result<Registry, NpmrcError> {
    let bad = |shown: String| NpmrcError::BadUrl {
        origin: origin.clone(),
        key: key.to_owned(),
        value: shown,
    };
    let mut url = Url::parse(&value).map_err(|_| bad(String::from("(not a URL)")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(redacted_url(&url)));
    }
    // npm always treats the registry as a directory.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(Registry { url, origin })
}

/// A path setting as npm reads it: `~/` is the home.
pub fn expand_home(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(value),
    }
}

fn cli_layer(args: &[String]) -> Layer {
    let mut layer = Layer::new();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        if arg == "--" {
            break;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => match it.peek() {
                Some(v) if !v.starts_with('-') => {
                    let v = (*v).clone();
                    it.next();
                    (flag.to_owned(), v)
                }
                _ => continue,
            },
        };
        if key == "registry"
            || key.ends_with(":registry")
            || matches!(key.as_str(), "userconfig" | "globalconfig" | "prefix")
            || super::pins::PROGRAM_SETTINGS.iter().any(|p| p.key == key)
        {
            layer.push((key, value, Origin::CommandLine));
        }
    }
    // Later flags win: the layer is searched from the end.
    layer
}

/// The npm setting an environment variable sets, as `@npmcli/config` reads it: a name starting
/// with `npm_config_` in any case, the rest lower-cased with `_` (but a leading one) as `-`
/// (`NPM_CONFIG_SCRIPT_SHELL` → `script-shell`). Nerf-darted keys (`//host/:…`) keep their case.
pub fn env_key(name: &str) -> Option<String> {
    let rest = name
        .get(..11)
        .filter(|p| p.eq_ignore_ascii_case("npm_config_"))
        .and_then(|_| name.get(11..))
        .filter(|r| !r.is_empty())?;
    if rest.starts_with("//") {
        return Some(rest.to_owned());
    }
    Some(
        rest.char_indices()
            .map(|(i, c)| if i > 0 && c == '_' { '-' } else { c })
            .collect::<String>()
            .to_lowercase(),
    )
}

fn env_layer(env: &BTreeMap<String, String>) -> Layer {
    let mut layer = Layer::new();
    for (name, value) in env {
        // npm skips empty values (an empty variable sets nothing).
        let Some(key) = env_key(name).filter(|_| !value.is_empty()) else {
            continue;
        };
        layer.push((key, value.clone(), Origin::Env(name.clone())));
    }
    layer
}

/// Where npm is installed: its package directory (builtin `npmrc`) and node's prefix,
/// found by following the `npm` executable on `path` (a `PATH` value) through its symlinks.
pub fn locate_npm(path: &str) -> Option<(PathBuf, PathBuf)> {
    let exe = std::env::split_paths(path)
        .map(|d| d.join("npm"))
        .find(|p| p.is_file())?;
    let real = std::fs::canonicalize(&exe).ok()?;
    // .../lib/node_modules/npm/bin/npm-cli.js → .../lib/node_modules/npm; a `#!/bin/sh`
    // launcher (`exec node /opt/npm/bin/npm-cli.js "$@"`, as version managers and toolchain
    // directories install) is followed to the npm package it names, as text.
    let package_dir = crate::pm::approvals::tool_package(&exe, &["npm"])
        .map(|(dir, _)| dir)
        .or_else(|| Some(real.parent()?.parent()?.to_path_buf()))?;
    // node's prefix: the directory above the one holding the `node` next to npm's link, else
    // above lib/node_modules.
    let prefix = launcher_node(&real)
        .or_else(|| {
            exe.parent()
                .filter(|bin| bin.join("node").is_file())
                .map(Path::to_path_buf)
        })
        .and_then(|bin| bin.parent().map(Path::to_path_buf))
        .or_else(|| {
            package_dir
                .parent()?
                .parent()?
                .parent()
                .map(Path::to_path_buf)
        })?;
    Some((package_dir, prefix))
}

/// The `bin/` of the `node` a small `#!` launcher script runs npm with, named as an absolute
/// path (npm's global configuration lives under that node's prefix).
fn launcher_node(launcher: &Path) -> Option<PathBuf> {
    if std::fs::metadata(launcher).ok()?.len() >= 4096 {
        return None;
    }
    let text = std::fs::read_to_string(launcher).ok()?;
    if !text.starts_with("#!") {
        return None;
    }
    text.split(['\'', '"', ' ', '\n', '\t'])
        .filter(|w| w.starts_with('/') && w.ends_with("/bin/node"))
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// npm's default registry, read as text from the `registry` definition in npm's own source
/// below `package_dir` (npm 9 and later: `@npmcli/config`'s `definitions.js`; npm 7 and 8:
/// `lib/utils/config/definitions.js`): `registry: new Definition('registry', { default:
/// '<url>', …`. Nothing is executed: on the host, `npm` may be whatever a `PATH` entry names.
pub fn npm_default_from_source(package_dir: Option<&Path>) -> Result<Url, NpmrcError> {
    const DEFINITIONS: [&str; 2] = [
        "node_modules/@npmcli/config/lib/definitions/definitions.js",
        "lib/utils/config/definitions.js",
    ];
    let Some(dir) = package_dir else {
        return Err(NpmrcError::DefaultUnknown(
            "no npm installation found on PATH".into(),
        ));
    };
    for rel in DEFINITIONS {
        let file = dir.join(rel);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(NpmrcError::Read { path: file, source }),
        };
        let Some(value) = registry_default(&text) else {
            return Err(NpmrcError::DefaultUnknown(format!(
                "{} defines no registry default in the form npm uses",
                file.display()
            )));
        };
        return registry_url("registry", value.to_owned(), Origin::NpmDefault).map(|r| r.url);
    }
    Err(NpmrcError::DefaultUnknown(format!(
        "none of {} below {}",
        DEFINITIONS.join(", "),
        dir.display()
    )))
}

/// The `default:` string of the `registry` definition, within the few lines after its start.
fn registry_default(text: &str) -> Option<&str> {
    let mut lines = text.lines();
    lines.find(|l| {
        let l = l.trim_start();
        l.starts_with("registry: new Definition('registry'") || l.starts_with("define('registry'")
    })?;
    let line = lines
        .take(8)
        .map(str::trim_start)
        .find(|l| l.starts_with("default:"))?;
    let rest = line.strip_prefix("default:")?.trim_start();
    let quote = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let body = &rest[1..];
    let value = &body[..body.find(quote)?];
    (!value.contains(['\\', '$'])).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{env_of, rules_as_written, write_files};

    #[test]
    fn ini_like_npm() {
        let rc = parse_npmrc(
            "; comment\n# comment\nregistry = https://registry.example.com/ ; trailing\n\
             @corp:registry=\"https://npm.corp.example/\"\r\nemail='a@b'\nflag\n\
             ca[]=one\nx=a\\;b\n[section]\nregistry=http://ignored.example/\n",
        );
        assert_eq!(
            rc.entries,
            vec![
                ("registry".into(), "https://registry.example.com/".into()),
                ("@corp:registry".into(), "https://npm.corp.example/".into()),
                ("email".into(), "a@b".into()),
                ("flag".into(), "true".into()),
                ("ca".into(), "one".into()),
                ("x".into(), "a;b".into()),
            ]
        );
    }

    #[test]
    fn env_expansion() {
        let env = |n: &str| match n {
            "HOST" => Some("registry.example.com".to_string()),
            _ => None,
        };
        assert_eq!(
            expand_env("https://${HOST}/", &env),
            Ok("https://registry.example.com/".into())
        );
        assert_eq!(expand_env("a${MISSING?}b", &env), Ok("ab".into()));
        assert_eq!(expand_env("${MISSING}", &env), Err("MISSING".into()));
        assert_eq!(expand_env("\\${HOST}", &env), Ok("${HOST}".into()));
        assert_eq!(
            expand_env("\\\\${HOST}", &env),
            Ok("\\\\registry.example.com".into())
        );
        assert_eq!(
            expand_env("${unterminated", &env),
            Ok("${unterminated".into())
        );
    }

    #[test]
    fn auth_keys() {
        for k in [
            "//registry.example.com/:_authToken",
            "//h/p/:_auth",
            "//h/:_password",
            "//h/:username",
            "_auth",
            "_authToken",
        ] {
            assert!(is_auth_key(k), "{k}");
        }
        for k in ["registry", "@s:registry", "//h/:always-auth", "email"] {
            assert!(!is_auth_key(k), "{k}");
        }
    }

    struct Machine {
        _dir: tempfile::TempDir,
        src: NpmSources,
    }

    fn machine(project: &str, user: &str, global: &str, builtin: &str) -> Machine {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let project_dir = root.join("project");
        let home = root.join("home");
        let prefix = root.join("usr");
        let npm_dir = prefix.join("lib/node_modules/npm");
        for d in [&project_dir, &home, &prefix.join("etc"), &npm_dir] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let write = |p: PathBuf, t: &str| {
            if !t.is_empty() {
                std::fs::write(p, t).expect("write");
            }
        };
        write(project_dir.join(".npmrc"), project);
        write(home.join(".npmrc"), user);
        write(prefix.join("etc/npmrc"), global);
        write(npm_dir.join("npmrc"), builtin);
        Machine {
            src: NpmSources {
                project_dir,
                home: Some(home),
                env: BTreeMap::new(),
                args: Vec::new(),
                node_prefix: Some(prefix),
                npm_package_dir: Some(npm_dir),
            },
            _dir: dir,
        }
    }

    fn default_host(c: &NpmConfigured) -> Option<String> {
        c.default
            .as_ref()
            .and_then(|r| r.url.host_str().map(str::to_owned))
    }

    #[test]
    fn precedence_env_project_user_global_builtin() {
        let m = machine(
            "registry=https://project.example/",
            "registry=https://user.example/",
            "registry=https://global.example/",
            "registry=https://builtin.example/",
        );
        let c = discover(&m.src).expect("discover");
        assert_eq!(default_host(&c).as_deref(), Some("project.example"));
        assert!(matches!(
            c.default.as_ref().map(|r| &r.origin),
            Some(Origin::File {
                kind: FileKind::Project,
                ..
            })
        ));
        assert_eq!(c.files.len(), 4);

        let mut src = m.src.clone();
        src.env = env_of(&[("NPM_CONFIG_REGISTRY", "https://env.example")]);
        let c = discover(&src).expect("discover");
        assert_eq!(default_host(&c).as_deref(), Some("env.example"));
        assert_eq!(
            c.default.as_ref().map(|r| r.url.as_str()),
            Some("https://env.example/")
        );

        src.args = vec![
            "ci".into(),
            "--registry".into(),
            "http://127.0.0.1:4873".into(),
        ];
        let c = discover(&src).expect("discover");
        assert_eq!(
            c.default.as_ref().map(|r| r.url.as_str()),
            Some("http://127.0.0.1:4873/")
        );

        for (p, u, g, want) in [
            (
                "",
                "registry=https://user.example/",
                "registry=https://global.example/",
                "user.example",
            ),
            ("", "", "registry=https://global.example/", "global.example"),
            ("", "", "", "builtin.example"),
        ] {
            let m = machine(p, u, g, "registry=https://builtin.example/");
            let c = discover(&m.src).expect("discover");
            assert_eq!(default_host(&c).as_deref(), Some(want));
        }
    }

    #[test]
    fn scoped_registries_and_env_expansion() {
        let mut m = machine(
            "@corp:registry=https://${CORP_HOST}/npm/\n//npm.corp.example/npm/:_authToken=${NPM_TOKEN}\n",
            "@other:registry=https://other.example\n@corp:registry=https://user-corp.example/\n_authToken=secret-legacy\n",
            "",
            "",
        );
        m.src.env = env_of(&[
            ("CORP_HOST", "npm.corp.example"),
            ("NPM_TOKEN", "s3cr3t-token-value"),
            ("npm_config_@env:registry", "http://127.0.0.1:4873/"),
        ]);
        let c = discover(&m.src).expect("discover");
        assert_eq!(c.default, None);
        let scoped: BTreeMap<_, _> = c
            .scoped
            .iter()
            .map(|(k, v)| (k.as_str(), v.url.as_str()))
            .collect();
        assert_eq!(
            scoped,
            BTreeMap::from([
                ("@corp", "https://npm.corp.example/npm/"),
                ("@env", "http://127.0.0.1:4873/"),
                ("@other", "https://other.example/"),
            ])
        );
        // Auth entries: file and key, never the value.
        let keys: Vec<_> = c.auth.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["_authToken", "//npm.corp.example/npm/:_authToken"] // user file, then project
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("secret-legacy"),
            "{shown}"
        );

        // npm's default is asked for only when nothing set it.
        let npm = tempfile::tempdir().expect("tempdir");
        write_files(
            npm.path(),
            &[(
                "node_modules/@npmcli/config/lib/definitions/definitions.js",
                "  registry: new Definition('registry', {\n    default: 'https://registry.example.com/',\n    type: url,\n",
            )],
        );
        let (regs, _) = c
            .finish(|| npm_default_from_source(Some(npm.path())))
            .expect("finish");
        assert_eq!(regs.default.origin, Origin::NpmDefault);
        assert_eq!(
            rules_as_written(&regs.rules().expect("rules")),
            vec![
                "registry.example.com:443",
                "npm.corp.example:443",
                "127.0.0.1:4873",
                "other.example:443"
            ]
        );
    }

    #[test]
    fn npm_source_is_read_as_checked_data() {
        let def = |body: &str| {
            format!("const x = 1\n  registry: new Definition('registry', {{\n{body}\n    type: url,\n  }}),\n")
        };
        assert_eq!(
            registry_default(&def("    default: 'https://registry.example.com/',")),
            Some("https://registry.example.com/")
        );
        assert_eq!(
            registry_default("define('registry', {\n  default: \"http://127.0.0.1:4873/\",\n"),
            Some("http://127.0.0.1:4873/")
        );
        for bad in [
            def("    default: `https://${host}/`,"),
            def("    default: someVariable,"),
            "  'registry-x': new Definition('registry-x', {\n    default: 'https://x.example/',\n"
                .into(),
            String::new(),
        ] {
            assert_eq!(registry_default(&bad), None, "{bad}");
        }
        // A definition that is not an http(s) URL is an error, not an allow rule.
        let npm = tempfile::tempdir().expect("tempdir");
        write_files(
            npm.path(),
            &[(
                "lib/utils/config/definitions.js",
                &def("    default: 'file:///etc/',"),
            )],
        );
        assert!(npm_default_from_source(Some(npm.path())).is_err());
        let empty = tempfile::tempdir().expect("tempdir");
        let err = npm_default_from_source(Some(empty.path())).expect_err("no source");
        assert!(err.to_string().contains("Fix: set `registry=URL`"), "{err}");
    }

    #[test]
    fn finish_does_not_ask_when_configured() {
        let m = machine("registry=https://registry.example.com/", "", "", "");
        let c = discover(&m.src).expect("discover");
        let (regs, _) = c
            .finish(|| panic!("asked npm although configured"))
            .expect("finish");
        assert_eq!(regs.default.url.as_str(), "https://registry.example.com/");
    }

    #[test]
    fn userconfig_and_prefix_move_the_files() {
        let mut m = machine("", "registry=https://ignored-user.example/", "", "");
        let root = m._dir.path().to_path_buf();
        write_files(
            &root,
            &[
                ("alt-npmrc", "prefix=~/global\n"),
                (
                    "home/global/etc/npmrc",
                    "registry=https://prefixed-global.example/\n",
                ),
            ],
        );
        m.src.env = env_of(&[(
            "npm_config_userconfig",
            root.join("alt-npmrc").to_str().unwrap_or_default(),
        )]);
        let c = discover(&m.src).expect("discover");
        assert_eq!(default_host(&c).as_deref(), Some("prefixed-global.example"));
    }

    #[test]
    fn errors_name_the_origin_and_hide_credentials() {
        let m = machine("registry=${NOPE}", "", "", "");
        let err = discover(&m.src).expect_err("unset var").to_string();
        assert!(
            err.contains("NOPE") && err.contains("project config"),
            "{err}"
        );
        let m = machine("registry=ftp://user:hunter2@files.example/", "", "", "");
        let err = discover(&m.src).expect_err("bad scheme").to_string();
        assert!(!err.contains("hunter2"), "{err}");
        // An unset variable in a key npm does not need is not an error.
        let m = machine(
            "//h/:_authToken=${UNSET_TOKEN}\nregistry=https://registry.example.com",
            "",
            "",
            "",
        );
        assert!(discover(&m.src).is_ok());
    }

    #[test]
    fn a_launcher_script_leads_to_npms_package_and_the_prefix_of_the_node_it_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let node = root.join("node24/bin/node");
        let cli = root.join("npm12/lib/bin/npm-cli.js");
        for (path, text) in [
            (&node, "#!/bin/sh\n".to_string()),
            (&cli, "// npm\n".to_string()),
            (
                &root.join("npm12/lib/package.json"),
                r#"{"name": "npm", "version": "12.2.3"}"#.to_string(),
            ),
            // The toolchain's own `node` beside npm: a wrapper, not node's prefix.
            (&root.join("npm12/bin/node"), "#!/bin/sh\n".to_string()),
            (
                &root.join("npm12/bin/npm"),
                format!(
                    "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
                    node.display(),
                    cli.display()
                ),
            ),
        ] {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let bin = root.join("npm12/bin");
        let (package, prefix) = locate_npm(bin.to_str().expect("utf8")).expect("located");
        assert_eq!(package, root.join("npm12/lib"));
        assert_eq!(prefix, root.join("node24"));
    }
}
