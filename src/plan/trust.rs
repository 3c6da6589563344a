//! Trust level 2: what lifecycle scripts get, as opposed to the package manager itself.
//!
//! npm runs every lifecycle script through its `script-shell` setting. The sandbox points it
//! at safe-install's own binary (mounted at [`SHIM`]), which reads [`ScriptPlan`] from
//! [`SHIM_CONFIG`], removes the credentials from the environment, registers a seccomp
//! listener with the supervisor (so the script's file and network attempts are observed) and
//! adds a stricter Landlock layer before it execs the real shell. The package manager's own
//! registry configuration, credentials included, lives under [`PRIVATE_DIR`], which that
//! layer does not grant: level 1 reads it, level 2 cannot.

use super::{Context, LandlockPlan, Mount, MountKind};
use crate::policy::{NameMatcher, Policy};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Everything safe-install adds to the view lives below this directory.
pub const SHIM_DIR: &str = "/.safe-install";
/// The script shell: the safe-install binary, recognised by this file name in `argv[0]`.
pub const SHIM: &str = "/.safe-install/script-shell";
/// The file name the binary answers to as the script shell.
pub const SHIM_NAME: &str = "script-shell";
/// The level-2 plan, as JSON.
pub const SHIM_CONFIG: &str = "/.safe-install/script-shell.json";
/// Level-1-only configuration (registry credentials).
pub const PRIVATE_DIR: &str = "/.safe-install/private";
/// npm's user configuration inside: the caller's `~/.npmrc` and the project's `.npmrc`.
pub const PRIVATE_NPMRC: &str = "/.safe-install/private/npmrc";
/// The abstract unix socket on which the supervisor receives script listeners.
pub const CONTROL_SOCKET: &str = "safe-install/control";

