//! The sandbox's life cycle as the caller sees it: exit statuses, signals forwarded to
//! the command, and nothing left behind (processes, temporary directories, mounts) when
//! safe-install itself is killed mid-install.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::common::*;

#[test]
fn exit_status_of_the_command_is_returned() {
    let _g = shared_run_guard();
    let world = World::new("exit-status");
    let out = run(&mut world.sandboxed_sh("exit 7"), RUN_TIMEOUT);
    assert_eq!(out.code(), 7, "{}", out.describe());
    let out = run(&mut world.sandboxed_sh("exit 0"), RUN_TIMEOUT);
    assert_eq!(out.code(), 0, "{}", out.describe());
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let _g = shared_run_guard();
    let world = World::new("signal-death");
    let out = run(&mut world.sandboxed_sh("kill -KILL $$"), RUN_TIMEOUT);
    assert_eq!(out.code(), 128 + 9, "{}", out.describe());
    let out = run(&mut world.sandboxed_sh("kill -SEGV $$"), RUN_TIMEOUT);
    assert_eq!(out.code(), 128 + 11, "{}", out.describe());
}

/// A daemon the command leaves behind runs nothing once safe-install has returned: it was
/// killed before the exit status was known, not while safe-install exits or after.
#[test]
fn a_daemon_left_behind_runs_nothing_once_safe_install_returns() {
    let _g = shared_run_guard();
    let world = World::new("daemon-after-return");
    let ticks = world.project.join("ticks");
    // The daemon appends a line every 10 ms, in its own session like a double-forked one.
    let out = run(
        &mut world.sandboxed_sh(
            "setsid sh -c 'while :; do echo tick >> ticks; sleep 0.01; done' & \
             while [ ! -s ticks ]; do sleep 0.01; done; exit 3",
        ),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 3, "{}", out.describe());
    let at_return = std::fs::read_to_string(&ticks).expect("the daemon ticked");
    assert!(!at_return.is_empty(), "{}", out.describe());
    std::thread::sleep(Duration::from_millis(300));
    let later = std::fs::read_to_string(&ticks).expect("read ticks");
    assert_eq!(
        later.len(),
        at_return.len(),
        "the daemon went on writing after safe-install returned\n{}",
        out.describe()
    );
}

/// The sandbox's child is kept off the supervisor's CPU while the plan is built; the command
/// runs on every CPU the caller allows, as it would bare.
#[test]
fn the_command_runs_on_every_cpu_the_caller_allows() {
    let _g = shared_run_guard();
    let world = World::new("cpus");
    let allowed = |status: &str| -> Option<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string())
    };
    let ours = allowed(&std::fs::read_to_string("/proc/self/status").expect("status"))
        .expect("Cpus_allowed_list");
    let out = run(
        &mut world.sandboxed_sh("cat /proc/self/status"),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(allowed(&out.stdout), Some(ours), "{}", out.describe());
}

#[test]
fn output_of_the_command_passes_through() {
    let _g = shared_run_guard();
    let world = World::new("passthrough");
    let out = run(
        &mut world.sandboxed_sh("echo to-stdout; echo to-stderr >&2"),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stdout.contains("to-stdout"), "{}", out.describe());
    assert!(out.stderr.contains("to-stderr"), "{}", out.describe());
}

