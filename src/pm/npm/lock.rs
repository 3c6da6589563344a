//! What the project's lockfile says each installed package is (its place in the install tree,
//! where npm got it, its integrity), and whether a policy grant applies to it: a grant
//! follows the lockfile's entry, never the name a package gives itself.

use crate::policy::ScriptsPolicy;
use std::path::Path;

/// One installed package as the project's lockfile records it: its place in the install tree
/// and where npm got it. This, not the `name` a package writes in its own `package.json`, is
/// what a package is (the name in `package.json` is chosen by whoever made the tarball).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockEntry {
    /// The install path relative to the project, `node_modules/a/node_modules/@s/b`.
    pub path: String,
    /// The entry's own `name` field: npm writes it when the package's `package.json` names it
    /// otherwise than its place in the tree (an alias, or a tarball that names itself).
    pub declared_name: Option<String>,
    pub version: Option<String>,
    pub resolved: Option<String>,
    pub integrity: Option<String>,
    /// A symbolic link to a directory elsewhere (a workspace or `file:` directory).
    pub link: bool,
    /// The lockfile says it has install scripts (npm's `hasInstallScript`).
    pub has_install_script: bool,
}

impl LockEntry {
    /// The name the dependency tree installs it under: the path after its last
    /// `node_modules/` (`@scope/name` for a scoped package); `None` outside `node_modules`.
    pub fn installed_name(&self) -> Option<&str> {
        let (_, name) = self.path.rsplit_once("node_modules/")?;
        (!name.is_empty()).then_some(name)
    }

    /// Whether it is a workspace folder of the project (`packages/a`): a relative path inside
    /// it, through no `node_modules`, the member's own package (the user's code, as the root
    /// project is), named by its own `package.json`.
    pub fn is_workspace(&self) -> bool {
        let path = Path::new(&self.path);
        !self.path.is_empty()
            && !self.link
            && path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(n) if n != "node_modules"))
    }

    /// `name@version` for the event log, from the lockfile alone.
    pub fn identity(&self) -> Option<String> {
        let name = self.installed_name()?;
        Some(match &self.version {
            Some(v) => format!("{name}@{v}"),
            None => name.to_string(),
        })
    }
}

/// Why a lockfile entry does or does not get a `[[package]]` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantMatch {
    /// The entry is the granted package.
    Applies,
    /// The entry has nothing to do with the grant's name.
    Unrelated,
    /// The entry claims the grant's name somewhere but is not the granted package: why.
    Refused(String),
}

