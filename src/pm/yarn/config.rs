//! yarn's configuration, read as data: which yarn runs (its own `package.json`, never by
//! running it), the registries yarn 1 and yarn 2+ read, and their defaults read as text from
//! the shipped JavaScript.
//!
//! - yarn 1 asks npm's configuration first (`.npmrc` files, `npm_config_registry`, scoped
//!   `@scope:registry`), then its own `registry` setting (`YARN_REGISTRY`, `.yarnrc` in the
//!   project and its ancestors, `~/.yarnrc`), then the constant `YARN_REGISTRY` in its
//!   `lib/cli.js`.
//! - yarn 2+ reads `npmRegistryServer` (`YARN_NPM_REGISTRY_SERVER`, `.yarnrc.yml` in the
//!   project and its ancestors, `~/.yarnrc.yml`) and `npmScopes.<scope>.npmRegistryServer`; it
//!   never reads `.npmrc`. Its default is the `npmRegistryServer` setting's `default:` in the
//!   shipped `bin/yarn.js`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use url::Url;

/// Reading yarn's configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum YarnConfigError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{key}` in {origin} is not an http(s) URL: {value}")]
    BadUrl {
        key: String,
        origin: String,
        value: String,
    },
    #[error("{0} lists plugins of its own; safe-install makes the sandbox's ~/.yarnrc.yml to load its plugin and cannot merge a plugins list yet. Fix: move your plugins to the project's .yarnrc.yml")]
    UserPlugins(PathBuf),
    #[error(
        "{path} is not YAML yarn could read ({reason}); fix the file (yarn itself would refuse it)"
    )]
    Yaml { path: PathBuf, reason: String },
    #[error("yarn's default registry is unknown ({0}); name one with `npmRegistryServer` in .yarnrc.yml (yarn 2+) or `registry` in .yarnrc (yarn 1)")]
    DefaultUnknown(String),
}

/// Which yarn generation runs: they read different files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// yarn 1.x (classic).
    Classic,
    /// yarn 2 and later (berry).
    Berry,
}

/// A yarn installation found by reading files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The JavaScript entry (`bin/yarn.js`).
    pub entry: PathBuf,
    /// The `version` of the `package.json` above it.
    pub version: String,
}

impl Install {
    pub fn generation(&self) -> Option<Generation> {
        generation_of(&self.version)
    }
}

/// The generation a version string (`1.22.22`, `4.18.1`) belongs to.
pub fn generation_of(version: &str) -> Option<Generation> {
    let major: u32 = version.split('.').next()?.trim().parse().ok()?;
    match major {
        0 => None,
        1 => Some(Generation::Classic),
        _ => Some(Generation::Berry),
    }
}

/// The yarn installation behind `program` (the executable the sandbox runs): the
/// `bin/yarn.js` it links to, or that its `#!/bin/sh` launcher names as an absolute path,
/// with the `package.json` one directory above its `bin/` naming yarn. Nothing is executed.
pub fn locate(program: &Path) -> Option<Install> {
    let real = std::fs::canonicalize(program).ok()?;
    let entry = if real.extension().is_some_and(|e| e == "js" || e == "cjs") {
        real
    } else {
        // A launcher script: the absolute `…/bin/yarn.js` it names.
        let text = read_small(&real)?;
        text.split(['\'', '"', ' ', '\n', '\t'])
            .filter(|w| w.starts_with('/') && w.ends_with("/bin/yarn.js"))
            .map(PathBuf::from)
            .find(|p| p.is_file())?
    };
    let package_json = entry.parent()?.parent()?.join("package.json");
    let manifest: serde_json::Value = serde_json::from_str(&read_small(&package_json)?).ok()?;
    let name = manifest.get("name")?.as_str()?;
    if !matches!(name, "yarn" | "@yarnpkg/cli-dist") {
        return None;
    }
    let version = manifest.get("version")?.as_str()?.to_string();
    Some(Install { entry, version })
}

/// The yarn the project asks for in `package.json`'s `packageManager` (`yarn@4.18.1+sha…`).
pub fn project_wants(project: &Path) -> Option<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(&read_small(&project.join("package.json"))?).ok()?;
    let spec = manifest.get("packageManager")?.as_str()?;
    let version = spec.strip_prefix("yarn@")?;
    Some(version.split('+').next()?.to_string())
}

