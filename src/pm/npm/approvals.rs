//! npm's approval of dependency install scripts, read as data. npm 12 runs a dependency's
//! `preinstall`/`install`/`postinstall` only when its approval list names it (skipped with a
//! warning otherwise, a failure with `strict-allow-scripts`); npm 11 and earlier run them
//! all. The list in force is the first of (`lib/utils/resolve-allow-scripts.js`, npm 12.2):
//! the command line or `npm_config_allow_scripts` (refused in a project install,
//! `EALLOWSCRIPTS`), the root `package.json`'s `allowScripts`, the `.npmrc` cascade's
//! `allow-scripts`. Which npm runs is told from its own `package.json`.

use super::config::{self, Origin};
use crate::pm::approvals::{
    major, parse_entry, tool_package, Approval, Approvals, Scripted, Unlisted,
};
use crate::pm::Context;
use std::path::Path;

/// The settings that change which scripts npm runs.
const KEYS: [&str; 4] = [
    "ignore-scripts",
    "dangerously-allow-all-scripts",
    "strict-allow-scripts",
    "allow-scripts",
];

/// The value of a boolean flag `--key`, `--key=v` or `--no-key` on the command line (the
/// last one wins, as in npm); `allow-scripts` as its raw value.
fn flag(args: &[String], key: &str) -> Option<String> {
    let mut found = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == &format!("--no-{key}") {
            found = Some("false".to_string());
        } else if a == &format!("--{key}") {
            let takes_value = key == "allow-scripts";
            found = Some(match it.peek() {
                Some(v) if takes_value && !v.starts_with('-') => {
                    it.next().cloned().unwrap_or_default()
                }
                _ => "true".to_string(),
            });
        } else if let Some(v) = a.strip_prefix(&format!("--{key}=")) {
            found = Some(v.to_string());
        }
    }
    found
}

/// Each setting of [`KEYS`] the caller's command line, environment and `.npmrc` files set,
/// with where.
fn settings(ctx: &Context, notes: &mut Vec<String>) -> Vec<(String, String, Origin)> {
    let src = super::sources(ctx);
    let mut out = Vec::new();
    for key in KEYS {
        if let Some(v) = flag(&src.args, key) {
            out.push((key.to_string(), v, Origin::CommandLine));
        }
    }
    match config::settings(&src, &KEYS) {
        Ok(found) => {
            for (key, (value, origin)) in found {
                if !out.iter().any(|(k, _, _)| *k == key) {
                    out.push((key, value, origin));
                }
            }
        }
        Err(e) => notes.push(format!("npm's configuration could not be read: {e}")),
    }
    out
}

