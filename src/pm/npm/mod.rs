//! npm and npx: recognition, the registries in npm's
//! configuration ([`config`]), lockfile identities that grants bind to ([`lock`]), the
//! settings that name programs, pinned for every npm process of the install ([`pins`]), and
//! lifecycle scripts at trust level 2 through npm's `script-shell`.

pub mod approvals;
pub mod config;
pub mod lock;
pub mod pins;

pub use lock::lock_entries;
pub use pins::{program_pins, Pin, PinContext, PinError};

use super::{
    Bound, CaTrust, ConfigError, Context, Destination, Family, Level1Observes, Level2,
    PackageManager, ProjectFiles, Registries,
};
use crate::pm::workspace;
use crate::policy::ScriptsPolicy;
use std::ffi::OsString;
use std::path::Path;

/// Files that mark a Node.js project root.
pub const MANIFESTS: &[&str] = &["package.json"];

/// Program names of the npm family.
pub fn recognise(program: &str) -> bool {
    matches!(program, "npm" | "npx" | "corepack")
}

/// Whether `program` runs lifecycle scripts through npm's `script-shell` setting (read from
/// `npm_config_script_shell`), which is how scripts get trust level 2. corepack has no such
/// setting: for it the whole command is observed at one level.
pub fn has_script_shell(program: &str) -> bool {
    matches!(program, "npm" | "npx")
}

/// What npm's configuration is read from, for the command in `ctx`: the project, the home, the
/// caller's environment and npm arguments, and the npm installation found on the trusted
/// `PATH` (its builtin config, node's prefix for the global one).
pub fn sources(ctx: &Context) -> config::NpmSources {
    let located = ctx
        .trusted_path()
        .and_then(|p| p.to_str())
        .and_then(config::locate_npm);
    config::NpmSources {
        project_dir: ctx.project.clone(),
        home: Some(ctx.home.clone()),
        env: ctx
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
            .collect(),
        args: ctx
            .argv
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        node_prefix: located.as_ref().map(|(_, prefix)| prefix.clone()),
        npm_package_dir: located.map(|(dir, _)| dir),
    }
}

/// The node-gyp npm ships, with what `explain` says of it.
pub fn npm_node_gyp(src: &config::NpmSources) -> Option<(std::path::PathBuf, &'static str)> {
    let dir = src.npm_package_dir.as_deref()?;
    Some((pins::bundled_node_gyp(dir)?, "the one npm ships"))
}

/// What pinning npm's program settings needs of the command's context.
pub fn pin_context<'a>(
    ctx: &'a Context,
    node_gyp: Vec<(std::path::PathBuf, &'static str)>,
) -> PinContext<'a> {
    PinContext {
        trusted_path: ctx.trusted_path(),
        project: &ctx.project,
        home: &ctx.home,
        node_gyp,
    }
}

/// npm and npx (and corepack, observed at one level).
#[derive(Debug)]
pub struct Npm;

pub static NPM: Npm = Npm;

fn program_name(ctx: &Context) -> &str {
    ctx.argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

/// `-g`, `--global`, `--location global` among npm's command words.
fn global_flag(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| match w.as_str() {
        "-g" | "--global" | "--global=true" | "--location=global" => true,
        "--location" => words.get(i + 1).is_some_and(|v| v == "global"),
        _ => false,
    })
}

/// Whether npm's command line (before `--`) keeps it in the nearest package: workspaces
/// off (`--no-workspaces`, `--workspaces=false`, `--workspaces false`) or a global install,
/// where npm looks for no workspace root.
fn workspaces_off(argv: &[OsString]) -> bool {
    let words = super::command_words(argv);
    global_flag(&words)
        || words.iter().enumerate().any(|(i, w)| match w.as_str() {
            "--no-workspaces" | "--workspaces=false" => true,
            "--workspaces" => words.get(i + 1).is_some_and(|v| v == "false"),
            _ => false,
        })
}

