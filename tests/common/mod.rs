//! The end-to-end test harness: runs the real `safe-install` binary against real npm and
//! pip on fixture projects, each test in its own temporary "world" (a fake home full of
//! planted secrets, a project with a `.env` family and a `.git`, a file outside both).
//!
//! Nothing here touches the real home directory or reaches past 127.0.0.0/8.
//!
//! Overrides (CI copies the test binaries to a world-readable directory and runs them as
//! an unprivileged user, where the compile-time paths are unreadable):
//! - `SAFE_INSTALL_BIN`: the binary under test (default: cargo's `CARGO_BIN_EXE_safe-install`);
//! - `SAFE_INSTALL_FIXTURES`: the fixtures directory (default: `tests/fixtures` of the crate);
//! - `SAFE_INSTALL_TEST_ROOT`: where `scripts/setup.sh` put Verdaccio and pypiserver
//!   (default: `/opt/safe-install-test`).
//!
//! A missing precondition is a loud failure naming the fix, never a skip.

#![allow(dead_code)]

pub mod attacks;
pub mod reports;
pub mod servers;
pub mod toolchains;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The PATH every command of the tests runs with: system directories only, so that
/// `python3` is `/usr/bin/python3` and not a shim under the real home.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prefix of every temporary directory the tests create, so that leak checks can tell
/// them apart from what the binary under test leaves behind.
pub const TEMP_PREFIX: &str = "si-test-";

/// How long a single npm / pip / safe-install run may take before the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary under test.
pub fn bin() -> PathBuf {
    let path = match std::env::var_os("SAFE_INSTALL_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_safe-install")),
    };
    assert!(
        path.is_file(),
        "the safe-install binary {} does not exist: run `cargo build`, or point SAFE_INSTALL_BIN at it",
        path.display()
    );
    path
}

/// The fixtures directory (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    let path = match std::env::var_os("SAFE_INSTALL_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    };
    assert!(
        path.join("npm/evil/package.json").is_file(),
        "the fixtures directory {} is incomplete: point SAFE_INSTALL_FIXTURES at the repository's tests/fixtures",
        path.display()
    );
    path
}

/// True when the tests run as root (they run once as root and once as `si-tester` in CI).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails loudly when a program the tests need is missing.
pub fn require_program(path: &str, fix: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing, which this test needs. Fix: {fix}"
    );
}

pub fn require_npm() {
    require_program(
        "/usr/bin/node",
        "install Node.js 20+ (scripts/setup.sh as root)",
    );
    assert!(
        which("npm").is_some(),
        "npm is not on {SYSTEM_PATH}. Fix: install npm (scripts/setup.sh as root)"
    );
}

pub fn require_python_venv() {
    require_program(
        "/usr/bin/python3",
        "apt-get install python3 python3-venv python3-pip (scripts/setup.sh as root)",
    );
    let out = Command::new("/usr/bin/python3")
        .args(["-c", "import ensurepip, venv, setuptools"])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .output()
        .expect("run /usr/bin/python3");
    assert!(
        out.status.success(),
        "/usr/bin/python3 cannot create virtualenvs with pip and setuptools ({}). Fix: apt-get install python3-venv python3-pip python3-setuptools (scripts/setup.sh as root)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Finds a program on [`SYSTEM_PATH`].
pub fn which(name: &str) -> Option<PathBuf> {
    SYSTEM_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------
// Serialising the leak check against the other tests of the same binary
// ---------------------------------------------------------------------------------------

static SANDBOX_RUNS: RwLock<()> = RwLock::new(());

/// Held by every test that runs the binary under test, so that a test checking for
/// leftovers in /tmp (which holds the write side) sees only its own run's.
pub fn shared_run_guard() -> RwLockReadGuard<'static, ()> {
    SANDBOX_RUNS.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that checks that nothing is left behind in /tmp.
pub fn exclusive_run_guard() -> RwLockWriteGuard<'static, ()> {
    SANDBOX_RUNS.write().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------

/// What a finished command produced.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The exit code, or 128+N when the process died of signal N (as a shell reports it).
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => -1,
        }
    }

    /// Everything, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited with {} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code(),
            self.elapsed.as_secs_f64(),
            tail(&self.stdout, 4000),
            tail(&self.stderr, 6000)
        )
    }

    /// Panics with the whole output unless the command exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "{}", self.describe());
        self
    }
}

