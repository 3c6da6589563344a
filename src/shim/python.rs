//! The python shim: trust level 2 for pip's build backends. pip has no script shell; it starts
//! every build step as a subprocess of `sys.executable`. Inside the sandbox the interpreter
//! file pip runs as is this binary (mounted over it; the real interpreter is bound at a
//! private path), recognised by the file it was started as (`/proc/self/exe`). Per process:
//!
//! - **level 1**, the real interpreter unchanged: the command itself (its parent is the
//!   sandbox's init), and pip's own runner that installs build dependencies
//!   (`python …/pip/__pip-runner__.py install …`), which needs the index and its
//!   credentials. pip hands the runner its index URLs as arguments, and a command line is
//!   readable by every process of the sandbox; so URLs carrying credentials move from the
//!   runner's arguments into its environment (pip reads `PIP_INDEX_URL`,
//!   `PIP_EXTRA_INDEX_URL`, `PIP_FIND_LINKS` the same way), which a nested Landlock domain
//!   cannot read;
//! - **level 2**, every other python pip starts (`_in_process.py` hooks, `setup.py`): the
//!   credentials leave the environment (`--secret-env`, `[credentials]`, pip's credential
//!   variables and any value that is a URL with userinfo) and a nested Landlock layer is
//!   added (no pip private configuration, writes only to temp, a build directory inside the
//!   project and `[fs] rw`; pip's legacy `setup.py install` step installs through a stage,
//!   see `legacy_stage`). The nested domain also cannot ptrace pip
//!   or read its `/proc/<pid>/environ` and `mem`.
//!
//! `argv[0]` is kept: Python derives `sys.executable` and the venv (`pyvenv.cfg` next to it)
//! from it, not from the file it was loaded from. A level-2 process registers its own seccomp
//! listener with the supervisor before its Landlock layer, as the script shell does, so its
//! file and network attempts are observed and attributed while the package manager's bulk
//! file work (pip unpacking wheels) is not observed at all: init installs no listener (one
//! listener per filter chain). A level-1 decision never grants anything: a process inside a
//! level-2 domain stays there whatever it execs.
//!
//! It fails closed: without its configuration or its Landlock layer, nothing runs.

use super::legacy_stage;
use crate::plan::trust::{
    carries_userinfo, uv_build_dirs, PythonPlan, LEVEL2_MARKER, PYTHON_CONFIG,
};
use crate::pm::PythonFrontend;
use crate::sandbox::landlock;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PythonShimError {
    #[error("cannot read its configuration {PYTHON_CONFIG}: {0}")]
    Config(String),
    #[error("{0} is not an interpreter it stands in for")]
    Unknown(PathBuf),
    #[error("cannot restrict the build backend (Landlock): {0}")]
    Landlock(String),
    #[error("cannot run {python}: {source}")]
    Exec {
        python: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("an argument or variable contains a NUL byte")]
    Nul,
    #[error("pip's legacy install step: {0}")]
    Stage(#[from] super::legacy_stage::StageError),
}

/// Whether this process was started as an interpreter the sandbox hooked: the file it runs
/// from is named as interpreters are (`python3.12`, `pypy3`, `python3.13t`: the names the
/// sandbox stands in for, `pm::pip::is_interpreter_name`; safe-install itself never is).
pub fn invoked_as_python(exe: Option<&Path>) -> bool {
    exe.and_then(Path::file_name)
        .is_some_and(|n| crate::pm::pip::is_interpreter_name(n.as_bytes()))
}

/// Run as the interpreter; returns only on failure (the exit status).
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    match run(&args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("safe-install (python shim): {e}; python did not run.");
            126
        }
    }
}

/// Which level a python process starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The package manager: the command itself, or pip's build-dependency runner.
    PackageManager,
    /// A build backend (or anything else pip starts).
    Script,
}

/// Decide from the parent's pid (inside the sandbox) and the arguments.
pub fn level(parent: i32, args: &[OsString]) -> Level {
    if parent == 1 || is_pip_runner(args) {
        Level::PackageManager
    } else {
        Level::Script
    }
}

