//! The sandbox mode a plan is built for. The full sandbox is the default; landlock mode (no
//! namespaces: where user namespaces are unavailable, Docker's default seccomp profile or
//! Ubuntu 24.04's AppArmor restriction, and the user opted in with `--allow-degraded` or
//! `[sandbox] mode = "landlock"`) runs the command with Landlock and seccomp only:
//!
//! - files: the plan's view as Landlock rules on the host's paths
//!   (`sandbox::landlock::host_view`);
//! - network: the proxy listens on the host's 127.0.0.1 at an ephemeral port; the sandbox may
//!   not connect anywhere itself (Landlock handles TCP with no port allowed); the supervisor
//!   performs each connect to the proxy on the sandbox's behalf after a seccomp notification
//!   and refuses the rest (`observe::connect`);
//! - environment: scrubbed as in full mode, the proxy variables pointing at the real port,
//!   TMPDIR a private directory, generated configuration files in a private directory;
//! - lifecycle scripts: at the package manager's trust level (no script shell);
//! - processes: a subreaper kills the command's process group and every descendant left.
//!
//! The plan for landlock mode says all this itself (`explain` shows what runs); what the
//! mode gives up compared with the full sandbox is [`weaker`], recorded as one `sandbox`
//! event with verdict `degraded` and printed on stderr, never left implicit.

use super::{trust, Mount, MountKind, Plan};
use std::ffi::{OsStr, OsString};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

/// Which sandbox the plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Namespaces, mounts, Landlock and seccomp.
    Full,
    /// Landlock and seccomp only, with the host places the supervisor made for the run.
    Landlock(HostPlaces),
}

/// What landlock mode uses on the host instead of the sandbox's own places, made by the
/// supervisor before the plan is built (`supervisor::landlock_mode::Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlaces {
    /// Where the proxy listens, on the host's loopback.
    pub proxy: SocketAddrV4,
    /// The private TMPDIR.
    pub tmp: PathBuf,
    /// Where generated configuration files (npm's private configuration) are written,
    /// shown read-only.
    pub config: PathBuf,
}

/// Landlock mode's plan from the full sandbox's: the proxy variables at the host's proxy,
/// TMPDIR the private directory, no script shell (trust level 2 needs a seccomp listener of
/// each script's own, and the kernel allows one per filter chain, landlock mode's being the
/// reaper's, and files mounted at fixed paths).
pub(super) fn for_landlock(plan: &mut Plan, host: &HostPlaces) {
    plan.mode = Mode::Landlock(host.clone());
    let inside = crate::plan::addresses::proxy_url();
    let url = OsString::from(format!("http://{}", host.proxy));
    for (k, v) in plan.env.pass.iter_mut() {
        if k == "TMPDIR" {
            *v = host.tmp.as_os_str().to_os_string();
        } else if v.to_str() == Some(inside.as_str()) {
            *v = url.clone();
        }
    }
    let stands_in_for = plan.script.take().and_then(|s| s.stands_in_for);
    // The script shell, its configuration and its private temp exist only in the full
    // sandbox's mount namespace: landlock mode shows none of them, nor safe-install standing
    // in for the system shell.
    plan.mounts.retain(|m| {
        let t = m.target.as_path();
        t != Path::new(trust::SHIM)
            && t != Path::new(trust::SHIM_CONFIG)
            && t != Path::new(trust::SCRIPT_TMP)
            && t != Path::new(trust::SYSTEM_SHELL_REAL)
            && t != Path::new(trust::SYSTEM_SHELL_SHIM)
            && Some(t) != stands_in_for.as_deref()
    });
    plan.env
        .pass
        .retain(|(_, v)| v.as_os_str() != OsStr::new(trust::SHIM));
    // And the arguments that name it (pnpm's `--config.script-shell=`): left in, every
    // script would fail to start.
    plan.drop_script_shell_args();
    // The full sandbox's note on its scripts' own temp directory: here TMPDIR is the private
    // host directory above.
    let script_tmp = format!("TMPDIR is {}", trust::SCRIPT_TMP);
    plan.notes.retain(|n| !n.contains(&script_tmp));
}