/// Whether the grant for `name` (pinned to `pin`, if any) applies to `entry`. Fail closed:
/// the installed name, the entry's recorded name, a registry tarball of that name (its
/// `resolved` URL on a host `from_registry` accepts, under `/<name>/-/`) or a tarball the
/// project vendors (`file:` a relative path), and the pin must all agree.
pub fn grant_match(
    entry: &LockEntry,
    name: &str,
    pin: Option<&str>,
    from_registry: &dyn Fn(&url::Url) -> bool,
) -> GrantMatch {
    let installed = entry.installed_name();
    let declared = entry.declared_name.as_deref();
    if installed != Some(name) && declared != Some(name) {
        return GrantMatch::Unrelated;
    }
    // A workspace member named so by its own package.json: the user's package, whose folder
    // the lockfile keys; it has no tarball to check, so a pin cannot hold.
    if entry.is_workspace() && declared == Some(name) {
        return match pin {
            None => GrantMatch::Applies,
            Some(pin) => GrantMatch::Refused(format!(
                "the grant is pinned to integrity {pin}, and a workspace folder has none"
            )),
        };
    }
    if installed != Some(name) {
        return GrantMatch::Refused(format!(
            "it calls itself {name}, but the lockfile installs it as {}",
            installed.unwrap_or(entry.path.as_str())
        ));
    }
    if let Some(d) = declared.filter(|d| *d != name) {
        return GrantMatch::Refused(format!(
            "the lockfile records it as {d} (an alias, or a package that names itself otherwise)"
        ));
    }
    if entry.link {
        return GrantMatch::Refused("it is a link to a directory, not an installed package".into());
    }
    let Some(resolved) = entry.resolved.as_deref() else {
        return GrantMatch::Refused("the lockfile records no resolved URL for it".into());
    };
    let registry_tarball = url::Url::parse(resolved).is_ok_and(|u| {
        let segment = |n: &str| format!("/{n}/-/");
        let path = u.path();
        from_registry(&u)
            && (path.contains(&segment(name))
                || path.contains(&segment(&name.replacen('/', "%2f", 1)))
                || path.contains(&segment(&name.replacen('/', "%2F", 1))))
    });
    // A tarball the project itself vendors (`"sharp": "file:vendor/sharp.tgz"` in the
    // user's package.json): the user mapped the name to that file, as a registry maps it to
    // its tarball. Only a relative path inside the project, never one inside an install tree.
    let vendored = resolved.strip_prefix("file:").is_some_and(|p| {
        let p = std::path::Path::new(p);
        p.is_relative()
            && !p.components().any(|c| {
                matches!(c, std::path::Component::ParentDir) || c.as_os_str() == "node_modules"
            })
    });
    if !registry_tarball && !vendored {
        return GrantMatch::Refused(format!(
            "it was resolved from {resolved}, not a tarball of {name} from npm's registries or the project's own files"
        ));
    }
    if let Some(pin) = pin {
        if entry.integrity.as_deref() != Some(pin) {
            return GrantMatch::Refused(format!(
                "the grant is pinned to integrity {pin}, and the lockfile holds {}",
                entry.integrity.as_deref().unwrap_or("none")
            ));
        }
    }
    GrantMatch::Applies
}

/// The installed packages the project's lockfile (`npm-shrinkwrap.json`, else
/// `package-lock.json`) records, read before anything runs (scripts could rewrite it later;
/// `node_modules/.package-lock.json` is never read: scripts may write there). Lockfile
/// versions 2 and 3 (`packages`, keyed by install path) and 1 (nested `dependencies`, whose
/// nesting is the install path).
pub fn lock_entries(project: &Path) -> Vec<LockEntry> {
    let text = ["npm-shrinkwrap.json", "package-lock.json"]
        .iter()
        .find_map(|f| std::fs::read_to_string(project.join(f)).ok());
    let Some(lock) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) else {
        return Vec::new();
    };
    let field =
        |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_str()).map(String::from);
    let mut out = Vec::new();
    if let Some(packages) = lock.get("packages").and_then(|p| p.as_object()) {
        for (path, entry) in packages {
            if path.is_empty() {
                continue;
            }
            out.push(LockEntry {
                path: path.clone(),
                declared_name: field(entry, "name"),
                version: field(entry, "version"),
                resolved: field(entry, "resolved"),
                integrity: field(entry, "integrity"),
                link: entry.get("link").and_then(|l| l.as_bool()) == Some(true),
                has_install_script: entry.get("hasInstallScript").and_then(|l| l.as_bool())
                    == Some(true),
            });
        }
        return out;
    }
    fn v1(prefix: &str, deps: &serde_json::Value, out: &mut Vec<LockEntry>) {
        let Some(deps) = deps.as_object() else { return };
        for (name, entry) in deps {
            let path = format!("{prefix}node_modules/{name}");
            let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(String::from);
            // v1 writes an alias's target into `version` as `npm:name@x`.
            let version = field("version");
            let declared_name = version
                .as_deref()
                .and_then(|v| v.strip_prefix("npm:"))
                .map(|v| crate::policy::package_name(v).to_string());
            out.push(LockEntry {
                path: path.clone(),
                declared_name,
                version,
                resolved: field("resolved"),
                integrity: field("integrity"),
                link: false,
                // Version 1 does not record it.
                has_install_script: false,
            });
            if let Some(nested) = entry.get("dependencies") {
                v1(&format!("{path}/"), nested, out);
            }
        }
    }
    if let Some(deps) = lock.get("dependencies") {
        v1("", deps, &mut out);
    }
    out
}

