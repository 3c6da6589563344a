//! yarn 1 (classic) and yarn 2+ (berry): recognition, which generation runs (read from its
//! own `package.json`, a project's `yarnPath` or `packageManager`, never by running it), the
//! registries each reads ([`config`]) and its caches (`policies/yarn.toml`).

pub mod config;

use super::{
    CaTrust, ConfigError, Context, Family, Level1Observes, Level2, PackageManager, ProjectFiles,
    Registries,
};
use crate::policy::allow::{Rule, RuleSource};
use config::{Generation, YarnConfigError};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Files that mark a Node.js project root.
const MANIFESTS: &[&str] = &["package.json"];

/// Program names of yarn.
pub fn recognise(program: &str) -> bool {
    matches!(program, "yarn" | "yarnpkg")
}

#[derive(Debug)]
pub struct Yarn;

pub static YARN: Yarn = Yarn;

/// Which yarn the command runs and the bundle that holds its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Which {
    pub generation: Generation,
    /// The JavaScript bundle whose text holds the default registry, when known.
    pub bundle: Option<PathBuf>,
    /// How it was told (for messages).
    pub how: String,
}

/// Tell which yarn runs, by reading files: a project's `yarnPath` release wins (every yarn
/// hands over to it), then the resolved executable's own package, then the project's
/// `packageManager` field.
pub fn which(ctx: &Context) -> Result<Which, YarnConfigError> {
    if let Some(release) = config::project_yarn_path(&ctx.project).filter(|p| p.is_file()) {
        return Ok(Which {
            generation: Generation::Berry,
            how: format!("yarnPath {}", release.display()),
            bundle: Some(release),
        });
    }
    let install = ctx.resolved.program.as_deref().and_then(config::locate);
    if let Some(generation) = install.as_ref().and_then(config::Install::generation) {
        let install = install.expect("generation implies an install");
        return Ok(Which {
            generation,
            how: format!("yarn {} at {}", install.version, install.entry.display()),
            bundle: Some(install.entry),
        });
    }
    if let Some(generation) =
        config::project_wants(&ctx.project).and_then(|v| config::generation_of(&v))
    {
        return Ok(Which {
            generation,
            bundle: None,
            how: "packageManager in package.json".into(),
        });
    }
    Err(YarnConfigError::DefaultUnknown(
        "which yarn runs is unknown: the executable is not a yarn package safe-install can read and the project names no yarn version".into(),
    ))
}

fn sources(ctx: &Context) -> config::Sources {
    config::Sources {
        project: ctx.project.clone(),
        home: ctx.home.clone(),
        env: ctx
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
            .collect(),
    }
}

fn rule(url: &url::Url, origin: String) -> Result<Rule, ConfigError> {
    Rule::for_url(url, RuleSource::Yarn(origin.clone())).map_err(|source| ConfigError::Rule {
        rule: url.to_string(),
        source_name: format!("yarn's {origin}"),
        source,
    })
}

fn unknown_default(which: &Which) -> YarnConfigError {
    YarnConfigError::DefaultUnknown(format!("no yarn bundle to read it from ({})", which.how))
}

/// yarn 1: npm's configuration first (its `.npmrc` files and `npm_config_*`), then yarn's own
/// `registry`, then yarn 1's shipped default; npm's scoped registries too.
fn classic_registries(ctx: &Context, which: &Which) -> Result<Vec<Rule>, ConfigError> {
    let configured = super::npm::config::discover(&super::npm::sources(ctx))?;
    let default = match configured.default {
        Some(reg) => (reg.url, format!("registry from npm's {}", reg.origin)),
        None => match config::classic_registry(&sources(ctx))? {
            Some(reg) => (reg.url, format!("registry from {}", reg.origin)),
            None => {
                let bundle = which
                    .bundle
                    .as_deref()
                    .ok_or_else(|| unknown_default(which))?;
                (
                    config::classic_default_from_source(bundle)?,
                    format!("yarn 1's default registry ({})", which.how),
                )
            }
        },
    };
    let mut rules = vec![rule(&default.0, default.1)?];
    for (scope, reg) in &configured.scoped {
        rules.push(rule(
            &reg.url,
            format!("{scope}:registry from npm's {}", reg.origin),
        )?);
    }
    Ok(rules)
}

