//! uv's package indexes, read the way uv resolves its settings, as data: uv does not read
//! pip.conf or `PIP_*`, only its own configuration.
//!
//! Sources, highest precedence first:
//! 1. the command line: `--default-index`, `--index-url`/`-i` (deprecated spelling of the
//!    default), `--index` (`[NAME=]URL`, repeatable), `--extra-index-url`, `--find-links`/`-f`,
//!    `--no-index`, `--config-file FILE`, `--no-config`;
//! 2. the environment: `UV_DEFAULT_INDEX`, `UV_INDEX_URL`, `UV_INDEX` and `UV_EXTRA_INDEX_URL`
//!    (space-separated lists), `UV_FIND_LINKS` (comma-separated), `UV_CONFIG_FILE`,
//!    `UV_NO_CONFIG`;
//! 3. configuration files: with `--config-file`/`UV_CONFIG_FILE` that file only; else the
//!    project's (the nearest `uv.toml`, or `pyproject.toml` with a `[tool.uv]` table, from the
//!    working directory up), the user's (`$XDG_CONFIG_HOME/uv/uv.toml`, default
//!    `~/.config/uv/uv.toml`) and the system's (`$XDG_CONFIG_DIRS/uv/uv.toml`, default
//!    `/etc/xdg/uv/uv.toml`, then `/etc/uv/uv.toml`). Keys: `index-url`, `extra-index-url`,
//!    `find-links`, `no-index` (top level and in the `pip` table) and `[[index]]` (`url`,
//!    `default`).
//!
//! Every index any source names is allowed (uv merges list settings across files; a wider
//! list only ever names hosts the user configured). uv's own default index is added when no
//! source names a default and none says `no-index`: it is read from uv's binary by the
//! caller ([`super::defaults`]), never written here.
//!
//! Credentials in URLs (`https://user:token@host/simple`) are dropped at parse time: nothing
//! returned holds them; the host is kept.

use crate::policy::allow::{redacted_url, Rule, RuleError, RuleSource};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use url::Url;

/// Errors deriving uv's indexes.
#[derive(Debug, thiserror::Error)]
pub enum UvConfError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML")]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{origin}: {option} is not a valid URL or path: {value}")]
    BadValue {
        origin: UvOrigin,
        option: String,
        value: String,
    },
    #[error("{origin}: {option} needs a value")]
    MissingValue { origin: UvOrigin, option: String },
    #[error(
        "no index is configured, and uv's default index cannot be read from its executable \
         ({detail}). Fix: pass --default-index URL (or set UV_DEFAULT_INDEX, or an [[index]] \
         with default = true in uv.toml)"
    )]
    DefaultUnknown { detail: String },
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UvOrigin {
    File(PathBuf),
    Env(String),
    CommandLine,
    /// uv's built-in default, read from its executable.
    UvDefault(PathBuf),
    /// The file host of the same default index, read from pip's source.
    PipSource,
}

impl fmt::Display for UvOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UvOrigin::File(p) => write!(f, "{}", p.display()),
            UvOrigin::Env(name) => write!(f, "environment variable {name}"),
            UvOrigin::CommandLine => f.write_str("uv command line"),
            UvOrigin::UvDefault(exe) => {
                write!(f, "uv's default index (read from {})", exe.display())
            }
            UvOrigin::PipSource => {
                f.write_str("the file host of uv's default index, as pip's source names it")
            }
        }
    }
}

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    DefaultIndex,
    Index,
    FindLinks,
    FileHost,
}

impl Role {
    fn option(self) -> &'static str {
        match self {
            Role::DefaultIndex => "default-index",
            Role::Index => "index",
            Role::FindLinks => "find-links",
            Role::FileHost => "file host",
        }
    }
}

/// One remote endpoint, without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: Url,
    pub role: Role,
    pub origin: UvOrigin,
}

/// Everything discovery needs, explicit so tests do not touch the machine.
#[derive(Debug, Clone, Default)]
pub struct UvSources {
    pub env: BTreeMap<String, String>,
    pub home: PathBuf,
    pub cwd: PathBuf,
    /// The words after `uv`.
    pub args: Vec<String>,
    /// Prefix for the system-wide files: `/`, or a test directory. Empty means `/`.
    pub root: PathBuf,
}