pub fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn describe_command(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs a command with no stdin, capturing output, failing the test after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let child = spawn(cmd);
    wait_output(child, describe_command(cmd), timeout)
}

/// Starts a command with no stdin and piped stdout/stderr.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", describe_command(cmd)))
}

/// Waits for a started child (see [`spawn`]), killing it and failing after `timeout`.
pub fn wait_output(mut child: Child, what: String, timeout: Duration) -> Output {
    let start = Instant::now();
    let out = spawn_reader(child.stdout.take().expect("stdout is piped"));
    let err = spawn_reader(child.stderr.take().expect("stderr is piped"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "`{what}` did not finish within {}s; killed it.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                timeout.as_secs(),
                tail(&stdout, 4000),
                tail(&stderr, 6000)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        what,
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// A world: fake home, project, outside file, planted secrets
// ---------------------------------------------------------------------------------------

/// Files of the fake home that hold a planted secret, relative to the home.
pub const HOME_SECRETS: &[&str] = &[
    ".ssh/id_rsa",
    ".aws/credentials",
    ".npmrc",
    ".docker/config.json",
    "other-project/.env",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".kube/config",
    ".config/gh/hosts.yml",
];

/// Files of the project that the default hide globs must hide, relative to the project.
pub const PROJECT_SECRETS: &[&str] = &[
    ".env",
    ".vault.env",
    "config/.env.production",
    "packages/app/.env",
    "certs/server.pem",
    "certs/server.key",
    "deploy/id_rsa",
    "deploy/id_ed25519.pub",
];

/// Home files an attacker would append to for persistence; planted with known content.
pub const HOME_STARTUP_FILES: &[&str] = &[".bashrc", ".profile"];

/// One test's private temporary world.
pub struct World {
    dir: tempfile::TempDir,
    /// A unique token, part of every planted secret and of the directory's name.
    pub token: String,
    /// The fake `$HOME` that safe-install is run with.
    pub home: PathBuf,
    /// The project directory (`--project`).
    pub project: PathBuf,
    /// A directory outside the home and the project holding `secret.txt`.
    pub outside: PathBuf,
    /// Where `npm pack` puts the fixture tarballs: `<project>/vendor`, since the sandbox
    /// shows nothing of the world outside the project and the fake home.
    pub tarballs: PathBuf,
    /// The home used for the harness's own npm/pip runs (packing, lockfiles), so that
    /// they leave no trace in `home`.
    pub setup_home: PathBuf,
    /// The value planted in the caller's environment (`SI_CANARY`) to look for in
    /// other processes' `/proc/<pid>/environ`.
    pub canary: String,
}

impl World {
    /// A new world. `name` goes into the directory's name for debugging.
    pub fn new(name: &str) -> World {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{name}-"))
            .tempdir()
            .expect("create the test's temporary directory");
        World::in_dir(dir)
    }

    /// A new world beneath `base` instead of the temporary directory: where a user's project
    /// would be, away from the sandbox's private `/tmp` and the rules that cover it.
    pub fn new_in(name: &str, base: &Path) -> World {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{name}-"))
            .tempdir_in(base)
            .unwrap_or_else(|e| {
                panic!(
                    "create a world in {} ({e}). Fix: scripts/setup.sh as root creates it",
                    base.display()
                )
            });
        World::in_dir(dir)
    }

    fn in_dir(dir: tempfile::TempDir) -> World {
        // Readable and traversable by the sandbox's mapped user, whoever the caller is.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let root = dir.path().to_path_buf();
        let token = root
            .file_name()
            .and_then(OsStr::to_str)
            .and_then(|n| n.rsplit('-').next())
            .unwrap_or("token")
            .to_string();
        let world = World {
            home: root.join("home"),
            project: root.join("project"),
            outside: root.join("outside"),
            tarballs: root.join("project/vendor"),
            setup_home: root.join("setup-home"),
            canary: format!("si-canary-{token}-{}", std::process::id()),
            token,
            dir,
        };
        for d in [
            &world.home,
            &world.project,
            &world.outside,
            &world.tarballs,
            &world.setup_home,
        ] {
            fs::create_dir_all(d).expect("create world dir");
        }
        world.plant();
        world
    }

    /// The world's root directory (parent of home, project, ...).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The secret planted in a file, by its label (its relative path).
    pub fn secret(&self, label: &str) -> String {
        format!("SI-SECRET[{label}]-{}", self.token)
    }

    fn plant(&self) {
        for rel in HOME_SECRETS {
            let content = match *rel {
                ".npmrc" => format!("//registry.example.com/:_authToken={}\n", self.secret(rel)),
                _ => format!("{}\n", self.secret(rel)),
            };
            write_file(&self.home.join(rel), &content);
        }
        fs::set_permissions(
            self.home.join(".ssh/id_rsa"),
            fs::Permissions::from_mode(0o600),
        )
        .expect("chmod id_rsa");
        for rel in HOME_STARTUP_FILES {
            write_file(
                &self.home.join(rel),
                &format!("# fake {rel} of {}\n", self.token),
            );
        }
        for rel in PROJECT_SECRETS {
            write_file(&self.project.join(rel), &format!("{}\n", self.secret(rel)));
        }
        write_file(
            &self.outside.join("secret.txt"),
            &format!("{}\n", self.secret("outside")),
        );
        // A .git with hooks, as `git init` leaves it (without needing git).
        write_file(&self.project.join(".git/HEAD"), "ref: refs/heads/main\n");
        write_file(
            &self.project.join(".git/config"),
            "[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
        );
        write_file(
            &self.project.join(".git/hooks/pre-commit.sample"),
            "#!/bin/sh\nexit 0\n",
        );
    }

    /// Every file holding a planted secret or a persistence target, with its current
    /// content, to compare before/after a run.
    pub fn snapshot_sensitive_files(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut files = BTreeMap::new();
        let all = HOME_SECRETS
            .iter()
            .chain(HOME_STARTUP_FILES)
            .map(|r| self.home.join(r))
            .chain(PROJECT_SECRETS.iter().map(|r| self.project.join(r)))
            .chain([
                self.outside.join("secret.txt"),
                self.project.join(".git/hooks/pre-commit"),
                self.project.join(".git/HEAD"),
                self.project.join(".git/config"),
            ]);
        for path in all {
            let content = fs::read(&path).ok();
            files.insert(path, content);
        }
        files
    }

    /// The caller's environment for every run: a system PATH, the fake home, and planted
    /// secrets and proxy settings that must never reach the sandbox.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), SYSTEM_PATH.into()),
            ("HOME".into(), self.home.display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
            ("TZ".into(), "UTC".into()),
            ("TERM".into(), "dumb".into()),
            ("npm_config_update_notifier".into(), "false".into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
            ("SI_CANARY".into(), self.canary.clone()),
        ];
        for name in SECRET_ENV {
            env.push((name.to_string(), self.env_secret(name)));
        }
        for (name, value) in PROXY_ENV {
            env.push((name.to_string(), value.to_string()));
        }
        env
    }

    /// The value planted in the caller's environment variable `name`.
    pub fn env_secret(&self, name: &str) -> String {
        format!("SI-ENV-SECRET[{name}]-{}", self.token)
    }

    /// A command with the world's environment (and nothing else), run in the project.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(self.env()).current_dir(&self.project);
        cmd
    }

    /// `safe-install ARGS...` with the world's environment, run in the project.
    pub fn safe_install(&self) -> Command {
        self.command(bin())
    }

    /// A command for the harness's own setup steps (packing, lockfiles): a clean
    /// environment with the setup home.
    pub fn setup_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("HOME", &self.setup_home)
            .env("LANG", "C.UTF-8")
            .env("npm_config_update_notifier", "false")
            .env("npm_config_audit", "false")
            .env("npm_config_fund", "false")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .current_dir(&self.project);
        cmd
    }

    /// `safe-install --project <project> sh -c SCRIPT`: a quick sandboxed shell in the
    /// project (which gets a package.json so it is a valid npm project).
    pub fn sandboxed_sh(&self, script: &str) -> Command {
        self.sandboxed_sh_with(&[] as &[&str], script)
    }

    /// [`World::sandboxed_sh`] with extra safe-install flags before the command.
    pub fn sandboxed_sh_with<S: AsRef<OsStr>>(&self, flags: &[S], script: &str) -> Command {
        if !self.project.join("package.json").exists() {
            write_file(
                &self.project.join("package.json"),
                "{ \"name\": \"si-shell-project\", \"version\": \"1.0.0\", \"private\": true }\n",
            );
        }
        let mut cmd = self.safe_install();
        cmd.args(flags)
            .arg("--project")
            .arg(&self.project)
            .args(["sh", "-c", script]);
        cmd
    }

    /// Path of the JSON Lines log for a run named `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.root().join(format!("{name}.log.jsonl"))
    }
}

