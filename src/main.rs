//! safe-install: parse the command line, start diagnostics, run, map errors to exit codes.
//! The only place `anyhow` lives.

#![deny(unsafe_code)]

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use safe_install::cli::{Cli, Command, SandboxArgs};
use safe_install::events::{report, summary, Action, Event, EventLog, Reason, Verdict};
use safe_install::net::allow::AllowList;
use safe_install::plan::{self, Context, Plan};
use safe_install::policy::{Entry, Origin, Overrides, Policy, PolicyPath};
use safe_install::sandbox::probe;
use safe_install::supervisor::egress;
use safe_install::{diagnose, exit, learn, pm};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

fn main() {
    // Inside the sandbox, npm runs lifecycle scripts through this binary (trust level 2).
    if std::env::args_os()
        .next()
        .is_some_and(|a| safe_install::shim::invoked_as_shim(&a))
    {
        std::process::exit(safe_install::shim::main());
    }
    // Inside the sandbox, safe-install stands in for pip's interpreter (build backends at
    // trust level 2).
    if safe_install::shim::python::invoked_as_python(std::env::current_exe().ok().as_deref()) {
        std::process::exit(safe_install::shim::python::main());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_tracing(&cli.sandbox);
    let code = match &cli.command {
        Command::Doctor => diagnose::doctor::run(),
        Command::Explain { command } => report(explain(&cli.sandbox, command)),
        Command::Demo => {
            report(diagnose::demo::run(&cli.sandbox).map_err(fail(exit::INVALID_INPUT)))
        }
        Command::ShellInit { shell } => {
            print!("{}", diagnose::shell_init::render(*shell));
            0
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "safe-install",
                &mut std::io::stdout(),
            );
            0
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("safe-install: cannot write the manual page: {e}");
                    1
                }
            }
        }
        Command::Run(argv) => report(run(&cli.sandbox, argv)),
    };
    std::process::exit(code);
}