/// The release a project's `.yarnrc.yml` (in the project or an ancestor, nearest first) pins
/// with `yarnPath`, resolved against that file's directory: yarn 1.22 and 2+ both run it
/// instead of themselves.
pub fn project_yarn_path(project: &Path) -> Option<PathBuf> {
    project.ancestors().find_map(|dir| {
        let text = read_small(&dir.join(".yarnrc.yml"))?;
        let rel = parse_yarnrc_yml(&text).yarn_path?;
        Some(dir.join(rel))
    })
}

/// A file of at most a few megabytes (yarn's bundle is about 4 MB), as text.
fn read_small(path: &Path) -> Option<String> {
    const MAX: u64 = 16 << 20;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// A registry with where it was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub url: Url,
    /// `npmRegistryServer in /p/.yarnrc.yml`, `YARN_NPM_REGISTRY_SERVER`, `yarn's default`.
    pub origin: String,
}

/// Where yarn's settings are read from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub project: PathBuf,
    pub home: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl Sources {
    /// The project and its ancestors, nearest first, then the home (yarn reads the nearest
    /// setting; the home's file is the last resort).
    pub(super) fn rc_files(&self, name: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.project.ancestors().map(|d| d.join(name)).collect();
        let home = self.home.join(name);
        if !out.contains(&home) {
            out.push(home);
        }
        out
    }
}

fn read_if_present(path: &Path) -> Result<Option<String>, YarnConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(YarnConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn registry_url(key: &str, origin: String, value: &str) -> Result<Registry, YarnConfigError> {
    let bad = || YarnConfigError::BadUrl {
        key: key.to_string(),
        origin: origin.clone(),
        value: value.to_string(),
    };
    let url = Url::parse(value).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(Registry { url, origin })
}

/// yarn 1's own `registry` setting, nearest first: `YARN_REGISTRY`, then `.yarnrc` files.
/// `None` when none sets it.
pub fn classic_registry(src: &Sources) -> Result<Option<Registry>, YarnConfigError> {
    if let Some(v) = src.env.get("YARN_REGISTRY").filter(|v| !v.is_empty()) {
        return registry_url("registry", "YARN_REGISTRY".into(), v).map(Some);
    }
    for file in src.rc_files(".yarnrc") {
        let Some(text) = read_if_present(&file)? else {
            continue;
        };
        if let Some(v) = yarnrc_value(&text, "registry") {
            return registry_url("registry", format!("registry in {}", file.display()), &v)
                .map(Some);
        }
    }
    Ok(None)
}

/// The value of `key` in a yarn 1 `.yarnrc` (`key "value"` or `key value` per line, `#`
/// comments).
pub fn yarnrc_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (k, rest) = line.split_once(char::is_whitespace)?;
        if unquote(k) != key {
            return None;
        }
        Some(unquote(rest.trim()).to_string())
    })
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// yarn 2+'s registries: the default `npmRegistryServer` (`None` when nothing sets it) and
/// each scope's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BerryRegistries {
    pub default: Option<Registry>,
    pub scoped: BTreeMap<String, Registry>,
}

/// Read `npmRegistryServer` and `npmScopes` the way yarn 2+ does: the environment first, then
/// the nearest `.yarnrc.yml` that sets each.
pub fn berry_registries(src: &Sources) -> Result<BerryRegistries, YarnConfigError> {
    let mut out = BerryRegistries::default();
    if let Some(v) = src
        .env
        .get("YARN_NPM_REGISTRY_SERVER")
        .filter(|v| !v.is_empty())
    {
        out.default = Some(registry_url(
            "npmRegistryServer",
            "YARN_NPM_REGISTRY_SERVER".into(),
            v,
        )?);
    }
    for file in src.rc_files(".yarnrc.yml") {
        let Some(text) = read_if_present(&file)? else {
            continue;
        };
        let rc = parse_yarnrc_yml(&text);
        let origin = |key: &str| format!("{key} in {}", file.display());
        if out.default.is_none() {
            if let Some(v) = rc.registry {
                out.default = Some(registry_url(
                    "npmRegistryServer",
                    origin("npmRegistryServer"),
                    &v,
                )?);
            }
        }
        for (scope, v) in rc.scoped {
            if let std::collections::btree_map::Entry::Vacant(slot) = out.scoped.entry(scope) {
                let key = format!("npmScopes.{}.npmRegistryServer", slot.key());
                slot.insert(registry_url(&key, origin(&key), &v)?);
            }
        }
    }
    Ok(out)
}