/// Caller environment variables whose names look like secrets (all must be dropped).
pub const SECRET_ENV: &[&str] = &[
    "NPM_TOKEN",
    "GITHUB_TOKEN",
    "NODE_AUTH_TOKEN",
    "npm_config__authToken",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DATABASE_URL",
    "STRIPE_API_KEY",
    "DB_PASSWORD",
    "CLIENT_SECRET",
];

/// The caller's proxy settings. Their values must never pass into the sandbox (which may
/// set the same names to its own egress proxy).
pub const PROXY_ENV: &[(&str, &str)] = &[
    ("HTTP_PROXY", CALLER_PROXY),
    ("HTTPS_PROXY", CALLER_PROXY),
    ("http_proxy", CALLER_PROXY),
    ("https_proxy", CALLER_PROXY),
    ("ALL_PROXY", CALLER_PROXY),
    ("NO_PROXY", CALLER_NO_PROXY),
    ("no_proxy", CALLER_NO_PROXY),
];

/// The caller's proxy (a closed loopback port: nothing is ever sent there).
pub const CALLER_PROXY: &str = "http://127.0.0.1:9/";
/// The caller's NO_PROXY value.
pub const CALLER_NO_PROXY: &str = "si-caller-no-proxy.example.com";

/// Problems with an environment seen inside the sandbox: a secret name or value, or a
/// value of the caller's proxy settings. One line each; empty when clean.
pub fn env_leaks(world: &World, env: &[(String, String)]) -> Vec<String> {
    let mut leaks = Vec::new();
    for (name, value) in env {
        if SECRET_ENV.contains(&name.as_str()) || name == "SI_CANARY" {
            leaks.push(format!("{name} was passed into the sandbox"));
        }
        if value.contains("SI-ENV-SECRET") || value.contains(&world.canary) {
            leaks.push(format!(
                "{name} holds a secret value of the caller: {value}"
            ));
        }
        if value.contains(CALLER_PROXY) || value.contains(CALLER_NO_PROXY) {
            leaks.push(format!("{name}={value} is the caller's proxy setting"));
        }
    }
    leaks
}

