//! npm settings that name programs, pinned for every npm process of the install (trust
//! level 1 runs no package code).

use super::config::{NpmSources, NpmrcError, Origin};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

// ---- settings that name programs ------------------------------------------------------
//
// npm starts programs named by its configuration, and that configuration is not only the
// caller's: to prepare a git dependency that has a `prepare` script, npm (pacote's git
// fetcher) runs a nested `npm install` in the dependency's clone, with npm's own environment,
// and that nested npm reads the clone's `.npmrc` as its project configuration. That spawn is
// npm itself, not a lifecycle script, so it does not go through the script shell: a
// dependency whose `.npmrc` says `git=./evil.sh` would run at trust level 1, with the
// registry token and write access to the project.
//
// In `@npmcli/config` the environment (`npm_config_*`) beats every config file (project,
// user, global, builtin); only the command line beats it. Every npm process of the install
// inherits the sandbox's environment (pacote passes `process.env` to the nested npm, which
// passes it on; `setEnvs` keeps a value the environment set), so a setting pinned there holds
// for all of them. The pins are resolved here, on the host, by looking at files only.

/// What a program setting is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinKind {
    /// safe-install's script shell, set by the trust-level-2 hook (`plan::trust::hook`); here
    /// only the command line is checked, since it would beat the pin.
    ScriptShell,
    /// A program, by absolute path: the caller's configured one, else the first of `from_env`
    /// that resolves (npm's own default reads these), else `default`; bare names are looked up
    /// on the trusted `PATH`. `with_args`: the value is a command line (npm splits it on
    /// whitespace and runs the first word).
    Program {
        default: &'static str,
        from_env: &'static [&'static str],
        with_args: bool,
    },
    /// node-gyp: the caller's configured file, else the one that ships with npm.
    NodeGyp,
    /// `npm init`'s module: the caller's configured file, else npm's default in the home.
    InitModule,
    /// Flags npm copies into `NODE_OPTIONS` for everything it starts.
    NodeOptions,
    /// A value under which npm starts nothing.
    Fixed(&'static str),
}

/// An npm setting that names a program npm may start, and why it is pinned.
#[derive(Debug, Clone, Copy)]
pub struct ProgramSetting {
    /// The setting as npm spells it.
    pub key: &'static str,
    /// The environment variable that pins it.
    pub env: &'static str,
    pub pin: PinKind,
    pub reason: &'static str,
}

/// Every setting in npm's config definitions (`@npmcli/config/lib/definitions/definitions.js`)
/// whose value npm executes, loads as code, or hands to a program it starts. (`call` is left
/// out: it is only a command-line flag of `npm exec`, whose command runs through the script
/// shell.)
pub const PROGRAM_SETTINGS: &[ProgramSetting] = &[
    ProgramSetting {
        key: "script-shell",
        env: "npm_config_script_shell",
        pin: PinKind::ScriptShell,
        reason: "npm runs every lifecycle script (and `npm exec`, `npm run`) through it: safe-install's script shell, trust level 2",
    },
    ProgramSetting {
        key: "git",
        env: "npm_config_git",
        pin: PinKind::Program { default: "git", from_env: &[], with_args: false },
        reason: "npm runs it to fetch git dependencies, also in the nested npm that prepares one, whose project configuration is the dependency's own .npmrc",
    },
    ProgramSetting {
        key: "node-gyp",
        env: "npm_config_node_gyp",
        pin: PinKind::NodeGyp,
        reason: "npm builds native packages with it (the default install script `node-gyp rebuild`)",
    },
    ProgramSetting {
        key: "node-options",
        env: "npm_config_node_options",
        pin: PinKind::NodeOptions,
        reason: "npm copies it into NODE_OPTIONS of everything it starts, nested npm processes included: `--require FILE` runs a file in each",
    },
    ProgramSetting {
        key: "shell",
        env: "npm_config_shell",
        pin: PinKind::Program { default: "bash", from_env: &["SHELL"], with_args: false },
        reason: "`npm explore` starts it",
    },
    ProgramSetting {
        key: "editor",
        env: "npm_config_editor",
        pin: PinKind::Program { default: "vi", from_env: &["EDITOR", "VISUAL"], with_args: true },
        reason: "`npm edit` and `npm config edit` start it (npm also exports it as EDITOR)",
    },
    ProgramSetting {
        key: "init-module",
        env: "npm_config_init_module",
        pin: PinKind::InitModule,
        reason: "`npm init` loads and runs this file",
    },
    ProgramSetting {
        key: "browser",
        env: "npm_config_browser",
        pin: PinKind::Fixed("false"),
        reason: "`npm docs`, `npm bugs`, `npm repo` and web login start it; false prints the URL instead",
    },
    ProgramSetting {
        key: "viewer",
        env: "npm_config_viewer",
        pin: PinKind::Fixed("browser"),
        reason: "`npm help` starts man or emacsclient; `browser` (with browser=false) prints the page's URL instead",
    },
];

