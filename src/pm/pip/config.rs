//! pip's package indexes, derived the way pip resolves its options, so the egress allow-list
//! names the hosts this install will use and nothing is hard-coded.
//!
//! Sources, lowest precedence first (pip's `Configuration` override order):
//! 1. config files: global (`$XDG_CONFIG_DIRS/pip/pip.conf`, default `/etc/xdg/pip/pip.conf`,
//!    then `/etc/pip.conf`), user (`~/.pip/pip.conf`, then `$XDG_CONFIG_HOME/pip/pip.conf`),
//!    site (`<environment>/pip.conf`, see [`PipSources::site`]), then `PIP_CONFIG_FILE`.
//!    When `PIP_CONFIG_FILE` names an existing file the user files are skipped, and when it
//!    is `/dev/null` no file is read.
//!    Within the merged files an `[install]` key beats a `[global]` one;
//! 2. environment: `PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, `PIP_FIND_LINKS`, `PIP_NO_INDEX`;
//! 3. the pip argv: `-i/--index-url`, `--extra-index-url`, `-f/--find-links`, `--no-index`
//!    (`--flag value`, `--flag=value`, `-iURL`), and the same options inside `-r`/`-c` files,
//!    recursively (relative to the including file), with `${VAR}` expanded;
//! 4. direct URL requirements on the command line or in requirements files
//!    (`name @ https://…`, `https://…/x.whl`, `git+https://…`): pip fetches them whatever the
//!    index settings, so their hosts are endpoints too, as are remote `-r https://…` files.
//!    Options on the command line and in requirements files are read by
//!    [`super::requirements`].
//!
//! Without a configured `index-url` (and without `--no-index`), pip's own default index and
//! file host are read as text from the pip the target interpreter imports
//! ([`super::defaults`]) — never written here, and never by running that interpreter.
//!
//! Credentials in URLs (`https://user:token@host/simple`) are dropped at parse time: nothing
//! returned holds them; the host is kept.

use super::requirements::{direct_url, parse_options};
use crate::policy::allow::{redacted_url, Rule, RuleError, RuleSource};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use url::Url;

/// Errors deriving pip's indexes.
#[derive(Debug, thiserror::Error)]
pub enum PipConfError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {option} is not a valid URL or path: {value}")]
    BadValue {
        origin: PipOrigin,
        option: String,
        value: String,
    },
    #[error("{origin}: {option} needs a value")]
    MissingValue { origin: PipOrigin, option: String },
    #[error("requirements files nest deeper than {MAX_DEPTH} levels at {0}")]
    TooDeep(PathBuf),
    #[error(
        "no index is configured, and pip's default index cannot be read from the pip that \
         {python} imports (no pip/_internal/models/index.py in {}). Fix: pass --index-url URL \
         (or set PIP_INDEX_URL, or index-url in pip.conf)", looked_list(.looked)
    )]
    SourceNotFound {
        python: PathBuf,
        looked: Vec<PathBuf>,
    },
    #[error(
        "no index is configured, and {file} does not define pip's default index the way pip's \
         source does (`PyPI = PackageIndex(\"<url>\", file_storage_domain=\"<host>\")`). \
         Fix: pass --index-url URL (or set PIP_INDEX_URL, or index-url in pip.conf)"
    )]
    SourceUnrecognised { file: PathBuf },
    #[error("no Python interpreter found for this pip command, so pip's default index is unknown. Fix: pass --index-url URL (or set PIP_INDEX_URL, or index-url in pip.conf)")]
    NoInterpreter,
}

fn looked_list(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "any site directory".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How deep `-r` files may nest (pip has no limit; cycles are cut separately).
pub const MAX_DEPTH: usize = 16;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipOrigin {
    File {
        path: PathBuf,
        section: String,
    },
    Env(String),
    CommandLine,
    Requirements(PathBuf),
    /// pip's built-in default, asked of the interpreter.
    PipDefault,
}

impl fmt::Display for PipOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipOrigin::File { path, section } => write!(f, "[{section}] in {}", path.display()),
            PipOrigin::Env(name) => write!(f, "environment variable {name}"),
            PipOrigin::CommandLine => f.write_str("pip command line"),
            PipOrigin::Requirements(p) => write!(f, "requirements file {}", p.display()),
            PipOrigin::PipDefault => f.write_str("pip's default index"),
        }
    }
}

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Index,
    ExtraIndex,
    FindLinks,
    /// The host serving the default index's files.
    FileStorage,
    /// A remote `-r`/`-c` file pip downloads.
    RequirementsFile,
    /// A direct URL requirement (`name @ https://…`, `https://…/x.whl`, `git+https://…`).
    DirectUrl,
}