/// Writes a file, creating parent directories.
pub fn write_file(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Copies a directory tree (files, directories, symlinks; modes kept).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", from.display()));
        let rel = entry
            .path()
            .strip_prefix(from)
            .expect("walkdir stays under its root");
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("mkdir {}: {e}", dest.display()));
        } else if ft.is_symlink() {
            let target = fs::read_link(entry.path()).expect("read symlink");
            std::os::unix::fs::symlink(target, &dest).expect("copy symlink");
        } else {
            fs::copy(entry.path(), &dest).unwrap_or_else(|e| {
                panic!("copy {} -> {}: {e}", entry.path().display(), dest.display())
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// npm projects
// ---------------------------------------------------------------------------------------

/// Packs the npm fixture `tests/fixtures/npm/<name>` with `npm pack` into the world's
/// tarball directory and returns the tarball's path. The evil fixture gets the syscall
/// probe copied in first.
pub fn pack_npm_fixture(world: &World, name: &str) -> PathBuf {
    require_npm();
    let staging = world.root().join("staging").join(name);
    copy_dir(&fixtures().join("npm").join(name), &staging);
    if name == "evil" {
        fs::copy(
            fixtures().join("probes/syscalls.py"),
            staging.join("syscalls.py"),
        )
        .expect("copy syscalls.py into the evil package");
    }
    pack_npm_dir(world, &staging)
}

/// A copy of the fixture directory `tests/fixtures/<fixture>` at `staging/<as_name>`, its
/// package.json changed by `edit` (a name or version), with `config` written beside it as
/// `config_file` (what its scripts read). Returns the staged directory.
pub fn stage_npm_fixture(
    world: &World,
    fixture: &str,
    as_name: &str,
    edit: impl FnOnce(&mut Value),
    config_file: &str,
    config: &Value,
) -> PathBuf {
    let staging = world.root().join("staging").join(as_name);
    copy_dir(&fixtures().join(fixture), &staging);
    let manifest = staging.join("package.json");
    let mut pkg: Value = serde_json::from_str(
        &fs::read_to_string(&manifest).expect("read the fixture's package.json"),
    )
    .expect("the fixture's package.json is JSON");
    edit(&mut pkg);
    write_file(
        &manifest,
        &serde_json::to_string_pretty(&pkg).expect("serialise package.json"),
    );
    write_file(
        &staging.join(config_file),
        &serde_json::to_string_pretty(config).expect("serialise the fixture's configuration"),
    );
    staging
}

/// Points the project's npm at the local registry `server` (project `.npmrc`).
pub fn use_npm_registry(world: &World, server: &servers::Server) {
    write_file(
        &world.project.join(".npmrc"),
        &format!("registry={}\n", server.url),
    );
}

/// `npm pack` of a staged package directory into the world's tarball directory; returns
/// the tarball's path.
pub fn pack_npm_dir(world: &World, staging: &Path) -> PathBuf {
    let out = run(
        world
            .setup_command("npm")
            .args(["pack", "--ignore-scripts", "--json", "--pack-destination"])
            .arg(&world.tarballs)
            .current_dir(staging),
        RUN_TIMEOUT,
    );
    out.assert_success();
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("npm pack --json printed no JSON ({e}): {}", out.describe()));
    let file = json[0]["filename"]
        .as_str()
        .unwrap_or_else(|| panic!("npm pack --json has no filename: {}", out.stdout));
    // Scoped packages pack as scope-name-version.tgz.
    let path = world
        .tarballs
        .join(file.trim_start_matches('@').replace('/', "-"));
    assert!(path.is_file(), "npm pack did not write {}", path.display());
    path
}

/// Publishes a packed tarball to the local registry `server` with `token` (the token lives
/// in the setup home's .npmrc only while publishing). A failure shows the server's log as it
/// is after the failed publish.
pub fn publish_npm(world: &World, tarball: &Path, server: &servers::Server, token: &str) {
    let port = server.port;
    write_file(
        &world.setup_home.join(".npmrc"),
        &format!("//127.0.0.1:{port}/:_authToken={token}\n"),
    );
    let out = run(
        world
            .setup_command("npm")
            .arg("publish")
            .arg(tarball)
            .args(["--registry", &format!("http://127.0.0.1:{port}/")]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n--- registry ---\n{}",
        out.describe(),
        server.log()
    );
    fs::remove_file(world.setup_home.join(".npmrc")).expect("remove the publish token");
}

/// Writes the project's package.json with `file:` dependencies on the given tarballs
/// (paths relative to the project, so two worlds compare equal) and a package-lock.json
/// made by a bare `npm install --package-lock-only --ignore-scripts`.
pub fn write_npm_project(world: &World, deps: &[&Path]) {
    let mut dependencies = serde_json::Map::new();
    for tarball in deps {
        let file = tarball
            .file_name()
            .and_then(OsStr::to_str)
            .expect("tarball name");
        // si-evil-1.0.0.tgz -> si-evil
        let name = file
            .trim_end_matches(".tgz")
            .rsplit_once('-')
            .map(|(n, _)| n)
            .expect("tarball name has a version");
        dependencies.insert(
            name.to_string(),
            Value::String(format!("file:vendor/{file}")),
        );
    }
    let manifest = serde_json::json!({
        "name": "si-fixture-project",
        "version": "1.0.0",
        "private": true,
        "description": "safe-install test project",
        "dependencies": dependencies,
    });
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&manifest).expect("serialize package.json"),
    );
    write_npm_lockfile(world);
}

/// The project's package-lock.json, made by a bare `npm install --package-lock-only
/// --ignore-scripts` (no script runs outside the sandbox).
pub fn write_npm_lockfile(world: &World) {
    run(
        world.setup_command("npm").args([
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ]),
        RUN_TIMEOUT,
    )
    .assert_success();
    assert!(world.project.join("package-lock.json").is_file());
}

/// The arguments of an offline `npm ci`.
pub const NPM_CI: &[&str] = &["npm", "ci", "--no-audit", "--no-fund"];

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

// ---------------------------------------------------------------------------------------
// pip projects
// ---------------------------------------------------------------------------------------

/// Creates a virtualenv at `<root>/venv` with `/usr/bin/python3 -m venv` and returns it.
pub fn make_venv(world: &World) -> PathBuf {
    make_venv_at(world, &world.root().join("venv"))
}

/// Creates a virtualenv at `venv` with `/usr/bin/python3 -m venv` (bare, as the harness's own
/// setup) and returns it.
pub fn make_venv_at(world: &World, venv: &Path) -> PathBuf {
    require_python_venv();
    let venv = venv.to_path_buf();
    run(
        world
            .setup_command("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(&venv),
        RUN_TIMEOUT,
    )
    .assert_success();
    assert!(venv.join("bin/pip").is_file(), "the venv has no bin/pip");
    venv
}

/// Copies the pip fixture `tests/fixtures/pip/<name>` into `<project>/vendor/<name>`
/// (inside the project, since only the project is visible in the sandbox) and writes a
/// requirements.txt naming it. The evil fixture gets the syscall probe copied in.
pub fn stage_pip_fixture(world: &World, name: &str) -> PathBuf {
    let dest = world.project.join("vendor").join(name);
    copy_dir(&fixtures().join("pip").join(name), &dest);
    if name == "evilpkg" {
        fs::copy(
            fixtures().join("probes/syscalls.py"),
            dest.join("syscalls.py"),
        )
        .expect("copy syscalls.py into the evil sdist");
    }
    write_file(
        &world.project.join("requirements.txt"),
        &format!("./vendor/{name}\n"),
    );
    dest
}

/// `<venv>/bin/pip install --no-index --no-build-isolation ./vendor/<name>`.
pub fn pip_install_args(venv: &Path, name: &str) -> Vec<String> {
    vec![
        venv.join("bin/pip").display().to_string(),
        "install".into(),
        "--no-index".into(),
        "--no-build-isolation".into(),
        "--no-cache-dir".into(),
        format!("./vendor/{name}"),
    ]
}

/// The venv's site-packages directory.
pub fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let entry = fs::read_dir(&lib)
        .expect("read venv lib")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("venv lib has a pythonX.Y dir");
    entry.path().join("site-packages")
}

/// Builds the wheel `name`-`version` into `dir` (created if missing) with
/// `tests/fixtures/pip/make_wheel.py`, bare, for a local index to serve.
pub fn make_wheel(world: &World, dir: &Path, name: &str, version: &str) {
    make_wheel_with_pth(world, dir, name, version, None);
}

/// [`make_wheel`], and with `pth` a `<name>.pth` of that one line (code every later Python
/// start in the environment runs). Returns the wheel's path.
pub fn make_wheel_with_pth(
    world: &World,
    dir: &Path,
    name: &str,
    version: &str,
    pth: Option<&str>,
) -> PathBuf {
    fs::create_dir_all(dir).expect("mkdir for the wheel");
    let out = run(
        world
            .setup_command("/usr/bin/python3")
            .arg(fixtures().join("pip/make_wheel.py"))
            .arg(dir)
            .args([name, version])
            .args(pth),
        RUN_TIMEOUT,
    );
    out.assert_success();
    PathBuf::from(out.stdout.trim())
}

// ---------------------------------------------------------------------------------------
// Installed trees
// ---------------------------------------------------------------------------------------

/// One entry of an installed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { content: Vec<u8>, executable: bool },
    Symlink(PathBuf),
}

