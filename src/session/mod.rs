//! One command's session, from the command line to the exit status: gather the context
//! (project, policy layers, the package manager resolved by looking at files), build the
//! plan, seal its credentials, perform the plan's host-side preparations, start the
//! supervisor in the mode the host allows, run the end-of-run checks, and publish what was
//! logged. `explain` stops after the plan and changes nothing on disk.
//!
//! `main` only parses arguments and turns a [`SessionError`] into its exit status.

mod error;

pub use error::SessionError;

use crate::cli::SandboxArgs;
use crate::events::{Action, Event, EventLog, Reason, Verdict};
use crate::plan::{self, Context, Plan};
use crate::policy::allow::AllowList;
use crate::policy::{Entry, Origin, Overrides, Policy, PolicyPath};
use crate::reports::{publish, summary};
use crate::sandbox::probe;
use crate::supervisor::egress;
use crate::supervisor::{landlock_mode::Host, Start};
use crate::{diagnose, exit, learn, pm};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything needed to build a plan for `argv`.
fn prepare(args: &SandboxArgs, argv: &[OsString]) -> Result<(Policy, Context), SessionError> {
    let detected = pm::detect(argv);
    let manager = detected.manager;
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(SessionError::Cwd)?;
    let project = match &args.project {
        Some(p) => std::fs::canonicalize(p).map_err(|source| SessionError::ProjectMissing {
            path: p.clone(),
            source,
        })?,
        None => pm::find_project(&cwd, manager),
    };
    if !project.is_dir() {
        return Err(SessionError::ProjectNotDir(project));
    }
    let home = home_dir();
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let mut ctx = context(argv, env, cwd, home, project, detected)?;
    // Started in a workspace member, the tool takes the workspace's root as its project
    // (its configuration, lockfile and install tree): so does the sandbox. The program is
    // then resolved again, since the wider project may hold it.
    if args.project.is_none() {
        let root = manager
            .workspace_root(&ctx)
            .and_then(|r| std::fs::canonicalize(r).ok())
            .filter(|r| *r != ctx.project && ctx.project.starts_with(r));
        if let Some(root) = root {
            tracing::debug!(root = %root.display(), member = %ctx.project.display(), "workspace root");
            ctx = context(argv, ctx.env, ctx.cwd, ctx.home, root, ctx.detected)?;
        }
    }
    // A tool told to work in another directory reads that directory's configuration, which
    // the plan does not seal: refused unless it is the project itself.
    if let Some((option, value)) = pm::directory_option(manager, argv, &ctx.env) {
        let dir = ctx.cwd.join(&value);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if dir != ctx.project {
            return Err(SessionError::AnotherDirectory {
                manager: manager.name(),
                option,
                value,
                dir,
                project: ctx.project,
            });
        }
    }
    let project = &ctx.project;
    let mut policy = Policy::default();
    let layers = [crate::policy::builtin::BASE, manager.builtin_policy()];
    for layer in layers {
        policy.add_builtin(layer)?;
    }
    let project_policy = project.join(".safe-install.toml");
    if project_policy.is_file() {
        policy.add_file(&project_policy)?;
    }
    for file in &args.policy {
        policy.add_file(file)?;
    }
    policy.add_overrides(&Overrides {
        allow_env: args.allow_env.clone(),
        rw: args.rw.clone(),
        ro: args.ro.clone(),
        hide: args.hide.clone(),
        allow_host: args.allow_host.clone(),
        secret_env: args.secret_env.clone(),
        scripts_network: args.scripts_network.clone(),
    })?;
    Ok((policy, ctx))
}

/// The context of `argv` run in `cwd` for `project`, with the program resolved: decided by
/// looking at files only, nothing from `PATH` runs on the host.
fn context(
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    home: PathBuf,
    project: PathBuf,
    detected: pm::Detected,
) -> Result<Context, SessionError> {
    let manager = detected.manager;
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let mut resolved = pm::resolve::resolve(
        argv.first().map(OsString::as_os_str).unwrap_or_default(),
        path,
        &project,
        manager.is_package_manager(),
    )?;
    // A version manager's shim (pyenv's bash script that picks the real pip) is followed by
    // reading its files, so the interpreter the tool runs as can be found and hooked.
    if let Some(real) = resolved
        .program
        .as_deref()
        .and_then(|p| manager.follow_shim(p, &env, &cwd))
    {
        resolved.program = Some(real);
    }
    Ok(Context {
        resolved,
        argv: argv.to_vec(),
        env,
        cwd,
        home,
        project,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        detected,
    })
}

fn home_dir() -> PathBuf {
    let from_env = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = from_env.or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.dir)
    });
    let home = home.unwrap_or_else(|| PathBuf::from("/nonexistent"));
    std::fs::canonicalize(&home).unwrap_or(home)
}

/// The policy, the plan sealed (every registry credential a placeholder; the real values in
/// the vault), and the egress allow-list for `argv`.
struct Built {
    policy: Policy,
    plan: Plan,
    allow: AllowList,
    vault: Arc<crate::creds::Vault>,
}