/// What safe-install reads from one `.yarnrc.yml`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct YarnrcYml {
    pub registry: Option<String>,
    /// `yarnPath`: the yarn release the project pins, which every yarn runs instead of itself.
    pub yarn_path: Option<String>,
    /// scope (without `@`) → `npmRegistryServer`.
    pub scoped: Vec<(String, String)>,
}

/// The subset of YAML yarn's own `.yarnrc.yml` files use for registries: a top-level
/// `npmRegistryServer: <url>` and `npmScopes:` mapping scope names to mappings with their own
/// `npmRegistryServer`, in block form with space indentation.
pub fn parse_yarnrc_yml(text: &str) -> YarnrcYml {
    let mut out = YarnrcYml::default();
    // Inside `npmScopes:`: the indentation of its children (fixed by the first) and the scope
    // being read.
    let mut scopes: Option<(Option<usize>, Option<String>)> = None;
    for raw in text.lines() {
        let line = raw.split(" #").next().unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let key = unquote(key);
        let value = unquote(value.trim());
        if indent == 0 {
            scopes = None;
            match key {
                "npmRegistryServer" if !value.is_empty() => out.registry = Some(value.to_string()),
                "npmScopes" => scopes = Some((None, None)),
                "yarnPath" if !value.is_empty() => out.yarn_path = Some(value.to_string()),
                _ => {}
            }
            continue;
        }
        let Some((child, scope)) = &mut scopes else {
            continue;
        };
        let child_indent = *child.get_or_insert(indent);
        if indent == child_indent {
            *scope = Some(key.trim_start_matches('@').to_string());
        } else if indent > child_indent && key == "npmRegistryServer" && !value.is_empty() {
            if let Some(name) = scope {
                out.scoped.push((name.clone(), value.to_string()));
            }
        }
    }
    out
}

/// yarn 1's default registry: the `YARN_REGISTRY` constant in its `lib/cli.js`
/// (`var YARN_REGISTRY = exports.YARN_REGISTRY = '<url>';`), read as text below the package
/// directory of `entry` (`…/bin/yarn.js`).
pub fn classic_default_from_source(entry: &Path) -> Result<Url, YarnConfigError> {
    let file = entry
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("lib/cli.js"))
        .ok_or_else(|| {
            YarnConfigError::DefaultUnknown(format!("{} has no package", entry.display()))
        })?;
    let text = read_if_present(&file)?
        .ok_or_else(|| YarnConfigError::DefaultUnknown(format!("no {}", file.display())))?;
    let value = text
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("var YARN_REGISTRY = ")?;
            let rest = rest
                .strip_prefix("exports.YARN_REGISTRY = ")
                .unwrap_or(rest);
            quoted_prefix(rest)
        })
        .ok_or_else(|| {
            YarnConfigError::DefaultUnknown(format!(
                "{} defines no YARN_REGISTRY constant in the form yarn 1 uses",
                file.display()
            ))
        })?;
    default_url(value, &file)
}

/// yarn 2+'s default registry: the `default:` of the `npmRegistryServer:{…}` setting in the
/// shipped bundle `entry` (`bin/yarn.js`, or a `yarnPath` release), read as text.
pub fn berry_default_from_source(entry: &Path) -> Result<Url, YarnConfigError> {
    let text = read_small(entry).ok_or_else(|| {
        YarnConfigError::DefaultUnknown(format!("cannot read {}", entry.display()))
    })?;
    const START: &str = "npmRegistryServer:{";
    let value = text
        .match_indices(START)
        .find_map(|(at, _)| {
            // The setting's object literal: up to its closing brace, never far.
            let body = &text[at + START.len()..];
            let body = &body[..body.find('}').filter(|&e| e < 400)?];
            let rest = &body[body.find("default:")? + "default:".len()..];
            quoted_prefix(rest)
        })
        .ok_or_else(|| {
            YarnConfigError::DefaultUnknown(format!(
                "{} defines no npmRegistryServer default in the form yarn uses",
                entry.display()
            ))
        })?;
    default_url(value, entry)
}

/// The string literal `rest` starts with, when it has no escapes or interpolation (the text is
/// untrusted: a literal that needs evaluating is refused).
fn quoted_prefix(rest: &str) -> Option<&str> {
    let rest = rest.trim_start();
    let quote = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let body = &rest[1..];
    let value = &body[..body.find(quote)?];
    (!value.contains(['\\', '$'])).then_some(value)
}