/// A tree: relative path -> entry, with each world's root path replaced by `<ROOT>` in
/// file contents so that two worlds compare equal.
pub type Tree = BTreeMap<PathBuf, Entry>;

/// Reads the tree under `dir`, skipping paths for which `ignore` returns true.
pub fn snapshot_tree(dir: &Path, root: &Path, ignore: &dyn Fn(&Path) -> bool) -> Tree {
    let root_str = root.display().to_string();
    let mut tree = Tree::new();
    let walker = walkdir::WalkDir::new(dir).sort_by_file_name().into_iter();
    for entry in walker.filter_entry(|e| {
        e.path()
            .strip_prefix(dir)
            .map(|rel| rel.as_os_str().is_empty() || !ignore(rel))
            .unwrap_or(true)
    }) {
        let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", dir.display()));
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("under root")
            .to_path_buf();
        if rel.as_os_str().is_empty() {
            continue;
        }
        let ft = entry.file_type();
        let value = if ft.is_symlink() {
            Entry::Symlink(fs::read_link(entry.path()).expect("read link"))
        } else if ft.is_dir() {
            Entry::Dir
        } else {
            let bytes = fs::read(entry.path()).expect("read installed file");
            let content = match String::from_utf8(bytes) {
                Ok(text) => text.replace(&root_str, "<ROOT>").into_bytes(),
                Err(e) => e.into_bytes(),
            };
            let mode = entry.metadata().expect("metadata").mode();
            Entry::File {
                content,
                executable: mode & 0o111 != 0,
            }
        };
        tree.insert(rel, value);
    }
    tree
}