/// Where a program setting pins to when the program does not exist: a path that never does,
/// so npm fails with ENOENT naming it instead of searching a `PATH` or a directory.
const NOT_FOUND_DIR: &str = "/.safe-install/not-found";

/// A setting pinned for every npm process of the install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub key: &'static str,
    /// The environment variable and its value.
    pub env: &'static str,
    pub value: String,
    /// For `explain`: the value, where it came from and why it is pinned.
    pub note: String,
}

/// Why the caller's own configuration cannot be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(
        "refusing to run npm: its `{key}` setting ({origin}) is `{value}`, {why}; npm would run \
         whatever a package put there as the package manager. Fix: set `{key}` to an absolute \
         path outside the project (or remove it)"
    )]
    Untrusted {
        key: &'static str,
        origin: Origin,
        value: String,
        why: &'static str,
    },
    #[error(
        "refusing to run npm with `--{key}` on its command line: it would beat the setting \
         safe-install pins ({reason}). Fix: leave it out"
    )]
    CommandLine {
        key: &'static str,
        reason: &'static str,
    },
    #[error(transparent)]
    Config(#[from] NpmrcError),
}

/// What pinning needs to know about the machine, explicit so tests do not touch it.
pub struct PinContext<'a> {
    /// The `PATH` the package manager gets inside (without package-writable directories).
    pub trusted_path: Option<&'a OsStr>,
    /// The canonical project directory.
    pub project: &'a Path,
    pub home: &'a Path,
    /// The node-gyp files the package manager ships, in the order it would use them, each
    /// with the words `explain` says where it came from: the pin when the caller configured
    /// none (see [`bundled_node_gyp`]).
    pub node_gyp: Vec<(PathBuf, &'static str)>,
}

/// `node_modules/node-gyp/bin/node-gyp.js` beneath `package_dir`, and beneath `dist/` (pnpm
/// bundles its own there), where it exists.
pub fn bundled_node_gyp(package_dir: &Path) -> Option<PathBuf> {
    ["node_modules", "dist/node_modules"]
        .iter()
        .map(|d| package_dir.join(d).join("node-gyp/bin/node-gyp.js"))
        .find(|p| p.is_file())
}

/// The value npm gets for each program setting (`script-shell` excepted: the trust hook sets
/// it). The caller's configuration is read as data, by npm's precedence; a configured value
/// package code could have planted (a relative path, resolved by npm from whatever directory
/// it runs in, or a file in the project) is refused rather than pinned.
pub fn program_pins(src: &NpmSources, cx: &PinContext<'_>) -> Result<Vec<Pin>, PinError> {
    let keys: Vec<&str> = PROGRAM_SETTINGS.iter().map(|p| p.key).collect();
    let configured = super::config::settings(src, &keys)?;
    let mut pins = Vec::new();
    for setting in PROGRAM_SETTINGS {
        let own = configured.get(setting.key);
        if own.is_some_and(|(_, o)| *o == Origin::CommandLine)
            && matches!(setting.pin, PinKind::ScriptShell)
        {
            return Err(PinError::CommandLine {
                key: setting.key,
                reason: setting.reason,
            });
        }
        let untrusted = |value: &str, origin: &Origin, why: &'static str| PinError::Untrusted {
            key: setting.key,
            origin: origin.clone(),
            value: value.to_owned(),
            why,
        };
        let (value, from) = match setting.pin {
            PinKind::ScriptShell => continue,
            PinKind::Fixed(v) => (v.to_owned(), "safe-install".to_owned()),
            PinKind::NodeOptions => match own {
                Some((v, origin)) => (v.clone(), origin.to_string()),
                // npm skips an empty variable, so "none" is a blank: npm trims it to an empty
                // value, which beats the config files and puts nothing in NODE_OPTIONS.
                None => (" ".to_owned(), "none".to_owned()),
            },
            PinKind::Program {
                default,
                from_env,
                with_args,
            } => {
                if let Some((v, origin)) = own {
                    let program =
                        command(v, with_args, cx).map_err(|why| untrusted(v, origin, why))?;
                    (program, origin.to_string())
                } else {
                    let fallback = from_env
                        .iter()
                        .filter_map(|name| src.env.get(*name).map(|v| (*name, v)))
                        .filter(|(_, v)| !v.trim().is_empty())
                        .find_map(|(name, v)| {
                            command(v, with_args, cx)
                                .ok()
                                .map(|p| (p, format!("environment variable {name}")))
                        });
                    match fallback {
                        Some(found) => found,
                        None => (
                            command(default, false, cx)
                                .unwrap_or_else(|_| format!("{NOT_FOUND_DIR}/{default}")),
                            "npm's default".to_owned(),
                        ),
                    }
                }
            }
            PinKind::NodeGyp => match own {
                Some((v, origin)) => (
                    file(v, cx).map_err(|why| untrusted(v, origin, why))?,
                    origin.to_string(),
                ),
                None => match cx.node_gyp.iter().find(|(p, _)| p.is_file()) {
                    Some((p, from)) => (p.display().to_string(), (*from).to_owned()),
                    None => (
                        format!("{NOT_FOUND_DIR}/node-gyp"),
                        "the package manager ships none".to_owned(),
                    ),
                },
            },
            PinKind::InitModule => match own {
                Some((v, origin)) => (
                    file(v, cx).map_err(|why| untrusted(v, origin, why))?,
                    origin.to_string(),
                ),
                None => (
                    cx.home.join(".npm-init.js").display().to_string(),
                    "npm's default".to_owned(),
                ),
            },
        };
        pins.push(Pin {
            key: setting.key,
            env: setting.env,
            note: format!(
                "npm setting `{}` pinned to {:?} (from {from}) for every npm process: {}",
                setting.key, value, setting.reason
            ),
            value,
        });
    }
    Ok(pins)
}