fn signal_is_forwarded(signal: Signal, trap: &str, code: i32) {
    let _g = shared_run_guard();
    let world = World::new("forward");
    let ready = world.project.join("ready");
    let script = format!("trap 'exit {code}' {trap}; touch ready; while :; do sleep 0.1; done");
    let mut cmd = world.sandboxed_sh(&script);
    // A suite started as a background job of a non-interactive shell (`nohup test.sh &`)
    // runs with SIGINT ignored, and an ignored signal stays ignored across exec: safe-install
    // rightly relays no signal its caller ignores, and the shell could set no trap for it.
    // The command under test is started as from a terminal, with the default disposition.
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls signal(2), which is
    // async-signal-safe, and installs no handler code.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let child = spawn(&mut cmd);
    let pid = child.id();
    let started = wait_until(Duration::from_secs(30), || ready.exists());
    if !started {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    assert!(
        started,
        "the command never started (no {} within 30 s)",
        ready.display()
    );
    send_signal(pid, signal);
    let out = wait_output(
        child,
        format!("safe-install sh -c {script:?}"),
        Duration::from_secs(20),
    );
    assert_eq!(
        out.code(),
        code,
        "{signal} sent to safe-install did not reach the command's trap\n{}",
        out.describe()
    );
}

#[test]
fn sigint_reaches_the_command() {
    signal_is_forwarded(Signal::SIGINT, "INT", 42);
}

#[test]
fn sigterm_reaches_the_command() {
    signal_is_forwarded(Signal::SIGTERM, "TERM", 43);
}

/// The host's temporary directories and mount table before safe-install is killed.
struct HostBefore {
    tmp: BTreeMap<String, u64>,
    mounts: Vec<String>,
}

impl HostBefore {
    fn snapshot() -> HostBefore {
        HostBefore {
            tmp: foreign_tmp_entries(),
            mounts: host_mounts(),
        }
    }

    /// After safe-install was killed: no process whose command line holds `token`
    /// survives (any survivor is killed now), no new entry in the temporary directories,
    /// no new mount.
    fn check_nothing_left(&self, token: &str, p: &mut Problems) {
        let gone = wait_until(Duration::from_secs(5), || {
            processes_with_cmdline(token).is_empty()
        });
        let survivors = processes_with_cmdline(token);
        kill_processes_with_cmdline(token);
        p.check(gone, || {
            format!("sandboxed processes survived SIGKILL of safe-install: {survivors:?}")
        });
        let clean = wait_until(Duration::from_secs(2), || {
            foreign_tmp_entries()
                .iter()
                .all(|(k, v)| self.tmp.get(k) == Some(v))
        });
        let new_entries: Vec<String> = foreign_tmp_entries()
            .into_iter()
            .filter(|(k, v)| self.tmp.get(k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        p.check(clean, || {
            format!("new entries in the temporary directories after the kill: {new_entries:?}")
        });
        let mounts_after = host_mounts();
        p.check(mounts_after == self.mounts, || {
            let added: Vec<&String> = mounts_after
                .iter()
                .filter(|m| !self.mounts.contains(m))
                .collect();
            format!("the host's mount table changed: new mount points {added:?}")
        });
    }
}

#[test]
fn sigkill_mid_install_leaves_no_process_temp_dir_or_mount() {
    // Alone: the /tmp comparison must see only this run's leftovers.
    let _g = exclusive_run_guard();
    let world = World::new("sigkill");
    let tarball = pack_npm_fixture(&world, "slow");
    write_npm_project(&world, &[&tarball]);
    let token = world.project.display().to_string();
    let before = HostBefore::snapshot();

    let child = spawn(
        world
            .safe_install()
            .arg("--project")
            .arg(&world.project)
            .args(NPM_CI),
    );
    let pid = child.id();
    let started = world.project.join("node_modules/si-slow/slow-started");
    let ok = wait_until(RUN_TIMEOUT, || started.exists());
    if !ok {
        send_signal(pid, Signal::SIGKILL);
        let out = wait_output(child, "safe-install npm ci".into(), Duration::from_secs(10));
        panic!("the slow postinstall never started\n{}", out.describe());
    }
    let inside = processes_with_cmdline(&token);
    send_signal(pid, Signal::SIGKILL);
    let out = wait_output(child, "safe-install npm ci".into(), Duration::from_secs(10));
    assert_eq!(out.code(), 128 + 9, "{}", out.describe());

    let mut p = Problems::new();
    p.check(!inside.is_empty(), || {
        "sanity: no process of the install was visible before the kill".into()
    });
    before.check_nothing_left(&token, &mut p);
    p.finish(&out.describe());
}

#[test]
fn sigkill_during_sandbox_setup_leaves_no_temp_dir_or_mount() {
    // Kills at several points of the setup (before, during and after the view is built).
    let _g = exclusive_run_guard();
    let world = World::new("sigkill-setup");
    write_file(&world.project.join("package.json"), "{}\n");
    let before = HostBefore::snapshot();
    let token = format!("si-setup-kill-{}", world.token);
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 160] {
        let child = spawn(&mut world.sandboxed_sh(&format!("sleep 30; echo {token}")));
        std::thread::sleep(Duration::from_millis(delay_ms));
        send_signal(child.id(), Signal::SIGKILL);
        wait_output(child, "safe-install sh".into(), Duration::from_secs(10));
    }
    let mut p = Problems::new();
    before.check_nothing_left(&token, &mut p);
    p.finish("");
}