/// What a lifecycle script may do, handed to the shim inside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPlan {
    /// The shell the shim execs after restricting itself.
    pub shell: PathBuf,
    /// Read and execute beneath these (level 1's readable places minus the private ones).
    pub read: Vec<PathBuf>,
    /// Full access beneath these; the script's own package directory is added at run time.
    pub write: Vec<PathBuf>,
    pub devices: Vec<PathBuf>,
    /// The project root: a script whose package directory lies outside it gets no write
    /// access there.
    pub project: PathBuf,
    /// Names (`*` patterns allowed, case-insensitive) removed from the environment.
    pub drop_env: Vec<String>,
    /// Per-package extra paths.
    pub packages: Vec<PackagePaths>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagePaths {
    pub name: String,
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

impl ScriptPlan {
    /// The Landlock layer for a script of `package` running in `package_dir`.
    pub fn landlock(&self, package: Option<&str>, package_dir: &Path) -> LandlockPlan {
        let mut ll = LandlockPlan {
            read: self.read.clone(),
            write: self.write.clone(),
            devices: self.devices.clone(),
        };
        if package_dir.starts_with(&self.project) {
            ll.write.push(package_dir.to_path_buf());
        }
        let bare = package.map(crate::policy::package_name);
        if let Some(grant) = self.packages.iter().find(|p| Some(p.name.as_str()) == bare) {
            ll.read.extend(grant.read.iter().cloned());
            ll.write.extend(grant.write.iter().cloned());
        }
        ll
    }

    /// Whether `name` is a credential the script must not inherit.
    pub fn drops(&self, name: &str) -> bool {
        self.drop_env.iter().any(|p| {
            if p.contains('*') {
                NameMatcher::Pattern {
                    text: p.clone(),
                    lower: p.to_ascii_lowercase(),
                }
                .matches(name)
            } else {
                p.eq_ignore_ascii_case(name)
            }
        })
    }
}

/// Credentials npm may receive through its environment, whatever the policy says: its
/// `npm_config_*` spellings of auth settings. Matched case-insensitively.
const NPM_CONFIG_CREDENTIALS: &[&str] = &[
    "npm_config_//*",
    "npm_config__auth*",
    "npm_config_*token*",
    "npm_config_*password*",
    "npm_config_userconfig",
];

/// The mounts and environment that install trust level 2 for a package manager that runs
/// its scripts through a configurable shell (the shim's configuration file is added by
/// [`config_mount`] once level 1's rules are known).
pub struct Hook {
    pub mounts: Vec<Mount>,
    pub env: Vec<(&'static str, OsString)>,
}

pub fn hook(ctx: &Context) -> Hook {
    let mut mounts = Vec::new();
    let mut env: Vec<(&'static str, OsString)> = vec![("npm_config_script_shell", SHIM.into())];
    if let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) {
        mounts.push(Mount {
            target: SHIM.into(),
            kind: MountKind::BindRo(exe),
            why: "safe-install as npm's script-shell: scripts run at trust level 2".into(),
        });
    }
    let project_npmrc = ctx.project.join(".npmrc");
    let (config, hides_project_npmrc) = private_npmrc(ctx, &project_npmrc);
    if let Some(text) = config {
        mounts.push(Mount {
            target: PRIVATE_NPMRC.into(),
            kind: MountKind::File(text),
            why: "npm's configuration and registry credentials, for npm only".into(),
        });
        env.push(("npm_config_userconfig", PRIVATE_NPMRC.into()));
    }
    if hides_project_npmrc {
        mounts.push(Mount {
            target: project_npmrc,
            kind: MountKind::HideFile,
            why: "moved to npm's private configuration: scripts must not read registry tokens"
                .into(),
        });
    }
    Hook { mounts, env }
}

/// The shim's configuration file.
pub fn config_mount(script: &ScriptPlan) -> Mount {
    Mount {
        target: SHIM_CONFIG.into(),
        kind: MountKind::File(serde_json::to_string_pretty(script).unwrap_or_default()),
        why: "what lifecycle scripts may read and write".into(),
    }
}

/// Trust level 2 from level 1's Landlock rules.
pub fn script_plan(policy: &Policy, ctx: &Context, level1: &LandlockPlan) -> ScriptPlan {
    let private = Path::new(PRIVATE_DIR);
    let mut read: Vec<PathBuf> = level1
        .read
        .iter()
        .filter(|p| !p.starts_with(private))
        .cloned()
        .collect();
    // Level 1's writable places stay readable (the project, the caches, the home tmpfs).
    read.extend(level1.write.iter().cloned());
    read.push(PathBuf::from(SHIM_CONFIG));
    read.sort();
    read.dedup();
    let mut write: Vec<PathBuf> = ["/tmp", "/var/tmp", "/dev/shm", "/proc"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| level1.write.iter().any(|w| p.starts_with(w)))
        .collect();
    write.push(ctx.project.join("node_modules"));
    for e in &policy.fs.rw {
        write.push(e.value.resolve(&ctx.home));
    }
    let mut drop_env: Vec<String> = NPM_CONFIG_CREDENTIALS
        .iter()
        .map(|s| s.to_string())
        .collect();
    drop_env.extend(policy.credentials.iter().map(|e| e.value.to_string()));
    let packages = policy
        .scripts
        .packages
        .iter()
        .map(|g| PackagePaths {
            name: g.value.name.clone(),
            read: g
                .value
                .allow_read
                .iter()
                .map(|p| p.resolve(&ctx.home))
                .collect(),
            write: g
                .value
                .allow_write
                .iter()
                .map(|p| p.resolve(&ctx.home))
                .collect(),
        })
        .collect();
    ScriptPlan {
        shell: PathBuf::from("/bin/sh"),
        read,
        write,
        devices: level1.devices.clone(),
        project: ctx.project.clone(),
        drop_env,
        packages,
    }
}

/// The caller's user `.npmrc` followed by the project's (later keys win in npm's parser, so
/// the project keeps its precedence over the user file).
fn private_npmrc(ctx: &Context, project_npmrc: &Path) -> (Option<String>, bool) {
    let user = ctx
        .var("npm_config_userconfig")
        .or_else(|| ctx.var("NPM_CONFIG_USERCONFIG"))
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.home.join(".npmrc"));
    let read = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read_to_string(p).ok())
    };
    let user_text = read(&user);
    let project_text = read(project_npmrc);
    let hides = project_text.is_some();
    if user_text.is_none() && project_text.is_none() {
        return (None, false);
    }
    let mut text = String::from("; written by safe-install for npm only (trust level 1)\n");
    for (what, part) in [("user", user_text), ("project", project_text)] {
        if let Some(part) = part {
            text.push_str(&format!("; from the {what} configuration\n{part}\n"));
        }
    }
    (Some(text), hides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ScriptPlan {
        ScriptPlan {
            shell: "/bin/sh".into(),
            read: vec!["/usr".into()],
            write: vec!["/tmp".into(), "/p/node_modules".into()],
            devices: vec![],
            project: "/p".into(),
            drop_env: vec!["NPM_TOKEN".into(), "npm_config_//*".into()],
            packages: vec![PackagePaths {
                name: "@scope/sharp".into(),
                read: vec!["/opt/vips".into()],
                write: vec![],
            }],
        }
    }

    #[test]
    fn drops_credentials_by_name_and_pattern() {
        let p = plan();
        assert!(p.drops("NPM_TOKEN"));
        assert!(p.drops("npm_token"));
        assert!(p.drops("npm_config_//registry.example.com/:_authToken"));
        assert!(!p.drops("PATH"));
        assert!(!p.drops("npm_config_registry"));
    }

    #[test]
    fn package_dir_writable_only_inside_the_project_and_grants_per_package() {
        let p = plan();
        let ll = p.landlock(Some("@scope/sharp@1.0.0"), Path::new("/p/node_modules/x"));
        assert!(ll.write.contains(&PathBuf::from("/p/node_modules/x")));
        assert!(ll.read.contains(&PathBuf::from("/opt/vips")));
        let other = p.landlock(Some("left-pad@1.0.0"), Path::new("/elsewhere"));
        assert!(!other.write.contains(&PathBuf::from("/elsewhere")));
        assert!(!other.read.contains(&PathBuf::from("/opt/vips")));
    }
}
