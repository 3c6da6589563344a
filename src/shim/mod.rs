//! The script shell: trust level 2. npm runs every lifecycle script as
//! `<script-shell> -c <script>`; inside the sandbox that shell is this binary (mounted at
//! [`SHIM`], recognised by its name in `argv[0]`). Before it execs the real shell it
//!
//! 1. registers a seccomp listener for the script's process tree with the supervisor, so the
//!    script's file and network attempts are observed (a nested script is already covered
//!    by its parent's: the kernel allows one listener per filter chain);
//! 2. drops every credential from the environment (`--secret-env`, `[credentials]`, npm's
//!    auth settings);
//! 3. adds a Landlock layer: no package-manager configuration or credentials, the package
//!    cache read-only, writes only to the package's own folder in the install tree (the
//!    project's own scripts: the install tree), temp, `[fs] rw` and the package's grants. The nested domain also keeps the script from ptracing npm or
//!    reading its `/proc/<pid>/environ` and `mem`. The ruleset is built before step 1 (its
//!    rules' paths opened while no listener waits on each open) and put in force last.
//!
//! It fails closed: without its configuration or its Landlock layer, the script does not run.

pub mod legacy_stage;
pub mod python;
pub mod system_shell;

use crate::plan::trust::{ScriptPlan, LEVEL2_MARKER, SHIM, SHIM_CONFIG, SHIM_NAME};
use crate::sandbox::{control, landlock, seccomp};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("cannot read its configuration {SHIM_CONFIG}: {0}")]
    Config(String),
    #[error("cannot restrict the script (Landlock): {0}")]
    Landlock(String),
    #[error("cannot run {shell}: {source}")]
    Exec {
        shell: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("{0} is not the system shell it stands in for")]
    NotStandingIn(String),
    #[error("an argument or variable contains a NUL byte")]
    Nul,
}

/// Whether this process was started as the script shell.
pub fn invoked_as_shim(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(SHIM_NAME))
        && Path::new(argv0) == Path::new(SHIM)
}

/// Run as the script shell; returns only on failure (the exit status).
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    match run(&args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("safe-install (script shell): {e}; the script did not run.");
            126
        }
    }
}

fn run(args: &[OsString]) -> Result<std::convert::Infallible, ShimError> {
    let plan = read_plan()?;
    // The real shell runs as `<shell> -c <script>`, named by its own path.
    let mut argv = vec![plan.shell.clone().into_os_string()];
    argv.extend(args.iter().skip(1).cloned());
    let shell = plan.shell.clone();
    start_script(&plan, &shell, &argv, false)
}

/// The level-2 plan from [`SHIM_CONFIG`].
pub(crate) fn read_plan() -> Result<ScriptPlan, ShimError> {
    let text =
        std::fs::read_to_string(SHIM_CONFIG).map_err(|e| ShimError::Config(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ShimError::Config(e.to_string()))
}

/// Start a script at level 2: listener, credentials out of the environment, the Landlock
/// layer for the working directory, then exec `program` with `argv`. `mark`: the
/// environment also gets [`LEVEL2_MARKER`], so a shell the script starts knows it is inside
/// this domain already.
pub(crate) fn start_script(
    plan: &ScriptPlan,
    program: &Path,
    argv: &[OsString],
    mark: bool,
) -> Result<std::convert::Infallible, ShimError> {
    // The package manager (level 1) chose this directory and nothing of the package has run
    // yet: it is the package's place in the install tree, which its grants are keyed on.
    // Unknown: nothing.
    let package_dir = std::env::current_dir().ok();

    let root = package_dir
        .as_deref()
        .is_some_and(|d| plan.is_root_project(d));
    if root {
        // Before the listener: npm's level may create it, and the judge would not know.
        create_hooks_dirs(plan);
    }
    create_granted_dirs(plan, package_dir.as_deref());
    // Connected first, so that the supervisor reads who this script is while the ruleset is
    // built; the ruleset (each rule's path opened) before the listener is installed: after
    // it, every open would wait for the supervisor (tens of them, milliseconds per script).
    let control = connect_control("script shell");
    let layer = landlock::prepare(&plan.landlock(package_dir.as_deref()))
        .map_err(|e| ShimError::Landlock(e.to_string()))?;
    register_listener(control, "script shell");
    let mut env = scrubbed_env(plan, root, package_dir.as_deref())?;
    if mark {
        env.push(CString::new(format!("{LEVEL2_MARKER}=2")).map_err(|_| ShimError::Nul)?);
    }
    layer
        .restrict_self()
        .map_err(|e| ShimError::Landlock(e.to_string()))?;
    exec(program, argv, &env)
}

/// execve `program` with `argv` and `env`; returns only on failure.
pub(crate) fn exec(
    program: &Path,
    argv: &[OsString],
    env: &[CString],
) -> Result<std::convert::Infallible, ShimError> {
    let path = CString::new(program.as_os_str().as_bytes()).map_err(|_| ShimError::Nul)?;
    let argv = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| ShimError::Nul))
        .collect::<Result<Vec<_>, _>>()?;
    let err = nix::unistd::execve(&path, &argv, env).unwrap_err();
    Err(ShimError::Exec {
        shell: program.display().to_string(),
        source: err,
    })
}