/// The last step of building a plan for landlock mode, once every generated file is in it
/// (credentials sealed, the run's CA added): without a mount namespace a generated file
/// cannot appear at its fixed path, so each one the environment points at moves to
/// `host.config` (written by the supervisor before the command starts: a `MountKind::File`
/// there is a file to write, not a mount), shown read-only. Nothing for the full sandbox.
pub fn place_generated_files(plan: &mut Plan, mode: &Mode) {
    let Mode::Landlock(host) = mode else {
        return;
    };
    let files: Vec<(PathBuf, String)> = plan
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::File(text) => Some((m.target.clone(), text.clone())),
            _ => None,
        })
        .collect();
    let new_path = |i: usize, target: &Path| {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("file-{i}"));
        host.config.join(name)
    };
    // The files the environment points at, and the files those name by path (git's private
    // configuration names its credential file and CA bundle), until nothing more is named.
    let mut placed: Vec<bool> = files
        .iter()
        .map(|(target, _)| {
            plan.env
                .pass
                .iter()
                .any(|(_, v)| Path::new(v) == target.as_path())
        })
        .collect();
    loop {
        let named: Vec<usize> = (0..files.len())
            .filter(|&j| {
                !placed[j]
                    && files
                        .iter()
                        .zip(&placed)
                        .any(|((_, text), p)| *p && text.contains(&*files[j].0.to_string_lossy()))
            })
            .collect();
        if named.is_empty() {
            break;
        }
        for j in named {
            placed[j] = true;
        }
    }
    let mut shown = false;
    for (i, (target, text)) in files.iter().enumerate() {
        if !placed[i] {
            continue;
        }
        let path = new_path(i, target);
        for (_, v) in plan.env.pass.iter_mut() {
            if Path::new(v) == target.as_path() {
                *v = path.clone().into_os_string();
            }
        }
        let mut text = text.clone();
        for (j, (other, _)) in files.iter().enumerate() {
            if placed[j] {
                text = text.replace(
                    &*other.to_string_lossy(),
                    &new_path(j, other).to_string_lossy(),
                );
            }
        }
        plan.mounts.push(Mount {
            target: path,
            kind: MountKind::File(text),
            why: format!(
                "generated configuration the environment points at (in place of {})",
                target.display()
            ),
        });
        shown = true;
    }
    if shown {
        plan.mounts.push(Mount {
            target: host.config.clone(),
            kind: MountKind::BindRo(host.config.clone()),
            why: "generated configuration the environment points at".into(),
        });
    }
}

/// The generated files landlock mode writes into `host.config` before the command starts.
pub fn host_files<'a>(
    plan: &'a Plan,
    host: &'a HostPlaces,
) -> impl Iterator<Item = (&'a Path, &'a str)> {
    plan.mounts.iter().filter_map(move |m| match &m.kind {
        MountKind::File(text) if m.target.parent() == Some(host.config.as_path()) => {
            Some((m.target.as_path(), text.as_str()))
        }
        _ => None,
    })
}