/// Under uv, which level a python process starts at: level 1 only for uv's own uses of the
/// interpreter, started by the trusted uv executable (`uv`; unknown: nothing is level 1)
/// with an interpreter outside uv's cache (a build venv's site-packages hold build
/// dependencies, whose `.pth` files would run): its interpreter query
/// (`python -I -B -c "…from python.get_interpreter_info import main…"`) and its bytecode
/// compiler (`python <cache>/.tmpXXXX/pip_compileall.py`). Everything else, every PEP 517
/// hook above all, is a build step at level 2.
pub fn uv_level(
    parent_exe: Option<&Path>,
    uv: Option<&Path>,
    cache: &Path,
    args: &[OsString],
) -> Level {
    let from_uv = uv.is_some() && parent_exe == uv;
    let outside_cache = args
        .first()
        .is_some_and(|a| !Path::new(a).starts_with(cache));
    let query = args.len() == 5
        && args[1] == "-I"
        && args[2] == "-B"
        && args[3] == "-c"
        && args[4]
            .to_str()
            .is_some_and(|s| s.contains("from python.get_interpreter_info import main"));
    let compile = args.len() == 2 && {
        let script = Path::new(&args[1]);
        let tmp = script.parent();
        script.file_name() == Some(OsStr::new("pip_compileall.py"))
            && tmp.and_then(Path::parent) == Some(cache)
            && tmp
                .and_then(Path::file_name)
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.starts_with(".tmp"))
    };
    if from_uv && outside_cache && (query || compile) {
        Level::PackageManager
    } else {
        Level::Script
    }
}

/// `python <site-packages>/pip/__pip-runner__.py …` (pip 22.3+), or the pip directory itself
/// (older pips run `python <site-packages>/pip install …`).
fn is_pip_runner(args: &[OsString]) -> bool {
    let Some(script) = args.get(1).map(Path::new) else {
        return false;
    };
    let name = script.file_name();
    let parent = script.parent().and_then(Path::file_name);
    (name == Some(OsStr::new("__pip-runner__.py")) && parent == Some(OsStr::new("pip")))
        || (name == Some(OsStr::new("pip")) && script.join("__main__.py").is_file())
}

fn run(args: &[OsString]) -> Result<std::convert::Infallible, PythonShimError> {
    let text = std::fs::read_to_string(PYTHON_CONFIG)
        .map_err(|e| PythonShimError::Config(e.to_string()))?;
    let plan: PythonPlan =
        serde_json::from_str(&text).map_err(|e| PythonShimError::Config(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| PythonShimError::Config(e.to_string()))?;
    let real = plan
        .real_for(&exe)
        .ok_or_else(|| PythonShimError::Unknown(exe.clone()))?
        .to_path_buf();
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let parent = nix::unistd::getppid().as_raw();
    let decided = match &plan.frontend {
        None => level(parent, args),
        Some(PythonFrontend::Uv { executable, cache }) => {
            // Read before anything of this process runs: uv (or whoever the parent is) chose
            // the arguments; the parent cannot be replaced while this process is its child.
            let parent_exe = std::fs::read_link(format!("/proc/{parent}/exe")).ok();
            uv_level(parent_exe.as_deref(), executable.as_deref(), cache, args)
        }
    };
    let (argv, env) = match decided {
        Level::PackageManager => runner_credentials_to_env(args, vars),
        Level::Script => {
            let already = vars
                .iter()
                .any(|(k, v)| k == LEVEL2_MARKER && v == OsStr::new("2"));
            if !already
                && plan.frontend.is_none()
                && is_legacy_install(args)
                && !legacy_stage::chooses_its_own_root(args)
            {
                // The step runs as a child of this process, at level 2 with a stage for its
                // root; this process installs what it staged.
                return match legacy_stage::run(&exe, args, &plan.legacy_install_dirs) {
                    Ok(code) => std::process::exit(code),
                    Err(e) => Err(PythonShimError::Stage(e)),
                };
            }
            let build_env = vars
                .iter()
                .find(|(k, _)| k == "VIRTUAL_ENV")
                .map(|(_, v)| PathBuf::from(v));
            let mut env = level2_env(&plan, vars);
            if !already {
                // Unknown working directory: no build directory to write (fail closed).
                let cwd = std::env::current_dir().ok();
                let mut rules = plan.level2.landlock(cwd.as_deref());
                if let Some(PythonFrontend::Uv { cache, .. }) = &plan.frontend {
                    rules.write.extend(uv_build_dirs(
                        cache,
                        cwd.as_deref(),
                        build_env.as_deref(),
                        args,
                    ));
                }
                // Connected before the Landlock layer: the nested domain cannot reach the
                // control socket (a process nested in a build backend is observed by its
                // listener); and before the ruleset is built, so that the supervisor reads
                // who this is meanwhile. The ruleset before the listener, whose every open
                // would wait for the supervisor.
                let control = super::connect_control("python shim");
                let layer = landlock::prepare(&rules)
                    .map_err(|e| PythonShimError::Landlock(e.to_string()))?;
                super::register_listener(control, "python shim");
                layer
                    .restrict_self()
                    .map_err(|e| PythonShimError::Landlock(e.to_string()))?;
                env.push((LEVEL2_MARKER.into(), "2".into()));
            }
            (args.to_vec(), env)
        }
    };
    exec(&real, &argv, &env)
}

/// pip's legacy install step (pip before 23.1, when the `wheel` package is missing):
/// `python -c <setuptools shim> install --record FILE --single-version-externally-managed …`.
/// It installs by running the sdist's code; it is staged (`legacy_stage`). The arguments
/// are pip's (level 1 started this process; no package code has run in it yet).
pub fn is_legacy_install(args: &[OsString]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    args.get(1).is_some_and(|a| a == "-u" || a == "-c")
        && has("install")
        && has("--record")
        && has("--single-version-externally-managed")
}

/// The environment of a build backend: no credentials, and the scripts' proxy port for the
/// package manager's.
pub fn level2_env(plan: &PythonPlan, vars: Vec<(OsString, OsString)>) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(k, v)| {
            let Some(name) = k.to_str() else {
                return false;
            };
            name != LEVEL2_MARKER
                && !plan.level2.drops(name)
                && !v.to_str().is_some_and(carries_userinfo)
                && v.to_str().is_some()
        })
        .map(|(k, v)| {
            let v = crate::plan::trust::level2_value(&v);
            (k, v)
        })
        .collect()
}