/// A package's write grant inside the install tree that does not exist yet
/// (`node_modules/.prisma` before the first generate) is created now, while the shim is still
/// in npm's Landlock domain: a Landlock rule needs an existing directory, and without one the
/// grant would give nothing. Only granted paths inside the project's install tree, only for
/// the grants bound to this package directory; a failure leaves the grant ineffective, never
/// wider.
fn create_granted_dirs(plan: &ScriptPlan, package_dir: Option<&Path>) {
    let Some(dir) = package_dir else {
        return;
    };
    let tree = plan.project.join("node_modules");
    for grant in plan.grants(dir) {
        for w in grant.write.iter().filter(|w| w.starts_with(&tree)) {
            if std::fs::symlink_metadata(w).is_err() {
                let _ = std::fs::create_dir_all(w);
            }
        }
    }
}

/// The root project's own scripts (husky) write their hooks directory; a Landlock rule needs
/// it to exist. Created only beneath an existing, real directory of the project (`.husky`),
/// while the shim is still in npm's domain.
fn create_hooks_dirs(plan: &ScriptPlan) {
    for d in &plan.hooks_dirs {
        let parent_ok = d
            .parent()
            .and_then(|p| std::fs::symlink_metadata(p).ok())
            .is_some_and(|m| m.is_dir());
        if parent_ok && std::fs::symlink_metadata(d).is_err() {
            let _ = std::fs::create_dir(d);
        }
    }
}

/// Connect to the supervisor's control socket (`shim` names the caller in messages). Before
/// the filter: once it is in place, connect() itself would wait for a listener the
/// supervisor does not have yet. `None`: nothing to register with (reported on stderr when
/// that is a failure).
pub(crate) fn connect_control(shim: &str) -> Option<std::os::fd::OwnedFd> {
    match control::connect_supervisor() {
        Ok(c) => Some(c),
        // A script nested in another script: its Landlock domain may not reach the control
        // socket, and its parent's listener already observes it.
        Err(nix::errno::Errno::EPERM) => None,
        Err(e) => {
            eprintln!("safe-install ({shim}): not observed: control socket: {e}");
            None
        }
    }
}

/// Install the observing filter and hand its listener to the supervisor over `conn`
/// ([`connect_control`]). A failure leaves the script unobserved but still confined; it is
/// reported on stderr, never fatal.
pub(crate) fn register_listener(conn: Option<std::os::fd::OwnedFd>, shim: &str) {
    let Some(conn) = conn else {
        return;
    };
    let prog = match seccomp::compile_notify(seccomp::Observe::NetworkAndFiles) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("safe-install ({shim}): not observed: {e}");
            return;
        }
    };
    let listener = match seccomp::install_listener(&prog) {
        Ok(l) => l,
        // Already observed by an enclosing script's listener.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return,
        Err(e) => {
            eprintln!("safe-install ({shim}): not observed: {e}");
            return;
        }
    };
    // write/read are not notified; the supervisor copies the descriptor (pidfd_getfd)
    // before it answers, so the listener must stay open until then.
    let message = format!("{}\n", listener.as_raw_fd());
    if nix::unistd::write(&conn, message.as_bytes()).is_ok() {
        let mut ack = [0u8; 1];
        let _ = nix::unistd::read(&conn, &mut ack);
    }
}

/// The environment minus credentials, with the scripts' proxy port for the package manager's.
/// The root project's own scripts get `GIT_CONFIG`, the scratch copy of `.git/config` that
/// `git config` writes (see `supervisor::githooks`); every other script loses it. A script
/// that may reach a host gets Node's own HTTP client pointed at the proxy
/// ([`crate::plan::trust::NODE_ENV_PROXY`]).
fn scrubbed_env(
    plan: &ScriptPlan,
    root: bool,
    package_dir: Option<&Path>,
) -> Result<Vec<CString>, ShimError> {
    let mut env = Vec::new();
    if plan.may_reach_hosts(package_dir) {
        let kv = format!("{}=1", crate::plan::trust::NODE_ENV_PROXY);
        env.push(CString::new(kv).map_err(|_| ShimError::Nul)?);
    }
    if let Some(config) = plan.git_config.as_ref().filter(|_| root) {
        let mut kv = b"GIT_CONFIG=".to_vec();
        kv.extend_from_slice(config.as_os_str().as_bytes());
        env.push(CString::new(kv).map_err(|_| ShimError::Nul)?);
    }
    for (name, value) in std::env::vars_os() {
        let keep = name.to_str().is_some_and(|n| {
            !plan.drops(n)
                && n != "GIT_CONFIG"
                && n != LEVEL2_MARKER
                && n != crate::plan::trust::NODE_ENV_PROXY
        });
        if !keep {
            continue;
        }
        let value = crate::plan::trust::level2_value(&value);
        let mut kv = name.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(value.as_bytes());
        env.push(CString::new(kv).map_err(|_| ShimError::Nul)?);
    }
    Ok(env)
}