/// `mode` chooses the sandbox once the policy is known (it may allow landlock mode).
fn build_plan(
    args: &SandboxArgs,
    argv: &[OsString],
    mode: impl FnOnce(&Policy) -> Result<plan::Mode, SessionError>,
) -> Result<Built, SessionError> {
    let (mut policy, ctx) = prepare(args, argv)?;
    let mode = mode(&policy)?;
    let manager = ctx.detected.manager;
    let registries = manager
        .registries(&ctx)
        .map_err(egress::EgressError::from)?;
    // Local package sources the package manager is configured with must be visible.
    for (path, why) in &registries.local_paths {
        policy.fs.ro.push(Entry {
            value: PolicyPath::Absolute(path.clone()),
            reason: why.clone(),
            origin: Origin {
                source: "package manager configuration".into(),
                line: None,
            },
        });
    }
    // A grant is bound to what the lockfile says a package is, read before anything runs.
    let from_registry = |u: &url::Url| {
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            return false;
        };
        let Ok(host) = crate::policy::addr::HostKind::parse(host) else {
            return false;
        };
        registries.rules.iter().any(|r| r.matches(&host, port))
    };
    let bound = manager.bind_grants(&mut policy.scripts, &ctx, &from_registry);
    let mut plan = plan::build(&policy, &ctx, &mode)?;
    for note in bound.notes {
        tracing::warn!("{note}");
        plan.notes.push(note);
    }
    plan.lockfile = bound.lockfile;
    let allow = egress::allow_list(&policy, &registries)?;
    let tool_credentials = manager
        .credential_settings(&ctx)
        .map_err(egress::EgressError::from)?;
    let mut vault = crate::creds::seal::seal_plan(
        &mut plan,
        &policy,
        crate::creds::HTTPS_INTERCEPTION,
        &tool_credentials,
    )?;
    crate::creds::seal::trust_inside(&mut plan, &mut vault, tool_credentials.ca_file.as_deref())?;
    // After sealing: landlock mode's generated files (the private configuration, the run's
    // CA) move to its host directories only once they hold placeholders, never real values.
    plan::mode::place_generated_files(&mut plan, &mode);
    Ok(Built {
        policy,
        plan,
        allow,
        vault: Arc::new(vault),
    })
}

/// A planted package-manager executable is an attack, not only bad input: it gets its event in
/// the log (when one was asked for) as well as the error message.
fn log_refusal(args: &SandboxArgs, error: &SessionError) {
    let SessionError::Resolve(pm::resolve::ResolveError::PackageWritable { found, why, .. }) =
        error
    else {
        return;
    };
    let Ok(log) = EventLog::open(args.log.as_deref(), false) else {
        return;
    };
    let mut event = Event::new(
        Action::Exec,
        Verdict::Blocked,
        found.display().to_string(),
        Reason::PlantedExecutable,
    )
    .with_detail(format!("not run: it lies {why}"));
    event.argv = Some(vec![found.display().to_string()]);
    log.sink().emit(event);
    let _ = log.finish();
}

/// The sandbox this run gets: the full one, or landlock mode where the policy or
/// `--allow-degraded` allows it and user namespaces are unusable (an error when the host offers
/// neither, saying why). Probed before the event log or any thread exists (the probe forks),
/// and only when landlock mode may be chosen: otherwise the full sandbox is tried directly,
/// and a host that refuses it gets the refusal with its fix from the supervisor (no probe
/// costs start-up time on every run).
fn choose_start(args: &SandboxArgs, policy: &Policy) -> Result<Start, SessionError> {
    if !(args.allow_degraded || policy.sandbox.allows_landlock()) {
        return Ok(Start::Full);
    }
    let ladder = probe::Ladder::probe();
    match ladder.rung() {
        probe::Rung::Full => Ok(Start::Full),
        probe::Rung::Landlock => Ok(Start::Landlock(
            Host::new().map_err(SessionError::LandlockHost)?,
        )),
        rung => Err(SessionError::NoSandbox {
            why: ladder.why_not_full().unwrap_or_default(),
            below: ladder
                .why_not_landlock()
                .map(|w| format!(", and the landlock mode cannot run either: {w}"))
                .unwrap_or_default(),
            fixes: probe::fixes(rung == probe::Rung::Landlock),
        }),
    }
}

/// The plan's mode for `start`.
fn mode_of(start: &Start) -> plan::Mode {
    match start {
        Start::Full => plan::Mode::Full,
        Start::Landlock(host) => plan::Mode::Landlock(host.places()),
    }
}

