//! safe-install: parse the command line, dispatch, map errors to exit codes and print them.
//! The only place `anyhow` lives (to print an error with its causes); a run's orchestration
//! is `safe_install::session`.

#![deny(unsafe_code)]

use clap::{CommandFactory, Parser};
use safe_install::cli::{Cli, Command, SandboxArgs};
use safe_install::session::{self, SessionError};
use safe_install::{diagnose, exit};

fn main() {
    // Inside the sandbox, npm runs lifecycle scripts through this binary (trust level 2).
    if std::env::args_os()
        .next()
        .is_some_and(|a| safe_install::shim::invoked_as_shim(&a))
    {
        std::process::exit(safe_install::shim::main());
    }
    // The file this process runs from (read once: a readlink of /proc/self/exe).
    let exe = std::env::current_exe().ok();
    // Inside the sandbox, safe-install stands in for the system shell when the package
    // manager runs its scripts with `/bin/sh` (yarn 1: scripts at trust level 2).
    if safe_install::shim::system_shell::invoked_as_system_shell(exe.as_deref()) {
        std::process::exit(safe_install::shim::system_shell::main());
    }
    // Inside the sandbox, safe-install stands in for pip's interpreter (build backends at
    // trust level 2).
    if safe_install::shim::python::invoked_as_python(exe.as_deref()) {
        std::process::exit(safe_install::shim::python::main());
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match Cli::parse_plain_run(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(&args),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // A run clones the sandbox's child before anything else, logging included: the child
    // builds its namespaces meanwhile.
    let early = matches!(cli.command, Command::Run(_)).then(session::clone_sandbox);
    init_tracing(&cli.sandbox);
    let code = match &cli.command {
        Command::Doctor => diagnose::doctor::run(),
        Command::Explain { command } => report(
            session::explain(&cli.sandbox, command),
            SessionError::exit_code,
        ),
        Command::Demo => report(diagnose::demo::run(&cli.sandbox), |_| exit::INVALID_INPUT),
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
        Command::Run(argv) => {
            let early = early.unwrap_or_else(session::clone_sandbox);
            report(
                session::run(&cli.sandbox, argv, early),
                SessionError::exit_code,
            )
        }
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
    let fmt = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false);
    // An operator's SAFE_INSTALL_LOG takes the full directive syntax; otherwise a plain
    // target filter, which costs nothing to build (EnvFilter's parser is a tenth of a
    // millisecond of every start).
    match std::env::var_os("SAFE_INSTALL_LOG") {
        Some(_) => {
            let filter = tracing_subscriber::EnvFilter::try_from_env("SAFE_INSTALL_LOG")
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(format!("safe_install={level}"))
                });
            fmt.with_env_filter(filter).init();
        }
        None => {
            let level: tracing::Level = level.parse().unwrap_or(tracing::Level::WARN);
            let filter =
                tracing_subscriber::filter::Targets::new().with_target("safe_install", level);
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            fmt.finish().with(filter).init();
        }
    }
}

/// Print a failure as one paragraph (the error and its causes, `: `-separated) and return
/// its exit status.
fn report<E: std::error::Error + Send + Sync + 'static>(
    result: Result<i32, E>,
    code: impl FnOnce(&E) -> i32,
) -> i32 {
    match result {
        Ok(status) => status,
        Err(e) => {
            let status = code(&e);
            eprintln!("safe-install: {:#}", anyhow::Error::new(e));
            status
        }
    }
}
