//! The landlock rung of the mode ladder: where user namespaces are unavailable (Docker's
//! default seccomp profile, Ubuntu 24.04's AppArmor restriction) and the user opted in
//! (`--allow-degraded`, or `[sandbox] mode = "landlock"` in a policy), the command runs with
//! Landlock and seccomp only:
//!
//! - files: the plan's view as Landlock rules on the host's paths ([`rules`]);
//! - network: the proxy listens on the host's 127.0.0.1 at an ephemeral port; the sandbox may
//!   not connect anywhere itself (Landlock handles TCP connect with no port allowed); the
//!   supervisor performs each connect to the proxy on the sandbox's behalf after a seccomp
//!   notification and refuses the rest ([`notifier`], [`filter`]);
//! - environment: scrubbed as in full mode, the proxy variables pointing at the real port;
//! - processes: a subreaper kills the command's process group and every descendant left.
//!
//! What this gives up compared with the full sandbox is recorded as one `sandbox` event with
//! verdict `degraded` ([`weaker`]) and printed on stderr, never left implicit.

pub mod filter;
mod init;
pub mod landlock;
pub mod notifier;
pub mod rules;

use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::plan::Plan;
use crate::pm::Family;
use crate::sandbox::report::Report;
use crate::supervisor::SupervisorError;
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, ForkResult};
use std::ffi::OsString;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

/// The `degraded` event and its stderr form.
fn record_degraded(sink: &EventSink, abi: i32, proxy_port: u16) {
    let list = weaker(abi, nix::unistd::geteuid().is_root());
    // The full list is in the event, which the summary prints at exit; say it up front too,
    // before the command's own output.
    eprintln!(
        "safe-install: landlock mode: no namespaces (proxy on 127.0.0.1:{proxy_port}); {} guarantees are weaker than the full sandbox's, listed in the summary and by `safe-install doctor`",
        list.len()
    );
    sink.emit(
        Event::new(
            Action::Sandbox,
            Verdict::Degraded,
            "mode: landlock",
            Reason::SandboxDegraded,
        )
        .with_detail(list.join("; ")),
    );
}

/// The plan's environment with the proxy variables pointing at `url` and TMPDIR at `tmp`.
fn adjust_env(plan: &mut Plan, url: &str, tmp: &Path) {
    let inside = crate::sandbox::egress::proxy_url();
    for (k, v) in plan.env.pass.iter_mut() {
        if k == "TMPDIR" {
            *v = tmp.as_os_str().to_os_string();
        } else if v.to_str() == Some(inside.as_str()) {
            *v = OsString::from(url);
        }
    }
}

/// Trust level 2 needs a seccomp listener of each script's own (the kernel allows one per
/// filter chain, and landlock mode's is init's) and files mounted at fixed paths: in landlock
/// mode scripts run at the package manager's level. The generated files the environment
/// points at (npm's private configuration) are written to `dir`, shown read-only.
fn without_script_shell(plan: &mut Plan, dir: &Path) -> std::io::Result<()> {
    use crate::plan::{trust, Mount, MountKind};
    plan.script = None;
    plan.env
        .pass
        .retain(|(_, v)| v.as_os_str() != std::ffi::OsStr::new(trust::SHIM));
    let files: Vec<(std::path::PathBuf, String)> = plan
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::File(text) => Some((m.target.clone(), text.clone())),
            _ => None,
        })
        .collect();
    let mut shown = false;
    for (i, (target, text)) in files.iter().enumerate() {
        let users: Vec<usize> = (0..plan.env.pass.len())
            .filter(|&k| Path::new(&plan.env.pass[k].1) == target.as_path())
            .collect();
        if users.is_empty() {
            continue;
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("file-{i}"));
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        for k in users {
            plan.env.pass[k].1 = path.clone().into_os_string();
        }
        shown = true;
    }
    if shown {
        plan.mounts.push(Mount {
            target: dir.to_path_buf(),
            kind: MountKind::BindRo(dir.to_path_buf()),
            why: "generated configuration the environment points at".into(),
        });
    }
    Ok(())
}

