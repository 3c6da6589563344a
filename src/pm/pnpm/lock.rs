//! What `pnpm-lock.yaml` says each installed package is, as [`LockEntry`]s placed where pnpm
//! installs it: its virtual store, `node_modules/.pnpm/<name>@<version>/node_modules/<name>`,
//! which is also the directory pnpm starts the package's lifecycle scripts in. Grants and
//! attribution are keyed on that directory, so they follow the lockfile, never the name a
//! package gives itself.
//!
//! The file is read as the small, regular subset of YAML pnpm writes (lockfile versions 6 to
//! 9): top-level sections, two-space indented keys, `resolution` as a flow map or a block.
//! Anything else is skipped, so a grant that cannot be bound is dropped with a note (fail
//! closed), never applied to a guess.

use crate::pm::npm::lock::LockEntry;
use std::collections::BTreeMap;
use std::path::Path;

/// pnpm's `virtual-store-dir-max-length` on Linux: longer directory names are cut and hashed.
const MAX_DIR_NAME: usize = 120;

/// One `packages:` entry: where pnpm got it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Package {
    integrity: Option<String>,
    tarball: Option<String>,
    /// `directory:` resolutions and `link:` versions: a folder elsewhere, not a package.
    directory: bool,
    version: Option<String>,
    name: Option<String>,
    /// `requiresBuild: true`: lockfiles before version 9 record that it has build scripts.
    requires_build: bool,
}

/// The installed packages `pnpm-lock.yaml` in `project` records, read before anything runs
/// (`node_modules/.pnpm/lock.yaml` is never read: level 1 rewrites it during the install).
/// `registry_tarball(name, version)` is where a registry entry (recorded by name, version and
/// integrity only) comes from: the configured registry's tarball URL, as pnpm fetches it.
pub fn lock_entries(
    project: &Path,
    registry_tarball: &dyn Fn(&str, &str) -> Option<String>,
) -> Vec<LockEntry> {
    let Ok(text) = std::fs::read_to_string(project.join("pnpm-lock.yaml")) else {
        return Vec::new();
    };
    let sections = sections(&text);
    let packages: BTreeMap<String, Package> = sections
        .get("packages")
        .map(|lines| parse_packages(lines))
        .unwrap_or_default();
    // Version 9 keeps peers-resolved installs under `snapshots` (keys with a `(peer@x)`
    // suffix), their resolution under `packages`; earlier versions have `packages` only.
    let installs: Vec<String> = match sections.get("snapshots") {
        Some(lines) => keys(lines),
        None => packages.keys().cloned().collect(),
    };
    let mut out = Vec::new();
    for key in installs {
        let base = key.split('(').next().unwrap_or(&key).to_string();
        let Some(pkg) = packages.get(&base).or_else(|| packages.get(&key)) else {
            continue;
        };
        let Some((name, spec)) = split_key(&base) else {
            continue;
        };
        let Some(dir) = virtual_store_dir(&key) else {
            continue;
        };
        let version = pkg.version.clone().unwrap_or_else(|| spec.to_string());
        let resolved = match &pkg.tarball {
            Some(t) => Some(t.clone()),
            None if pkg.integrity.is_some() && !spec.contains(':') => {
                registry_tarball(name, &version)
            }
            None => None,
        };
        out.push(LockEntry {
            path: format!("node_modules/.pnpm/{dir}/node_modules/{name}"),
            declared_name: pkg.name.clone(),
            version: Some(version),
            resolved,
            integrity: pkg.integrity.clone(),
            link: pkg.directory,
            has_install_script: pkg.requires_build,
        });
    }
    // Workspace members: `importers`, keyed by their folder, named by their own package.json
    // (read now, before anything runs), as npm's lockfile names them.
    for dir in sections
        .get("importers")
        .map(|l| keys(l))
        .unwrap_or_default()
    {
        if dir == "." {
            continue;
        }
        let manifest = std::fs::read_to_string(project.join(&dir).join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let field = |k: &str| {
            manifest
                .as_ref()
                .and_then(|m| m.get(k)?.as_str().map(str::to_string))
        };
        out.push(LockEntry {
            path: dir.clone(),
            declared_name: field("name"),
            version: field("version"),
            ..LockEntry::default()
        });
    }
    out
}

/// Whether `pnpm-lock.yaml` in `project` records which packages have build scripts
/// (`requiresBuild`, written by lockfile versions before 9), and so whether
/// [`LockEntry::has_install_script`] of its entries means anything.
pub fn records_builds(project: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(project.join("pnpm-lock.yaml")) else {
        return false;
    };
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("lockfileVersion:"))
        .map(unquote)
        .unwrap_or_default();
    crate::pm::approvals::major(&version).is_some_and(|m| m < 9)
}