/// What landlock mode does not protect, compared with the full sandbox, for a kernel with
/// Landlock `abi`. One sentence each, for the `degraded` event, stderr and `doctor`.
pub fn weaker(abi: i32, root: bool) -> Vec<String> {
    let mut w = vec![
        "no private /tmp: TMPDIR is a fresh private directory and the rest of /tmp is unreadable, so a program that hard-codes /tmp paths fails".to_string(),
        "no pid isolation: other processes are listed in /proc with their command lines (their environment and memory stay unreadable: Landlock refuses ptrace access outside the sandbox)".to_string(),
        "no private /proc or /dev: the host's /proc is readable; of /dev only null, zero, full, random, urandom and tty are usable".to_string(),
        "hidden files are unreadable (permission denied) instead of empty, and a directory that holds a hidden or read-only entry (often the project root) accepts no new entries; npm's node_modules is created beforehand".to_string(),
        "the home directory is not replaced: it is unreadable except the package manager's cache and toolchains, so writes to it fail instead of landing in a throwaway home".to_string(),
        "no private network: the proxy listens on the host's loopback, reachable by other local processes during the install; UDP is refused entirely (DNS included: /etc/resolv.conf cannot point at the logging stub without a mount namespace)".to_string(),
        "processes left behind are killed through the process tree (subreaper); if safe-install itself is killed with SIGKILL they may survive".to_string(),
        "file attempts are refused by Landlock but not observed: no read or write events name what a script tried (the full sandbox logs each one)".to_string(),
        "lifecycle scripts run at the package manager's trust level (no script shell: it needs a seccomp listener of its own and mounted files), so they can read npm's configuration, registry credentials included; the proxy still applies the scripts' network policy by attribution".to_string(),
    ];
    if abi < 4 {
        w.push(format!("TCP is not covered by this kernel's Landlock (ABI {abi} < 4): the seccomp notifier is the only network wall"));
    }
    if abi < 6 {
        w.push(format!("abstract unix sockets and signals are not scoped by this kernel's Landlock (ABI {abi} < 6): unix connects are refused by the seccomp notifier only, and signals can reach other processes of your uid"));
    }
    if abi < 9 {
        w.push(format!("unix sockets by path are not covered by this kernel's Landlock (ABI {abi} < 9): connects to them are refused by the seccomp notifier only"));
    }
    if root {
        w.push("the command runs as root (uid 0) without capabilities: without a user namespace there is no unprivileged uid to map it to".to_string());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_fixtures::{npm_ci, npm_policy, Project};

    /// The host places of a landlock-mode run, as the supervisor would choose them.
    fn host_places() -> HostPlaces {
        HostPlaces {
            proxy: "127.0.0.1:40000".parse().expect("address"),
            tmp: PathBuf::from("/tmp/private-tmp"),
            config: PathBuf::from("/tmp/private-config"),
        }
    }

    fn var<'a>(plan: &'a Plan, name: &str) -> Option<&'a OsStr> {
        plan.env
            .pass
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    #[test]
    fn the_landlock_plan_names_the_host_places_and_has_no_script_shell() {
        let (_dir, ctx) = npm_ci(Project::BesideHome);
        let full = crate::plan::build(&npm_policy(), &ctx, &Mode::Full).expect("plan");
        assert!(full.script.is_some());
        let host = host_places();
        let mode = Mode::Landlock(host.clone());
        let mut plan = crate::plan::build(&npm_policy(), &ctx, &mode).expect("plan");
        assert!(plan.script.is_none());
        assert_eq!(
            var(&plan, "HTTPS_PROXY"),
            Some(OsStr::new("http://127.0.0.1:40000"))
        );
        assert_eq!(var(&plan, "TMPDIR"), Some(host.tmp.as_os_str()));
        assert!(!plan
            .env
            .pass
            .iter()
            .any(|(_, v)| v.as_os_str() == OsStr::new(trust::SHIM)));
        place_generated_files(&mut plan, &mode);
        let written: Vec<_> = host_files(&plan, &host).collect();
        for (path, _) in &written {
            assert!(plan.env.pass.iter().any(|(_, v)| Path::new(v) == *path));
        }
        assert_eq!(
            !written.is_empty(),
            plan.mounts.iter().any(|m| m.target == host.config)
        );
    }

    #[test]
    fn files_named_by_a_placed_file_move_with_it() {
        let (_dir, ctx) = npm_ci(Project::BesideHome);
        let host = host_places();
        let mode = Mode::Landlock(host.clone());
        let mut plan = crate::plan::build(&npm_policy(), &ctx, &mode).expect("plan");
        let file = |target: &str, text: &str| Mount {
            target: target.into(),
            kind: MountKind::File(text.into()),
            why: String::new(),
        };
        plan.mounts.push(file(
            trust::PRIVATE_GITCONFIG,
            "helper = --file=/.safe-install/private/git-credentials\nsslCAInfo = /.safe-install/git-ca-bundle.pem\n",
        ));
        plan.mounts
            .push(file(trust::PRIVATE_GIT_CREDENTIALS, "https://u:p@h\n"));
        plan.mounts
            .push(file("/.safe-install/git-ca-bundle.pem", "CA"));
        plan.mounts.push(file("/.safe-install/unnamed", "x"));
        plan.env.pass.push((
            trust::GIT_CONFIG_VAR.into(),
            trust::PRIVATE_GITCONFIG.into(),
        ));
        place_generated_files(&mut plan, &mode);
        let written: std::collections::BTreeMap<_, _> = host_files(&plan, &host).collect();
        let config = written[host.config.join("gitconfig").as_path()];
        assert_eq!(
            config,
            "helper = --file=/tmp/private-config/git-credentials\nsslCAInfo = /tmp/private-config/git-ca-bundle.pem\n"
        );
        assert!(written.contains_key(host.config.join("git-credentials").as_path()));
        assert!(written.contains_key(host.config.join("git-ca-bundle.pem").as_path()));
        assert!(!written.contains_key(host.config.join("unnamed").as_path()));
        assert_eq!(
            var(&plan, trust::GIT_CONFIG_VAR),
            Some(host.config.join("gitconfig").as_os_str())
        );
    }

    #[test]
    fn the_weaker_list_follows_the_abi_and_the_caller() {
        let old = weaker(4, false);
        assert!(old.iter().any(|w| w.contains("ABI 4 < 6")));
        assert!(old.iter().any(|w| w.contains("ABI 4 < 9")));
        assert!(!old.iter().any(|w| w.contains("< 4")));
        let newer = weaker(9, true);
        assert!(!newer.iter().any(|w| w.contains("ABI 9 <")));
        assert!(newer.iter().any(|w| w.contains("uid 0")));
        assert!(newer.iter().any(|w| w.contains("no pid isolation")));
    }

    /// A yarn 1 project: a `yarn` package at 1.22.22 whose entry file the context runs.
    fn yarn1_install() -> (tempfile::TempDir, crate::plan::Context) {
        let (dir, mut ctx) = npm_ci(Project::BesideHome);
        let yarn = dir.path().join("yarn1");
        std::fs::create_dir_all(yarn.join("bin")).expect("mkdir");
        std::fs::write(
            yarn.join("package.json"),
            r#"{"name":"yarn","version":"1.22.22"}"#,
        )
        .expect("write");
        std::fs::write(yarn.join("bin/yarn.js"), "").expect("write");
        ctx.argv = vec!["yarn".into(), "install".into()];
        ctx.detected = crate::pm::detect(&ctx.argv);
        ctx.resolved.program = Some(yarn.join("bin/yarn.js"));
        (dir, ctx)
    }

    fn yarn_policy() -> crate::policy::Policy {
        let mut p = crate::policy::Policy::default();
        p.add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        p.add_layer("yarn", crate::policy::builtin::YARN.1)
            .expect("yarn");
        p
    }

    #[test]
    fn yarn1_stands_in_for_the_system_shell_in_the_full_sandbox_only() {
        let (_dir, ctx) = yarn1_install();
        let sh = trust::system_shell().expect("/bin/sh is a shell here");
        let full = crate::plan::build(&yarn_policy(), &ctx, &Mode::Full).expect("plan");
        let script = full.script.as_ref().expect("level 2");
        assert_eq!(script.stands_in_for.as_deref(), Some(sh.as_path()));
        assert_eq!(script.shell, Path::new(trust::SYSTEM_SHELL_REAL));
        assert!(full.unhooked.is_none());
        let target = |t: &Path| full.mounts.iter().find(|m| m.target == t).map(|m| &m.kind);
        assert_eq!(
            target(Path::new(trust::SYSTEM_SHELL_REAL)),
            Some(&super::MountKind::BindRo(sh.clone()))
        );
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .expect("exe");
        // The gate over the system shell, safe-install beside it for the shells it hands on.
        assert!(trust::SYSTEM_SHELL_GATE.is_some(), "built without the gate");
        assert_eq!(target(&sh), Some(&super::MountKind::ShellGate));
        assert_eq!(
            target(Path::new(trust::SYSTEM_SHELL_SHIM)),
            Some(&super::MountKind::BindRo(exe))
        );
        // Both levels may run the real shell; level 2 reads its plan.
        assert!(script
            .read
            .iter()
            .any(|r| Path::new(trust::SYSTEM_SHELL_REAL).starts_with(r)));
        assert!(script
            .read
            .iter()
            .any(|r| r == Path::new(trust::SHIM_CONFIG)));
        let host = host_places();
        let plan = crate::plan::build(&yarn_policy(), &ctx, &Mode::Landlock(host)).expect("plan");
        assert!(plan.script.is_none());
        assert!(!plan.mounts.iter().any(|m| m.target == sh
            || m.target == Path::new(trust::SYSTEM_SHELL_REAL)
            || m.target == Path::new(trust::SYSTEM_SHELL_SHIM)));
    }

    #[test]
    fn the_level_2_mark_never_reaches_the_package_manager() {
        let (_dir, mut ctx) = npm_ci(Project::BesideHome);
        ctx.env.push((trust::LEVEL2_MARKER.into(), "2".into()));
        let mut policy = npm_policy();
        policy
            .add_layer(
                "project",
                &format!(
                    "[[env.pass]]\nname = \"{0}\"\nreason = \"x\"\n[[env.set]]\nname = \"{0}\"\nvalue = \"2\"\nreason = \"x\"\n",
                    trust::LEVEL2_MARKER
                ),
            )
            .expect("policy");
        let plan = crate::plan::build(&policy, &ctx, &Mode::Full).expect("plan");
        assert_eq!(var(&plan, trust::LEVEL2_MARKER), None);
        assert!(plan
            .env
            .dropped
            .iter()
            .any(|(k, _)| k == trust::LEVEL2_MARKER));
    }
}