fn default_url(value: &str, file: &Path) -> Result<Url, YarnConfigError> {
    registry_url("default registry", format!("{}", file.display()), value).map(|r| r.url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{env_of, write_files};

    fn sources(root: &Path, env: &[(&str, &str)]) -> Sources {
        Sources {
            project: root.join("home/u/proj"),
            home: root.join("home/u"),
            env: env_of(env),
        }
    }

    #[test]
    fn generations_by_major_version() {
        assert_eq!(generation_of("1.22.22"), Some(Generation::Classic));
        assert_eq!(generation_of("4.18.1"), Some(Generation::Berry));
        assert_eq!(generation_of("2.0.0-rc.1"), Some(Generation::Berry));
        assert_eq!(generation_of("x"), None);
        assert_eq!(generation_of("0.1"), None);
    }

    #[test]
    fn locates_yarn_through_a_launcher_and_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let lib = root.join("yarn4/lib");
        write_files(
            root,
            &[
                (
                    "yarn4/lib/package.json",
                    r#"{"name":"@yarnpkg/cli-dist","version":"4.18.1"}"#,
                ),
                ("yarn4/lib/bin/yarn.js", "// bundle"),
                (
                    "other/lib/package.json",
                    r#"{"name":"evil","version":"9.0.0"}"#,
                ),
                ("other/lib/bin/yarn.js", "// not yarn"),
            ],
        );
        let launcher = root.join("launcher");
        std::fs::write(
            &launcher,
            format!(
                "#!/bin/sh\nexec '/nonexistent/node' '{}/bin/yarn.js' \"$@\"\n",
                lib.display()
            ),
        )
        .expect("write");
        let found = locate(&launcher).expect("found through the launcher");
        assert_eq!(found.version, "4.18.1");
        assert_eq!(found.generation(), Some(Generation::Berry));
        let link = root.join("yarn");
        std::os::unix::fs::symlink(lib.join("bin/yarn.js"), &link).expect("symlink");
        assert_eq!(locate(&link), Some(found));
        // A package.json that does not name yarn is not yarn.
        assert_eq!(locate(&root.join("other/lib/bin/yarn.js")), None);
    }

    #[test]
    fn package_manager_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(
            dir.path(),
            &[(
                "package.json",
                r#"{"packageManager":"yarn@4.18.1+sha512.abc"}"#,
            )],
        );
        assert_eq!(project_wants(dir.path()).as_deref(), Some("4.18.1"));
        write_files(
            dir.path(),
            &[("package.json", r#"{"packageManager":"pnpm@10.0.0"}"#)],
        );
        assert_eq!(project_wants(dir.path()), None);
    }

    #[test]
    fn classic_registry_nearest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write_files(
            root,
            &[
                ("home/u/.yarnrc", "registry \"https://home.example.com/\"\n"),
                ("home/u/proj/package.json", "{}"),
            ],
        );
        let src = sources(root, &[]);
        let reg = classic_registry(&src).expect("read").expect("set");
        assert_eq!(reg.url.as_str(), "https://home.example.com/");
        write_files(
            root,
            &[(
                "home/u/proj/.yarnrc",
                "# yarn lockfile v1\nlastUpdateCheck 1\n\"registry\" 'http://127.0.0.1:4873'\n",
            )],
        );
        let reg = classic_registry(&src).expect("read").expect("set");
        assert_eq!(reg.url.as_str(), "http://127.0.0.1:4873/");
        assert!(reg.origin.contains("proj/.yarnrc"), "{}", reg.origin);
        let env = sources(root, &[("YARN_REGISTRY", "https://env.example.com")]);
        let reg = classic_registry(&env).expect("read").expect("set");
        assert_eq!(reg.origin, "YARN_REGISTRY");
        write_files(root, &[("home/u/proj/.yarnrc", "registry file:///etc\n")]);
        assert!(matches!(
            classic_registry(&src),
            Err(YarnConfigError::BadUrl { .. })
        ));
    }

    #[test]
    fn classic_registry_unset() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(
            dir.path(),
            &[("home/u/proj/.yarnrc", "network-timeout 60000\n")],
        );
        assert_eq!(
            classic_registry(&sources(dir.path(), &[])).expect("read"),
            None
        );
    }

    #[test]
    fn yarnrc_yml_subset() {
        let rc = parse_yarnrc_yml(
            "nodeLinker: node-modules\n\
             npmRegistryServer: \"https://registry.example.com\"  # main\n\
             npmScopes:\n  \
               corp:\n    \
                 npmAlwaysAuth: true\n    \
                 npmRegistryServer: 'https://corp.example.com/npm/'\n  \
               \"@other\":\n    \
                 npmRegistryServer: https://other.example.com\n\
             unsafeHttpWhitelist:\n  - localhost\n",
        );
        assert_eq!(rc.registry.as_deref(), Some("https://registry.example.com"));
        assert_eq!(
            rc.scoped,
            vec![
                (
                    "corp".to_string(),
                    "https://corp.example.com/npm/".to_string()
                ),
                ("other".to_string(), "https://other.example.com".to_string()),
            ]
        );
        assert_eq!(
            parse_yarnrc_yml("yarnPath: .yarn/releases/yarn-4.18.1.cjs\n")
                .yarn_path
                .as_deref(),
            Some(".yarn/releases/yarn-4.18.1.cjs")
        );
        assert_eq!(
            parse_yarnrc_yml("npmScopes:\n  x:\n    npmAuthToken: t\n"),
            YarnrcYml::default()
        );
    }

    #[test]
    fn berry_registries_env_then_nearest_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write_files(
            root,
            &[
                (
                    "home/u/.yarnrc.yml",
                    "npmRegistryServer: https://home.example.com\nnpmScopes:\n  corp:\n    npmRegistryServer: https://corp-home.example.com\n",
                ),
                ("home/u/proj/.yarnrc.yml", "npmRegistryServer: \"http://127.0.0.1:4873\"\n"),
            ],
        );
        let got = berry_registries(&sources(root, &[])).expect("read");
        assert_eq!(
            got.default.expect("set").url.as_str(),
            "http://127.0.0.1:4873/"
        );
        assert_eq!(
            got.scoped["corp"].url.as_str(),
            "https://corp-home.example.com/"
        );
        let got = berry_registries(&sources(
            root,
            &[("YARN_NPM_REGISTRY_SERVER", "https://env.example.com")],
        ))
        .expect("read");
        assert_eq!(got.default.expect("set").origin, "YARN_NPM_REGISTRY_SERVER");
        // An .npmrc is not yarn 2+'s configuration.
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(
            dir.path(),
            &[("home/u/proj/.npmrc", "registry=https://npm.example.com\n")],
        );
        assert_eq!(
            berry_registries(&sources(dir.path(), &[])).expect("read"),
            BerryRegistries::default()
        );
    }

    #[test]
    fn defaults_read_from_the_shipped_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write_files(
            root,
            &[
                ("y1/lib/cli.js", "x;\nvar YARN_REGISTRY = exports.YARN_REGISTRY = 'https://registry.example.com';\n"),
                ("y1/bin/yarn.js", ""),
                (
                    "y4/bin/yarn.js",
                    "a={npmRegistryServer:{description:\"URL of the selected npm registry\",type:\"STRING\",default:\"https://registry.example.com\"}},b",
                ),
                ("bad1/lib/cli.js", "var YARN_REGISTRY = exports.YARN_REGISTRY = `https://${x}`;\n"),
                ("bad1/bin/yarn.js", ""),
                ("bad4/bin/yarn.js", "npmRegistryServer:{type:\"STRING\",default:\"file:///etc/passwd\"}"),
                ("none4/bin/yarn.js", "npmRegistryServer:{type:\"STRING\"}"),
            ],
        );
        let y1 = classic_default_from_source(&root.join("y1/bin/yarn.js")).expect("y1");
        assert_eq!(y1.host_str(), Some("registry.example.com"));
        let y4 = berry_default_from_source(&root.join("y4/bin/yarn.js")).expect("y4");
        assert_eq!(y4.host_str(), Some("registry.example.com"));
        assert!(matches!(
            classic_default_from_source(&root.join("bad1/bin/yarn.js")),
            Err(YarnConfigError::DefaultUnknown(_))
        ));
        assert!(matches!(
            berry_default_from_source(&root.join("bad4/bin/yarn.js")),
            Err(YarnConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            berry_default_from_source(&root.join("none4/bin/yarn.js")),
            Err(YarnConfigError::DefaultUnknown(_))
        ));
        assert!(classic_default_from_source(&root.join("missing/bin/yarn.js")).is_err());
    }
}