/// `name@spec` (a leading `/` of lockfile v6 removed): the name, then the version or
/// `file:`/`https:` spec.
fn split_key(key: &str) -> Option<(&str, &str)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let at = key.get(1..)?.find('@')? + 1;
    let (name, spec) = (&key[..at], &key[at + 1..]);
    (!name.is_empty() && !spec.is_empty()).then_some((name, spec))
}

/// The folder name pnpm gives a dependency path in its virtual store (pnpm's
/// `depPathToFilename`): path separators and other reserved characters become `+`, peer
/// suffixes `_`. Names pnpm would hash (too long, or with capitals) are `None`: not bound.
fn virtual_store_dir(key: &str) -> Option<String> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let unescaped = if key.starts_with("file:") {
        key.replacen(':', "+", 1)
    } else {
        key.to_string()
    };
    let mut name: String = unescaped
        .chars()
        .map(|c| match c {
            '\\' | '/' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' => '+',
            c => c,
        })
        .collect();
    if name.contains('(') {
        if let Some(stripped) = name.strip_suffix(')') {
            name = stripped.to_string();
        }
        name = name.replace(")(", "_").replace(['(', ')'], "_");
    }
    let hashed =
        name.len() > MAX_DIR_NAME || (name != name.to_lowercase() && !name.starts_with("file+"));
    (!hashed).then_some(name)
}

/// Top-level sections: name → their indented lines.
fn sections(text: &str) -> BTreeMap<String, Vec<&str>> {
    let mut out: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            current = line.strip_suffix(':').map(str::to_string);
            if let Some(c) = &current {
                out.entry(c.clone()).or_default();
            }
            continue;
        }
        if let Some(c) = &current {
            out.entry(c.clone()).or_default().push(line);
        }
    }
    out
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A scalar as pnpm writes it: bare, `'single'` or `"double"` quoted.
fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.replace("''", "'");
        }
    }
    s.to_string()
}

/// `key: value` → (key, value); `key:` → (key, "").
fn key_value(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    // A quoted key may itself hold `: ` (`'a@file:x'`).
    let (key, rest) = if let Some(q) = line.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let end = line[1..].find(q)? + 1;
        (&line[..=end], line[end + 1..].trim_start())
    } else {
        // A bare key may hold `:` too (`a@file:x.tgz`): the separator is `: ` or a final `:`.
        let at = line
            .find(": ")
            .or_else(|| line.ends_with(':').then(|| line.len() - 1))?;
        (&line[..at], &line[at..])
    };
    let value = rest.strip_prefix(':')?.trim();
    Some((unquote(key), value.to_string()))
}

/// The keys of a section (its entries at two spaces).
fn keys(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| indent(l) == 2)
        .filter_map(|l| key_value(l).map(|(k, _)| k))
        .collect()
}

/// `{integrity: sha512-…, tarball: file:x.tgz}` → pairs.
fn flow_map(value: &str) -> Vec<(String, String)> {
    let Some(inner) = value
        .trim()
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
    else {
        return Vec::new();
    };
    inner
        .split(", ")
        .filter_map(key_value)
        .map(|(k, v)| (k, unquote(&v)))
        .collect()
}