/// Every difference between two trees, one line each (empty when equal).
pub fn diff_trees(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut diffs = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => diffs.push(format!("missing in sandboxed install: {}", path.display())),
            Some(got) if got != want => diffs.push(format!(
                "differs: {} (bare: {}, sandboxed: {})",
                path.display(),
                summarize(want),
                summarize(got)
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            diffs.push(format!("only in sandboxed install: {}", path.display()));
        }
    }
    diffs
}

fn summarize(e: &Entry) -> String {
    match e {
        Entry::Dir => "directory".into(),
        Entry::Symlink(t) => format!("symlink to {}", t.display()),
        Entry::File {
            content,
            executable,
        } => format!(
            "{} bytes{}: {:?}",
            content.len(),
            if *executable { ", executable" } else { "" },
            String::from_utf8_lossy(&content[..content.len().min(120)])
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Attack reports and event logs
// ---------------------------------------------------------------------------------------

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

/// Reads a `--log` file: one JSON object per line. Fails on a line that is not JSON.
pub fn read_log(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the event log {} was not written: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("{} line {}: not JSON ({e}): {l}", path.display(), i + 1)
            })
        })
        .collect()
}

/// The fields every event must have (design.md, "Event log").
pub const EVENT_FIELDS: &[&str] = &[
    "ts", "action", "verdict", "target", "pid", "package", "script", "argv", "reason",
];