/// pip's runner gets `-i URL`, `--extra-index-url URL`, `--find-links URL` from pip. Every
/// remote URL moves into the environment (a token may be a user name, a password or a path
/// segment of an entitlement URL, which no parser can tell from a directory): pip's store option (`-i`) from the
/// environment is what the command line would have said, and its append options add the
/// command line's values to the environment's.
pub fn runner_credentials_to_env(
    args: &[OsString],
    mut vars: Vec<(OsString, OsString)>,
) -> (Vec<OsString>, Vec<(OsString, OsString)>) {
    if !is_pip_runner(args) {
        return (args.to_vec(), vars);
    }
    let options: [(&[&str], &str); 3] = [
        (&["-i", "--index-url"], "PIP_INDEX_URL"),
        (&["--extra-index-url"], "PIP_EXTRA_INDEX_URL"),
        (&["-f", "--find-links"], "PIP_FIND_LINKS"),
    ];
    let mut moved: Vec<(&str, Vec<String>)> = Vec::new();
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.extend(args[i..].iter().cloned());
            break;
        }
        let value = args.get(i + 1).and_then(|v| v.to_str());
        let option = options
            .iter()
            .find(|(names, _)| names.iter().any(|n| a == *n));
        match (option, value) {
            (Some((_, var)), Some(v)) if is_remote_url(v) => {
                match moved.iter_mut().find(|(n, _)| n == var) {
                    Some((_, list)) => list.push(v.to_string()),
                    None => moved.push((var, vec![v.to_string()])),
                }
                i += 2;
            }
            _ => {
                out.push(a.clone());
                i += 1;
            }
        }
    }
    for (var, values) in moved {
        vars.retain(|(k, _)| k != var);
        vars.push((var.into(), values.join(" ").into()));
    }
    (out, vars)
}

/// An `http(s)` URL (or any URL with a host), as opposed to a local `--find-links` path.
fn is_remote_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| u.has_host())
}

