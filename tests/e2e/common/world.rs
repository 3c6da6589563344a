//! One test's private world: a fake home full of planted credentials, a project with a
//! `.env` family and a `.git`, a file outside both, and the caller's environment with planted
//! secrets and proxy settings; plus the file helpers that build worlds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

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
    /// The shared side of the leak checks' lock ([`shared_run_guard`]) while the world's
    /// test may change the host: from its creation until it is dropped or
    /// [`World::release_run_guard`].
    run_guard: Option<RunGuard<'static>>,
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
        let run_guard = Some(shared_run_guard());
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
            run_guard,
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

    /// Lets the leak checks run while this world lives on: for a world kept in a `static`
    /// once its run is over (it would otherwise block them until the process exits).
    pub fn release_run_guard(&mut self) {
        self.run_guard = None;
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

    /// `git ARGS...` in `dir` as a setup step (the setup home, the system PATH, a fixed
    /// author), which must succeed.
    pub fn setup_git(&self, dir: &Path, args: &[&str]) {
        run(
            self.setup_command("git")
                .args([
                    "-c",
                    "user.name=si-test",
                    "-c",
                    "user.email=si-test@example.com",
                ])
                .args(args)
                .current_dir(dir),
            RUN_TIMEOUT,
        )
        .assert_success();
    }

    /// The files of `staging` committed on `main` and cloned as the bare repository `bare`.
    pub fn setup_bare_repository(&self, staging: &Path, bare: &Path) {
        self.setup_git(staging, &["init", "-q", "-b", "main", "."]);
        self.setup_git(staging, &["add", "-A"]);
        self.setup_git(staging, &["commit", "-q", "-m", "fixture"]);
        self.setup_git(
            self.root(),
            &[
                "clone",
                "-q",
                "--bare",
                &staging.display().to_string(),
                &bare.display().to_string(),
            ],
        );
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

/// The files a project has that run later, outside any sandbox (a workflow, `.vscode`,
/// `.claude`, `.envrc`), and a source file: what a planter or a wiper goes for.
pub fn plant_project_files(world: &World) {
    for (rel, text) in [
        (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
        (
            ".vscode/tasks.json",
            "{ \"version\": \"2.0.0\", \"tasks\": [] }\n",
        ),
        (".claude/settings.json", "{}\n"),
        (".envrc", "export SI_ENVRC=1\n"),
        ("src/index.js", "module.exports = 1;\n"),
    ] {
        write_file(&world.project.join(rel), text);
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

/// Whether a path exists without following a final symlink.
pub fn exists_nofollow(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}
