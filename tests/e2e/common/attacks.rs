//! One sandboxed install of an evil fixture (npm or pip), captured with everything the
//! concern-by-concern tests check: the fixture's own report, the files on the host before
//! and after, what reached the host's listeners, leftover processes, the event log.
//!
//! The install runs once per `attack_tests!` invocation (a `OnceLock` there); each test then
//! checks one concern, so a failure names the boundary that broke.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

/// Which package manager's evil fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Npm,
    Pip,
}

/// The sandbox mode the install runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    /// The landlock rung, forced by running safe-install under a seccomp filter that refuses
    /// user namespaces the way Docker's default profile does (see tests/e2e/degraded.rs).
    Landlock,
}

/// Adjusts the safe-install command of a run (extra flags, a seccomp filter).
pub type Configure = fn(&mut Command);

/// Everything observed around one sandboxed evil install.
pub struct EvilRun {
    pub kind: Kind,
    pub mode: Mode,
    pub world: World,
    pub out: Output,
    pub report: Option<AttackReport>,
    pub before: BTreeMap<PathBuf, Option<Vec<u8>>>,
    pub after: BTreeMap<PathBuf, Option<Vec<u8>>>,
    pub received: Vec<String>,
    /// Global persistence targets on the host that existed after the run (removed again).
    pub global_written: Vec<PathBuf>,
    pub daemon_marker_appeared: bool,
    pub leftover_processes: Vec<(i32, String)>,
    pub log: PathBuf,
    pub venv: Option<PathBuf>,
    /// The host-side loopback port the script tries to send its loot to.
    pub tcp_port: u16,
}