/// A program value as an absolute path (with its arguments when `with_args`), or why not.
fn command(value: &str, with_args: bool, cx: &PinContext<'_>) -> Result<String, &'static str> {
    let value = value.trim();
    let (program, args) = match value.split_once(char::is_whitespace) {
        Some((p, rest)) if with_args => (p, Some(rest.trim())),
        _ => (value, None),
    };
    let path = if program.contains('/') || program.starts_with('~') {
        file(program, cx)?
    } else {
        match crate::pm::which(OsStr::new(program), cx.trusted_path) {
            Some(found) => {
                checked(&found, cx)?;
                found.display().to_string()
            }
            None => format!("{NOT_FOUND_DIR}/{program}"),
        }
    };
    Ok(match args.filter(|a| !a.is_empty()) {
        Some(a) => format!("{path} {a}"),
        None => path,
    })
}

/// A path value as npm resolves it (`~/` is the home), refused when relative or where package
/// code can write.
fn file(value: &str, cx: &PinContext<'_>) -> Result<String, &'static str> {
    let value = value.trim();
    if value.contains("${") {
        return Err("a variable npm would expand again, from an environment package code shares");
    }
    let path = match value.strip_prefix("~/") {
        Some(rest) => cx.home.join(rest),
        None => PathBuf::from(value),
    };
    if !path.is_absolute() {
        return Err("a relative path, which npm resolves from the directory it runs in (a git dependency's clone, a package's directory)");
    }
    checked(&path, cx)?;
    Ok(path.display().to_string())
}

fn checked(path: &Path, cx: &PinContext<'_>) -> Result<(), &'static str> {
    match crate::pm::resolve::package_writable(path, cx.project) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins_in(
        dir: &Path,
        files: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Vec<Pin>, PinError> {
        pins_with_node_gyp(dir, files, env, args, &[])
    }

    fn pins_with_node_gyp(
        dir: &Path,
        files: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
        node_gyp: &[(PathBuf, &'static str)],
    ) -> Result<Vec<Pin>, PinError> {
        use std::os::unix::fs::PermissionsExt;
        let project = dir.join("project");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&project).expect("mkdir");
        std::fs::create_dir_all(&bin).expect("mkdir");
        for name in ["git", "vi", "code"] {
            std::fs::write(bin.join(name), "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        for (rel, text) in files {
            std::fs::write(dir.join(rel), text).expect("write");
        }
        let src = NpmSources {
            project_dir: project.clone(),
            home: Some(dir.to_path_buf()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            node_prefix: None,
            npm_package_dir: None,
        };
        program_pins(
            &src,
            &PinContext {
                trusted_path: Some(bin.as_os_str()),
                project: &project,
                home: dir,
                node_gyp: node_gyp.to_vec(),
            },
        )
    }

    fn value<'a>(pins: &'a [Pin], key: &str) -> &'a str {
        pins.iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
            .unwrap_or_else(|| panic!("no pin for {key}"))
    }

    #[test]
    fn every_program_setting_is_pinned_to_an_absolute_path_or_a_value_that_starts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let pins = pins_in(&root, &[], &[("EDITOR", "code --wait")], &["ci"]).expect("pins");
        let bin = root.join("bin");
        assert_eq!(value(&pins, "git"), bin.join("git").display().to_string());
        assert_eq!(
            value(&pins, "editor"),
            format!("{} --wait", bin.join("code").display())
        );
        assert_eq!(value(&pins, "shell"), "/.safe-install/not-found/bash");
        assert_eq!(
            value(&pins, "node-gyp"),
            "/.safe-install/not-found/node-gyp"
        );
        assert_eq!(value(&pins, "node-options").trim(), "");
        assert!(
            !value(&pins, "node-options").is_empty(),
            "npm skips empty variables"
        );
        assert_eq!(value(&pins, "browser"), "false");
        assert_eq!(value(&pins, "viewer"), "browser");
        // The script shell is the trust hook's; every other setting has a pin and a variable.
        assert!(pins.iter().all(|p| p.key != "script-shell"));
        for setting in PROGRAM_SETTINGS.iter().filter(|s| s.key != "script-shell") {
            assert!(pins
                .iter()
                .any(|p| p.key == setting.key && p.env == setting.env));
            assert_eq!(
                super::super::config::env_key(setting.env).as_deref(),
                Some(setting.key)
            );
        }
    }

    #[test]
    fn the_callers_own_configuration_is_kept_when_nothing_could_have_planted_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let pins = pins_in(
            &root,
            &[(
                ".npmrc",
                "git=/opt/git/bin/git\nnode-options=--max-old-space-size=4096\n",
            )],
            &[],
            &["ci"],
        )
        .expect("pins");
        assert_eq!(value(&pins, "git"), "/opt/git/bin/git");
        assert_eq!(value(&pins, "node-options"), "--max-old-space-size=4096");
    }

    #[test]
    fn a_program_package_code_could_have_planted_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        for npmrc in [
            "git=./evil.sh\n",
            "git=node_modules/.bin/git\n",
            "node-gyp=${SI_DIR}/x.js\n",
        ] {
            let err = pins_in(
                &root,
                &[("project/.npmrc", npmrc)],
                &[("SI_DIR", ".")],
                &["ci"],
            )
            .expect_err(npmrc);
            assert!(matches!(err, PinError::Untrusted { .. }), "{npmrc}: {err}");
            assert!(err.to_string().contains("Fix:"), "{err}");
        }
        std::fs::remove_file(root.join("project/.npmrc")).expect("remove");
        let inside = root.join("project/tools/git");
        let err = pins_in(
            &root,
            &[],
            &[("npm_config_git", &inside.display().to_string())],
            &["ci"],
        )
        .expect_err("a git inside the project");
        assert!(
            err.to_string().contains(&inside.display().to_string()),
            "{err}"
        );
        let err = pins_in(&root, &[], &[], &["ci", "--script-shell=/bin/bash"])
            .expect_err("the command line beats the pin");
        assert!(
            matches!(
                err,
                PinError::CommandLine {
                    key: "script-shell",
                    ..
                }
            ),
            "{err}"
        );
        // A default from the environment that cannot be trusted is not used, and not fatal.
        let pins = pins_in(&root, &[], &[("EDITOR", "./editor")], &["ci"]).expect("pins");
        assert_eq!(
            value(&pins, "editor"),
            root.join("bin/vi").display().to_string()
        );
    }

    /// pnpm's node-gyp shim runs `$npm_config_node_gyp` when it is set: pinned to npm's,
    /// pnpm built with another node-gyp than bare, and with no npm at all every native build
    /// failed (`/.safe-install/not-found/node-gyp: not found`). The package manager's own
    /// comes first, then the next one it names, then nothing.
    #[test]
    fn node_gyp_is_the_one_the_package_manager_itself_ships() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let pnpm = root.join("pnpm");
        let npm = root.join("npm");
        for d in [pnpm.join("dist/node_modules"), npm.join("node_modules")] {
            std::fs::create_dir_all(d.join("node-gyp/bin")).expect("mkdir");
            std::fs::write(d.join("node-gyp/bin/node-gyp.js"), "").expect("write");
        }
        let pnpm_gyp = bundled_node_gyp(&pnpm).expect("pnpm's");
        let npm_gyp = bundled_node_gyp(&npm).expect("npm's");
        assert_eq!(
            pnpm_gyp,
            pnpm.join("dist/node_modules/node-gyp/bin/node-gyp.js")
        );
        let both = [
            (pnpm_gyp.clone(), "the one pnpm ships"),
            (npm_gyp.clone(), "the one npm ships"),
        ];
        let pins = pins_with_node_gyp(&root, &[], &[], &["install"], &both).expect("pins");
        assert_eq!(value(&pins, "node-gyp"), pnpm_gyp.display().to_string());
        assert!(pins.iter().any(|p| p.note.contains("the one pnpm ships")));
        std::fs::remove_file(&pnpm_gyp).expect("rm");
        let pins = pins_with_node_gyp(&root, &[], &[], &["install"], &both).expect("pins");
        assert_eq!(value(&pins, "node-gyp"), npm_gyp.display().to_string());
        std::fs::remove_file(&npm_gyp).expect("rm");
        let pins = pins_with_node_gyp(&root, &[], &[], &["install"], &both).expect("pins");
        assert_eq!(
            value(&pins, "node-gyp"),
            "/.safe-install/not-found/node-gyp"
        );
    }
}