fn parse_packages(lines: &[&str]) -> BTreeMap<String, Package> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Package)> = None;
    let mut in_resolution = false;
    for line in lines {
        let depth = indent(line);
        let Some((key, value)) = key_value(line) else {
            continue;
        };
        if depth == 2 {
            if let Some((k, p)) = current.take() {
                out.insert(k, p);
            }
            current = Some((key, Package::default()));
            in_resolution = false;
            continue;
        }
        let Some((_, pkg)) = current.as_mut() else {
            continue;
        };
        let mut set = |k: &str, v: String| match k {
            "integrity" => pkg.integrity = Some(v),
            "tarball" => pkg.tarball = Some(v),
            "directory" => pkg.directory = true,
            "type" if v == "directory" => pkg.directory = true,
            _ => {}
        };
        if depth == 4 {
            in_resolution = key == "resolution";
            match key.as_str() {
                "resolution" => {
                    for (k, v) in flow_map(&value) {
                        set(&k, v);
                    }
                }
                "version" => {
                    let v = unquote(&value);
                    if v.starts_with("link:") {
                        pkg.directory = true;
                    }
                    pkg.version = Some(v);
                }
                "name" => pkg.name = Some(unquote(&value)),
                "requiresBuild" => pkg.requires_build = unquote(&value) == "true",
                _ => {}
            }
        } else if depth == 6 && in_resolution {
            set(&key, unquote(&value));
        }
    }
    if let Some((k, p)) = current {
        out.insert(k, p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"lockfileVersion: '9.0'

settings:
  autoInstallPeers: true

importers:

  .:
    dependencies:
      si-pn:
        specifier: 1.0.0
        version: 1.0.0

packages:

  '@scope/b@2.0.0':
    resolution: {integrity: sha512-BBB}

  si-lib@1.0.0:
    resolution: {integrity: sha512-LIB}

  si-pn@1.0.0:
    resolution: {integrity: sha512-PN==}
    hasBin: true

  si-file@file:vendor/si-file-1.0.0.tgz:
    resolution: {integrity: sha512-FILE, tarball: file:vendor/si-file-1.0.0.tgz}
    version: 1.0.0

  peer-user@1.0.0:
    resolution:
      integrity: sha512-PEER
    peerDependencies:
      si-lib: '*'

  Upper@1.0.0:
    resolution: {integrity: sha512-UP}

snapshots:

  '@scope/b@2.0.0': {}

  si-lib@1.0.0: {}

  si-pn@1.0.0: {}

  si-file@file:vendor/si-file-1.0.0.tgz: {}

  peer-user@1.0.0(si-lib@1.0.0):
    dependencies:
      si-lib: 1.0.0

  Upper@1.0.0: {}
"#;

    fn registry(name: &str, version: &str) -> Option<String> {
        let base = name.rsplit('/').next().unwrap_or(name);
        Some(format!(
            "https://registry.example.com/{name}/-/{base}-{version}.tgz"
        ))
    }

    #[test]
    fn entries_are_placed_in_the_virtual_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pnpm-lock.yaml"), LOCK).expect("write");
        let got = lock_entries(dir.path(), &registry);
        let by_path = |p: &str| got.iter().find(|e| e.path == p).cloned();
        let pn = by_path("node_modules/.pnpm/si-pn@1.0.0/node_modules/si-pn").expect("si-pn");
        assert_eq!(pn.identity().as_deref(), Some("si-pn@1.0.0"));
        assert_eq!(pn.integrity.as_deref(), Some("sha512-PN=="));
        assert_eq!(
            pn.resolved.as_deref(),
            Some("https://registry.example.com/si-pn/-/si-pn-1.0.0.tgz")
        );
        let scoped =
            by_path("node_modules/.pnpm/@scope+b@2.0.0/node_modules/@scope/b").expect("scoped");
        assert_eq!(scoped.identity().as_deref(), Some("@scope/b@2.0.0"));
        let file = by_path(
            "node_modules/.pnpm/si-file@file+vendor+si-file-1.0.0.tgz/node_modules/si-file",
        )
        .expect("file tarball");
        assert_eq!(
            file.resolved.as_deref(),
            Some("file:vendor/si-file-1.0.0.tgz")
        );
        assert_eq!(file.identity().as_deref(), Some("si-file@1.0.0"));
        let peer =
            by_path("node_modules/.pnpm/peer-user@1.0.0_si-lib@1.0.0/node_modules/peer-user")
                .expect("peer suffix");
        assert_eq!(peer.integrity.as_deref(), Some("sha512-PEER"));
        // pnpm hashes a name with capitals: not guessed, not bound.
        assert!(!got.iter().any(|e| e.path.contains("Upper")));
        assert_eq!(got.len(), 5, "{got:#?}");
    }

    #[test]
    fn no_lockfile_no_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(lock_entries(dir.path(), &registry).is_empty());
    }

    #[test]
    fn workspace_members_are_entries_named_by_their_own_package_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::pm::test_fixtures::write_files(
            dir.path(),
            &[
                (
                    "pnpm-lock.yaml",
                    "lockfileVersion: '9.0'\n\nimporters:\n\n  .: {}\n\n  packages/a: {}\n\n  packages/b:\n    dependencies:\n      si-ws-a:\n        specifier: workspace:*\n        version: link:../a\n",
                ),
                ("packages/a/package.json", r#"{ "name": "si-ws-a", "version": "1.0.0" }"#),
                ("packages/b/package.json", r#"{ "name": "si-ws-b" }"#),
            ],
        );
        let entries = lock_entries(dir.path(), &registry);
        let found: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.declared_name.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("packages/a", Some("si-ws-a")),
                ("packages/b", Some("si-ws-b"))
            ]
        );
        assert!(entries.iter().all(LockEntry::is_workspace));
    }

    #[test]
    fn a_grant_binds_to_the_registry_entry_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pnpm-lock.yaml"), LOCK).expect("write");
        let entries = lock_entries(dir.path(), &registry);
        let from = |u: &url::Url| u.host_str() == Some("registry.example.com");
        let applies: Vec<&str> = entries
            .iter()
            .filter(|e| {
                crate::pm::npm::lock::grant_match(e, "si-pn", None, &from)
                    == crate::pm::npm::lock::GrantMatch::Applies
            })
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            applies,
            ["node_modules/.pnpm/si-pn@1.0.0/node_modules/si-pn"]
        );
    }
}
