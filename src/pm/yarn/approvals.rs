//! yarn's approval of dependency builds, read as data (measured with 1.22.22 and 4.18.1):
//! yarn 1 has no approval list (every dependency's scripts run unless `--ignore-scripts` or
//! `.yarnrc`'s `ignore-scripts true`); yarn 2+ runs a build when `enableScripts` (its
//! shipped default, read from the bundle: `false` in 4.18.1) or the project's
//! `dependenciesMeta.<name>.built: true` says so, and never one `built: false` names.
//! `yarn.lock` does not record which packages have build scripts.

use super::config::Generation;
use crate::pm::approvals::{
    parse_entry, truthy, yaml_top_level, Approvals, Scripted, Unlisted, YamlValue,
};
use crate::pm::Context;
use std::path::Path;

/// `yarn.lock` does not say which packages build.
pub fn scripted() -> Scripted {
    Scripted::AtInstall(
        "yarn.lock does not record which packages have build scripts: known only at install time"
            .into(),
    )
}

/// yarn 2+'s shipped `enableScripts` default, from its bundle's settings
/// (`enableScripts:{…,default:!1}`).
fn shipped_enable_scripts(bundle: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(bundle).ok()?;
    let at = text.find("enableScripts:{")?;
    let rest = &text[at..text.len().min(at + 300)];
    let default = &rest[rest.find("default:")? + "default:".len()..];
    if default.starts_with("!0") || default.starts_with("true") {
        Some(true)
    } else if default.starts_with("!1") || default.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

/// `enableScripts` as yarn 2+ resolves it: `YARN_ENABLE_SCRIPTS`, then the nearest
/// `.yarnrc.yml` of the project and its ancestors, then the home's, then the bundle's
/// default. `(value, where)`.
fn enable_scripts(ctx: &Context, bundle: Option<&Path>) -> Option<(bool, String)> {
    // yarn's boolean settings from the environment take `1`/`0` too.
    let from_env = ctx
        .var("YARN_ENABLE_SCRIPTS")
        .and_then(|v| v.to_str())
        .and_then(|v| match v {
            "1" => Some(true),
            "0" => Some(false),
            v => truthy(v),
        });
    if let Some(v) = from_env {
        return Some((v, "YARN_ENABLE_SCRIPTS".into()));
    }
    let home = ctx.home.join(".yarnrc.yml");
    let files = ctx
        .project
        .ancestors()
        .map(|d| d.join(".yarnrc.yml"))
        .chain(std::iter::once(home));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(YamlValue::Scalar(v)) = yaml_top_level(&text, "enableScripts") {
            if let Some(b) = truthy(&v) {
                return Some((b, format!("enableScripts in {}", file.display())));
            }
        }
    }
    let bundle = bundle?;
    shipped_enable_scripts(bundle).map(|b| (b, format!("yarn's default ({})", bundle.display())))
}

