//! Where yarn 2+ keeps registry credentials, read as data so that `creds::seal` can put a
//! placeholder in their place and bind each to the registries yarn sends it to.
//!
//! yarn 2+ reads them from `.yarnrc.yml` (the project's, its ancestors', the home's):
//! `npmAuthToken` (sent as `Authorization: Bearer`) and `npmAuthIdent` (`user:password`, or
//! its base64, sent as `Authorization: Basic`), at the top level (every registry without a
//! setting of its own), under `npmScopes.<scope>` (that scope's registry) or under
//! `npmRegistries."<registry>"` (that registry; a key without a scheme, `//host/path`, covers
//! both). A value may be `${NAME}` (also `${NAME:-default}`), read from the environment; the
//! environment's `YARN_NPM_AUTH_TOKEN` / `YARN_NPM_AUTH_IDENT` are the top-level settings.
//! The files are parsed with a YAML parser (`yaml-rust2`), so flow mappings, quoting and
//! comments are read as yarn reads them. Source: `packages/plugin-npm/sources/npmConfigUtils.ts`
//! (`getAuthConfiguration`: the scope's setting, then the registry's, then the top level).

use super::config::{BerryRegistries, Sources, YarnConfigError};
use crate::pm::{CredentialKind, CredentialSetting, CredentialSettings, CredentialValue};
use std::path::{Path, PathBuf};
use url::Url;
use yaml_rust2::{Yaml, YamlLoader};

const TOKEN: &str = "npmAuthToken";
const IDENT: &str = "npmAuthIdent";

