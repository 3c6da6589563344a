//! The package manager's own approval list for dependency scripts (npm 12's `allowScripts`,
//! pnpm's `allowBuilds`/`onlyBuiltDependencies`, yarn 2+'s `dependenciesMeta.*.built`), read
//! as data: which dependency scripts the tool will run at all. safe-install does not rival
//! it: the tool decides *whether* a package's script runs, safe-install's policy *what* a
//! script that runs may do. `explain` shows both, `--learn` proposes grants only for
//! approved packages, and a script that runs although the list does not approve it is
//! reported (`not-approved`).

use std::path::Path;

/// What the package manager's settings say about dependency scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvals {
    /// The tool and version that decides, as told from its files (`npm 12.2.3`).
    pub tool: String,
    /// Where the list in force was read from (`allowScripts in /p/package.json`); `None`
    /// when no list is in force.
    pub source: Option<String>,
    /// The list's entries, as the tool reads them.
    pub entries: Vec<Approval>,
    /// What happens to the scripts of a package the list does not name.
    pub unlisted: Unlisted,
    /// Entries dropped, settings that change the outcome: for `explain`.
    pub notes: Vec<String>,
}

/// One entry of an approval list: a package name, optionally pinned to exact versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub name: String,
    /// Exact versions; empty: every version.
    pub versions: Vec<String>,
    pub approved: bool,
}

/// What the tool does with the scripts of a package its list does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlisted {
    /// They run: there is no approval list (npm 11, yarn 1, pip's and uv's build backends),
    /// or a setting runs them all. Why.
    Run(String),
    /// They are skipped (npm 12, pnpm 10, yarn 2+ without `enableScripts`).
    Skipped,
    /// The install fails (pnpm 12's `strictDepBuilds`, npm 12's `strict-allow-scripts`).
    Fail,
    /// No dependency script runs at all, listed or not (`--ignore-scripts`). Why.
    NoneRun(String),
    /// Which tool runs, or what its settings say, cannot be read. Why.
    Unknown(String),
}

/// Which packages of the lockfile have install scripts (for `explain` only: reading it is
/// left out of every run's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// `name@version` of each, from the lockfile read before the install.
    Known(Vec<String>),
    /// The lockfile does not record it (or there is none): why.
    AtInstall(String),
}

/// What the tool will do with one package's install scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// They run; why.
    Runs(String),
    /// They are skipped; why.
    Skipped(String),
    /// The install fails on them; why.
    Fails(String),
    /// Cannot be told; why.
    Unknown(String),
}

impl Decision {
    /// Whether the tool's own settings say this package's scripts do not run.
    pub fn not_approved(&self) -> bool {
        matches!(self, Decision::Skipped(_) | Decision::Fails(_))
    }
}

impl Approvals {
    /// No list: every dependency's scripts run.
    pub fn all_run(tool: impl Into<String>, why: impl Into<String>) -> Self {
        Approvals {
            tool: tool.into(),
            source: None,
            entries: Vec::new(),
            unlisted: Unlisted::Run(why.into()),
            notes: Vec::new(),
        }
    }

    /// No dependency script runs at all, whatever the list says (`--ignore-scripts`).
    pub fn none_run(tool: impl Into<String>, why: impl Into<String>) -> Self {
        Approvals {
            unlisted: Unlisted::NoneRun(why.into()),
            ..Approvals::all_run(tool, String::new())
        }
    }