impl Role {
    fn option(self) -> &'static str {
        match self {
            Role::Index => "index-url",
            Role::ExtraIndex => "extra-index-url",
            Role::FindLinks => "find-links",
            Role::FileStorage => "file-storage-domain",
            Role::RequirementsFile => "requirement",
            Role::DirectUrl => "direct URL requirement",
        }
    }
}

/// One network endpoint pip will use. `url` has no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: Url,
    pub role: Role,
    pub origin: PipOrigin,
}

#[cfg(test)]
impl Endpoint {
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    pub fn host(&self) -> Option<&str> {
        self.url.host_str()
    }

    pub fn port(&self) -> Option<u16> {
        self.url.port_or_known_default()
    }
}

/// A local `find-links` directory or file (not a host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLinks {
    pub path: PathBuf,
    pub origin: PipOrigin,
}

/// Everything pip will reach for this install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipEndpoints {
    pub endpoints: Vec<Endpoint>,
    pub local_find_links: Vec<LocalLinks>,
    /// `--no-index`: indexes are ignored, only find-links are used.
    pub no_index: bool,
}

impl PipEndpoints {
    /// One allow rule per endpoint host:port (deduplicated, first origin kept).
    pub fn rules(&self) -> Result<Vec<Rule>, RuleError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in &self.endpoints {
            let rule = Rule::for_url(
                &e.url,
                RuleSource::Pip(format!("{} from {}", e.role.option(), e.origin)),
            )?;
            if seen.insert(rule.to_string()) {
                out.push(rule);
            }
        }
        Ok(out)
    }
}

/// Everything discovery needs, explicit so tests do not touch the machine.
#[derive(Debug, Clone, Default)]
pub struct PipSources {
    /// The caller's environment (`PIP_*`, `XDG_*`, `VIRTUAL_ENV`, variables for `${VAR}`).
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    /// The directory pip runs in (relative `-r` paths).
    pub cwd: PathBuf,
    /// The pip argv after `pip` / `-m pip` (`install`, `-r`, …).
    pub args: Vec<String>,
    /// Prefix for the system-wide files (`/etc/...`): `/`, or a test directory. Empty means `/`.
    pub root: PathBuf,
    /// The environments whose `pip.conf` may be pip's site file (`<sys.prefix>/pip.conf`),
    /// lowest precedence first ([`super::site_envs`]).
    pub site: Vec<PathBuf>,
}

/// A value with its origin, before URL/path interpretation.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub(super) value: String,
    pub(super) origin: PipOrigin,
}

/// What configuration and argv say, before pip's defaults are asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipConfigured {
    pub index: Option<Endpoint>,
    pub extra: Vec<Endpoint>,
    pub find_links: Vec<Endpoint>,
    pub local_find_links: Vec<LocalLinks>,
    /// `-r https://…` files pip downloads (their own options cannot be known in advance).
    pub remote_requirements: Vec<Endpoint>,
    /// Direct URL requirements (fetched whatever `--no-index` says).
    pub direct_urls: Vec<Endpoint>,
    pub no_index: bool,
    /// Config files read.
    pub files: Vec<PathBuf>,
}

/// pip's default index (`PyPI.simple_url`) and the host its files live on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipDefaults {
    pub simple_url: Url,
    pub file_storage_domain: String,
}