/// Bind each grant of `scripts` to the lockfile entries that are its package (see
/// [`grant_match`]: installed name, recorded name, a registry tarball of that name, the pin)
/// and drop the grants that apply nowhere. Returns a note for every grant dropped and every
/// entry that claims a grant's name without getting it.
pub fn bind(
    scripts: &mut ScriptsPolicy,
    project: &Path,
    entries: &[LockEntry],
    from_registry: &dyn Fn(&url::Url) -> bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    scripts.packages.retain_mut(|g| {
            let grant = &mut g.value;
            grant.installed.clear();
            let mut refused = Vec::new();
            for e in entries {
                match grant_match(e, &grant.name, grant.integrity.as_deref(), from_registry) {
                    GrantMatch::Applies => grant.installed.push(project.join(&e.path)),
                    GrantMatch::Unrelated => {}
                    GrantMatch::Refused(why) => refused.push((e, why)),
                }
            }
            for (e, why) in refused {
                // npm's link to a workspace folder the grant applies to is that folder: no news.
                let to_granted = e.link
                    && e.resolved
                        .as_deref()
                        .is_some_and(|r| grant.installed.contains(&project.join(r)));
                if !to_granted {
                    notes.push(format!(
                        "the grant for package {} ({}) is not applied to {}: {why}",
                        grant.name, g.origin, e.path
                    ));
                }
            }
            if grant.installed.is_empty() {
                notes.push(format!(
                    "the grant for package {} ({}) is not applied: the project's lockfile (package-lock.json, npm-shrinkwrap.json or pnpm-lock.yaml, as it was before the install) holds no entry that is this package{}",
                    grant.name,
                    g.origin,
                    grant
                        .integrity
                        .as_deref()
                        .map(|i| format!(" at integrity {i}"))
                        .unwrap_or_default()
                ));
            }
            !grant.installed.is_empty()
        });
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(u: &url::Url) -> bool {
        u.host_str() == Some("registry.example.com")
    }

    #[test]
    fn a_grant_applies_to_a_workspace_folder_by_its_own_name() {
        let member = LockEntry {
            path: "packages/a".into(),
            declared_name: Some("si-ws-a".into()),
            version: Some("1.0.0".into()),
            ..LockEntry::default()
        };
        let link = LockEntry {
            path: "node_modules/si-ws-a".into(),
            resolved: Some("packages/a".into()),
            link: true,
            ..LockEntry::default()
        };
        assert_eq!(
            grant_match(&member, "si-ws-a", None, &registry),
            GrantMatch::Applies
        );
        assert!(matches!(
            grant_match(&member, "si-ws-a", Some("sha512-x"), &registry),
            GrantMatch::Refused(_)
        ));
        assert_eq!(
            grant_match(&member, "other", None, &registry),
            GrantMatch::Unrelated
        );
        // Not a workspace folder: outside the project, through a node_modules, a link.
        for path in ["../elsewhere", "packages/node_modules/x", "/abs/a"] {
            let e = LockEntry {
                path: path.into(),
                ..member.clone()
            };
            assert!(
                matches!(
                    grant_match(&e, "si-ws-a", None, &registry),
                    GrantMatch::Refused(_)
                ),
                "{path}"
            );
        }
        assert!(matches!(
            grant_match(&link, "si-ws-a", None, &registry),
            GrantMatch::Refused(_)
        ));
        // Bound to the member's folder; npm's link to it is no refusal worth a note.
        let mut p = crate::policy::Policy::default();
        p.add_layer(
            "ws.toml",
            "[[package]]\nname = \"si-ws-a\"\nallow-write = [\"/p/dist\"]\nreason = \"shared output\"\n",
        )
        .expect("valid grant");
        let notes = bind(&mut p.scripts, Path::new("/p"), &[member, link], &registry);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            p.scripts.grant("si-ws-a").expect("kept").value.installed,
            [std::path::PathBuf::from("/p/packages/a")]
        );
    }

    #[test]
    fn entries_from_every_lockfile_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("package-lock.json"),
            r#"{ "lockfileVersion": 3, "packages": {
                 "": { "name": "app" },
                 "node_modules/sharp": { "version": "1.0.0", "integrity": "sha512-AAA" },
                 "node_modules/x/node_modules/@scope/sharp": { "integrity": "sha512-BBB" },
                 "node_modules/w": { "resolved": "packages/w", "link": true } } }"#,
        )
        .expect("write");
        let got = lock_entries(dir.path());
        // The order of a JSON object is not part of the lockfile's meaning.
        let mut names: Vec<_> = got.iter().map(|e| e.installed_name()).collect();
        names.sort();
        assert_eq!(names, [Some("@scope/sharp"), Some("sharp"), Some("w")]);
        let by_name = |n: &str| {
            got.iter()
                .find(|e| e.installed_name() == Some(n))
                .expect("entry")
        };
        assert_eq!(by_name("sharp").identity().as_deref(), Some("sharp@1.0.0"));
        assert!(by_name("w").link);
        std::fs::write(
            dir.path().join("package-lock.json"),
            r#"{ "lockfileVersion": 1, "dependencies": { "old": { "version": "1.0.0",
                 "integrity": "sha1-CCC", "dependencies": { "inner": { "version": "npm:evil@2.0.0" } } } } }"#,
        )
        .expect("write");
        let got = lock_entries(dir.path());
        assert_eq!(got[0].path, "node_modules/old");
        assert_eq!(got[1].path, "node_modules/old/node_modules/inner");
        assert_eq!(got[1].declared_name.as_deref(), Some("evil"));
    }

    fn entry(path: &str, resolved: &str) -> LockEntry {
        LockEntry {
            path: path.into(),
            version: Some("1.0.0".into()),
            resolved: Some(resolved.into()),
            integrity: Some("sha512-AAA".into()),
            ..LockEntry::default()
        }
    }

    #[test]
    fn a_grant_applies_to_the_registry_tarball_at_that_path_only() {
        let tarball = "https://registry.example.com/sharp/-/sharp-1.0.0.tgz";
        let real = entry("node_modules/sharp", tarball);
        assert_eq!(
            grant_match(&real, "sharp", None, &registry),
            GrantMatch::Applies
        );
        assert_eq!(
            grant_match(&real, "sharp", Some("sha512-AAA"), &registry),
            GrantMatch::Applies
        );
        assert!(matches!(
            grant_match(&real, "sharp", Some("sha512-OTHER"), &registry),
            GrantMatch::Refused(_)
        ));
        assert_eq!(
            grant_match(&real, "left-pad", None, &registry),
            GrantMatch::Unrelated
        );
        let nested = entry("node_modules/a/node_modules/sharp", tarball);
        assert_eq!(
            grant_match(&nested, "sharp", None, &registry),
            GrantMatch::Applies
        );
        let scoped = entry(
            "node_modules/@img/sharp",
            "https://registry.example.com/@img/sharp/-/sharp-1.0.0.tgz",
        );
        assert_eq!(
            grant_match(&scoped, "@img/sharp", None, &registry),
            GrantMatch::Applies
        );
        // A tarball the project vendors, under the granted name.
        let vendored = entry("node_modules/sharp", "file:vendor/sharp-1.0.0.tgz");
        assert_eq!(
            grant_match(&vendored, "sharp", Some("sha512-AAA"), &registry),
            GrantMatch::Applies
        );
        for elsewhere in [
            "file:../other/sharp.tgz",
            "file:/tmp/sharp.tgz",
            "file:node_modules/x/sharp.tgz",
        ] {
            assert!(
                matches!(
                    grant_match(
                        &entry("node_modules/sharp", elsewhere),
                        "sharp",
                        None,
                        &registry
                    ),
                    GrantMatch::Refused(_)
                ),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn names_a_package_gives_itself_get_nothing() {
        // A tarball-URL dependency whose package.json says "sharp" (npm records the name).
        let impostor = LockEntry {
            declared_name: Some("sharp".into()),
            ..entry("node_modules/foo", "https://attacker.example.com/foo.tgz")
        };
        assert!(matches!(
            grant_match(&impostor, "sharp", Some("sha512-AAA"), &registry),
            GrantMatch::Refused(_)
        ));
        // The same, installed under the granted name by a dependency that asked for it so.
        let at_path = entry(
            "node_modules/sharp",
            "https://attacker.example.com/sharp/-/sharp-1.0.0.tgz",
        );
        assert!(matches!(
            grant_match(&at_path, "sharp", None, &registry),
            GrantMatch::Refused(_)
        ));
        // An alias: `"sharp": "npm:evil@1"` installs evil at node_modules/sharp.
        let alias = LockEntry {
            declared_name: Some("evil".into()),
            ..entry(
                "node_modules/sharp",
                "https://registry.example.com/evil/-/evil-1.0.0.tgz",
            )
        };
        assert!(matches!(
            grant_match(&alias, "sharp", None, &registry),
            GrantMatch::Refused(_)
        ));
        // A registry tarball of another package placed at the granted path.
        let other = entry(
            "node_modules/sharp",
            "https://registry.example.com/evil/-/evil-1.0.0.tgz",
        );
        assert!(matches!(
            grant_match(&other, "sharp", None, &registry),
            GrantMatch::Refused(_)
        ));
        let no_resolved = LockEntry {
            resolved: None,
            ..entry("node_modules/sharp", "")
        };
        assert!(matches!(
            grant_match(&no_resolved, "sharp", None, &registry),
            GrantMatch::Refused(_)
        ));
        let link = LockEntry {
            link: true,
            ..entry("node_modules/sharp", "packages/sharp")
        };
        assert!(matches!(
            grant_match(&link, "sharp", None, &registry),
            GrantMatch::Refused(_)
        ));
    }

    #[test]
    fn a_pinned_grant_survives_only_where_the_lockfile_holds_that_package_at_that_integrity() {
        let mut p = crate::policy::Policy::default();
        p.add_layer(
            "ok.toml",
            "[[package]]\nname = \"@scope/sharp\"\nallow-hosts = [\"downloads.example.com:443\"]\nintegrity = \"sha512-AAAAAAAAAAAAAAAA\"\nreason = \"prebuilt binary\"\n",
        )
        .expect("valid grant");
        // A pinned grant survives only where the lockfile holds that package at that integrity.
        let entry = |integrity: &str| LockEntry {
            path: "node_modules/@scope/sharp".into(),
            version: Some("1.0.0".into()),
            resolved: Some("https://registry.example.com/@scope/sharp/-/sharp-1.0.0.tgz".into()),
            integrity: Some(integrity.into()),
            ..Default::default()
        };
        let registry = |u: &url::Url| u.host_str() == Some("registry.example.com");
        let project = std::path::Path::new("/p");
        let mut kept = p.clone();
        let notes = bind(
            &mut kept.scripts,
            project,
            &[entry("sha512-AAAAAAAAAAAAAAAA")],
            &registry,
        );
        assert!(notes.is_empty(), "{notes:?}");
        let grant = kept.scripts.grant("@scope/sharp").expect("grant kept");
        assert_eq!(
            grant.value.installed,
            [std::path::PathBuf::from("/p/node_modules/@scope/sharp")]
        );
        let notes = bind(&mut p.scripts, project, &[entry("sha512-BBBB")], &registry);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(p.scripts.grant("@scope/sharp").is_none());
    }
}