/// Checks the schema of every event; returns one line per problem.
pub fn check_event_schema(events: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for f in EVENT_FIELDS {
            if e.get(f).is_none() {
                problems.push(format!("event {} lacks `{f}`: {e}", i + 1));
            }
        }
        let action = e["action"].as_str().unwrap_or("");
        if ![
            "read", "write", "exec", "connect", "dns", "proxy", "env", "sandbox",
        ]
        .contains(&action)
        {
            problems.push(format!("event {} has action {:?}", i + 1, e["action"]));
        }
        let verdict = e["verdict"].as_str().unwrap_or("");
        if !["blocked", "allowed", "degraded", "found"].contains(&verdict) {
            problems.push(format!("event {} has verdict {:?}", i + 1, e["verdict"]));
        }
    }
    problems
}

/// True if some event has these action and verdict and a target containing `needle`.
pub fn has_event(events: &[Value], action: &str, verdict: &str, needle: &str) -> bool {
    events.iter().any(|e| {
        e["action"] == action
            && e["verdict"] == verdict
            && e["target"].as_str().is_some_and(|t| t.contains(needle))
    })
}

// ---------------------------------------------------------------------------------------
// Host-side listeners an exfiltrating script would reach without a network namespace
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Processes, /tmp and mounts on the host
// ---------------------------------------------------------------------------------------