impl EvilRun {
    /// Runs the install in `mode` with `configure` applied to the safe-install command,
    /// catching a setup panic so that every test reports it.
    pub fn capture_in(kind: Kind, mode: Mode, configure: Configure) -> Result<EvilRun, String> {
        catch_unwind(AssertUnwindSafe(|| EvilRun::run(kind, mode, configure))).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the evil install's setup panicked".into())
        })
    }

    fn run(kind: Kind, mode: Mode, configure: Configure) -> EvilRun {
        let world = World::new(match kind {
            Kind::Npm => "npm-evil",
            Kind::Pip => "pip-evil",
        });
        remove_at_exit(world.root());
        let listeners = Listeners::start(&world);
        let log = world.log_path("evil");
        let (args, venv, host_globals) = match kind {
            Kind::Npm => {
                let tarball = pack_npm_fixture(&world, "evil");
                write_npm_project(&world, &[&tarball]);
                write_attack_config(&world, &world.project, &listeners, None);
                let prefix = run(world.command("npm").args(["prefix", "-g"]), RUN_TIMEOUT);
                let prefix = PathBuf::from(prefix.assert_success().stdout.trim());
                let target = prefix
                    .join("lib/node_modules")
                    .join(global_package_name(&world));
                (
                    NPM_CI.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    None,
                    vec![target],
                )
            }
            Kind::Pip => {
                let venv = make_venv(&world);
                let sdist = stage_pip_fixture(&world, "evilpkg");
                write_attack_config(&world, &sdist, &listeners, None);
                let (major, minor) = python_version();
                let target = PathBuf::from(format!(
                    "/usr/local/lib/python{major}.{minor}/dist-packages/{}.pth",
                    global_package_name(&world)
                ));
                (pip_install_args(&venv, "evilpkg"), Some(venv), vec![target])
            }
        };
        // The fixture writes its report and daemon marker into a directory granted with
        // `--rw` (in landlock mode too).
        let before = world.snapshot_sensitive_files();
        let _guard = shared_run_guard();
        let mut cmd = world.safe_install();
        configure(&mut cmd);
        let out = run(
            cmd.args(attack_report_flags(&world))
                .arg("--project")
                .arg(&world.project)
                .arg("--log")
                .arg(&log)
                .args(&args),
            RUN_TIMEOUT,
        );
        let ended = Instant::now();
        let report_dir = attack_report_dir(&world, kind == Kind::Npm);
        let report = fs::read_to_string(report_dir.join("attack-report.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(AttackReport);
        // The daemon touches its marker every second for 8 s from its start (during the
        // install). If it survived, the marker changes within 2.5 s of the exit.
        let marker = report_dir.join("daemon-marker");
        let mtime = || fs::metadata(&marker).and_then(|m| m.modified()).ok();
        let at_exit = mtime();
        std::thread::sleep(Duration::from_millis(2500).saturating_sub(ended.elapsed()));
        let daemon_marker_appeared = mtime() != at_exit;
        let needle = world.project.display().to_string();
        let leftover_processes = processes_with_cmdline(&needle);
        kill_processes_with_cmdline(&needle);
        let after = world.snapshot_sensitive_files();
        let mut global_written = Vec::new();
        let mut globals = host_globals;
        if let Some(p) = report
            .as_ref()
            .and_then(|r| r.0["global_prefix"].as_str().map(PathBuf::from))
        {
            globals.push(match kind {
                Kind::Npm => p.join("lib/node_modules").join(global_package_name(&world)),
                Kind::Pip => p.join(format!("{}.pth", global_package_name(&world))),
            });
        }
        for g in globals {
            if exists_nofollow(&g) {
                // Undo the escape so that one broken run does not persist on the machine.
                let _ = fs::remove_dir_all(&g).or_else(|_| fs::remove_file(&g));
                global_written.push(g);
            }
        }
        // The run is over and its world lives on in a `static`: the leak checks need not
        // wait for the process to end.
        let mut world = world;
        world.release_run_guard();
        EvilRun {
            kind,
            mode,
            tcp_port: listeners.tcp_port,
            received: listeners.received(),
            world,
            out,
            report,
            before,
            after,
            global_written,
            daemon_marker_appeared,
            leftover_processes,
            log,
            venv,
        }
    }

    /// The report, or a failure explaining why there is none.
    pub fn report(&self) -> &AttackReport {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "the evil fixture wrote no attack report into the project: its install script did not run or could not write into the project directory.\n{}",
                self.out.describe()
            )
        })
    }

    fn context(&self) -> String {
        format!(
            "{}\n--- attack report ---\n{}",
            self.out.describe(),
            self.report
                .as_ref()
                .map(AttackReport::pretty)
                .unwrap_or_else(|| "(none)".into())
        )
    }

    /// The install itself succeeded despite the blocked attacks.
    pub fn check_install_succeeded(&self) {
        let mut p = Problems::new();
        p.check(self.out.code() == 0, || {
            format!("safe-install exited {} (want 0: the install must succeed even though its script's attacks fail)", self.out.code())
        });
        let installed = match self.kind {
            Kind::Npm => self.world.project.join("node_modules/si-evil/index.js"),
            Kind::Pip => {
                site_packages(self.venv.as_ref().expect("pip run has a venv")).join("si_evilpkg.py")
            }
        };
        p.check(installed.is_file(), || {
            format!(
                "the package was not installed: {} is missing",
                installed.display()
            )
        });
        p.check(self.report.is_some(), || {
            "the install script wrote no attack report into the project (the project must be writable)".into()
        });
        p.finish(&self.context());
    }

    /// No file secret (project `.env` family, home credentials, other projects, other
    /// /tmp directories) was readable.
    pub fn check_file_secrets(&self) {
        let r = self.report();
        let mut p = Problems::new();
        for name in MUST_FAIL_ATTACKS
            .iter()
            .filter(|n| n.starts_with("read_") && !n.contains("proc"))
        {
            let (ok, detail) = r.attack(name);
            p.check(!ok && !detail.contains("SI-SECRET"), || {
                format!("{name} got: {detail}")
            });
        }
        p.finish(&self.context());
    }

    /// No secret environment variable reached the scripts, neither in their own
    /// environment nor in any `/proc/<pid>/environ` they can read; allow-listed ones did.
    pub fn check_environment(&self) {
        let r = self.report();
        let mut p = Problems::new();
        for name in ["env_secrets", "env_canary", "read_proc_environ_canary"] {
            let (ok, detail) = r.attack(name);
            p.check(!ok, || format!("{name}: {detail}"));
        }
        let names = r.env_names();
        let env: Vec<(String, String)> = r.0["env"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        p.check(!env.is_empty(), || {
            "the report has no environment dump".into()
        });
        for leak in env_leaks(&self.world, &env) {
            p.push(leak);
        }
        for allowed in ["PATH", "LANG", "TZ", "TERM"] {
            p.check(names.iter().any(|n| n == allowed), || {
                format!(
                    "the allow-listed variable {allowed} did not reach the script (env: {names:?})"
                )
            });
        }
        let visible = r.0["proc_pids_visible"].as_u64().unwrap_or(u64::MAX);
        if self.mode == Mode::Full {
            p.check(visible < 40, || {
                format!("the script sees {visible} processes in /proc: host processes are visible (no pid namespace?)")
            });
        } else {
            // Landlock mode has no pid namespace; the degraded event must say so.
            p.check(self.degraded_lists("no pid isolation"), || {
                "landlock mode: the degraded event does not list the missing pid isolation".into()
            });
        }
        p.finish(&self.context());
    }

    /// Nothing persisted: start-up files, git hooks, the global package directory, every
    /// secret file byte-identical.
    pub fn check_persistence(&self) {
        let r = self.report();
        let mut p = Problems::new();
        for (path, before) in &self.before {
            let after = self.after.get(path).cloned().flatten();
            p.check(&after == before, || {
                format!(
                    "{} changed on the host: before {:?}, after {:?}",
                    path.display(),
                    before
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned()),
                    after
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                )
            });
        }
        for name in ["write_git_hook", "write_global_prefix"] {
            let (ok, detail) = r.attack(name);
            p.check(!ok, || format!("{name}: {detail}"));
        }
        p.check(self.global_written.is_empty(), || {
            format!("the script persisted into the global package directory on the host: {:?} (removed again)", self.global_written)
        });
        p.finish(&self.context());
    }

    /// A hidden file cannot be written, truncated, renamed or unlinked, nor uncovered by
    /// unmounting it; the real file stays byte-identical.
    pub fn check_hidden_file_tampering(&self) {
        let r = self.report();
        let mut p = Problems::new();
        for name in [
            "hidden_env_write",
            "hidden_env_truncate",
            "hidden_env_rename",
            "hidden_env_unlink",
        ] {
            let (ok, detail) = r.attack(name);
            p.check(!ok, || format!("{name} succeeded: {detail}"));
        }
        for rel in PROJECT_SECRETS {
            let path = self.world.project.join(rel);
            let want = Some(format!("{}\n", self.world.secret(rel)).into_bytes());
            p.check(fs::read(&path).ok() == want, || {
                format!(
                    "{} is no longer the planted secret on the host",
                    path.display()
                )
            });
        }
        let (ok, detail) = r.syscall("umount2_hidden");
        p.check(!ok, || {
            format!("umount2 uncovered the hidden file: {detail}")
        });
        p.finish(&self.context());
    }

    /// Every escape syscall failed.
    pub fn check_escape_syscalls(&self) {
        let r = self.report();
        let mut p = Problems::new();
        let (ran, detail) = r.attack("syscall_probe_ran");
        p.check(ran, || format!("the syscall probe did not run: {detail}"));
        if ran {
            for name in MUST_FAIL_SYSCALLS {
                let (ok, detail) = r.syscall(name);
                p.check(!ok, || {
                    format!("{name} succeeded inside the sandbox: {detail}")
                });
            }
        }
        let uid = r.0["uid"].as_u64().unwrap_or(0);
        if self.mode == Mode::Full || !is_root() {
            p.check(uid != 0, || {
                "the script runs as uid 0 inside the sandbox".into()
            });
        } else {
            // Without a user namespace a root caller's command stays uid 0 (without
            // capabilities); the degraded event must say so.
            p.check(self.degraded_lists("runs as root"), || {
                "landlock mode as root: the degraded event does not list that the command runs as uid 0".into()
            });
        }
        p.finish(&self.context());
    }

    /// The double-forked daemon died with the sandbox.
    pub fn check_daemon_died(&self) {
        let r = self.report();
        let mut p = Problems::new();
        let (started, detail) = r.attack("daemon_started");
        p.check(started, || {
            format!("the fixture could not even start its daemon: {detail}")
        });
        p.check(!self.daemon_marker_appeared, || {
            "the daemon survived the install: it touched its marker in the project after safe-install exited".into()
        });
        p.check(self.leftover_processes.is_empty(), || {
            format!(
                "processes of the sandbox outlived safe-install: {:?} (killed now)",
                self.leftover_processes
            )
        });
        p.finish(&self.context());
    }

    /// Nothing reached the host's loopback listener or abstract unix socket; /run is absent.
    pub fn check_exfiltration(&self) {
        let r = self.report();
        let mut p = Problems::new();
        for name in ["exfil_tcp_loopback", "exfil_abstract_unix", "list_run"] {
            let (ok, detail) = r.attack(name);
            p.check(!ok, || format!("{name}: {detail}"));
        }
        p.check(self.received.is_empty(), || {
            format!("the host's listeners received: {:?}", self.received)
        });
        p.finish(&self.context());
    }

    /// Whether the log has a `sandbox` `degraded` event whose detail contains `needle`.
    pub fn degraded_lists(&self, needle: &str) -> bool {
        read_log(&self.log).iter().any(|e| {
            e["action"] == "sandbox"
                && e["verdict"] == "degraded"
                && e["reason"] == "sandbox-degraded"
                && e["detail"].as_str().is_some_and(|d| d.contains(needle))
        })
    }

    /// The event log is valid JSON Lines with the documented fields, records the dropped
    /// secret variables by name, and never contains a secret value (nor does stderr).
    pub fn check_event_log(&self) {
        let mut p = Problems::new();
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        p.check(!text.is_empty(), || {
            format!("--log {} is empty or missing", self.log.display())
        });
        let events = read_log(&self.log);
        for problem in check_event_schema(&events) {
            p.push(problem);
        }
        p.check(events.iter().any(|e| e["verdict"] == "blocked"), || {
            "no blocked event although the script attacked".into()
        });
        // Dropped environment variables are not events: a CI job always has tokens in its
        // environment, and `--strict` must still pass a benign install there. `explain` lists
        // the dropped names. File reads and writes and per-package attribution are logged by
        // the observation layer (issue 4); what the sandbox core and egress log is below.
        let expected = [(
            "connect",
            format!("127.0.0.1:{}", self.tcp_port),
            "the connection to the host's loopback listener",
        )];
        for (action, target, what) in expected {
            p.check(has_event(&events, action, "blocked", &target), || {
                format!("no blocked `{action}` event for {what} (target containing {target})")
            });
        }
        if self.kind == Kind::Npm {
            let attributed = events.iter().any(|e| {
                e["verdict"] == "blocked"
                    && e["package"] == "si-evil@1.0.0"
                    && e["script"] == "postinstall"
            });
            p.check(attributed, || {
                "no blocked event is attributed to package si-evil@1.0.0, script postinstall".into()
            });
        }
        for (label, haystack) in [
            ("event log", &text),
            ("stderr", &self.out.stderr),
            ("stdout", &self.out.stdout),
        ] {
            for needle in ["SI-SECRET", "SI-ENV-SECRET", self.world.canary.as_str()] {
                p.check(!haystack.contains(needle), || {
                    format!("the {label} contains a secret value ({needle}...)")
                });
            }
        }
        p.finish(&format!(
            "--- log ---\n{}\n{}",
            tail(&text, 6000),
            self.out.describe()
        ));
    }
}