impl PipConfigured {
    /// Complete with pip's defaults when no index-url is set and indexes are in use; `ask`
    /// runs only then.
    pub fn finish(
        self,
        ask: impl FnOnce() -> Result<PipDefaults, PipConfError>,
    ) -> Result<PipEndpoints, PipConfError> {
        let mut endpoints = Vec::new();
        if !self.no_index {
            match self.index {
                Some(i) => endpoints.push(i),
                None => {
                    let d = ask()?;
                    let files = Url::parse(&format!("https://{}/", d.file_storage_domain))
                        .map_err(|_| PipConfError::BadValue {
                            origin: PipOrigin::PipDefault,
                            option: "file_storage_domain".into(),
                            value: d.file_storage_domain.clone(),
                        })?;
                    endpoints.push(Endpoint {
                        url: d.simple_url,
                        role: Role::Index,
                        origin: PipOrigin::PipDefault,
                    });
                    endpoints.push(Endpoint {
                        url: files,
                        role: Role::FileStorage,
                        origin: PipOrigin::PipDefault,
                    });
                }
            }
            endpoints.extend(self.extra);
        }
        endpoints.extend(self.find_links);
        endpoints.extend(self.remote_requirements);
        endpoints.extend(self.direct_urls);
        Ok(PipEndpoints {
            endpoints,
            local_find_links: self.local_find_links,
            no_index: self.no_index,
        })
    }
}

/// Parse pip.conf text (configparser syntax): `{section → {normalised key → value}}`.
pub fn parse_pip_conf(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        let indented = line.starts_with([' ', '\t']);
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if indented && !trimmed.is_empty() {
            // Continuation of the previous value.
            if let (Some(s), Some(k)) = (&section, &last_key) {
                if let Some(v) = out.get_mut(s).and_then(|m| m.get_mut(k)) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = Some(name.trim().to_owned());
            last_key = None;
            continue;
        }
        let Some(s) = &section else {
            continue;
        };
        let split = trimmed.find(['=', ':']);
        let (key, value) = match split {
            Some(i) => (&trimmed[..i], trimmed[i + 1..].trim()),
            None => (trimmed, ""),
        };
        let key = normalise_key(key);
        out.entry(s.clone())
            .or_default()
            .insert(key.clone(), value.to_owned());
        last_key = Some(key);
    }
    out
}

/// pip's option-name normalisation: lower case, `_` → `-`, no leading `--`.
fn normalise_key(key: &str) -> String {
    let k = key.trim().to_lowercase().replace('_', "-");
    k.strip_prefix("--").map(str::to_owned).unwrap_or(k)
}

/// The config files pip would read, lowest precedence first.
pub fn config_files(src: &PipSources) -> Vec<PathBuf> {
    let env = |k: &str| src.env.get(k).filter(|v| !v.is_empty()).cloned();
    let env_file = env("PIP_CONFIG_FILE").map(PathBuf::from);
    if env_file.as_deref() == Some(Path::new("/dev/null")) {
        return Vec::new();
    }
    let mut files = Vec::new();
    let system = |p: &str| match src.root.as_os_str().is_empty() {
        true => PathBuf::from(p),
        false => src.root.join(p.trim_start_matches('/')),
    };
    let xdg_dirs = env("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
    for dir in xdg_dirs.split(':').filter(|d| !d.is_empty()) {
        files.push(system(dir).join("pip/pip.conf"));
    }
    files.push(system("/etc/pip.conf"));
    let skip_user = env_file.as_ref().is_some_and(|p| p.exists());
    if !skip_user {
        if let Some(home) = &src.home {
            files.push(home.join(".pip/pip.conf"));
        }
        let xdg_home = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| src.home.as_ref().map(|h| h.join(".config")));
        if let Some(x) = xdg_home {
            files.push(x.join("pip/pip.conf"));
        }
    }
    files.extend(src.site.iter().map(|env| env.join("pip.conf")));
    files.extend(env_file);
    files
}

/// Settings gathered so far, later assignments overriding earlier ones.
#[derive(Default)]
pub(super) struct Settings {
    pub(super) index: Option<Raw>,
    pub(super) extra: Vec<Raw>,
    pub(super) find_links: Vec<Raw>,
    pub(super) remote_requirements: Vec<Raw>,
    pub(super) direct_urls: Vec<Raw>,
    pub(super) no_index: Option<bool>,
}

impl Settings {
    /// Record `requirement`'s URL when it is a direct URL requirement (see [`direct_url`]):
    /// pip fetches it whatever the index settings, from the command line or a requirements file.
    pub(super) fn note_direct_url(&mut self, requirement: &str, origin: &PipOrigin) {
        if let Some(url) = direct_url(requirement) {
            self.direct_urls.push(Raw {
                value: url,
                origin: origin.clone(),
            });
        }
    }
}