/// Processes (other than this one) whose command line contains `needle`.
pub fn processes_with_cmdline(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// Kills (SIGKILL) the processes found by [`processes_with_cmdline`]; a cleanup step
/// after a failed assertion, so that a broken sandbox does not leave strays behind.
pub fn kill_processes_with_cmdline(needle: &str) {
    for (pid, _) in processes_with_cmdline(needle) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Entries of the temporary directory owned by the current user that are not the
/// tests' own (`si-test-*`): what the binary under test may leave behind.
pub fn foreign_tmp_entries() -> BTreeMap<String, u64> {
    let uid = nix::unistd::geteuid().as_raw();
    let mut entries = BTreeMap::new();
    for dir in tmp_dirs() {
        let Ok(list) = fs::read_dir(&dir) else {
            continue;
        };
        for e in list.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if let Ok(meta) = fs::symlink_metadata(e.path()) {
                if meta.uid() == uid {
                    entries.insert(e.path().display().to_string(), meta.ino());
                }
            }
        }
    }
    entries
}

fn tmp_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")];
    let t = std::env::temp_dir();
    if !dirs.contains(&t) {
        dirs.push(t);
    }
    if let Ok(run_user) = fs::read_dir(format!("/run/user/{}", nix::unistd::geteuid())) {
        let _ = run_user;
        dirs.push(PathBuf::from(format!(
            "/run/user/{}",
            nix::unistd::geteuid()
        )));
    }
    dirs
}

/// The mount points of this process's mount namespace.
pub fn host_mounts() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut mounts: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .collect();
    mounts.sort();
    mounts
}

/// Sends `signal` to a process.
pub fn send_signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .unwrap_or_else(|e| panic!("kill({pid}, {signal}): {e}"));
}

/// Collects problems and fails once with all of them, so that one run reports every
/// escape at once.
#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Problems {
        Problems(Vec::new())
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    pub fn push(&mut self, what: String) {
        self.0.push(what);
    }

    /// Fails the test listing every problem, followed by `context`.
    pub fn finish(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n  - {}\n\n{context}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}

/// Whether a path exists without following a final symlink.
pub fn exists_nofollow(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Appends to a file (for tests that need an extra line in a fixture).
pub fn append_file(path: &Path, content: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(content.as_bytes()).expect("append");
}
pub mod netns;