impl EvilRun {
    /// Every file attack is in the log as a blocked `read` or `write` of the path the script
    /// asked for, attributed to the package and script that made it (npm: also through a
    /// grandchild, a relative path after `cd`, openat with a directory descriptor, and a
    /// symbolic and a hard link the script made).
    pub fn check_file_events(&self) {
        if self.mode == Mode::Landlock {
            // Landlock mode has no listener of its own for file calls; it must say so.
            let mut p = Problems::new();
            p.check(
                self.degraded_lists("file attempts are refused by Landlock but not observed"),
                || {
                    "landlock mode: the degraded event does not list the missing file observation"
                        .into()
                },
            );
            p.finish(&self.context());
            return;
        }
        let events = read_log(&self.log);
        let w = &self.world;
        let home = |rel: &str| w.home.join(rel);
        let project = |rel: &str| w.project.join(rel);
        let mut expected: Vec<(&str, PathBuf, &str, Option<&str>)> = vec![
            ("read", project(".env"), "hidden-file", None),
            ("read", project(".vault.env"), "hidden-file", None),
            (
                "read",
                project("config/.env.production"),
                "hidden-file",
                None,
            ),
            ("read", project("packages/app/.env"), "hidden-file", None),
            ("read", home(".ssh/id_rsa"), "credential-path", None),
            ("read", home(".aws/credentials"), "credential-path", None),
            ("read", home(".npmrc"), "credential-path", None),
            ("read", home(".docker/config.json"), "credential-path", None),
            ("read", home("other-project/.env"), "outside-view", None),
            ("read", w.outside.join("secret.txt"), "outside-view", None),
        ];
        if self.kind == Kind::Npm {
            expected.extend([
                (
                    "read",
                    project("certs/server.pem"),
                    "hidden-file",
                    Some("cat"),
                ),
                (
                    "read",
                    project("certs/server.key"),
                    "hidden-file",
                    Some("cat"),
                ),
                (
                    "read",
                    project("deploy/id_rsa"),
                    "hidden-file",
                    Some("/usr/bin/python3"),
                ),
                (
                    "read",
                    home(".kube/config"),
                    "credential-path",
                    Some("node"),
                ),
                (
                    "read",
                    project("deploy/id_ed25519.pub"),
                    "hidden-file",
                    Some("node"),
                ),
                ("write", project(".env"), "hidden-file", None),
                (
                    "write",
                    project(".git/hooks/pre-commit"),
                    "read-only-path",
                    None,
                ),
            ]);
        }
        let (package, script): (&str, Option<&str>) = match self.kind {
            Kind::Npm => ("si-evil@1.0.0", Some("postinstall")),
            Kind::Pip => ("si-evilpkg", None),
        };
        let mut p = Problems::new();
        for (action, path, reason, argv0) in &expected {
            let target = path.display().to_string();
            let found = events.iter().any(|e| {
                e["verdict"] == "blocked"
                    && e["action"] == *action
                    && e["reason"] == *reason
                    && e["target"] == target.as_str()
                    && e["package"]
                        .as_str()
                        .is_some_and(|p| p.starts_with(package))
                    && match script {
                        Some(s) => e["script"] == s,
                        None => e["script"].is_string(),
                    }
                    && argv0.is_none_or(|a| e["argv"][0] == a)
            });
            p.check(found, || {
                format!(
                    "no blocked {action} event [{reason}] for {target} attributed to {package} ({}){}",
                    script.unwrap_or("a build hook"),
                    argv0.map(|a| format!(" made by {a}")).unwrap_or_default()
                )
            });
        }
        p.finish(&format!(
            "--- log ---\n{}\n{}",
            tail(&fs::read_to_string(&self.log).unwrap_or_default(), 8000),
            self.out.describe()
        ));
    }
}