/// What configuration and command line say, before uv's default is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UvConfigured {
    pub endpoints: Vec<Endpoint>,
    /// Local indexes and find-links directories.
    pub local: Vec<(PathBuf, UvOrigin)>,
    /// Some source names the default index.
    pub has_default: bool,
    pub no_index: bool,
    /// Config files read.
    pub files: Vec<PathBuf>,
    /// Named indexes (`[[index]] name = …`, `--index NAME=URL`): uv reads their credentials
    /// from `UV_INDEX_<NAME>_USERNAME` / `_PASSWORD`.
    pub named: Vec<(String, Url)>,
}

/// uv's default index, and the host its files live on when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvDefaults {
    pub index: Url,
    pub executable: PathBuf,
    pub file_host: Option<String>,
}

impl UvConfigured {
    /// Complete with uv's default index when no source names one and indexes are in use;
    /// `ask` runs only then.
    pub fn finish(
        mut self,
        ask: impl FnOnce() -> Result<UvDefaults, UvConfError>,
    ) -> Result<Self, UvConfError> {
        if self.no_index {
            self.endpoints
                .retain(|e| !matches!(e.role, Role::DefaultIndex | Role::Index));
            return Ok(self);
        }
        if !self.has_default {
            let d = ask()?;
            self.endpoints.insert(
                0,
                Endpoint {
                    url: d.index,
                    role: Role::DefaultIndex,
                    origin: UvOrigin::UvDefault(d.executable),
                },
            );
            if let Some(host) = d.file_host {
                let url =
                    Url::parse(&format!("https://{host}/")).map_err(|_| UvConfError::BadValue {
                        origin: UvOrigin::PipSource,
                        option: "file host".into(),
                        value: host.clone(),
                    })?;
                self.endpoints.insert(
                    1,
                    Endpoint {
                        url,
                        role: Role::FileHost,
                        origin: UvOrigin::PipSource,
                    },
                );
            }
            self.has_default = true;
        }
        Ok(self)
    }

    /// One allow rule per endpoint host:port (deduplicated, first origin kept).
    pub fn rules(&self) -> Result<Vec<Rule>, RuleError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in &self.endpoints {
            let rule = Rule::for_url(
                &e.url,
                RuleSource::Uv(format!("{} from {}", e.role.option(), e.origin)),
            )?;
            if seen.insert(rule.to_string()) {
                out.push(rule);
            }
        }
        Ok(out)
    }

    /// Whether the default index this run uses came from uv's built-in default.
    #[cfg(test)]
    pub fn uses_builtin_default(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| matches!(e.origin, UvOrigin::UvDefault(_)))
    }

    fn add(
        &mut self,
        value: &str,
        role: Role,
        origin: &UvOrigin,
        base: &Path,
    ) -> Result<(), UvConfError> {
        let value = value.trim();
        // `--index NAME=URL`: the name is a label; a URL has no `=` before its scheme.
        let (name, value) = match value.split_once('=') {
            Some((name, url))
                if role != Role::FindLinks && !name.contains(['/', ':']) && !name.is_empty() =>
            {
                (Some(name), url)
            }
            _ => (None, value),
        };
        if value.is_empty() {
            return Ok(());
        }
        if role == Role::DefaultIndex {
            self.has_default = true;
        }
        match Url::parse(value) {
            Ok(u) if u.scheme() == "file" => {
                if let Ok(p) = u.to_file_path() {
                    self.local.push((p, origin.clone()));
                }
                Ok(())
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
                // Credentials never leave the parse: only the host and path are kept.
                let clean = Url::parse(&redacted_url(&u)).map_err(|_| UvConfError::BadValue {
                    origin: origin.clone(),
                    option: role.option().into(),
                    value: redacted_url(&u),
                })?;
                if let Some(name) = name {
                    self.named.push((name.to_string(), clean.clone()));
                }
                self.endpoints.push(Endpoint {
                    url: clean,
                    role,
                    origin: origin.clone(),
                });
                Ok(())
            }
            Ok(u) => Err(UvConfError::BadValue {
                origin: origin.clone(),
                option: role.option().into(),
                value: redacted_url(&u),
            }),
            // A local directory (an index laid out on disk, a find-links directory).
            Err(_) => {
                let p = base.join(value);
                self.local.push((p, origin.clone()));
                Ok(())
            }
        }
    }
}

/// The variable uv reads a named index's credential part from: `UV_INDEX_<NAME>_<PART>`,
/// the name upper-cased with every other character than a letter or digit as `_`.
pub fn index_variable(name: &str, part: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("UV_INDEX_{name}_{part}")
}