/// Every credential setting yarn would read, and the CA file it verifies registries with.
/// `registries`: the effective `npmRegistryServer` and scopes' (`default` already filled
/// with yarn's shipped default when nothing sets it).
pub fn read(
    src: &Sources,
    registries: &BerryRegistries,
) -> Result<CredentialSettings, YarnConfigError> {
    let mut out = CredentialSettings::default();
    let default: Vec<Url> = registries.default.iter().map(|r| r.url.clone()).collect();
    let scope_registry = |scope: &str| -> Vec<Url> {
        match registries.scoped.get(scope) {
            Some(r) => vec![r.url.clone()],
            None => default.clone(),
        }
    };
    // The top level covers every registry that has no credential of its own: the default
    // and the scopes'.
    let mut top_level: Vec<Url> = default.clone();
    for r in registries.scoped.values() {
        if !top_level.contains(&r.url) {
            top_level.push(r.url.clone());
        }
    }
    let mut found: Vec<(PathBuf, Vec<Found>)> = Vec::new();
    let mut ca_file = None;
    for file in src.rc_files(".yarnrc.yml") {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(source) => return Err(YarnConfigError::Read { path: file, source }),
        };
        let doc = parse(&file, &text)?;
        if ca_file.is_none() {
            ca_file = ["httpsCaFilePath", "caFilePath"]
                .iter()
                .find_map(|k| doc[*k].as_str())
                .map(|p| resolve(&file, p));
        }
        let settings = settings_of(&doc);
        if settings.iter().any(|f| matches!(f.value, Raw::Literal(_))) {
            out.files.push((file.clone(), text));
        }
        found.push((file, settings));
    }
    let scopes_with_own: Vec<String> = found
        .iter()
        .flat_map(|(_, s)| s)
        .filter_map(|f| match &f.place {
            Place::Scope(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let top_level: Vec<Url> = top_level
        .into_iter()
        .filter(|u| {
            !scopes_with_own
                .iter()
                .any(|s| registries.scoped.get(s).is_some_and(|r| &r.url == u))
        })
        .collect();
    let bind = |place: &Place| -> Vec<Url> {
        match place {
            Place::TopLevel => top_level.clone(),
            Place::Scope(s) => scope_registry(s),
            Place::Registry(key) => registry_key(key),
        }
    };
    for (file, settings) in found {
        for f in settings {
            out.settings.push(CredentialSetting {
                source: format!("{} in {}", f.path, file.display()),
                file: Some(file.clone()),
                key: f.key,
                kind: f.kind,
                value: match f.value {
                    Raw::Literal(v) => CredentialValue::Literal(v),
                    Raw::Variable(v) => CredentialValue::Variable(v),
                },
                registries: bind(&f.place),
            });
        }
    }
    for (name, key, kind) in [
        ("YARN_NPM_AUTH_TOKEN", TOKEN, CredentialKind::Bearer),
        ("YARN_NPM_AUTH_IDENT", IDENT, CredentialKind::Ident),
    ] {
        if src.env.get(name).is_some_and(|v| !v.is_empty()) {
            out.settings.push(CredentialSetting {
                source: format!("yarn's top-level {key}"),
                file: None,
                key,
                kind,
                value: CredentialValue::Variable(name.to_string()),
                registries: top_level.clone(),
            });
        }
    }
    out.ca_file = ["YARN_HTTPS_CA_FILE_PATH", "YARN_CA_FILE_PATH"]
        .iter()
        .find_map(|k| src.env.get(*k).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .or(ca_file);
    Ok(out)
}

fn parse(file: &Path, text: &str) -> Result<Yaml, YarnConfigError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| YarnConfigError::Yaml {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(docs.into_iter().next().unwrap_or(Yaml::Null))
}

/// yarn resolves a relative path setting against the folder of the file that sets it.
fn resolve(file: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    match file.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// An `npmRegistries` key: a URL, or `//host[:port]/path` for both schemes.
fn registry_key(key: &str) -> Vec<Url> {
    match key.strip_prefix("//") {
        Some(rest) => ["http", "https"]
            .iter()
            .filter_map(|s| Url::parse(&format!("{s}://{rest}")).ok())
            .collect(),
        None => Url::parse(key).into_iter().collect(),
    }
}

#[derive(Clone)]
enum Place {
    TopLevel,
    Scope(String),
    Registry(String),
}

enum Raw {
    Literal(String),
    Variable(String),
}

struct Found {
    /// `npmScopes.x.npmAuthToken`, for messages.
    path: String,
    key: &'static str,
    kind: CredentialKind,
    place: Place,
    value: Raw,
}

fn settings_of(doc: &Yaml) -> Vec<Found> {
    let mut out = Vec::new();
    collect(doc, "", Place::TopLevel, &mut out);
    for (section, scoped) in [("npmScopes", true), ("npmRegistries", false)] {
        if let Yaml::Hash(map) = &doc[section] {
            for (k, v) in map {
                let Some(name) = k.as_str() else { continue };
                let place = if scoped {
                    Place::Scope(name.trim_start_matches('@').to_string())
                } else {
                    Place::Registry(name.to_string())
                };
                collect(v, &format!("{section}.{name}."), place, &mut out);
            }
        }
    }
    out
}

fn collect(map: &Yaml, prefix: &str, place: Place, out: &mut Vec<Found>) {
    for (key, kind) in [
        (TOKEN, CredentialKind::Bearer),
        (IDENT, CredentialKind::Ident),
    ] {
        let value = match &map[key] {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            Yaml::Real(r) => r.clone(),
            _ => continue,
        };
        if value.is_empty() {
            continue;
        }
        out.push(Found {
            path: format!("{prefix}{key}"),
            key,
            kind,
            place: place.clone(),
            value: match variable(&value) {
                Some(name) => Raw::Variable(name),
                None => Raw::Literal(value),
            },
        });
    }
}

/// `${NAME}`, `${NAME:-default}`, `${NAME-default}`: the variable yarn reads the value from.
fn variable(value: &str) -> Option<String> {
    let start = value.find("${")?;
    let rest = &value[start + 2..];
    let end = rest.find(['}', ':', '-'])?;
    let name = &rest[..end];
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{env_of, write_files};
    use crate::pm::yarn::config::Registry;
    use std::collections::BTreeMap;

    fn registries(default: &str, scoped: &[(&str, &str)]) -> BerryRegistries {
        let reg = |u: &str| Registry {
            url: Url::parse(u).expect("url"),
            origin: "test".into(),
        };
        BerryRegistries {
            default: Some(reg(default)),
            scoped: scoped
                .iter()
                .map(|(s, u)| (s.to_string(), reg(u)))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn sources(root: &Path, env: &[(&str, &str)]) -> Sources {
        Sources {
            project: root.join("home/u/proj"),
            home: root.join("home/u"),
            env: env_of(env),
        }
    }

    fn urls(s: &CredentialSetting) -> Vec<String> {
        s.registries.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn scope_registry_and_top_level_settings_are_bound_where_yarn_sends_them() {
        let root = tempfile::tempdir().expect("tempdir");
        write_files(
            root.path(),
            &[
                (
                    "home/u/.yarnrc.yml",
                    "npmScopes:\n  \"@corp\":\n    npmAuthIdent: \"me:pw\"\nnpmAuthToken: top-secret # a comment\n",
                ),
                (
                    "home/u/proj/.yarnrc.yml",
                    "npmRegistries: { \"//r.example.com:8443/npm/\": { npmAuthToken: \"${CI_TOKEN:-none}\" } }\nhttpsCaFilePath: ./certs/ca.txt\n",
                ),
            ],
        );
        let regs = registries(
            "https://registry.example.com/",
            &[
                ("corp", "https://corp.example.com/npm/"),
                ("other", "https://other.example.com/"),
            ],
        );
        let got = read(
            &sources(root.path(), &[("YARN_NPM_AUTH_TOKEN", "x")]),
            &regs,
        )
        .expect("read");
        let by = |path: &str| {
            got.settings
                .iter()
                .find(|s| s.source.starts_with(path))
                .unwrap_or_else(|| panic!("no {path}: {:?}", got.settings))
        };
        let reg = by("npmRegistries.//r.example.com:8443/npm/.npmAuthToken");
        assert_eq!(reg.value, CredentialValue::Variable("CI_TOKEN".into()));
        assert_eq!(
            urls(reg),
            [
                "http://r.example.com:8443/npm/",
                "https://r.example.com:8443/npm/"
            ]
        );
        let scope = by("npmScopes.@corp.npmAuthIdent");
        assert_eq!(scope.kind, CredentialKind::Ident);
        assert_eq!(scope.value, CredentialValue::Literal("me:pw".into()));
        assert_eq!(urls(scope), ["https://corp.example.com/npm/"]);
        // The top level covers the default and the scopes without a credential of their own.
        let top = by("npmAuthToken");
        assert_eq!(top.value, CredentialValue::Literal("top-secret".into()));
        assert_eq!(
            urls(top),
            [
                "https://registry.example.com/",
                "https://other.example.com/"
            ]
        );
        let env = by("yarn's top-level npmAuthToken");
        assert_eq!(
            env.value,
            CredentialValue::Variable("YARN_NPM_AUTH_TOKEN".into())
        );
        // Only the file with literal values is kept for a sealed copy.
        assert_eq!(got.files.len(), 1);
        assert!(got.files[0].0.ends_with("home/u/.yarnrc.yml"));
        assert_eq!(
            got.ca_file,
            Some(root.path().join("home/u/proj/./certs/ca.txt"))
        );
    }

    #[test]
    fn a_file_yarn_could_not_parse_is_an_error_not_a_silent_skip() {
        let root = tempfile::tempdir().expect("tempdir");
        write_files(
            root.path(),
            &[("home/u/.yarnrc.yml", "npmAuthToken: [unclosed\n")],
        );
        let regs = registries("https://registry.example.com/", &[]);
        assert!(matches!(
            read(&sources(root.path(), &[]), &regs),
            Err(YarnConfigError::Yaml { .. })
        ));
    }

    #[test]
    fn variables_are_named_in_every_form_yarn_expands() {
        assert_eq!(variable("${A}").as_deref(), Some("A"));
        assert_eq!(variable("${B:-x}").as_deref(), Some("B"));
        assert_eq!(variable("${C-x}").as_deref(), Some("C"));
        assert_eq!(variable("plain"), None);
    }
}