/// Read config files, environment and argv (with requirements files).
pub fn discover(src: &PipSources) -> Result<PipConfigured, PipConfError> {
    let mut files_read = Vec::new();
    // 1. Files, merged per "section.key" (a later file overrides), then [global] < [install].
    let mut merged: BTreeMap<(String, String), Raw> = BTreeMap::new();
    for path in config_files(src) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PipConfError::Read { path, source }),
        };
        for (section, keys) in parse_pip_conf(&text) {
            if section != "global" && section != "install" {
                continue;
            }
            for (key, value) in keys {
                let origin = PipOrigin::File {
                    path: path.clone(),
                    section: section.clone(),
                };
                merged.insert((section.clone(), key), Raw { value, origin });
            }
        }
        files_read.push(path);
    }
    let mut s = Settings::default();
    for section in ["global", "install"] {
        let get = |k: &str| merged.get(&(section.to_owned(), k.to_owned()));
        apply_config(
            &mut s,
            get("index-url"),
            get("extra-index-url"),
            get("find-links"),
            get("no-index"),
        );
    }
    // 2. Environment.
    let env_raw = |k: &str| {
        src.env.get(k).filter(|v| !v.is_empty()).map(|v| Raw {
            value: v.clone(),
            origin: PipOrigin::Env(k.to_owned()),
        })
    };
    apply_config(
        &mut s,
        env_raw("PIP_INDEX_URL").as_ref(),
        env_raw("PIP_EXTRA_INDEX_URL").as_ref(),
        env_raw("PIP_FIND_LINKS").as_ref(),
        env_raw("PIP_NO_INDEX").as_ref(),
    );
    // 3. Command line and requirements files.
    let mut visited = BTreeSet::new();
    parse_options(
        &src.args,
        &PipOrigin::CommandLine,
        &src.cwd,
        src,
        &mut s,
        &mut visited,
        0,
    )?;

    let index = s.index.map(|r| endpoint(r, Role::Index)).transpose()?;
    let extra = s
        .extra
        .into_iter()
        .map(|r| endpoint(r, Role::ExtraIndex))
        .collect::<Result<Vec<_>, _>>()?;
    let mut find_links = Vec::new();
    let mut local_find_links = Vec::new();
    for r in s.find_links {
        match find_link(r, &src.cwd)? {
            Link::Remote(e) => find_links.push(e),
            Link::Local(l) => local_find_links.push(l),
        }
    }
    let remote_requirements = s
        .remote_requirements
        .into_iter()
        .map(|r| endpoint(r, Role::RequirementsFile))
        .collect::<Result<Vec<_>, _>>()?;
    let direct_urls = s
        .direct_urls
        .into_iter()
        .map(|r| endpoint(r, Role::DirectUrl))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PipConfigured {
        direct_urls,
        index,
        extra,
        find_links,
        local_find_links,
        remote_requirements,
        no_index: s.no_index.unwrap_or(false),
        files: files_read,
    })
}

/// Apply one layer of config/env values (lists replace the lower layer's list, as pip does).
fn apply_config(
    s: &mut Settings,
    index: Option<&Raw>,
    extra: Option<&Raw>,
    links: Option<&Raw>,
    no_index: Option<&Raw>,
) {
    if let Some(r) = index {
        s.index = Some(r.clone());
    }
    let split = |r: &Raw| -> Vec<Raw> {
        r.value
            .split_whitespace()
            .map(|v| Raw {
                value: v.to_owned(),
                origin: r.origin.clone(),
            })
            .collect()
    };
    if let Some(r) = extra {
        s.extra = split(r);
    }
    if let Some(r) = links {
        s.find_links = split(r);
    }
    if let Some(r) = no_index {
        s.no_index = Some(truthy(&r.value));
    }
}

/// pip's `strtobool`; an empty value (a bare `no-index` key) counts as true.
fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_lowercase().as_str(),
        "" | "y" | "yes" | "t" | "true" | "on" | "1"
    )
}

/// A URL with credentials, query and fragment dropped.
fn clean_url(url: &Url) -> Option<Url> {
    Url::parse(&redacted_url(url)).ok()
}