/// Discover the indexes `uv` will use for this command line.
pub fn discover(src: &UvSources) -> Result<UvConfigured, UvConfError> {
    let mut out = UvConfigured::default();
    let (cli_opts, config_file, no_config) = parse_args(&src.args)?;
    let env = |k: &str| src.env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let truthy = |v: Option<&str>| v.is_some_and(|v| matches!(v, "1" | "true" | "yes" | "on"));
    for (role, value) in &cli_opts {
        match role {
            None => out.no_index = true,
            Some(role) => out.add(value, *role, &UvOrigin::CommandLine, &src.cwd)?,
        }
    }
    for (name, role, sep) in [
        ("UV_DEFAULT_INDEX", Role::DefaultIndex, None),
        ("UV_INDEX_URL", Role::DefaultIndex, None),
        ("UV_INDEX", Role::Index, Some(' ')),
        ("UV_EXTRA_INDEX_URL", Role::Index, Some(' ')),
        ("UV_FIND_LINKS", Role::FindLinks, Some(',')),
    ] {
        let Some(v) = env(name) else { continue };
        let origin = UvOrigin::Env(name.into());
        match sep {
            None => out.add(v, role, &origin, &src.cwd)?,
            Some(c) => {
                for part in v.split(c).filter(|p| !p.trim().is_empty()) {
                    out.add(part, role, &origin, &src.cwd)?;
                }
            }
        }
    }
    let config_file = config_file.or_else(|| env("UV_CONFIG_FILE").map(PathBuf::from));
    let files = match config_file {
        Some(f) => vec![src.cwd.join(f)],
        None if no_config || truthy(env("UV_NO_CONFIG")) => Vec::new(),
        None => config_files(src),
    };
    for f in files {
        read_file(&mut out, &f)?;
    }
    Ok(out)
}

/// The command line's index options: `(Some(role), value)`, `(None, _)` for `--no-index`;
/// and `--config-file`, `--no-config`.
#[allow(clippy::type_complexity)]
fn parse_args(
    args: &[String],
) -> Result<(Vec<(Option<Role>, String)>, Option<PathBuf>, bool), UvConfError> {
    let options: [(&[&str], Role); 4] = [
        (&["--default-index"], Role::DefaultIndex),
        (&["--index-url", "-i"], Role::DefaultIndex),
        (&["--index", "--extra-index-url"], Role::Index),
        (&["--find-links", "-f"], Role::FindLinks),
    ];
    let mut out = Vec::new();
    let mut config = None;
    let mut no_config = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            break;
        }
        if a == "--no-index" {
            out.push((None, String::new()));
        }
        if a == "--no-config" {
            no_config = true;
        }
        let mut take = |names: &[&str]| -> Result<Option<String>, UvConfError> {
            for n in names {
                if a == *n {
                    let v = args.get(i + 1).ok_or_else(|| UvConfError::MissingValue {
                        origin: UvOrigin::CommandLine,
                        option: n.to_string(),
                    })?;
                    i += 1;
                    return Ok(Some(v.clone()));
                }
                if let Some(v) = a.strip_prefix(&format!("{n}=")) {
                    return Ok(Some(v.to_string()));
                }
                // `-iURL`, `-fDIR`
                if n.len() == 2 && a.len() > 2 && a.starts_with(n) && !a.starts_with("--") {
                    return Ok(Some(a[2..].to_string()));
                }
            }
            Ok(None)
        };
        if let Some(v) = take(&["--config-file"])? {
            config = Some(PathBuf::from(v));
        } else {
            for (names, role) in &options {
                if let Some(v) = take(names)? {
                    out.push((Some(*role), v));
                    break;
                }
            }
        }
        i += 1;
    }
    Ok((out, config, no_config))
}

