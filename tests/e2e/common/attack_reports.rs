//! The evil fixtures' side of the attack tests: the configuration they read, the report they
//! write (`attack-report.json`), the attacks and syscalls that must all fail, and the
//! host-side listeners they try to reach.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// Where the evil fixtures write their report and daemon marker: `<root>/reports`, outside
/// the project and the venv (package code may write neither), granted to the run with
/// [`attack_report_flags`]. `npm` is kept for the callers' readability: both use it.
pub fn attack_report_dir(world: &World, npm: bool) -> PathBuf {
    let _ = npm;
    let dir = world.root().join("reports");
    fs::create_dir_all(&dir).expect("mkdir the attack report directory");
    dir
}

/// The report a fixture's script wrote into its own package folder (the one place of the
/// project a script may write): the first file named `name` in a package folder of the
/// project's install tree (scoped and nested ones included).
pub fn package_report(world: &World, name: &str) -> PathBuf {
    walkdir::WalkDir::new(world.project.join("node_modules"))
        .max_depth(4)
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == name)
        .map(|e| e.path().to_path_buf())
        .unwrap_or_else(|| world.project.join("node_modules").join(name))
}

/// `--rw <reports>`: the one place outside its package the evil fixture may write, for its
/// report (the test's own instrument, not something the sandbox grants by default).
pub fn attack_report_flags(world: &World) -> [std::ffi::OsString; 2] {
    [
        "--rw".into(),
        attack_report_dir(world, true).into_os_string(),
    ]
}

/// Writes the attack configuration the evil fixtures read (see attack.js) to `dir` (the
/// project for npm, the sdist for pip).
pub fn write_attack_config(
    world: &World,
    dir: &Path,
    listeners: &Listeners,
    global_dir: Option<&Path>,
) {
    let mut config = serde_json::json!({
        "project": world.project,
        "canary": world.canary,
        "tcp_port": listeners.tcp_port,
        "abstract_socket": listeners.abstract_name,
        "outside_file": world.outside.join("secret.txt"),
        "global_package": global_package_name(world),
        "report_dir": attack_report_dir(world, dir == world.project),
    });
    if let Some(dir) = global_dir {
        config["global_dir"] = Value::String(dir.display().to_string());
    }
    write_file(
        &dir.join(".attack-config.json"),
        &serde_json::to_string_pretty(&config).expect("serialize config"),
    );
}

/// The name under which the evil fixtures try to persist in the global package directory.
pub fn global_package_name(world: &World) -> String {
    format!("si-attack-{}", world.token)
}

/// The JSON report an evil fixture wrote (see tests/fixtures/npm/evil/attack.js).
#[derive(Debug, Clone)]
pub struct AttackReport(pub Value);

impl AttackReport {
    /// Reads `attack-report.json` from [`attack_report_dir`] (npm's, else pip's), failing
    /// with the run's output if absent.
    pub fn read(world: &World, run: &Output) -> AttackReport {
        let npm = attack_report_dir(world, true).join("attack-report.json");
        let path = if npm.exists() {
            npm
        } else {
            attack_report_dir(world, false).join("attack-report.json")
        };
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the attack fixture wrote no report at {} ({e}): its script did not run or could not write into the project.\n{}",
                path.display(),
                run.describe()
            )
        });
        AttackReport(
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display())),
        )
    }

    /// (ok, detail) of an attack; fails if the fixture did not record it.
    pub fn attack(&self, name: &str) -> (bool, String) {
        let a = &self.0["attacks"][name];
        assert!(
            a.is_object(),
            "the attack report has no entry `{name}`: {}",
            serde_json::to_string_pretty(&self.0).unwrap_or_default()
        );
        (
            a["ok"].as_bool().unwrap_or(false),
            a["detail"].as_str().unwrap_or("").to_string(),
        )
    }

    /// (ok, errno text) of a syscall probe entry.
    pub fn syscall(&self, name: &str) -> (bool, String) {
        let a = &self.0["syscalls"][name];
        assert!(
            a.is_object(),
            "the syscall probe has no entry `{name}`: {}",
            serde_json::to_string_pretty(&self.0["syscalls"]).unwrap_or_default()
        );
        (
            a["ok"].as_bool().unwrap_or(false),
            format!(
                "ret {} errno {} {}",
                a["ret"],
                a["errno"],
                a["error"].as_str().unwrap_or("")
            ),
        )
    }

    pub fn env_names(&self) -> Vec<String> {
        self.0["env_names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&self.0).unwrap_or_default()
    }
}