fn exec(
    real: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<std::convert::Infallible, PythonShimError> {
    let path = CString::new(real.as_os_str().as_bytes()).map_err(|_| PythonShimError::Nul)?;
    let argv = args
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| PythonShimError::Nul))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|_| PythonShimError::Nul)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    Err(PythonShimError::Exec {
        python: real.display().to_string(),
        source: err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ScriptPlan;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// The shim answers to every name the plan may mount it over (PyPy's, a free-threaded
    /// build's), and never to safe-install's own.
    #[test]
    fn it_stands_in_under_every_interpreter_name_the_plan_hooks() {
        for exe in [
            "/usr/bin/python3.11",
            "/usr/bin/python3.13t",
            "/home/u/.local/share/uv/python/pypy-3.10.14-linux-x86_64-gnu/bin/pypy3.10",
            "/opt/graalpy/bin/graalpy",
        ] {
            assert!(invoked_as_python(Some(Path::new(exe))), "{exe}");
        }
        for exe in ["/usr/local/bin/safe-install", "/usr/bin/python3-config"] {
            assert!(!invoked_as_python(Some(Path::new(exe))), "{exe}");
        }
        assert!(!invoked_as_python(None));
    }

    #[test]
    fn the_command_and_the_runner_are_level_1_everything_else_level_2() {
        let runner = os(&[
            "/v/bin/python",
            "/v/lib/python3.11/site-packages/pip/__pip-runner__.py",
            "install",
        ]);
        let hook = os(&[
            "/v/bin/python",
            "/v/.../_in_process.py",
            "build_wheel",
            "/tmp/x",
        ]);
        let setup = os(&["/v/bin/python", "-c", "exec(setup.py)", "egg_info"]);
        assert_eq!(level(1, &hook), Level::PackageManager);
        assert_eq!(level(7, &runner), Level::PackageManager);
        assert_eq!(level(7, &hook), Level::Script);
        assert_eq!(level(7, &setup), Level::Script);
        let fake = os(&["/v/bin/python", "/tmp/evil/__pip-runner__.py"]);
        assert_eq!(level(7, &fake), Level::Script);
    }

    #[test]
    fn under_uv_only_uvs_own_queries_are_level_1() {
        let uv = Path::new("/opt/uv/bin/uv");
        let cache = Path::new("/h/.cache/uv");
        let query = os(&[
            "/p/.venv/bin/python",
            "-I",
            "-B",
            "-c",
            "import sys; sys.path = [__import__(\"os\").fsdecode(b\"/h/.cache/uv/.tmpQ\")] + sys.path; from python.get_interpreter_info import main; main()",
        ]);
        let compile = os(&[
            "/p/.venv/bin/python",
            "/h/.cache/uv/.tmpX/pip_compileall.py",
        ]);
        let hook = os(&[
            "/h/.cache/uv/builds-v0/.tmpA/bin/python",
            "-c",
            "import backend as backend\nbackend.build_wheel(\"/h/.cache/uv/builds-v0/.tmpB\")",
        ]);
        assert_eq!(
            uv_level(Some(uv), Some(uv), cache, &query),
            Level::PackageManager
        );
        assert_eq!(
            uv_level(Some(uv), Some(uv), cache, &compile),
            Level::PackageManager
        );
        assert_eq!(uv_level(Some(uv), Some(uv), cache, &hook), Level::Script);
        // Not started by the trusted uv, or uv unknown: level 2 whatever the arguments.
        let other = Path::new("/h/.cache/uv/builds-v0/.tmpA/bin/python");
        assert_eq!(
            uv_level(Some(other), Some(uv), cache, &query),
            Level::Script
        );
        assert_eq!(uv_level(None, Some(uv), cache, &query), Level::Script);
        assert_eq!(uv_level(Some(uv), None, cache, &query), Level::Script);
        // A build venv's interpreter (its site-packages hold build dependencies), a compile
        // script elsewhere: level 2.
        let mut in_build = query.clone();
        in_build[0] = "/h/.cache/uv/builds-v0/.tmpA/bin/python".into();
        assert_eq!(
            uv_level(Some(uv), Some(uv), cache, &in_build),
            Level::Script
        );
        let elsewhere = os(&["/p/.venv/bin/python", "/tmp/.tmpX/pip_compileall.py"]);
        assert_eq!(
            uv_level(Some(uv), Some(uv), cache, &elsewhere),
            Level::Script
        );
    }

    #[test]
    fn a_uv_build_step_writes_its_own_build_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("uv");
        let builds = cache.join("builds-v0");
        let (venv, out, other) = (
            builds.join(".tmpA"),
            builds.join(".tmpB"),
            builds.join(".tmpC"),
        );
        let src = cache.join("sdists-v11/index/h/x/1.0/id/src");
        for d in [&venv, &out, &other, &src] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let hook = vec![
            OsString::from(venv.join("bin/python")),
            "-c".into(),
            format!(
                "import backend as backend\nbackend.build_wheel(__import__(\"os\").fsdecode(b\"{}\"), {{}}, None)\nopen(__import__(\"os\").fsdecode(b\"{}\"))",
                out.display(),
                venv.join("build_wheel.txt").display()
            )
            .into(),
        ];
        let dirs = uv_build_dirs(&cache, Some(&src), Some(&venv), &hook);
        assert_eq!(dirs, [src.clone(), venv.clone(), out.clone()]);
        assert!(!dirs.contains(&other) && !dirs.contains(&builds) && !dirs.contains(&cache));
        // Outside uv's places: nothing (the project's in-tree build is the level-2 plan's).
        assert!(uv_build_dirs(
            &cache,
            Some(Path::new("/p")),
            Some(Path::new("/p/.venv")),
            &[]
        )
        .is_empty());
        // A symbolic link where a build directory should be gives nothing.
        std::fs::remove_dir(&out).expect("rmdir");
        std::os::unix::fs::symlink("/", &out).expect("symlink");
        assert!(!uv_build_dirs(&cache, None, None, &hook).contains(&out));
    }

    #[test]
    fn runner_index_credentials_move_to_the_environment() {
        let args = os(&[
            "/v/bin/python",
            "/v/lib/pip/__pip-runner__.py",
            "install",
            "-i",
            "http://u:p@127.0.0.1:1/simple",
            "--extra-index-url",
            "http://127.0.0.1:2/simple",
            "--extra-index-url",
            "http://t@127.0.0.1:3/simple",
            "--",
            "setuptools",
        ]);
        let vars = vec![(
            OsString::from("PIP_EXTRA_INDEX_URL"),
            OsString::from("http://old"),
        )];
        let (argv, env) = runner_credentials_to_env(&args, vars);
        assert!(argv.iter().all(|a| !a.to_string_lossy().contains("http")));
        assert_eq!(argv.last(), Some(&OsString::from("setuptools")));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("PIP_INDEX_URL"),
            Some("http://u:p@127.0.0.1:1/simple".into())
        );
        assert_eq!(
            get("PIP_EXTRA_INDEX_URL"),
            Some("http://127.0.0.1:2/simple http://t@127.0.0.1:3/simple".into())
        );
        // A local --find-links directory stays an argument.
        let local = os(&[
            "/v/bin/python",
            "/v/lib/pip/__pip-runner__.py",
            "install",
            "--find-links",
            "/p/wheels",
        ]);
        let (argv, _) = runner_credentials_to_env(&local, Vec::new());
        assert_eq!(argv, local);
    }

    #[test]
    fn only_pips_legacy_install_step_is_a_legacy_install() {
        let install = os(&[
            "/v/bin/python",
            "-u",
            "-c",
            "exec(shim)",
            "install",
            "--record",
            "/tmp/pip-record-x/install-record.txt",
            "--single-version-externally-managed",
            "--compile",
        ]);
        assert!(is_legacy_install(&install));
        let egg_info = os(&["/v/bin/python", "-c", "exec(shim)", "egg_info"]);
        assert!(!is_legacy_install(&egg_info));
        let script = os(&[
            "/v/bin/python",
            "evil.py",
            "install",
            "--record",
            "x",
            "--single-version-externally-managed",
        ]);
        assert!(!is_legacy_install(&script));
    }

    #[test]
    fn build_backends_lose_credentials() {
        let plan = PythonPlan {
            venv: None,
            frontend: None,
            legacy_install_dirs: vec![],
            interpreters: vec![],
            level2: ScriptPlan {
                drop_env: vec!["MY_TOKEN".into(), "PIP_PASSWORD".into()],
                ..ScriptPlan::default()
            },
        };
        let vars = [
            ("PATH", "/usr/bin"),
            ("MY_TOKEN", "x"),
            ("PIP_PASSWORD", "x"),
            ("PIP_INDEX_URL", "http://u:p@127.0.0.1/simple"),
            ("OTHER", "see https://user@registry.example.com/x"),
            ("PIP_DEFAULT_TIMEOUT", "60"),
            (LEVEL2_MARKER, "1"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
        let env = level2_env(&plan, vars);
        let names: Vec<_> = env.iter().map(|(k, _)| k.to_string_lossy()).collect();
        assert_eq!(names, ["PATH", "PIP_DEFAULT_TIMEOUT"]);
    }
}
