//! pnpm's approval of dependency builds, read as data (measured with 10.34.9 and 12.26.0):
//! pnpm 10 runs the builds `pnpm-workspace.yaml` approves with `allowBuilds: {name: true}` or
//! `onlyBuiltDependencies: [name]` (the `pnpm` field of `package.json` too) and skips the
//! others ("Ignored build scripts", exit 0); pnpm 12 reads `allowBuilds` only and fails the
//! install on an unapproved build (`strictDepBuilds`, default true). pnpm 9 and earlier run
//! every build. Which pnpm runs is told from its own `package.json`.

use crate::pm::approvals::{
    major, parse_entry, tool_package, truthy, yaml_top_level, Approval, Approvals, Scripted,
    Unlisted, YamlValue,
};
use crate::pm::Context;
use std::path::Path;

/// Which packages `pnpm-lock.yaml` says have build scripts (only lockfiles before version 9
/// record it).
pub fn scripted(project: &Path) -> Scripted {
    if !project.join("pnpm-lock.yaml").is_file() {
        return Scripted::AtInstall(
            "no pnpm-lock.yaml: which packages have build scripts is known only at install time"
                .into(),
        );
    }
    if !super::lock::records_builds(project) {
        return Scripted::AtInstall(
            "pnpm-lock.yaml (version 9) does not record which packages have build scripts: known only at install time".into(),
        );
    }
    let mut with: Vec<String> = super::lock::lock_entries(project, &|_, _| None)
        .into_iter()
        .filter(|e| e.has_install_script && !e.link)
        .filter_map(|e| e.identity())
        .collect();
    with.sort();
    with.dedup();
    Scripted::Known(with)
}