/// yarn 2+: `npmRegistryServer` and the scopes' own, else the bundle's default.
fn berry_registries(ctx: &Context, which: &Which) -> Result<Vec<Rule>, ConfigError> {
    let found = config::berry_registries(&sources(ctx))?;
    let default = match found.default {
        Some(reg) => reg,
        None => {
            let bundle = which
                .bundle
                .as_deref()
                .ok_or_else(|| unknown_default(which))?;
            config::Registry {
                url: config::berry_default_from_source(bundle)?,
                origin: format!("yarn's default ({})", which.how),
            }
        }
    };
    let mut rules = vec![rule(
        &default.url,
        format!("npmRegistryServer from {}", default.origin),
    )?];
    for (scope, reg) in &found.scoped {
        rules.push(rule(
            &reg.url,
            format!("@{scope} registry from {}", reg.origin),
        )?);
    }
    Ok(rules)
}

impl PackageManager for Yarn {
    fn family(&self) -> Family {
        Family::Yarn
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        crate::policy::builtin::YARN
    }

    fn manifests(&self) -> &'static [&'static str] {
        MANIFESTS
    }

    fn install_tree(&self, project: &Path) -> Option<PathBuf> {
        Some(project.join("node_modules"))
    }

    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError> {
        let which = which(ctx)?;
        let rules = match which.generation {
            Generation::Classic => classic_registries(ctx, &which)?,
            Generation::Berry => berry_registries(ctx, &which)?,
        };
        Ok(Registries {
            rules,
            local_paths: Vec::new(),
        })
    }

    fn level2(&self, ctx: &Context) -> Level2 {
        match which(ctx).map(|w| w.generation) {
            Ok(Generation::Classic) => Level2::Unhooked(
                "yarn 1 runs dependencies' lifecycle scripts with `/bin/sh -c` and reads no setting to run them through another program: they run at the package manager's level: they may reach the registries and read what yarn reads (the project's .npmrc and .yarnrc with any token in them, --secret-env values)",
            ),
            _ => Level2::Unhooked(
                "yarn 2+ runs lifecycle scripts in its own JavaScript shell inside the yarn process: they run at the package manager's level: they may reach the registries and read what yarn reads (the project's .yarnrc.yml with any token in it, --secret-env values)",
            ),
        }
    }

    fn project_files(&self, project: &Path, _cwd: &Path, _argv: &[OsString]) -> ProjectFiles {
        let first = |names: &[&str]| names.iter().map(|n| project.join(n)).find(|p| p.is_file());
        ProjectFiles {
            lock: first(&["yarn.lock"]),
            manifest: first(MANIFESTS),
        }
    }

    fn ca_trust(&self) -> CaTrust {
        CaTrust::Node
    }

    fn level1_observes(&self) -> Level1Observes {
        // yarn's bulk file work (unpacking, linking) would cost too much to observe.
        Level1Observes::Network
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{rules_as_written, write_files};

    /// A context for `yarn install` in `<root>/home/u/proj`, running the yarn whose bundle is
    /// `<root>/<yarn>/bin/yarn.js`.
    fn ctx(root: &Path, yarn: &str, env: &[(&str, &str)]) -> Context {
        let argv: Vec<OsString> = vec!["yarn".into(), "install".into()];
        Context {
            resolved: crate::pm::resolve::Resolved {
                program: Some(root.join(yarn).join("bin/yarn.js")),
                path: None,
                dropped: Vec::new(),
            },
            detected: crate::pm::detect(&argv),
            argv,
            env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
            cwd: root.join("home/u/proj"),
            home: root.join("home/u"),
            project: root.join("home/u/proj"),
            uid: 1,
            gid: 1,
        }
    }

    fn toolchains(root: &Path) {
        write_files(
            root,
            &[
                ("y1/package.json", r#"{"name":"yarn","version":"1.22.22"}"#),
                ("y1/bin/yarn.js", ""),
                (
                    "y1/lib/cli.js",
                    "var YARN_REGISTRY = exports.YARN_REGISTRY = 'https://y1-default.example.com';\n",
                ),
                ("y4/package.json", r#"{"name":"@yarnpkg/cli-dist","version":"4.18.1"}"#),
                (
                    "y4/bin/yarn.js",
                    r#"npmRegistryServer:{type:"STRING",default:"https://y4-default.example.com"}"#,
                ),
                ("home/u/proj/package.json", "{}"),
            ],
        );
    }

    fn rules(ctx: &Context) -> Vec<String> {
        rules_as_written(&YARN.registries(ctx).expect("registries").rules)
    }

    #[test]
    fn recognised_apart_from_npm() {
        for program in ["yarn", "yarnpkg", "/usr/local/bin/yarn"] {
            let argv = vec![OsString::from(program), "install".into()];
            assert_eq!(crate::pm::detect(&argv).family(), Family::Yarn, "{program}");
        }
        assert!(!crate::pm::npm::recognise("yarn"));
    }

    #[test]
    fn yarn1_default_then_yarnrc_then_npmrc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        let c = ctx(root, "y1", &[]);
        assert_eq!(which(&c).expect("which").generation, Generation::Classic);
        assert_eq!(rules(&c), ["y1-default.example.com:443"]);
        write_files(
            root,
            &[(
                "home/u/proj/.yarnrc",
                "registry \"http://127.0.0.1:4873\"\n",
            )],
        );
        assert_eq!(rules(&c), ["127.0.0.1:4873"]);
        write_files(
            root,
            &[(
                "home/u/proj/.npmrc",
                "registry=https://npm.example.com/\n@corp:registry=https://corp.example.com/\n",
            )],
        );
        assert_eq!(rules(&c), ["npm.example.com:443", "corp.example.com:443"]);
    }

    #[test]
    fn yarn4_default_then_yarnrc_yml_and_never_npmrc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(
            root,
            &[("home/u/proj/.npmrc", "registry=https://npm.example.com/\n")],
        );
        let c = ctx(root, "y4", &[]);
        assert_eq!(which(&c).expect("which").generation, Generation::Berry);
        assert_eq!(rules(&c), ["y4-default.example.com:443"]);
        write_files(
            root,
            &[(
                "home/u/proj/.yarnrc.yml",
                "npmRegistryServer: \"http://127.0.0.1:4873\"\nnpmScopes:\n  corp:\n    npmRegistryServer: https://corp.example.com\n",
            )],
        );
        assert_eq!(rules(&c), ["127.0.0.1:4873", "corp.example.com:443"]);
    }

    #[test]
    fn a_projects_yarn_path_release_decides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        write_files(
            root,
            &[
                (
                    "home/u/proj/.yarnrc.yml",
                    "yarnPath: .yarn/releases/yarn-4.cjs\n",
                ),
                (
                    "home/u/proj/.yarn/releases/yarn-4.cjs",
                    r#"npmRegistryServer:{default:"https://pinned.example.com"}"#,
                ),
            ],
        );
        // yarn 1 on PATH hands over to the pinned release.
        let c = ctx(root, "y1", &[]);
        assert_eq!(which(&c).expect("which").generation, Generation::Berry);
        assert_eq!(rules(&c), ["pinned.example.com:443"]);
    }

    #[test]
    fn unknown_yarn_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        toolchains(root);
        let c = ctx(root, "nowhere", &[]);
        assert!(matches!(
            YARN.registries(&c),
            Err(ConfigError::Yarn(YarnConfigError::DefaultUnknown(_)))
        ));
        // The project's packageManager tells the generation; its default then needs a bundle.
        write_files(
            root,
            &[(
                "home/u/proj/package.json",
                r#"{"packageManager":"yarn@4.18.1"}"#,
            )],
        );
        assert_eq!(which(&c).expect("which").generation, Generation::Berry);
        assert!(YARN.registries(&c).is_err());
        write_files(
            root,
            &[(
                "home/u/proj/.yarnrc.yml",
                "npmRegistryServer: https://r.example.com\n",
            )],
        );
        assert_eq!(rules(&c), ["r.example.com:443"]);
    }
}