    /// With `notes` for `explain`.
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }

    /// Nothing can be told.
    pub fn unknown(tool: impl Into<String>, why: impl Into<String>) -> Self {
        Approvals {
            tool: tool.into(),
            source: None,
            entries: Vec::new(),
            unlisted: Unlisted::Unknown(why.into()),
            notes: Vec::new(),
        }
    }

    /// What the tool does with the scripts of `name` at `version` (`None`: unknown version,
    /// which only an entry for every version matches).
    pub fn decide(&self, name: &str, version: Option<&str>) -> Decision {
        let source = self.source.as_deref().unwrap_or("the approval list");
        match &self.unlisted {
            Unlisted::NoneRun(why) => return Decision::Skipped(why.clone()),
            Unlisted::Unknown(why) => return Decision::Unknown(why.clone()),
            _ => {}
        }
        let entry = self.entries.iter().find(|e| {
            e.name == name
                && (e.versions.is_empty()
                    || version.is_some_and(|v| e.versions.iter().any(|x| x == v)))
        });
        match (entry, &self.unlisted) {
            (Some(e), _) if e.approved => Decision::Runs(format!("approved by {source}")),
            (Some(_), _) => Decision::Skipped(format!("denied by {source}")),
            (None, Unlisted::Run(why)) => Decision::Runs(why.clone()),
            (None, Unlisted::Fail) => Decision::Fails(format!(
                "not approved by {source}: {} fails the install",
                self.tool
            )),
            (None, _) => Decision::Skipped(format!("not approved by {source}")),
        }
    }

    /// [`Approvals::decide`] for `name@version` as the log writes it.
    pub fn decide_identity(&self, identity: &str) -> Decision {
        let (name, version) = split_identity(identity);
        self.decide(name, version)
    }
}

/// `name@version` → (name, version); a scoped name keeps its leading `@`.
pub fn split_identity(identity: &str) -> (&str, Option<&str>) {
    match identity.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => (&identity[..at + 1], Some(&identity[at + 2..])),
        None => (identity, None),
    }
}

/// One key of an approval list (`name`, `name@*`, `name@1.2.3`, `name@1.2.3 || 1.2.4`)
/// with its value. Ranges, tags and anything but exact versions are not read (npm drops
/// them with a warning): an error saying so.
pub fn parse_entry(key: &str, approved: bool) -> Result<Approval, String> {
    let key = key.trim();
    let (name, spec) = split_identity(key);
    if !crate::policy::valid_package_name(name) {
        return Err(format!("`{key}`: `{name}` is not a package name"));
    }
    let mut versions = Vec::new();
    if let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty() && *s != "*") {
        for v in spec.split("||").map(str::trim) {
            let exact = v.split(['-', '+']).next().is_some_and(|core| {
                core.split('.').count() == 3
                    && core
                        .split('.')
                        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            if !exact {
                return Err(format!(
                    "`{key}`: `{v}` is not an exact version (ranges and tags are not read)"
                ));
            }
            versions.push(v.to_string());
        }
    }
    Ok(Approval {
        name: name.to_string(),
        versions,
        approved,
    })
}

/// The value of one top-level key of the small YAML subset package managers' own files use
/// (`pnpm-workspace.yaml`, `.yarnrc.yml`): a scalar, a list (block `- x` or flow `[x, y]`)
/// or a map of scalars (block `  k: v` or flow `{k: v}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlValue {
    Scalar(String),
    List(Vec<String>),
    Map(Vec<(String, String)>),
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

/// A line without its comment (` #` outside quotes is rare in these files: cut at it).
fn uncomment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    line.split(" #").next().unwrap_or(line)
}

/// `key: value` with the key unquoted; the colon must end the key (`'@s/x': true`).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = t[1..].find(q)? + 1;
        let rest = t[end + 1..].trim_start().strip_prefix(':')?;
        return Some((&t[1..end], rest.trim()));
    }
    let (k, v) = t.split_once(':')?;
    Some((k.trim(), v.trim()))
}