/// The files uv reads without `--config-file`: the project's, the user's, the system's.
pub fn config_files(src: &UvSources) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in src.cwd.ancestors() {
        let uv_toml = dir.join("uv.toml");
        if uv_toml.is_file() {
            files.push(uv_toml);
            break;
        }
        let pyproject = dir.join("pyproject.toml");
        let has_tool_uv = std::fs::read_to_string(&pyproject)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| {
                t.get("tool")
                    .and_then(|t| t.as_table())
                    .is_some_and(|t| t.contains_key("uv"))
            });
        if has_tool_uv {
            files.push(pyproject);
            break;
        }
    }
    let env = |k: &str| {
        src.env
            .get(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let config_home = env("XDG_CONFIG_HOME").unwrap_or_else(|| src.home.join(".config"));
    files.push(config_home.join("uv/uv.toml"));
    let root = if src.root.as_os_str().is_empty() {
        PathBuf::from("/")
    } else {
        src.root.clone()
    };
    let system = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let xdg_dirs = src
        .env
        .get("XDG_CONFIG_DIRS")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| "/etc/xdg".into());
    for d in xdg_dirs
        .split(':')
        .map(Path::new)
        .filter(|p| p.is_absolute())
    {
        files.push(system(&d.join("uv/uv.toml")));
    }
    files.push(system(Path::new("/etc/uv/uv.toml")));
    files
}