/// The version of /usr/bin/python3.
pub fn python_version() -> (u32, u32) {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .expect("run /usr/bin/python3");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().filter_map(|s| s.parse().ok());
    (it.next().unwrap_or(3), it.next().unwrap_or(0))
}

static AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_registered_dirs() {
    let dirs = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for d in dirs {
        let _ = fs::remove_dir_all(d);
    }
}

/// Removes `dir` when the test process exits: for worlds kept in a `static`, whose
/// `TempDir` is never dropped.
pub fn remove_at_exit(dir: &Path) {
    let mut dirs = AT_EXIT.lock().unwrap_or_else(|e| e.into_inner());
    if dirs.is_empty() {
        // SAFETY: registers a plain `extern "C" fn()` with no captured state; atexit(3)
        // only stores the pointer.
        unsafe {
            libc::atexit(remove_registered_dirs);
        }
    }
    dirs.push(dir.to_path_buf());
}

/// The boundary tests of one hostile install, one `#[test]` each, sharing a single sandboxed
/// run of the given kind (`attack_tests!(Kind::Npm)`).
#[macro_export]
macro_rules! attack_tests {
    ($kind:expr) => {
        $crate::attack_tests!($kind, $crate::common::attacks::Mode::Full, |_| {});
    };
    ($kind:expr, $mode:expr, $configure:expr) => {
        static RUN: std::sync::OnceLock<Result<$crate::common::attacks::EvilRun, String>> =
            std::sync::OnceLock::new();

        fn evil() -> &'static $crate::common::attacks::EvilRun {
            RUN.get_or_init(|| {
                $crate::common::attacks::EvilRun::capture_in($kind, $mode, $configure)
            })
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}"))
        }

        #[test]
        fn install_succeeds_despite_the_attacks() {
            evil().check_install_succeeded();
        }

        #[test]
        fn file_secrets_are_unreadable() {
            evil().check_file_secrets();
        }

        #[test]
        fn secret_environment_never_reaches_scripts() {
            evil().check_environment();
        }

        #[test]
        fn nothing_persists_on_the_host() {
            evil().check_persistence();
        }

        #[test]
        fn hidden_files_cannot_be_tampered_with() {
            evil().check_hidden_file_tampering();
        }

        #[test]
        fn escape_syscalls_fail() {
            evil().check_escape_syscalls();
        }

        #[test]
        fn double_forked_daemon_dies_with_the_sandbox() {
            evil().check_daemon_died();
        }

        #[test]
        fn nothing_leaves_through_loopback_or_unix_sockets() {
            evil().check_exfiltration();
        }

        #[test]
        fn event_log_records_blocks_without_secret_values() {
            evil().check_event_log();
        }

        #[test]
        fn file_attempts_are_logged_and_attributed() {
            evil().check_file_events();
        }
    };
}