/// The value of top-level `key` in `text`, when set.
pub fn yaml_top_level(text: &str, key: &str) -> Option<YamlValue> {
    let mut lines = text.lines().map(uncomment).peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((k, v)) = key_value(line) else {
            continue;
        };
        if k != key {
            continue;
        }
        if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return Some(YamlValue::List(
                inner
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            ));
        }
        if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            return Some(YamlValue::Map(
                inner
                    .split(',')
                    .filter_map(key_value)
                    .map(|(k, v)| (k.to_string(), unquote(v).to_string()))
                    .collect(),
            ));
        }
        if !v.is_empty() {
            return Some(YamlValue::Scalar(unquote(v).to_string()));
        }
        // A block: the indented lines that follow.
        let mut list = Vec::new();
        let mut map = Vec::new();
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() {
                lines.next();
                continue;
            }
            if !next.starts_with([' ', '\t']) {
                break;
            }
            let item = lines.next().unwrap_or_default().trim();
            if let Some(x) = item
                .strip_prefix("- ")
                .or(item.strip_prefix('-').filter(|r| r.is_empty()))
            {
                list.push(unquote(x).to_string());
            } else if let Some((k, v)) = key_value(item) {
                map.push((k.to_string(), unquote(v).to_string()));
            }
        }
        return Some(if map.is_empty() {
            YamlValue::List(list)
        } else {
            YamlValue::Map(map)
        });
    }
    None
}