/// Run the plan in landlock mode and return the command's exit status.
pub fn run(
    plan: &Plan,
    allow: crate::net::allow::AllowList,
    scripts: Option<crate::net::proxy::ScriptEgress>,
    vault: Arc<crate::creds::Vault>,
    sink: &EventSink,
) -> Result<i32, SupervisorError> {
    let proxy = TcpListener::bind("127.0.0.1:0")?;
    // Clients reach this listener over the host's loopback: a hop that, like the sandbox's,
    // never leaves the machine, so it gains nothing from pacing either.
    crate::sandbox::egress::unpaced(&proxy);
    let port = proxy.local_addr()?.port();
    let proxy_addr = notifier::proxy_addr(port);
    let tmp = tempfile::Builder::new()
        .prefix("safe-install-tmp-")
        .tempdir()?;
    let config = tempfile::Builder::new()
        .prefix("safe-install-config-")
        .tempdir()?;
    let mut plan = plan.clone();
    adjust_env(&mut plan, &format!("http://{proxy_addr}"), tmp.path());
    without_script_shell(&mut plan, config.path())?;
    if plan.family == Family::Npm {
        // The project root usually holds a hidden .env and so accepts no new entries: the
        // install's output directory must exist before the rules are taken.
        let modules = plan.project.join("node_modules");
        if !modules.exists() {
            std::fs::create_dir(&modules)?;
        }
    }
    let rules = rules::build(&plan, tmp.path());
    let setup_error = |e: &dyn std::fmt::Display| SupervisorError::Setup {
        stage: crate::sandbox::report::Stage::Seccomp,
        errno: None,
        detail: e.to_string(),
    };
    let deny = crate::sandbox::seccomp::compile(
        &plan.seccomp_deny,
        crate::sandbox::seccomp::TtyIoctls::Refuse,
    )
    .map_err(|e| setup_error(&e))?;
    let notify = filter::compile().map_err(|e| setup_error(&e))?;
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let (alive_r, alive_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;

    // No thread has been started yet (callers guarantee it, as for the full sandbox's
    // clone; `fork` checks it).
    let child = match crate::sys::process::fork().map_err(std::io::Error::from)? {
        ForkResult::Child => {
            drop(report_r);
            drop(alive_w);
            // The proxy's listening socket is the supervisor's alone.
            crate::sys::fd::close_inherited(proxy.as_raw_fd());
            let setup = init::Setup {
                plan: &plan,
                rules: &rules,
                deny: &deny,
                notify: &notify,
                report: report_w,
                alive: alive_r,
            };
            init::child_main(&setup)
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_w);
    drop(alive_r);
    crate::supervisor::raise_open_file_limit();
    let _relay = crate::supervisor::signals::relay_to(child)?;
    let who = Arc::new(crate::observe::attribution::Attributor::new(child.as_raw()));
    let lookup_who = Arc::clone(&who);
    let mut cfg = crate::net::proxy::ProxyConfig::new(allow);
    cfg.vault = vault;
    cfg.peer_lookup = Some(Arc::new(move |peer| lookup_who.of_peer(peer, false)));
    // No shim registers scripts here: every request is attributed (`active` stays None).
    cfg.scripts = scripts.map(|mut s| {
        s.active = None;
        s
    });
    let _proxy = crate::net::proxy::spawn_proxy(proxy, Arc::new(cfg), sink.clone())?;

    let mut notifier_done = None;
    let reports = crate::sandbox::report::follow(report_r, |r| -> Result<(), SupervisorError> {
        match r {
            Report::Handles {
                listener: Some(fd), ..
            } => {
                let started = copy_listener(child, *fd).and_then(|l| {
                    let (tx, rx) = std::sync::mpsc::channel::<()>();
                    let who = Arc::clone(&who);
                    let sink = sink.clone();
                    notifier::spawn(l, proxy_addr, sink, who)
                        .map(|h| {
                            std::thread::spawn(move || {
                                let _ = h.join();
                                let _ = tx.send(());
                            });
                            rx
                        })
                        .map_err(SupervisorError::from)
                });
                // The child waits for this byte before it goes on.
                let _ = nix::unistd::write(&alive_w, b"k");
                notifier_done = Some(started?);
            }
            Report::Landlock { status, abi } => {
                crate::supervisor::record_landlock(sink, status, *abi);
                record_degraded(sink, *abi, port);
            }
            _ => {}
        }
        Ok(())
    })?;
    let status = crate::supervisor::wait_exit_status(child)?;
    drop(alive_w);
    if let Some(done) = notifier_done {
        // The listener hangs up once every process under the filter is gone; a survivor
        // (possible only if the reaper itself was killed) must not hold up the exit.
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
    crate::supervisor::check_reports(reports)?;
    Ok(status)
}

/// Copy the notify listener out of the child (pidfd_getfd): sending it over a socket would
/// itself be a notified syscall in the child.
fn copy_listener(
    child: nix::unistd::Pid,
    fd: i32,
) -> Result<crate::sys::seccomp::Listener, SupervisorError> {
    Ok(crate::sys::fd::copy_fd(child, fd)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