fn read_file(out: &mut UvConfigured, path: &Path) -> Result<(), UvConfError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(UvConfError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let doc: toml::Table = text.parse().map_err(|source| UvConfError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    out.files.push(path.to_path_buf());
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    let settings = if is_pyproject {
        match doc
            .get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|t| t.as_table())
        {
            Some(t) => t.clone(),
            None => return Ok(()),
        }
    } else {
        doc
    };
    let origin = UvOrigin::File(path.to_path_buf());
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let tables = std::iter::once(&settings).chain(settings.get("pip").and_then(|p| p.as_table()));
    for table in tables {
        if let Some(v) = table.get("index-url").and_then(|v| v.as_str()) {
            out.add(v, Role::DefaultIndex, &origin, &base)?;
        }
        for (key, role) in [
            ("extra-index-url", Role::Index),
            ("find-links", Role::FindLinks),
        ] {
            for v in table
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
            {
                out.add(v, role, &origin, &base)?;
            }
        }
        if table.get("no-index").and_then(|v| v.as_bool()) == Some(true) {
            out.no_index = true;
        }
    }
    for index in settings
        .get("index")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_table())
    {
        let Some(url) = index.get("url").and_then(|v| v.as_str()) else {
            continue;
        };
        let role = if index.get("default").and_then(|v| v.as_bool()) == Some(true) {
            Role::DefaultIndex
        } else {
            Role::Index
        };
        match index.get("name").and_then(|v| v.as_str()) {
            // The form the command line takes, so one parse names both.
            Some(name) => out.add(&format!("{name}={url}"), role, &origin, &base)?,
            None => out.add(url, role, &origin, &base)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{env_of, rules_as_written, write_files};

    fn src(root: &Path, env: &[(&str, &str)], args: &[&str]) -> UvSources {
        UvSources {
            env: env_of(env),
            home: root.join("home"),
            cwd: root.join("home/p/sub"),
            args: args.iter().map(|s| s.to_string()).collect(),
            root: root.join("sys"),
        }
    }

    fn never() -> Result<UvDefaults, UvConfError> {
        panic!("uv's default must not be asked for")
    }

    #[test]
    fn named_indexes_and_their_credential_variables() {
        let root = tempfile::tempdir().expect("tempdir");
        write_files(
            root.path(),
            &[(
                "home/.config/uv/uv.toml",
                "[[index]]\nname = \"corp-internal.v2\"\nurl = \"https://corp.example.com/simple\"\n",
            )],
        );
        let got = discover(&src(
            root.path(),
            &[],
            &[
                "pip",
                "install",
                "--index",
                "extra=https://x.example.com/simple",
                "p",
            ],
        ))
        .expect("discover");
        let named: Vec<(String, String)> = got
            .named
            .iter()
            .map(|(n, u)| (n.clone(), u.to_string()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "extra".to_string(),
                    "https://x.example.com/simple".to_string()
                ),
                (
                    "corp-internal.v2".to_string(),
                    "https://corp.example.com/simple".to_string()
                ),
            ]
        );
        assert_eq!(
            index_variable("corp-internal.v2", "PASSWORD"),
            "UV_INDEX_CORP_INTERNAL_V2_PASSWORD"
        );
    }

    #[test]
    fn every_source_names_its_indexes_without_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/p/sub")).expect("mkdir");
        write_files(
            root,
            &[
                (
                    "home/p/pyproject.toml",
                    "[project]\nname = \"p\"\n[tool.uv]\nextra-index-url = [\"https://u:t@proj.example.com/simple\"]\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://corp.example.com/simple\"\ndefault = true\n",
                ),
                ("home/.config/uv/uv.toml", "[pip]\nfind-links = [\"https://links.example.com/\"]\n"),
                ("sys/etc/uv/uv.toml", "index-url = \"https://system.example.com/simple\"\n"),
            ],
        );
        let s = src(
            root,
            &[
                (
                    "UV_INDEX",
                    "a=https://env-a.example.com/simple https://env-b.example.com:8443/simple",
                ),
                ("UV_EXTRA_INDEX_URL", "https://extra.example.com/simple"),
            ],
            &[
                "pip",
                "install",
                "--index",
                "cli=https://x:y@cli.example.com/simple",
                "--find-links",
                "./wheels",
                "x",
            ],
        );
        let c = discover(&s)
            .expect("discover")
            .finish(never)
            .expect("finish");
        assert_eq!(
            rules_as_written(&c.rules().expect("rules")),
            [
                "cli.example.com:443",
                "env-a.example.com:443",
                "env-b.example.com:8443",
                "extra.example.com:443",
                "proj.example.com:443",
                "corp.example.com:443",
                "links.example.com:443",
                "system.example.com:443",
            ]
        );
        assert!(c
            .endpoints
            .iter()
            .all(|e| e.url.username().is_empty() && e.url.password().is_none()));
        assert_eq!(
            c.local,
            [(root.join("home/p/sub/wheels"), UvOrigin::CommandLine)]
        );
        assert!(!c.uses_builtin_default());
    }

    #[test]
    fn without_a_configured_default_uvs_own_is_added_with_its_file_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/p/sub")).expect("mkdir");
        let s = src(
            root,
            &[("UV_INDEX", "https://extra.example.com/simple")],
            &["sync"],
        );
        let c = discover(&s)
            .expect("discover")
            .finish(|| {
                Ok(UvDefaults {
                    index: Url::parse("https://registry.example.com/simple").expect("url"),
                    executable: "/opt/uv".into(),
                    file_host: Some("files.example.com".into()),
                })
            })
            .expect("finish");
        assert_eq!(
            rules_as_written(&c.rules().expect("rules")),
            [
                "registry.example.com:443",
                "files.example.com:443",
                "extra.example.com:443"
            ]
        );
        assert!(c.uses_builtin_default());
        // A default from any source: uv's own is not asked for.
        for (env, args) in [
            (
                &[("UV_DEFAULT_INDEX", "http://127.0.0.1:1/simple")][..],
                &["sync"][..],
            ),
            (
                &[("UV_INDEX_URL", "http://u:p@127.0.0.1:1/simple")][..],
                &["sync"][..],
            ),
            (
                &[][..],
                &["pip", "install", "-ihttp://127.0.0.1:1/simple", "x"][..],
            ),
            (
                &[][..],
                &["pip", "install", "--no-index", "--find-links=/w", "x"][..],
            ),
        ] {
            let c = discover(&src(root, env, args))
                .expect("discover")
                .finish(never)
                .expect("finish");
            assert!(!c.uses_builtin_default(), "{env:?} {args:?}");
        }
        // A failure to read uv's default is the run's failure.
        let failed = discover(&s).expect("discover").finish(|| {
            Err(UvConfError::DefaultUnknown {
                detail: "test".into(),
            })
        });
        assert!(failed.is_err_and(|e| e.to_string().contains("--default-index URL")));
    }

    #[test]
    fn a_config_file_option_replaces_the_discovered_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/p/sub")).expect("mkdir");
        write_files(
            root,
            &[
                (
                    "home/p/uv.toml",
                    "index-url = \"https://project.example.com/simple\"\n",
                ),
                (
                    "other.toml",
                    "index-url = \"https://other.example.com/simple\"\n",
                ),
            ],
        );
        let conf = root.join("other.toml").display().to_string();
        let c = discover(&src(root, &[], &["--config-file", &conf, "sync"])).expect("discover");
        assert_eq!(
            rules_as_written(&c.rules().expect("rules")),
            ["other.example.com:443"]
        );
        let c = discover(&src(root, &[("UV_NO_CONFIG", "1")], &["sync"])).expect("discover");
        assert!(c.endpoints.is_empty() && c.files.is_empty());
        let c = discover(&src(root, &[], &["sync"])).expect("discover");
        assert_eq!(c.files, [root.join("home/p/uv.toml")]);
    }
}