/// A YAML or JSON boolean.
pub fn truthy(v: &str) -> Option<bool> {
    match v.trim() {
        "true" | "True" | "TRUE" | "yes" | "on" => Some(true),
        "false" | "False" | "FALSE" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The package (`package.json` with `name` in `names`) that `program` belongs to: followed
/// through symbolic links, or through the absolute paths a small `#!` launcher script names
/// (`exec node /opt/npm/bin/npm-cli.js`), up to four directories above. Its directory and
/// `version`. Nothing is executed.
pub fn tool_package(program: &Path, names: &[&str]) -> Option<(std::path::PathBuf, String)> {
    let real = std::fs::canonicalize(program).ok()?;
    let mut candidates = vec![real.clone()];
    let small = std::fs::metadata(&real).is_ok_and(|m| m.len() < 4096);
    if small {
        if let Ok(text) = std::fs::read_to_string(&real) {
            if text.starts_with("#!") {
                candidates.extend(
                    text.split(['\'', '"', ' ', '\n', '\t'])
                        .filter(|w| w.starts_with('/'))
                        .filter_map(|w| std::fs::canonicalize(w).ok()),
                );
            }
        }
    }
    for c in candidates {
        for dir in c.ancestors().skip(1).take(4) {
            let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let name = manifest.get("name").and_then(|n| n.as_str());
            if name.is_some_and(|n| names.contains(&n)) {
                let version = manifest.get("version")?.as_str()?.to_string();
                return Some((dir.to_path_buf(), version));
            }
        }
    }
    None
}

/// The major version of `version` (`12.2.3` → 12).
pub fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_split_with_scopes() {
        assert_eq!(split_identity("a@1.0.0"), ("a", Some("1.0.0")));
        assert_eq!(split_identity("@s/a@1.0.0"), ("@s/a", Some("1.0.0")));
        assert_eq!(split_identity("@s/a"), ("@s/a", None));
        assert_eq!(split_identity("a"), ("a", None));
    }

    #[test]
    fn entries_take_exact_versions_only() {
        let e = parse_entry("@s/a@1.2.3 || 1.2.4-rc.1", true).expect("entry");
        assert_eq!(e.name, "@s/a");
        assert_eq!(e.versions, ["1.2.3", "1.2.4-rc.1"]);
        assert!(parse_entry("a@*", true).expect("any").versions.is_empty());
        assert!(parse_entry("a", false).expect("bare").versions.is_empty());
        for bad in ["a@^1.0.0", "a@latest", "a@1.x", "a@>=1.0.0", "@"] {
            assert!(parse_entry(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions_follow_the_list_then_the_default() {
        let list = |unlisted| Approvals {
            tool: "npm 12.2.3".into(),
            source: Some("allowScripts in /p/package.json".into()),
            entries: vec![
                parse_entry("ok@1.0.0", true).expect("e"),
                parse_entry("no", false).expect("e"),
            ],
            unlisted,
            notes: Vec::new(),
        };
        let a = list(Unlisted::Skipped);
        assert!(matches!(a.decide_identity("ok@1.0.0"), Decision::Runs(_)));
        assert!(a.decide_identity("ok@1.0.1").not_approved());
        assert!(a.decide_identity("ok").not_approved());
        assert!(a.decide_identity("no@9.9.9").not_approved());
        assert!(a.decide_identity("other@1.0.0").not_approved());
        let a = list(Unlisted::Fail);
        assert!(matches!(
            a.decide_identity("other@1.0.0"),
            Decision::Fails(_)
        ));
        assert!(matches!(
            a.decide_identity("no@1.0.0"),
            Decision::Skipped(_)
        ));
        let a = list(Unlisted::Run("no list".into()));
        assert!(matches!(
            a.decide_identity("other@1.0.0"),
            Decision::Runs(_)
        ));
        let a = list(Unlisted::NoneRun("--ignore-scripts".into()));
        assert!(a.decide_identity("ok@1.0.0").not_approved());
        let a = list(Unlisted::Unknown("?".into()));
        assert!(matches!(
            a.decide_identity("ok@1.0.0"),
            Decision::Unknown(_)
        ));
    }

    #[test]
    fn yaml_values_in_block_and_flow_form() {
        let text = "packages:\n  - a\n# c\nallowBuilds:\n  esbuild: true\n  '@s/x@1.0.0': false # no\n\nonlyBuiltDependencies: [a, \"@s/b\"]\nflow: {a: true, b: false}\nstrictDepBuilds: false\n";
        assert_eq!(
            yaml_top_level(text, "allowBuilds"),
            Some(YamlValue::Map(vec![
                ("esbuild".into(), "true".into()),
                ("@s/x@1.0.0".into(), "false".into())
            ]))
        );
        assert_eq!(
            yaml_top_level(text, "onlyBuiltDependencies"),
            Some(YamlValue::List(vec!["a".into(), "@s/b".into()]))
        );
        assert_eq!(
            yaml_top_level(text, "flow"),
            Some(YamlValue::Map(vec![
                ("a".into(), "true".into()),
                ("b".into(), "false".into())
            ]))
        );
        assert_eq!(
            yaml_top_level(text, "strictDepBuilds"),
            Some(YamlValue::Scalar("false".into()))
        );
        assert_eq!(
            yaml_top_level(text, "packages"),
            Some(YamlValue::List(vec!["a".into()]))
        );
        assert_eq!(yaml_top_level(text, "esbuild"), None);
    }

    #[test]
    fn a_launcher_script_leads_to_its_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("npm/bin")).expect("mkdir");
        std::fs::create_dir_all(root.join("tool/bin")).expect("mkdir");
        std::fs::write(
            root.join("npm/package.json"),
            r#"{"name":"npm","version":"12.2.3"}"#,
        )
        .expect("write");
        std::fs::write(root.join("npm/bin/npm-cli.js"), "").expect("write");
        std::fs::write(
            root.join("tool/bin/npm"),
            format!(
                "#!/bin/sh\nexec '/usr/bin/node' '{}' \"$@\"\n",
                root.join("npm/bin/npm-cli.js").display()
            ),
        )
        .expect("write");
        let (pkg, version) = tool_package(&root.join("tool/bin/npm"), &["npm"]).expect("found");
        assert_eq!(pkg, std::fs::canonicalize(root.join("npm")).expect("canon"));
        assert_eq!(version, "12.2.3");
        std::os::unix::fs::symlink(root.join("npm/bin/npm-cli.js"), root.join("tool/bin/npm2"))
            .expect("link");
        assert!(tool_package(&root.join("tool/bin/npm2"), &["npm"]).is_some());
        assert!(tool_package(&root.join("tool/bin/npm2"), &["pnpm"]).is_none());
    }
}