/// `name: true|false` entries of `allowBuilds` (undecided values are skipped, as pnpm does).
fn allow_builds(value: YamlValue, file: &Path, notes: &mut Vec<String>) -> Vec<Approval> {
    let YamlValue::Map(map) = value else {
        notes.push(format!("allowBuilds in {} is not a map", file.display()));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in map {
        let Some(approved) = truthy(&v) else {
            notes.push(format!(
                "allowBuilds in {}: `{key}: {v}` is undecided; pnpm neither runs nor approves it",
                file.display()
            ));
            continue;
        };
        match parse_entry(&key, approved) {
            Ok(e) => out.push(e),
            Err(why) => notes.push(format!("allowBuilds in {}: {why}", file.display())),
        }
    }
    out
}

/// The names of a list setting (`onlyBuiltDependencies: [a, b]`), each approved as given.
fn name_list(value: YamlValue, approved: bool) -> Vec<Approval> {
    let names = match value {
        YamlValue::List(l) => l,
        YamlValue::Scalar(s) => vec![s],
        YamlValue::Map(m) => m.into_iter().map(|(k, _)| k).collect(),
    };
    names
        .iter()
        .filter_map(|n| parse_entry(n, approved).ok())
        .collect()
}

/// `package.json`'s `pnpm.<key>` as a list of names (pnpm 10 reads it too).
fn package_json_names(project: &Path, key: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(project.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let list = manifest.get("pnpm")?.get(key)?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
    )
}

/// A boolean setting as pnpm `major` resolves it, with where it was set: the command line
/// (`--key`, `--no-key`, `--key=v`, `--config.key=v`, `--config.camelKey=v`) first, then
/// for pnpm 12 its environment (`pnpm_config_key`) before `pnpm-workspace.yaml`, for pnpm 10
/// `pnpm-workspace.yaml` before the environment (`npm_config_key`), as measured for
/// `scriptShell`.
fn boolean(
    ctx: &Context,
    major: u32,
    yaml: &str,
    file: &Path,
    camel: &str,
    kebab: &str,
) -> Option<(bool, String)> {
    let mut cli = None;
    for a in ctx
        .argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
    {
        let value = if a == format!("--{kebab}") {
            Some("true")
        } else if a == format!("--no-{kebab}") {
            Some("false")
        } else {
            [
                format!("--{kebab}="),
                format!("--config.{kebab}="),
                format!("--config.{camel}="),
            ]
            .iter()
            .find_map(|p| a.strip_prefix(p.as_str()))
        };
        if let Some(b) = value.and_then(truthy) {
            cli = Some((b, format!("{a} on the command line")));
        }
    }
    if cli.is_some() {
        return cli;
    }
    let snake = kebab.replace('-', "_");
    let prefix = if major >= 12 {
        "pnpm_config_"
    } else {
        "npm_config_"
    };
    let names = [
        format!("{prefix}{snake}"),
        format!("{prefix}{snake}").to_uppercase(),
    ];
    let env = names.iter().find_map(|name| {
        let v = ctx.var(name)?.to_str()?;
        truthy(v).map(|b| (b, format!("environment variable {name}")))
    });
    let in_yaml = match yaml_top_level(yaml, camel) {
        Some(YamlValue::Scalar(v)) => {
            truthy(&v).map(|b| (b, format!("{camel} in {}", file.display())))
        }
        _ => None,
    };
    if major >= 12 {
        env.or(in_yaml)
    } else {
        in_yaml.or(env)
    }
}

/// pnpm's approvals for the command in `ctx`.
pub fn approvals(ctx: &Context) -> Approvals {
    let Some((_, version)) = ctx
        .resolved
        .program
        .as_deref()
        .and_then(|p| tool_package(p, &["pnpm", "@pnpm/exe"]))
    else {
        return Approvals::unknown(
            "pnpm",
            "which pnpm runs cannot be told from its files (no pnpm package.json beside the executable): pnpm 10 and 12 run only the builds allowBuilds approves, pnpm 9 and earlier run them all",
        );
    };
    let tool = format!("pnpm {version}");
    let m = major(&version).unwrap_or(0);
    let ignore = ctx.argv.iter().skip(1).any(|a| a == "--ignore-scripts");
    if ignore {
        return Approvals::none_run(tool, "--ignore-scripts: no build runs");
    }
    if m < 10 {
        return Approvals::all_run(
            tool,
            format!("pnpm {version} has no approval list: every dependency's build runs"),
        );
    }
    let file = ctx.project.join("pnpm-workspace.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap_or_default();
    let get = |key: &str| yaml_top_level(&yaml, key);
    let flag = |camel: &str, kebab: &str| boolean(ctx, m, &yaml, &file, camel, kebab);
    if let Some((true, from)) = flag("dangerouslyAllowAllBuilds", "dangerously-allow-all-builds") {
        return Approvals::all_run(tool, format!("{from}: every dependency's build runs"));
    }
    let mut notes = Vec::new();
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    if let Some(v) = get("allowBuilds") {
        entries.extend(allow_builds(v, &file, &mut notes));
        sources.push(format!("allowBuilds in {}", file.display()));
    }
    let only = get("onlyBuiltDependencies");
    // Strict by default from pnpm 12 on (`strictDepBuilds`), opt-in before.
    let strict = flag("strictDepBuilds", "strict-dep-builds")
        .map(|(b, _)| b)
        .unwrap_or(m >= 12);
    let mut unlisted = if strict {
        Unlisted::Fail
    } else {
        Unlisted::Skipped
    };
    if m >= 12 {
        if only.is_some() {
            notes.push(format!(
                "onlyBuiltDependencies in {} is ignored by pnpm {version} (it reads allowBuilds only)",
                file.display()
            ));
        }
    } else {
        match only {
            Some(v) => {
                entries.extend(name_list(v, true));
                sources.push(format!("onlyBuiltDependencies in {}", file.display()));
            }
            None => {
                if let Some(names) = package_json_names(&ctx.project, "onlyBuiltDependencies") {
                    entries.extend(names.iter().filter_map(|n| parse_entry(n, true).ok()));
                    sources.push("pnpm.onlyBuiltDependencies in package.json".into());
                }
            }
        }
        if let Some(v) = get("neverBuiltDependencies") {
            entries.extend(name_list(v, false));
            // A deny list alone lets every other build run.
            if sources.is_empty() {
                unlisted = Unlisted::Run(format!(
                    "neverBuiltDependencies in {} names only what never builds: every other build runs",
                    file.display()
                ));
            }
            sources.push(format!("neverBuiltDependencies in {}", file.display()));
        }
    }
    Approvals {
        tool,
        source: (!sources.is_empty()).then(|| sources.join(" and ")),
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

    fn ctx(root: &Path, pnpm: &str, args: &[&str]) -> Context {
        let argv: Vec<&str> = std::iter::once("pnpm")
            .chain(args.iter().copied())
            .collect();
        crate::pm::test_fixtures::tool_context(
            root.join(pnpm).join("bin/pnpm.cjs"),
            &argv,
            &[],
            &root.join("home"),
            &root.join("proj"),
        )
    }

    fn setup(root: &Path, workspace: &str) {
        write_files(
            root,
            &[
                ("p10/package.json", r#"{"name":"pnpm","version":"10.34.9"}"#),
                ("p10/bin/pnpm.cjs", ""),
                ("p12/package.json", r#"{"name":"pnpm","version":"12.26.0"}"#),
                ("p12/bin/pnpm.cjs", ""),
                ("p9/package.json", r#"{"name":"pnpm","version":"9.15.0"}"#),
                ("p9/bin/pnpm.cjs", ""),
                ("proj/package.json", "{}"),
                ("proj/pnpm-workspace.yaml", workspace),
                ("proj/pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
            ],
        );
    }

    #[test]
    fn pnpm_10_reads_both_lists_and_skips_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        setup(
            root,
            "allowBuilds:\n  a: true\n  b: false\nonlyBuiltDependencies:\n  - c\n",
        );
        let a = approvals(&ctx(root, "p10", &["install"]));
        assert_eq!(a.tool, "pnpm 10.34.9");
        assert!(matches!(a.decide_identity("a@1.0.0"), Decision::Runs(_)));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Runs(_)));
        assert!(matches!(a.decide_identity("b@1.0.0"), Decision::Skipped(_)));
        assert!(matches!(a.decide_identity("d@1.0.0"), Decision::Skipped(_)));
        assert!(matches!(
            scripted(&root.join("proj")),
            Scripted::AtInstall(_)
        ));
        let a = approvals(&ctx(root, "p9", &["install"]));
        assert!(matches!(a.decide_identity("d@1.0.0"), Decision::Runs(_)));
        let a = approvals(&ctx(root, "p10", &["install", "--ignore-scripts"]));
        assert!(a.decide_identity("a@1.0.0").not_approved());
    }

    #[test]
    fn pnpm_12_reads_allow_builds_only_and_fails_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        setup(root, "allowBuilds: {a: true}\nonlyBuiltDependencies: [c]\n");
        let a = approvals(&ctx(root, "p12", &["install"]));
        assert!(matches!(a.decide_identity("a@1.0.0"), Decision::Runs(_)));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Fails(_)));
        assert!(
            a.notes.iter().any(|n| n.contains("ignored")),
            "{:?}",
            a.notes
        );
        setup(root, "allowBuilds: {a: true}\nstrictDepBuilds: false\n");
        let a = approvals(&ctx(root, "p12", &["install"]));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Skipped(_)));
        setup(root, "dangerouslyAllowAllBuilds: true\n");
        let a = approvals(&ctx(root, "p12", &["install"]));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Runs(_)));
        // The command line beats the file.
        let a = approvals(&ctx(
            root,
            "p12",
            &["install", "--config.dangerously-allow-all-builds=false"],
        ));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Fails(_)));
        setup(root, "allowBuilds: {a: true}\n");
        let a = approvals(&ctx(
            root,
            "p12",
            &["install", "--dangerously-allow-all-builds"],
        ));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Runs(_)));
        let mut c = ctx(root, "p12", &["install"]);
        c.env
            .push(("pnpm_config_strict_dep_builds".into(), "false".into()));
        assert!(matches!(
            approvals(&c).decide_identity("c@1.0.0"),
            Decision::Skipped(_)
        ));
    }

    #[test]
    fn lockfiles_before_version_9_say_which_packages_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(
            dir.path(),
            &[(
                "pnpm-lock.yaml",
                "lockfileVersion: '6.0'\n\npackages:\n\n  /esbuild@0.19.0:\n    resolution: {integrity: sha512-A}\n    requiresBuild: true\n    dev: false\n\n  /plain@1.0.0:\n    resolution: {integrity: sha512-B}\n    dev: false\n",
            )],
        );
        assert_eq!(
            scripted(dir.path()),
            Scripted::Known(vec!["esbuild@0.19.0".into()])
        );
    }
}