fn init_tracing(args: &SandboxArgs) {
    let level = if args.quiet {
        "error"
    } else {
        match args.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAFE_INSTALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("safe_install={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}

/// An error for the user: one paragraph, and the exit code it maps to.
struct Failure {
    code: i32,
    error: anyhow::Error,
}

fn report(result: Result<i32, Failure>) -> i32 {
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("safe-install: {:#}", f.error);
            f.code
        }
    }
}

fn fail<E: Into<anyhow::Error>>(code: i32) -> impl FnOnce(E) -> Failure {
    move |e| Failure {
        code,
        error: e.into(),
    }
}

/// Everything needed to build a plan for `argv`.
fn prepare(args: &SandboxArgs, argv: &[OsString]) -> Result<(Policy, Context), Failure> {
    let detected = pm::detect(argv);
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .context("cannot determine the current directory")
        .map_err(fail(exit::INVALID_INPUT))?;
    let project = match &args.project {
        Some(p) => std::fs::canonicalize(p)
            .with_context(|| format!("--project {}: no such directory", p.display()))
            .map_err(fail(exit::INVALID_INPUT))?,
        None => pm::find_project(&cwd, detected.family),
    };
    if !project.is_dir() {
        return Err(fail(exit::INVALID_INPUT)(anyhow::anyhow!(
            "--project {}: not a directory",
            project.display()
        )));
    }
    let home = home_dir();
    let mut policy = Policy::default();
    let layers = [
        safe_install::policy::builtin::BASE,
        detected.family.builtin_policy(),
    ];
    for (name, text) in layers {
        policy
            .add_layer(&format!("built-in {name}"), text)
            .map_err(fail(exit::INVALID_INPUT))?;
    }
    let project_policy = project.join(".safe-install.toml");
    if project_policy.is_file() {
        policy
            .add_file(&project_policy)
            .map_err(fail(exit::INVALID_INPUT))?;
    }
    for file in &args.policy {
        policy.add_file(file).map_err(fail(exit::INVALID_INPUT))?;
    }
    policy
        .add_overrides(&Overrides {
            allow_env: args.allow_env.clone(),
            rw: args.rw.clone(),
            ro: args.ro.clone(),
            hide: args.hide.clone(),
            allow_host: args.allow_host.clone(),
            secret_env: args.secret_env.clone(),
            scripts_network: args.scripts_network.clone(),
        })
        .map_err(fail(exit::INVALID_INPUT))?;
    // Decided by looking at files only: nothing from PATH runs on the host.
    let mut resolved = pm::resolve::resolve(
        argv.first().map(OsString::as_os_str).unwrap_or_default(),
        std::env::var_os("PATH").as_deref(),
        &project,
        detected.family != pm::Family::Generic,
    )
    .map_err(fail(exit::INVALID_INPUT))?;
    // A pyenv shim is a bash script that picks the real pip: follow it the same way, by
    // reading pyenv's files, so the interpreter pip runs as can be found and hooked.
    if detected.family == pm::Family::Pip {
        let pyenv_version = std::env::var("PYENV_VERSION").ok();
        if let Some(real) = resolved
            .program
            .as_deref()
            .and_then(|p| pm::pip::pyenv_target(p, pyenv_version.as_deref(), &cwd))
        {
            resolved.program = Some(real);
        }
    }
    let ctx = Context {
        resolved,
        argv: argv.to_vec(),
        env: std::env::vars_os().collect(),
        cwd,
        home,
        project,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        detected,
    };
    Ok((policy, ctx))
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

/// The policy and context, the plan, and the egress allow-list for `argv`.
/// The plan, sealed (every registry credential a placeholder; the real values in the vault),
/// and what egress needs.
type Built = (
    Policy,
    Plan,
    AllowList,
    std::sync::Arc<safe_install::creds::Vault>,
);

/// `mode` chooses the sandbox once the policy is known (it may allow landlock mode).
fn build_plan(
    args: &SandboxArgs,
    argv: &[OsString],
    mode: impl FnOnce(&Policy) -> Result<plan::Mode, Failure>,
) -> Result<Built, Failure> {
    let (mut policy, ctx) = prepare(args, argv)?;
    let mode = mode(&policy)?;
    let pm = egress::from_package_manager(&ctx).map_err(fail(exit::INVALID_INPUT))?;
    // Local package sources the package manager is configured with must be visible.
    for (path, why) in &pm.local_paths {
        policy.fs.ro.push(Entry {
            value: PolicyPath::Absolute(path.clone()),
            reason: why.clone(),
            origin: Origin {
                source: "package manager configuration".into(),
                line: None,
            },
        });
    }
    // A grant applies to the packages the lockfile says are that package (its place in the
    // tree, a registry tarball of that name, the pinned integrity), never to the name a
    // package gives itself. Read before anything runs.
    let entries = if ctx.detected.family == pm::Family::Npm {
        pm::npm::lock_entries(&ctx.project)
    } else {
        Vec::new()
    };
    let from_registry = |u: &url::Url| {
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            return false;
        };
        let Ok(host) = safe_install::net::addr::HostKind::parse(host) else {
            return false;
        };
        pm.rules.iter().any(|r| {
            matches!(r.source, safe_install::net::allow::RuleSource::Npm(_))
                && r.matches(&host, port)
        })
    };
    let unbound = match ctx.detected.family {
        pm::Family::Npm => policy
            .scripts
            .bind_to_lockfile(&ctx.project, &entries, &from_registry),
        pm::Family::Pip if !policy.scripts.packages.is_empty() => {
            let notes = policy
                .scripts
                .packages
                .iter()
                .map(|g| format!(
                    "the grant for package {} ({}) is not applied: under pip no lockfile says which installed package a build is, and the name a build directory gives itself is the attacker's to choose",
                    g.value.name, g.origin
                ))
                .collect();
            policy.scripts.packages.clear();
            notes
        }
        _ => Vec::new(),
    };
    let mut plan = plan::build(&policy, &ctx, &mode).map_err(fail(exit::INVALID_INPUT))?;
    for note in unbound {
        tracing::warn!("{note}");
        plan.notes.push(note);
    }
    plan.lockfile = entries
        .iter()
        .filter(|e| !e.link)
        .filter_map(|e| Some((ctx.project.join(&e.path), e.identity()?)))
        .collect();
    let allow = egress::allow_list(&policy, &pm).map_err(fail(exit::INVALID_INPUT))?;
    let vault = safe_install::creds::seal::seal_plan(
        &mut plan,
        &policy,
        safe_install::creds::HTTPS_INTERCEPTION,
    )
    .map_err(fail(exit::SETUP_FAILED))?;
    let mut vault = vault;
    safe_install::creds::seal::trust_inside(&mut plan, &mut vault)
        .map_err(fail(exit::SETUP_FAILED))?;
    plan::mode::place_generated_files(&mut plan, &mode);
    Ok((policy, plan, allow, std::sync::Arc::new(vault)))
}

/// A planted package-manager executable is an attack, not only bad input: it gets its event in
/// the log (when one was asked for) as well as the error message.
fn log_refusal(args: &SandboxArgs, failure: &Failure) {
    let Some(pm::resolve::ResolveError::PackageWritable { found, why, .. }) =
        failure.error.downcast_ref::<pm::resolve::ResolveError>()
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
/// `--allow-degraded` allows it and user namespaces are unusable (`None` then: the host
/// offers neither, and the error says why). Probed before the event log or any thread exists
/// (the probe forks), and only when landlock mode may be chosen: otherwise the full sandbox
/// is tried directly, and a host that refuses it gets the refusal with its fix from the
/// supervisor (no probe costs start-up time on every run).
fn choose_start(
    args: &SandboxArgs,
    policy: &Policy,
) -> Result<safe_install::supervisor::Start, Failure> {
    use safe_install::supervisor::{landlock_mode::Host, Start};
    if !(args.allow_degraded || policy.sandbox.allows_landlock()) {
        return Ok(Start::Full);
    }
    let ladder = probe::Ladder::probe();
    match ladder.rung() {
        probe::Rung::Full => Ok(Start::Full),
        probe::Rung::Landlock => Ok(Start::Landlock(
            Host::new().map_err(fail(exit::SETUP_FAILED))?,
        )),
        rung => {
            let why = ladder.why_not_full().unwrap_or_default();
            let below = ladder
                .why_not_landlock()
                .map(|w| format!(", and the landlock mode cannot run either: {w}"))
                .unwrap_or_default();
            Err(fail(exit::UNSUPPORTED)(anyhow::anyhow!(
                "refusing to run without a sandbox: {why}{below}. {}",
                probe::fixes(rung == probe::Rung::Landlock)
            )))
        }
    }
}

/// The plan's mode for `start`.
fn mode_of(start: &safe_install::supervisor::Start) -> plan::Mode {
    match start {
        safe_install::supervisor::Start::Full => plan::Mode::Full,
        safe_install::supervisor::Start::Landlock(host) => plan::Mode::Landlock(host.places()),
    }
}

fn explain(args: &SandboxArgs, argv: &[OsString]) -> Result<i32, Failure> {
    // The plan of the sandbox `run` would start (landlock mode's host places are made, and
    // removed on return, so that the plan shows them); the full sandbox's where `run` would
    // refuse to start any.
    let mut start = None;
    let (policy, plan, allow, vault) = build_plan(args, argv, |policy| {
        let chosen = choose_start(args, policy).unwrap_or(safe_install::supervisor::Start::Full);
        let mode = mode_of(&chosen);
        start = Some(chosen);
        Ok(mode)
    })?;
    print!(
        "{}",
        diagnose::explain::render(&policy, &plan, &allow, &vault)
    );
    drop(start);
    Ok(0)
}

fn run(args: &SandboxArgs, argv: &[OsString]) -> Result<i32, Failure> {
    let mut start = None;
    let (policy, mut plan, allow, vault) = build_plan(args, argv, |policy| {
        let chosen = choose_start(args, policy)?;
        let mode = mode_of(&chosen);
        start = Some(chosen);
        Ok(mode)
    })
    .inspect_err(|f| log_refusal(args, f))?;
    let start = start.unwrap_or(safe_install::supervisor::Start::Full);
    let full = matches!(start, safe_install::supervisor::Start::Full);
    let scripts =
        egress::script_egress(&policy, &allow, plan.family).map_err(fail(exit::INVALID_INPUT))?;
    let reports = report::parse_requests(&args.report).map_err(fail(exit::INVALID_INPUT))?;
    let learn_to = match &args.learn {
        Some(file) => {
            let to = learn::target(file.as_deref(), &plan.project, argv)
                .and_then(|to| learn::check_target(&to).map(|_| to));
            Some(to.map_err(|e| fail(e.exit_code())(e))?)
        }
        None => None,
    };
    let log = EventLog::open(args.log.as_deref(), args.log_allowed || args.verbose > 0)
        .map_err(fail(exit::INVALID_INPUT))?;
    tracing::info!(
        mounts = plan.mounts.len(),
        hidden = plan.hidden.len(),
        "sandbox plan ready"
    );
    // What the end-of-run check compares with: a few names and sizes, taken before anything
    // inside runs.
    let before = safe_install::observe::planted::Before::take(&plan);
    let planted = std::sync::Arc::new(safe_install::observe::planted::Observed::default());
    // The root project's own scripts get a writable copy of .git/config (husky's
    // `core.hooksPath`); in full mode only, where the view is a mount namespace.
    let git_scratch = if full {
        safe_install::supervisor::githooks::attach(&mut plan)
    } else {
        None
    };
    let result =
        safe_install::supervisor::run(&plan, start, allow, scripts, vault, &log.sink(), &planted);
    if result.is_ok() {
        safe_install::observe::planted::finish(&plan, &policy, before, &planted, &log.sink());
        if let Some(scratch) = git_scratch {
            safe_install::supervisor::githooks::finish(scratch, &log.sink());
        }
    }
    let finished = log.finish();
    let code = result.map_err(|e| {
        let code = e.exit_code();
        fail(code)(e)
    })?;
    finished.map_err(fail(exit::SETUP_FAILED))?;
    let counted = log.counted();
    // Before the human summary: a hostile target must not be able to switch off the
    // runner's command processing ahead of the annotations.
    report::publish(&reports, &plan, &counted, args.strict, code)
        .map_err(fail(exit::INVALID_INPUT))?;
    if !args.quiet {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        if let Some(text) = summary::render(&counted, log.path().as_deref(), colour) {
            eprint!("{text}");
        }
    }
    if let Some(file) = &learn_to {
        let note = learn::record(&counted, &policy, &plan, argv, file)
            .map_err(|e| fail(e.exit_code())(e))?;
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