/// Whether the command works on npm's global tree: the global flag on the command line, or
/// `npm_config_global` / `npm_config_location` set so (any case, as npm reads them).
fn global_mode(ctx: &Context) -> bool {
    let var = |name: &str| {
        ctx.env
            .iter()
            .find(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.to_str())
    };
    global_flag(&super::command_words(&ctx.argv))
        || var("npm_config_global").is_some_and(|v| v == "true" || v == "1")
        || var("npm_config_location") == Some("global")
}

/// npm's global prefix: `prefix` from the command line, the environment, the user's or the
/// global `.npmrc` (in global mode npm reads no project file), else node's own prefix.
fn global_prefix(ctx: &Context) -> Option<std::path::PathBuf> {
    let mut src = sources(ctx);
    src.project_dir = std::path::PathBuf::new();
    let set = config::settings(&src, &["prefix"])
        .ok()
        .and_then(|mut s| s.remove("prefix"))
        .map(|(v, _)| config::expand_home(&v, Some(&ctx.home)));
    let prefix = set.or(src.node_prefix)?;
    Some(ctx.cwd.join(prefix))
}

impl PackageManager for Npm {
    fn family(&self) -> Family {
        Family::Npm
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        crate::policy::builtin::NPM
    }

    fn manifests(&self) -> &'static [&'static str] {
        MANIFESTS
    }

    /// npm reads `<prefix>/.npmrc` as the project configuration (`-C` is its short form).
    fn directory_options(&self) -> &'static [&'static str] {
        &["--prefix", "-C"]
    }

    /// npm 7 and later (`@npmcli/config`, `loadLocalPrefix`): from the nearest
    /// `package.json` up to the first ancestor whose `workspaces` include it, unless the
    /// command line turns workspaces off, installs globally or names the prefix.
    fn workspace_root(&self, ctx: &Context) -> Option<std::path::PathBuf> {
        if workspaces_off(&ctx.argv) || super::directory_option(self, &ctx.argv, &ctx.env).is_some()
        {
            return None;
        }
        workspace::ancestor_root(&ctx.project, |dir| {
            workspace::package_json_workspaces(dir)
                .is_some_and(|members| workspace::is_member(dir, &ctx.project, &members))
        })
    }

    /// A global command (`npm install -g`): the prefix's `lib/node_modules` (an install
    /// tree) and `bin`.
    fn home_destinations(&self, ctx: &Context) -> Vec<Destination> {
        if program_name(ctx) != "npm" || !global_mode(ctx) {
            return Vec::new();
        }
        let Some(prefix) = global_prefix(ctx) else {
            return Vec::new();
        };
        vec![
            Destination {
                path: prefix.join("lib/node_modules"),
                why: "npm's global packages (a global command), for npm and each package's own folder".into(),
                install_tree: true,
            },
            Destination {
                path: prefix.join("bin"),
                why: "npm's global executables (a global command), for npm only".into(),
                install_tree: false,
            },
        ]
    }

    fn install_tree(&self, project: &Path) -> Option<std::path::PathBuf> {
        Some(project.join("node_modules"))
    }

    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError> {
        let src = sources(ctx);
        let configured = config::discover(&src)?;
        let (registries, _auth) = configured
            .finish(|| config::npm_default_from_source(src.npm_package_dir.as_deref()))?;
        let rules = registries.rules().map_err(|source| ConfigError::Rule {
            rule: registries.default.url.to_string(),
            source_name: "npm configuration".into(),
            source,
        })?;
        Ok(Registries {
            rules,
            local_paths: Vec::new(),
        })
    }

    /// A grant applies to the packages the lockfile says are that package (its place in the
    /// tree, a registry tarball of that name, the pinned integrity), never to the name a
    /// package gives itself. Read before anything runs.
    fn binds_grants(&self) -> bool {
        true
    }

    fn bind_grants(
        &self,
        scripts: &mut ScriptsPolicy,
        ctx: &Context,
        from_registry: &dyn Fn(&url::Url) -> bool,
    ) -> Bound {
        let entries = lock_entries(&ctx.project);
        let notes = lock::bind(scripts, &ctx.project, &entries, from_registry);
        let lockfile = entries
            .iter()
            .filter(|e| !e.link)
            .filter_map(|e| Some((ctx.project.join(&e.path), e.identity()?)))
            .collect();
        Bound { lockfile, notes }
    }

    fn level2(&self, ctx: &Context) -> Level2 {
        if has_script_shell(program_name(ctx)) {
            Level2::ScriptShell
        } else {
            Level2::Unhooked(
                "corepack reads no setting to run lifecycle scripts through another program: they run at the package manager's level",
            )
        }
    }

    fn approvals(&self, ctx: &Context) -> crate::pm::approvals::Approvals {
        approvals::approvals(ctx)
    }

    fn scripted(&self, project: &Path) -> crate::pm::approvals::Scripted {
        approvals::scripted(project)
    }

    fn program_pins(&self, ctx: &Context) -> Result<Vec<Pin>, PinError> {
        let src = sources(ctx);
        let node_gyp = npm_node_gyp(&src).into_iter().collect();
        program_pins(&src, &pin_context(ctx, node_gyp))
    }

    fn project_files(&self, project: &Path, _cwd: &Path, _argv: &[OsString]) -> ProjectFiles {
        let first = |names: &[&str]| names.iter().map(|n| project.join(n)).find(|p| p.is_file());
        ProjectFiles {
            // npm prefers a shrinkwrap over the package lock when both exist.
            lock: first(&["npm-shrinkwrap.json", "package-lock.json", "yarn.lock"]),
            manifest: first(MANIFESTS),
        }
    }

    fn ca_trust(&self) -> CaTrust {
        CaTrust::Node
    }

    fn level1_observes(&self) -> Level1Observes {
        Level1Observes::Network
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::{tool_context, write_files};
    use std::path::PathBuf;

    #[test]
    fn a_global_command_keeps_the_prefixs_packages_and_executables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let home = d.join("home");
        let project = d.join("p");
        write_files(
            d,
            &[
                ("p/package.json", "{}"),
                ("p/.npmrc", "prefix=/from-the-project\n"),
            ],
        );
        let dests = |argv: &[&str], env: &[(&str, &str)]| -> Vec<(PathBuf, bool)> {
            let ctx = tool_context(d.join("npm-cli.js"), argv, env, &home, &project);
            NPM.home_destinations(&ctx)
                .into_iter()
                .map(|x| (x.path, x.install_tree))
                .collect()
        };
        let at = |prefix: &Path| {
            vec![
                (prefix.join("lib/node_modules"), true),
                (prefix.join("bin"), false),
            ]
        };
        let env_prefix = home.join("g");
        let env = [("npm_config_prefix", env_prefix.to_str().expect("utf-8"))];
        assert_eq!(dests(&["npm", "install", "-g", "x"], &env), at(&env_prefix));
        assert_eq!(
            dests(&["npm", "i", "--location", "global", "x"], &env),
            at(&env_prefix)
        );
        let global_env = [env[0], ("NPM_CONFIG_GLOBAL", "true")];
        assert_eq!(
            dests(&["npm", "install", "x"], &global_env),
            at(&env_prefix)
        );
        assert!(dests(&["npm", "install", "x"], &env).is_empty());
        assert!(dests(&["npm", "run", "x", "--", "-g"], &env).is_empty());
        assert!(dests(&["npx", "-g", "x"], &env).is_empty());
        // The user's .npmrc (`~/` is the home); the project's is not read in global mode.
        assert!(dests(&["npm", "install", "-g", "x"], &[]).is_empty());
        write_files(d, &[("home/.npmrc", "prefix=~/.npm-global\n")]);
        assert_eq!(
            dests(&["npm", "install", "-g", "x"], &[]),
            at(&home.join(".npm-global"))
        );
    }
}