/// The root `package.json`'s `allowScripts`: entries, and the keys npm drops.
fn package_json_list(project: &Path, notes: &mut Vec<String>) -> Option<Vec<Approval>> {
    let path = project.join("package.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let list = manifest.get("allowScripts")?.as_object()?;
    let mut entries = Vec::new();
    for (key, value) in list {
        let Some(approved) = value.as_bool() else {
            notes.push(format!(
                "allowScripts in {}: `{key}` is not true or false; npm ignores it",
                path.display()
            ));
            continue;
        };
        match parse_entry(key, approved) {
            Ok(e) => entries.push(e),
            Err(why) => notes.push(format!(
                "allowScripts in {}: {why}; npm drops it",
                path.display()
            )),
        }
    }
    (!entries.is_empty()).then_some(entries)
}

/// Whether npm reads no project `package.json` for this command: `npx`, `npm exec`/`npm x`
/// and global installs take `allow-scripts` from `.npmrc` only
/// (`resolve-allow-scripts.js`).
fn skips_package_json(argv: &[std::ffi::OsString]) -> bool {
    let program = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let args: Vec<&str> = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .collect();
    let command = args.iter().find(|a| !a.starts_with('-')).copied();
    program == "npx"
        || matches!(command, Some("exec" | "x"))
        || args.iter().any(|a| {
            matches!(
                *a,
                "-g" | "--global" | "--location=global" | "--global=true"
            )
        })
}

/// Which packages the project's lockfile says have install scripts (`hasInstallScript`,
/// lockfile versions 2 and 3).
pub fn scripted(project: &Path) -> Scripted {
    let lock = ["npm-shrinkwrap.json", "package-lock.json"]
        .iter()
        .find_map(|f| std::fs::read_to_string(project.join(f)).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let Some(lock) = lock else {
        return Scripted::AtInstall(
            "no package-lock.json: which packages have install scripts is known only at install time".into(),
        );
    };
    if lock.get("packages").is_none() {
        return Scripted::AtInstall(
            "package-lock.json version 1 does not record which packages have install scripts: known only at install time".into(),
        );
    }
    let mut with: Vec<String> = super::lock_entries(project)
        .into_iter()
        .filter(|e| e.has_install_script && !e.link)
        .filter_map(|e| e.identity())
        .collect();
    with.sort();
    with.dedup();
    Scripted::Known(with)
}

/// npm's approvals for the command in `ctx`.
pub fn approvals(ctx: &Context) -> Approvals {
    let Some((_, version)) = ctx
        .resolved
        .program
        .as_deref()
        .and_then(|p| tool_package(p, &["npm"]))
    else {
        return Approvals::unknown(
            "npm",
            "which npm runs cannot be told from its files (no npm package.json beside the executable): npm 12 runs only the dependency scripts its allowScripts approves, npm 11 and earlier run them all",
        );
    };
    let tool = format!("npm {version}");
    let mut notes = Vec::new();
    let set = settings(ctx, &mut notes);
    let get = |key: &str| set.iter().find(|(k, _, _)| k == key);
    let on = |key: &str| get(key).filter(|(_, v, _)| v == "true");
    if let Some((_, _, origin)) = on("ignore-scripts") {
        return Approvals::none_run(tool, format!("ignore-scripts ({origin}): no script runs"))
            .with_notes(notes);
    }
    if major(&version).is_some_and(|m| m < 12) {
        return Approvals::all_run(
            tool,
            format!("npm {version} has no approval list: every dependency's install scripts run"),
        )
        .with_notes(notes);
    }
    if let Some((_, _, origin)) = on("dangerously-allow-all-scripts") {
        let mut a = Approvals::all_run(
            tool,
            format!(
                "dangerously-allow-all-scripts ({origin}): every dependency's install scripts run"
            ),
        );
        a.notes = notes;
        return a;
    }
    let unlisted = if on("strict-allow-scripts").is_some() {
        Unlisted::Fail
    } else {
        Unlisted::Skipped
    };
    if let Some((_, _, origin @ (Origin::CommandLine | Origin::Env(_)))) = get("allow-scripts") {
        return Approvals::unknown(
            tool,
            format!("allow-scripts is set by the {origin}: npm 12 refuses a project install with it (EALLOWSCRIPTS); set allowScripts in package.json instead"),
        )
        .with_notes(notes);
    }
    let npmrc = get("allow-scripts").cloned();
    let from_package_json = if skips_package_json(&ctx.argv) {
        None
    } else {
        package_json_list(&ctx.project, &mut notes)
    };
    let (source, entries) = match from_package_json {
        Some(entries) => {
            if let Some((_, _, origin)) = &npmrc {
                notes.push(format!(
                    "allow-scripts in the {origin} is ignored: package.json's allowScripts wins"
                ));
            }
            (
                Some(format!(
                    "allowScripts in {}",
                    ctx.project.join("package.json").display()
                )),
                entries,
            )
        }
        None => match npmrc {
            Some((_, value, origin)) => {
                let mut entries = Vec::new();
                for key in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    match parse_entry(key, true) {
                        Ok(e) => entries.push(e),
                        Err(why) => notes.push(format!("allow-scripts in the {origin}: {why}")),
                    }
                }
                (Some(format!("allow-scripts in the {origin}")), entries)
            }
            None => (None, Vec::new()),
        },
    };
    Approvals {
        tool,
        source,
        entries,
        unlisted,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::approvals::Decision;
    use crate::pm::test_fixtures::write_files;

    /// `npm <args>` in `<root>/home/u/proj`, with the npm whose package is `<root>/<npm>`.
    fn ctx(root: &Path, npm: &str, args: &[&str], env: &[(&str, &str)]) -> Context {
        let argv: Vec<&str> = std::iter::once("npm").chain(args.iter().copied()).collect();
        crate::pm::test_fixtures::tool_context(
            root.join(npm).join("bin/npm-cli.js"),
            &argv,
            env,
            &root.join("home/u"),
            &root.join("home/u/proj"),
        )
    }

    fn toolchains(root: &Path) {
        write_files(
            root,
            &[
                ("npm11/package.json", r#"{"name":"npm","version":"11.6.0"}"#),
                ("npm11/bin/npm-cli.js", ""),
                ("npm12/package.json", r#"{"name":"npm","version":"12.2.3"}"#),
                ("npm12/bin/npm-cli.js", ""),
                (
                    "home/u/proj/package-lock.json",
                    r#"{"lockfileVersion":3,"packages":{"":{"name":"p"},
                      "node_modules/ok":{"version":"1.0.0","hasInstallScript":true},
                      "node_modules/other":{"version":"2.0.0","hasInstallScript":true},
                      "node_modules/plain":{"version":"1.0.0"}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn npm_12_reads_allow_scripts_from_package_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(
            root,
            &[
                (
                    "home/u/proj/package.json",
                    r#"{"allowScripts":{"ok@1.0.0":true,"bad":false,"ranged@^1.0.0":true}}"#,
                ),
                ("home/u/proj/.npmrc", "allow-scripts=other\n"),
            ],
        );
        let a = approvals(&ctx(root, "npm12", &["ci"], &[]));
        assert_eq!(a.tool, "npm 12.2.3");
        assert!(a
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("allowScripts in")));
        assert_eq!(a.unlisted, Unlisted::Skipped);
        assert!(matches!(a.decide_identity("ok@1.0.0"), Decision::Runs(_)));
        assert!(a.decide_identity("bad@1.0.0").not_approved());
        // The .npmrc list is ignored while package.json has one.
        assert!(a.decide_identity("other@2.0.0").not_approved());
        assert!(
            a.notes.iter().any(|n| n.contains("^1.0.0")),
            "{:?}",
            a.notes
        );
        assert!(
            a.notes.iter().any(|n| n.contains("is ignored")),
            "{:?}",
            a.notes
        );
        assert_eq!(
            scripted(&root.join("home/u/proj")),
            Scripted::Known(vec!["ok@1.0.0".into(), "other@2.0.0".into()])
        );
        // Strict: the unlisted fail the install.
        let a = approvals(&ctx(root, "npm12", &["ci", "--strict-allow-scripts"], &[]));
        assert!(matches!(
            a.decide_identity("other@2.0.0"),
            Decision::Fails(_)
        ));
        // --ignore-scripts wins over every list.
        let a = approvals(&ctx(root, "npm12", &["ci", "--ignore-scripts"], &[]));
        assert!(a.decide_identity("ok@1.0.0").not_approved());
        let a = approvals(&ctx(
            root,
            "npm12",
            &["ci"],
            &[("npm_config_dangerously_allow_all_scripts", "true")],
        ));
        assert!(matches!(a.decide_identity("bad@1.0.0"), Decision::Runs(_)));
    }

    #[test]
    fn npm_12_falls_back_to_npmrc_and_else_approves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(root, &[("home/u/proj/package.json", "{}")]);
        let a = approvals(&ctx(root, "npm12", &["ci"], &[]));
        assert_eq!(a.source, None);
        assert!(a.decide_identity("ok@1.0.0").not_approved());
        write_files(root, &[("home/u/.npmrc", "allow-scripts=ok, @s/x@1.0.0\n")]);
        let a = approvals(&ctx(root, "npm12", &["ci"], &[]));
        assert!(
            a.source
                .as_deref()
                .is_some_and(|s| s.contains("user config")),
            "{:?}",
            a.source
        );
        assert!(matches!(a.decide_identity("ok@3.0.0"), Decision::Runs(_)));
        assert!(matches!(a.decide_identity("@s/x@1.0.0"), Decision::Runs(_)));
        assert!(a.decide_identity("other@2.0.0").not_approved());
        // On the command line npm refuses a project install.
        let a = approvals(&ctx(root, "npm12", &["ci", "--allow-scripts=ok"], &[]));
        assert!(matches!(a.unlisted, Unlisted::Unknown(ref w) if w.contains("EALLOWSCRIPTS")));
    }

    #[test]
    fn npx_and_global_installs_read_npmrc_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(
            root,
            &[
                (
                    "home/u/proj/package.json",
                    r#"{"allowScripts":{"ok":true}}"#,
                ),
                ("home/u/proj/.npmrc", "allow-scripts=other\n"),
            ],
        );
        for args in [&["exec", "tool"][..], &["install", "-g", "tool"][..]] {
            let a = approvals(&ctx(root, "npm12", args, &[]));
            assert!(
                matches!(a.decide_identity("other@2.0.0"), Decision::Runs(_)),
                "{args:?}"
            );
            assert!(a.decide_identity("ok@1.0.0").not_approved(), "{args:?}");
        }
        let a = approvals(&ctx(root, "npm12", &["install"], &[]));
        assert!(matches!(a.decide_identity("ok@1.0.0"), Decision::Runs(_)));
    }

    #[test]
    fn npm_11_runs_every_script_and_an_unknown_npm_is_said_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(
            root,
            &[(
                "home/u/proj/package.json",
                r#"{"allowScripts":{"ok":true}}"#,
            )],
        );
        let a = approvals(&ctx(root, "npm11", &["ci"], &[]));
        assert!(matches!(a.unlisted, Unlisted::Run(_)));
        assert!(matches!(
            a.decide_identity("other@2.0.0"),
            Decision::Runs(_)
        ));
        let a = approvals(&ctx(root, "nowhere", &["ci"], &[]));
        assert!(matches!(
            a.decide_identity("ok@1.0.0"),
            Decision::Unknown(_)
        ));
    }

    #[test]
    fn without_a_lockfile_scripts_are_known_at_install_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(scripted(dir.path()), Scripted::AtInstall(_)));
        write_files(
            dir.path(),
            &[(
                "package-lock.json",
                r#"{"lockfileVersion":1,"dependencies":{}}"#,
            )],
        );
        assert!(matches!(scripted(dir.path()), Scripted::AtInstall(_)));
    }
}