/// The attacks every fixture makes that must all fail in the sandbox (`ok == false`).
/// Home writes are not here: they succeed, into the throwaway home (checked on the host).
pub const MUST_FAIL_ATTACKS: &[&str] = &[
    "read_dotenv",
    "read_vault_env",
    "read_config_env_production",
    "read_packages_app_env",
    "read_home_ssh_id_rsa",
    "read_home_aws_credentials",
    "read_home_npmrc",
    "read_home_docker_config",
    "read_home_other_project_env",
    "read_outside_tmp",
    "env_secrets",
    "env_canary",
    "read_proc_environ_canary",
    "write_git_hook",
    "write_global_prefix",
    "hidden_env_write",
    "hidden_env_truncate",
    "hidden_env_rename",
    "hidden_env_unlink",
    "exfil_tcp_loopback",
    "exfil_abstract_unix",
    "list_run",
];

/// Syscall probe entries that must all fail in the sandbox.
pub const MUST_FAIL_SYSCALLS: &[&str] = &[
    "mount",
    "umount2_hidden",
    "unshare_user",
    "unshare_user_mount",
    "ptrace_parent",
    "process_vm_readv_parent",
    "io_uring_setup",
    "tiocsti",
    "tiocsti_high_bits",
    "tioclinux",
    "raw_socket",
    "packet_socket",
    "add_key",
    "keyctl",
    "userfaultfd",
    "bpf",
];

/// A TCP listener on 127.0.0.1 and an abstract unix socket, both in the host's network
/// namespace, recording whatever connects. Their threads stop when dropped.
pub struct Listeners {
    pub tcp_port: u16,
    pub abstract_name: String,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Listeners {
    pub fn start(world: &World) -> Listeners {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixListener};
        use std::sync::atomic::{AtomicBool, Ordering};

        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        tcp.set_nonblocking(true).expect("nonblocking");
        let tcp_port = tcp.local_addr().expect("local addr").port();
        let abstract_name = format!("si-test-exfil-{}", world.token);
        let addr = SocketAddr::from_abstract_name(abstract_name.as_bytes()).expect("abstract addr");
        let unix = UnixListener::bind_addr(&addr).expect("bind abstract unix socket");
        unix.set_nonblocking(true).expect("nonblocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let received = received.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut got: Vec<(String, Box<dyn Read>)> = Vec::new();
                    if let Ok((s, peer)) = tcp.accept() {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                        got.push((format!("tcp from {peer}"), Box::new(s)));
                    }
                    if let Ok((s, _)) = unix.accept() {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                        got.push(("abstract unix".to_string(), Box::new(s)));
                    }
                    for (label, mut s) in got {
                        let mut buf = Vec::new();
                        let _ = s.read_to_end(&mut buf);
                        received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("{label}: {}", String::from_utf8_lossy(&buf)));
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            });
        }
        Listeners {
            tcp_port,
            abstract_name,
            received,
            stop,
        }
    }

    /// What connected so far.
    pub fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the insider (`tests/fixtures/trust/insider`, loaded into the package manager itself)
/// reported: the real credential nowhere (environment, the view's files, every process's
/// environ and memory, no private key in the view), the package manager's own memory holding
/// the placeholder only, and the placeholder it sent to another allowed host (`allow_other`)
/// refused with 403, logged as `credential-misuse` and never received there (`received`).
pub fn check_insider_report(
    p: &mut Problems,
    report: &Value,
    r: &super::netns::LoggedRun,
    allow_other: &str,
    received: &[String],
) {
    for what in [
        "env_real",
        "files_real",
        "environ_real",
        "mem_real",
        "files_private_key",
    ] {
        p.check(
            report[what].as_array().is_some_and(|a| a.is_empty()),
            || format!("found inside the sandbox ({what}): {}", report[what]),
        );
    }
    p.check(
        report["self_mem_real"] == false && report["self_mem_placeholder"] == true,
        || format!("the package manager's own memory: {report}"),
    );
    p.check(report["misuse"]["status"] == 403, || {
        format!(
            "the placeholder sent elsewhere was not refused: {}",
            report["misuse"]
        )
    });
    p.check(received.is_empty(), || {
        format!("the other host received: {received:?}")
    });
    p.check(
        r.events.iter().any(|e| {
            e["reason"] == "credential-misuse"
                && e["verdict"] == "blocked"
                && e["target"] == allow_other
        }),
        || format!("no blocked credential-misuse event for {allow_other}"),
    );
}