/// `safe-install explain CMD`: the plan of the sandbox `run` would start, as text. Reads
/// files only: nothing runs, nothing of the user's is created (landlock mode's private host
/// places are made so that the plan can name them, and removed on return); the full
/// sandbox's plan where `run` would refuse to start any.
pub fn explain(args: &SandboxArgs, argv: &[OsString]) -> Result<i32, SessionError> {
    let mut start = None;
    let built = build_plan(args, argv, |policy| {
        let chosen = choose_start(args, policy).unwrap_or(Start::Full);
        let mode = mode_of(&chosen);
        start = Some(chosen);
        Ok(mode)
    })?;
    print!(
        "{}",
        diagnose::explain::render(&built.policy, &built.plan, &built.allow, &built.vault)
    );
    drop(start);
    Ok(0)
}

/// The full sandbox's child, cloned first thing in a run ([`clone_sandbox`]); the clone's
/// error is the error of a full run only.
pub type EarlySandbox = Result<crate::supervisor::full::Early, crate::supervisor::SupervisorError>;

/// The first step of `run`, before anything else starts (logging included): clone the full
/// sandbox's child, which creates its namespaces while the plan is built, and is killed
/// unused if planning fails or landlock mode is chosen. No thread may exist yet, as the
/// clone requires.
pub fn clone_sandbox() -> EarlySandbox {
    crate::supervisor::full::Early::clone(plan::IdMap::for_caller(
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    ))
}

/// `safe-install CMD`: run it sandboxed, in the child `early` from [`clone_sandbox`] when
/// the full sandbox is chosen, and return the exit status to leave with.
pub fn run(
    args: &SandboxArgs,
    argv: &[OsString],
    early: EarlySandbox,
) -> Result<i32, SessionError> {
    let start;
    let Built {
        policy,
        mut plan,
        allow,
        vault,
    } = {
        let mut chosen_start = None;
        let built = build_plan(args, argv, |policy| {
            let chosen = choose_start(args, policy)?;
            let mode = mode_of(&chosen);
            chosen_start = Some(chosen);
            Ok(mode)
        })
        .inspect_err(|e| log_refusal(args, e))?;
        start = chosen_start.unwrap_or(Start::Full);
        built
    };
    if let Some(why) = plan.unhooked {
        // Said before anything runs, so the weaker guarantee is never a surprise in the log.
        tracing::warn!("{why}");
    }
    let full = matches!(start, Start::Full);
    let scripts = egress::script_egress(&policy, &allow, plan.manager)?;
    let reports = publish::parse_requests(&args.report)?;
    let learn_to = match &args.learn {
        Some(file) => {
            let to = learn::target(file.as_deref(), &plan.project, argv)?;
            learn::check_target(&to)?;
            Some(to)
        }
        None => None,
    };
    let log = EventLog::open(args.log.as_deref(), args.log_allowed || args.verbose > 0)
        .map_err(SessionError::OpenLog)?;
    tracing::info!(
        mounts = plan.mounts.len(),
        hidden = plan.hidden.len(),
        "sandbox plan ready"
    );
    // The host-side half of the plan (caches and granted folders the view shows that do not
    // exist yet), done now that the run is going ahead.
    plan.prepare_host();
    // What the end-of-run check compares with: a few names and sizes, taken before anything
    // inside runs.
    let before = crate::observe::planted::Before::take(&plan);
    let planted = Arc::new(crate::observe::planted::Observed::default());
    // The root project's own scripts get a writable copy of .git/config (husky's
    // `core.hooksPath`); in full mode only, where the view is a mount namespace.
    let git_scratch = if full {
        crate::supervisor::githooks::attach(&mut plan)
    } else {
        None
    };
    let early = match start {
        Start::Full => Some(early?),
        Start::Landlock(_) => None,
    };
    let result = crate::supervisor::run(
        &plan,
        start,
        early,
        allow,
        scripts,
        vault,
        &log.sink(),
        &planted,
    );
    if result.is_ok() {
        crate::observe::planted::finish(&plan, &policy, before, &planted, &log.sink());
        if let Some(scratch) = git_scratch {
            crate::supervisor::githooks::finish(scratch, &log.sink());
        }
    }
    let finished = log.finish();
    let code = result?;
    finished.map_err(SessionError::FinishLog)?;
    let counted = log.counted();
    // Before the human summary: a hostile target must not be able to switch off the
    // runner's command processing ahead of the annotations.
    publish::publish(&reports, &plan, &counted, args.strict, code)?;
    if !args.quiet {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let kept = summary::HintScope::kept_places(&plan);
        let hints = summary::HintScope {
            grants: plan.manager.binds_grants(),
            kept: &kept,
        };
        if let Some(text) = summary::render(&counted, log.path().as_deref(), colour, hints) {
            eprint!("{text}");
        }
    }
    if let Some(file) = &learn_to {
        let note = learn::record(&counted, &policy, &plan, argv, file)?;
        if !args.quiet {
            eprint!("{note}");
        }
    }
    // Blocked attempts, and what the end-of-run check found planted (`pth-installed` is
    // information).
    let blocked = counted.iter().filter(|(e, _)| e.fails_strict()).count();
    if args.strict && blocked > 0 && code == 0 {
        return Ok(exit::BLOCKED_STRICT);
    }
    Ok(code)
}