/// yarn's approvals for the command in `ctx`.
pub fn approvals(ctx: &Context) -> Approvals {
    let which = match super::which(ctx) {
        Ok(w) => w,
        Err(e) => return Approvals::unknown("yarn", e.to_string()),
    };
    let ignore = ctx.argv.iter().skip(1).any(|a| a == "--ignore-scripts");
    match which.generation {
        Generation::Classic => {
            let rc_ignores = std::fs::read_to_string(ctx.project.join(".yarnrc"))
                .ok()
                .and_then(|t| super::config::yarnrc_value(&t, "ignore-scripts"))
                .is_some_and(|v| v == "true");
            let tool = format!("yarn 1 ({})", which.how);
            if ignore || rc_ignores {
                return Approvals::none_run(tool, "ignore-scripts: no script runs");
            }
            Approvals::all_run(
                tool,
                "yarn 1 has no approval list: every dependency's lifecycle scripts run",
            )
        }
        Generation::Berry => {
            let tool = format!("yarn 2+ ({})", which.how);
            let skip_build = ctx.argv.iter().skip(1).any(|a| a == "--mode=skip-build");
            if skip_build {
                return Approvals::none_run(tool, "--mode=skip-build: no build runs");
            }
            let mut notes = Vec::new();
            let unlisted = match enable_scripts(ctx, which.bundle.as_deref()) {
                Some((true, from)) => Unlisted::Run(format!("{from} is true: every build runs unless dependenciesMeta says built: false")),
                Some((false, _)) => Unlisted::Skipped,
                None => {
                    return Approvals::unknown(
                        tool,
                        "enableScripts is set nowhere safe-install reads and yarn's bundle could not be read for its default",
                    )
                }
            };
            let manifest = ctx.project.join("package.json");
            let meta = std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|m| m.get("dependenciesMeta").cloned());
            let mut entries = Vec::new();
            if let Some(meta) = meta.as_ref().and_then(|m| m.as_object()) {
                for (key, v) in meta {
                    let Some(built) = v.get("built").and_then(|b| b.as_bool()) else {
                        continue;
                    };
                    match parse_entry(key, built) {
                        Ok(e) => entries.push(e),
                        Err(why) => {
                            notes.push(format!("dependenciesMeta in {}: {why}", manifest.display()))
                        }
                    }
                }
            }
            let source = match &unlisted {
                Unlisted::Run(_) => None,
                _ => Some(format!(
                    "dependenciesMeta.*.built in {} (enableScripts is false)",
                    manifest.display()
                )),
            }
            .or_else(|| {
                (!entries.is_empty())
                    .then(|| format!("dependenciesMeta.*.built in {}", manifest.display()))
            });
            Approvals {
                tool,
                source,
                entries,
                unlisted,
                notes,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::approvals::Decision;
    use crate::pm::test_fixtures::write_files;

    use super::super::test_context as ctx;

    fn setup(root: &Path) {
        write_files(
            root,
            &[
                ("y1/package.json", r#"{"name":"yarn","version":"1.22.22"}"#),
                ("y1/bin/yarn.js", ""),
                (
                    "y4/package.json",
                    r#"{"name":"@yarnpkg/cli-dist","version":"4.18.1"}"#,
                ),
                (
                    "y4/bin/yarn.js",
                    r#"x={enableScripts:{description:"If true",type:"BOOLEAN",default:!1},y:1}"#,
                ),
                (
                    "home/u/proj/package.json",
                    r#"{"dependenciesMeta":{"a":{"built":true},"b@1.0.0":{"built":false},"c":{"unplugged":true}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn yarn_4_runs_what_dependencies_meta_approves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        setup(root);
        let a = approvals(&ctx(root, "y4", &[]));
        assert_eq!(a.unlisted, Unlisted::Skipped);
        assert!(matches!(a.decide_identity("a@2.0.0"), Decision::Runs(_)));
        assert!(a.decide_identity("b@1.0.0").not_approved());
        assert!(a.decide_identity("c@1.0.0").not_approved());
        // enableScripts: every build runs but the one built: false names.
        write_files(
            root,
            &[("home/u/proj/.yarnrc.yml", "enableScripts: true\n")],
        );
        let a = approvals(&ctx(root, "y4", &[]));
        assert!(matches!(a.decide_identity("c@1.0.0"), Decision::Runs(_)));
        assert!(a.decide_identity("b@1.0.0").not_approved());
        let a = approvals(&ctx(root, "y4", &[("YARN_ENABLE_SCRIPTS", "false")]));
        assert!(a.decide_identity("c@1.0.0").not_approved());
    }

    #[test]
    fn yarn_1_runs_every_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        setup(root);
        let a = approvals(&ctx(root, "y1", &[]));
        assert!(matches!(a.decide_identity("b@1.0.0"), Decision::Runs(_)));
        write_files(root, &[("home/u/proj/.yarnrc", "ignore-scripts true\n")]);
        let a = approvals(&ctx(root, "y1", &[]));
        assert!(a.decide_identity("b@1.0.0").not_approved());
        let a = approvals(&ctx(root, "nowhere", &[]));
        assert!(matches!(a.decide_identity("b@1.0.0"), Decision::Unknown(_)));
    }
}