fn endpoint(r: Raw, role: Role) -> Result<Endpoint, PipConfError> {
    let bad = |shown: String| PipConfError::BadValue {
        origin: r.origin.clone(),
        option: role.option().into(),
        value: shown,
    };
    let url = Url::parse(&r.value).map_err(|_| bad("(not a URL)".into()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(redacted_url(&url)));
    }
    let url = clean_url(&url).ok_or_else(|| bad("(not a URL)".into()))?;
    Ok(Endpoint {
        url,
        role,
        origin: r.origin,
    })
}

enum Link {
    Remote(Endpoint),
    Local(LocalLinks),
}

/// find-links: an http(s) URL is an endpoint; a `file:` URL or a path is local.
fn find_link(r: Raw, cwd: &Path) -> Result<Link, PipConfError> {
    match Url::parse(&r.value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            Ok(Link::Remote(endpoint(r, Role::FindLinks)?))
        }
        Ok(url) if url.scheme() == "file" => {
            let path = url.to_file_path().map_err(|_| PipConfError::BadValue {
                origin: r.origin.clone(),
                option: "find-links".into(),
                value: redacted_url(&url),
            })?;
            Ok(Link::Local(LocalLinks {
                path,
                origin: r.origin,
            }))
        }
        // A one-letter "scheme" is a Windows drive; anything else with a scheme is refused.
        Ok(url) if url.scheme().len() > 1 => Err(PipConfError::BadValue {
            origin: r.origin.clone(),
            option: "find-links".into(),
            value: redacted_url(&url),
        }),
        _ => Ok(Link::Local(LocalLinks {
            path: cwd.join(&r.value),
            origin: r.origin,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::pip::defaults::parse_index_source;
    use crate::pm::test_fixtures::{env_of, rules_as_written, write_files};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn hosts(e: &[Endpoint]) -> Vec<String> {
        e.iter()
            .map(|e| {
                format!(
                    "{}://{}:{}",
                    e.scheme(),
                    e.host().unwrap_or("?"),
                    e.port().unwrap_or(0)
                )
            })
            .collect()
    }

    /// Sources with no files on the machine: PIP_CONFIG_FILE=/dev/null unless overridden.
    fn sources(dir: &Path, env: &[(&str, &str)], argv: &[&str]) -> PipSources {
        let mut e = env_of(&[("PIP_CONFIG_FILE", "/dev/null")]);
        e.extend(env_of(env));
        let site = e
            .get("VIRTUAL_ENV")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        PipSources {
            env: e,
            home: Some(dir.join("home")),
            cwd: dir.to_path_buf(),
            args: args(argv),
            root: dir.join("root"),
            site,
        }
    }

    /// A fresh directory holding `files` (relative path, text).
    fn dir_with_files(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(dir.path(), files);
        dir
    }

    fn never() -> Result<PipDefaults, PipConfError> {
        panic!("asked pip although an index is configured")
    }

    /// Discover and finish where pip's defaults must not be asked for (an index is set, or
    /// `--no-index`).
    fn endpoints_without_asking(s: &PipSources) -> PipEndpoints {
        discover(s)
            .expect("discover")
            .finish(never)
            .expect("finish")
    }

    #[test]
    fn conf_syntax() {
        let conf = parse_pip_conf(
            "# comment\n[global]\nindex-url = https://registry.example.com/simple\ntimeout: 60\n\
             extra_index_url =\n    https://a.example/simple\n    https://b.example/simple\n; c\n[install]\nno-index\n",
        );
        assert_eq!(
            conf["global"]["index-url"],
            "https://registry.example.com/simple"
        );
        assert_eq!(conf["global"]["timeout"], "60");
        assert_eq!(
            conf["global"]["extra-index-url"],
            "\nhttps://a.example/simple\nhttps://b.example/simple"
        );
        assert_eq!(conf["install"]["no-index"], "");
    }

    #[test]
    fn files_env_and_argv_in_pip_order() {
        let dir = dir_with_files(&[(
            "pip.conf",
            "[global]\nindex-url = https://user:tok3n@conf.example/simple\nextra-index-url = https://x1.example/simple https://x2.example:8443/simple\n[install]\nfind-links = https://links.example/wheels ./wheels file:///opt/wheels\n",
        )]);
        let d = dir.path();
        let conf = d.join("pip.conf");
        let conf = conf.to_str().unwrap_or_default();
        let c = discover(&sources(d, &[("PIP_CONFIG_FILE", conf)], &["install", "x"]))
            .expect("discover");
        assert_eq!(c.files.len(), 1);
        assert_eq!(hosts(c.index.as_slice()), vec!["https://conf.example:443"]);
        assert_eq!(
            c.index.as_ref().map(|e| e.url.as_str()),
            Some("https://conf.example/simple")
        );
        assert_eq!(
            hosts(&c.extra),
            vec!["https://x1.example:443", "https://x2.example:8443"]
        );
        assert_eq!(hosts(&c.find_links), vec!["https://links.example:443"]);
        let local: Vec<_> = c.local_find_links.iter().map(|l| l.path.clone()).collect();
        assert_eq!(
            local,
            vec![d.join("./wheels"), PathBuf::from("/opt/wheels")]
        );
        assert!(!format!("{c:?}").contains("tok3n"));

        // Environment beats files; argv beats environment.
        let s = sources(
            d,
            &[
                ("PIP_CONFIG_FILE", conf),
                ("PIP_INDEX_URL", "http://127.0.0.1:8080/simple"),
                ("PIP_NO_INDEX", ""),
            ],
            &[
                "install",
                "--index-url=http://127.0.0.1:9090/simple/",
                "--extra-index-url",
                "https://x3.example/",
                "-fhttps://l2.example/",
            ],
        );
        let c = discover(&s).expect("discover");
        assert_eq!(hosts(c.index.as_slice()), vec!["http://127.0.0.1:9090"]);
        assert_eq!(
            c.index.as_ref().map(|e| e.origin.clone()),
            Some(PipOrigin::CommandLine)
        );
        assert_eq!(
            hosts(&c.extra),
            vec![
                "https://x1.example:443",
                "https://x2.example:8443",
                "https://x3.example:443"
            ]
        );
        assert_eq!(
            hosts(&c.find_links),
            vec!["https://links.example:443", "https://l2.example:443"]
        );
        let e = c.finish(never).expect("finish");
        assert_eq!(e.endpoints.len(), 6);
        assert_eq!(
            rules_as_written(&e.rules().expect("rules"))[0],
            "127.0.0.1:9090"
        );
    }

    #[test]
    fn install_section_beats_global_across_files() {
        let dir = dir_with_files(&[
            (
                "venv/pip.conf",
                "[install]\nindex-url = https://site-install.example/simple\n",
            ),
            (
                "env.conf",
                "[global]\nindex-url = https://env-global.example/simple\n",
            ),
        ]);
        let d = dir.path();
        let venv = d.join("venv");
        let s = sources(
            d,
            &[
                (
                    "PIP_CONFIG_FILE",
                    d.join("env.conf").to_str().unwrap_or_default(),
                ),
                ("VIRTUAL_ENV", venv.to_str().unwrap_or_default()),
            ],
            &["install"],
        );
        let c = discover(&s).expect("discover");
        assert_eq!(
            hosts(c.index.as_slice()),
            vec!["https://site-install.example:443"]
        );
    }

    #[test]
    fn requirements_files_recursively() {
        let dir = dir_with_files(&[
            (
                "requirements.txt",
                "# top\n--index-url https://${IDX_HOST}/simple  # comment\nrequests==2.0\n-r sub/more.txt\n",
            ),
            (
                "sub/more.txt",
                "--extra-index-url=https://extra.example/simple\n-f \\\n  ../links\n-r ../requirements.txt\n-c constraints.txt\n",
            ),
            (
                "sub/constraints.txt",
                "--find-links https://c.example/\nfoo<2\n",
            ),
        ]);
        let d = dir.path();
        // `-f ../links` in sub/more.txt is taken relative to that file only when it exists.
        std::fs::create_dir_all(d.join("links")).expect("mkdir");
        let s = sources(
            d,
            &[("IDX_HOST", "idx.example")],
            &["install", "-r", "requirements.txt"],
        );
        let c = discover(&s).expect("discover");
        assert_eq!(hosts(c.index.as_slice()), vec!["https://idx.example:443"]);
        assert!(matches!(
            c.index.as_ref().map(|e| &e.origin),
            Some(PipOrigin::Requirements(_))
        ));
        assert_eq!(hosts(&c.extra), vec!["https://extra.example:443"]);
        assert_eq!(hosts(&c.find_links), vec!["https://c.example:443"]);
        assert_eq!(c.local_find_links.len(), 1);
        assert!(
            c.local_find_links[0].path.ends_with("sub/../links"),
            "{:?}",
            c.local_find_links
        );
        // A remote requirements file is an endpoint of its own.
        let s = sources(
            d,
            &[],
            &[
                "install",
                "-r",
                "https://reqs.example/r.txt",
                "--index-url",
                "https://i.example/",
            ],
        );
        let e = endpoints_without_asking(&s);
        assert_eq!(
            hosts(&e.endpoints),
            vec!["https://i.example:443", "https://reqs.example:443"]
        );
        assert_eq!(e.endpoints[1].role, Role::RequirementsFile);
        // Missing requirements files are errors naming the path.
        let s = sources(d, &[], &["install", "-rnope.txt"]);
        assert!(discover(&s)
            .expect_err("missing")
            .to_string()
            .contains("nope.txt"));
    }

    #[test]
    fn defaults_are_asked_only_without_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = discover(&sources(dir.path(), &[], &["install", "x"])).expect("discover");
        let e = c
            .finish(|| {
                parse_index_source(
                    "PyPI = PackageIndex(\"https://registry.example.com/\", file_storage_domain=\"files.example.com\")\n",
                )
                .ok_or(PipConfError::TooDeep(PathBuf::new()))
            })
            .expect("finish");
        assert_eq!(
            hosts(&e.endpoints),
            vec![
                "https://registry.example.com:443",
                "https://files.example.com:443"
            ]
        );
        assert_eq!(e.endpoints[1].role, Role::FileStorage);
        // --no-index: no index, not even the default; find-links still count.
        let e = endpoints_without_asking(&sources(
            dir.path(),
            &[],
            &["install", "--no-index", "-f", "https://l.example/"],
        ));
        assert!(e.no_index);
        assert_eq!(hosts(&e.endpoints), vec!["https://l.example:443"]);
    }

    #[test]
    fn direct_urls() {
        for (req, want) in [
            (
                "pkg @ https://files.example/pkg-1.0.whl",
                Some("https://files.example/pkg-1.0.whl"),
            ),
            (
                "pkg[extra]@https://files.example/p.tar.gz ; python_version>'3'",
                Some("https://files.example/p.tar.gz"),
            ),
            (
                "https://files.example/x.whl",
                Some("https://files.example/x.whl"),
            ),
            (
                "git+https://git.example/org/repo@v1#egg=repo",
                Some("https://git.example/org/repo@v1#egg=repo"),
            ),
            ("git+ssh://git@git.example/org/repo", None),
            ("requests==2.0", None),
            ("./local/dir", None),
            ("pkg @ file:///tmp/x.whl", None),
        ] {
            assert_eq!(direct_url(req).as_deref(), want, "{req}");
        }
        let dir = dir_with_files(&[(
            "r.txt",
            "pkg @ https://u:tok@files.example/pkg.whl\nother==1\n",
        )]);
        let d = dir.path();
        let s = sources(
            d,
            &[],
            &[
                "install",
                "--no-index",
                "--proxy",
                "http://proxy.example:3128",
                "-r",
                "r.txt",
                "git+https://git.example/o/r",
            ],
        );
        let e = endpoints_without_asking(&s);
        assert_eq!(
            hosts(&e.endpoints),
            vec!["https://files.example:443", "https://git.example:443"]
        );
        assert!(e.endpoints.iter().all(|e| e.role == Role::DirectUrl));
        assert!(!format!("{e:?}").contains("tok"));
    }

    #[test]
    fn bad_values_are_errors_without_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = sources(
            dir.path(),
            &[("PIP_INDEX_URL", "ftp://u:hunter2@files.example/")],
            &["install"],
        );
        let err = discover(&s).expect_err("bad scheme").to_string();
        assert!(
            err.contains("PIP_INDEX_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let s = sources(dir.path(), &[], &["install", "--index-url"]);
        assert!(matches!(
            discover(&s),
            Err(PipConfError::MissingValue { .. })
        ));
    }
}
