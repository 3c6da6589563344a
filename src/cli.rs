//! Command-line interface (clap derive types only; no logic).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  safe-install npm ci
  safe-install pip install -r requirements.txt
  safe-install --log install.jsonl --strict npm ci
  safe-install --report sarif safe-install.sarif npm ci
  safe-install --learn npm ci          write what it needed to .safe-install.learned.toml
  safe-install --allow-env NODE_AUTH_TOKEN npm install
  safe-install explain npm ci          show what the sandbox would let in
  safe-install doctor                  check this machine
  safe-install demo                    watch it stop a malicious postinstall
  eval \"$(safe-install shell-init bash)\"  route npm, pip, ... through it (~/.bashrc)
  safe-install completions bash        tab completion (bash, zsh, fish, ...)
  safe-install man | man -l -          the manual page

Exit status: the command's own, or 128+N if it died of signal N; otherwise
  120 --strict and something was blocked   122 sandbox unsupported on this host
  123 invalid policy or flag value         124 sandbox setup failed
  125 usage error                          126 command not executable
  127 command not found";

#[derive(Debug, Parser)]
#[command(
    name = "safe-install",
    version,
    about = "Run a package manager's install in a sandbox: secrets hidden, environment scrubbed, only the registries reachable.",
    after_help = EXAMPLES,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "Commands",
    allow_external_subcommands = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub sandbox: SandboxArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check this machine: kernel, user namespaces, Landlock, seccomp, and which sandbox mode runs.
    Doctor,
    /// Show the effective policy for a command without running it.
    Explain {
        /// The command as you would run it (`npm ci`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// Build a throwaway project with a malicious package and install it in the sandbox.
    Demo,
    /// Print shell functions that run npm, npx, pnpm, yarn, pip, pip3 and uv through safe-install.
    #[command(name = "shell-init")]
    ShellInit {
        /// The shell whose syntax to print.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print shell completions for safe-install (`safe-install completions bash > /etc/bash_completion.d/safe-install`).
    Completions {
        /// The shell whose completion script to print.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (`safe-install man | man -l -`, or save it as safe-install.1).
    Man,
    /// Any other word is the command to run in the sandbox (`npm ci`, `pip install ...`).
    #[command(external_subcommand)]
    Run(Vec<OsString>),
}

#[derive(Debug, Clone, Args, Default)]
pub struct SandboxArgs {
    /// Add a policy file (TOML); repeatable, later files win.
    #[arg(long, value_name = "FILE", global = true)]
    pub policy: Vec<PathBuf>,
    /// Pass this environment variable into the sandbox (even if it looks like a secret).
    #[arg(long, value_name = "NAME", global = true)]
    pub allow_env: Vec<String>,
    /// Make PATH visible and writable inside.
    #[arg(long, value_name = "PATH", global = true)]
    pub rw: Vec<PathBuf>,
    /// Make PATH visible read-only inside.
    #[arg(long, value_name = "PATH", global = true)]
    pub ro: Vec<PathBuf>,
    /// Hide project files matching GLOB (replaced by empty read-only files).
    #[arg(long, value_name = "GLOB", global = true)]
    pub hide: Vec<String>,
    /// Allow egress to HOST[:PORT] (or *.suffix[:PORT]).
    #[arg(long, value_name = "HOST", global = true)]
    pub allow_host: Vec<String>,
    /// Pass this variable to the package manager only: lifecycle scripts and build backends never see it.
    #[arg(long, value_name = "NAME", global = true)]
    pub secret_env: Vec<String>,
    /// Network for lifecycle scripts and build backends: `none` (default) or `registry`.
    #[arg(long, value_name = "MODE", global = true)]
    pub scripts_network: Option<String>,
    /// Write every event as JSON Lines to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub log: Option<PathBuf>,
    /// When the command has finished, also write its blocked attempts as FORMAT (sarif) to FILE; repeatable.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"], global = true)]
    pub report: Vec<OsString>,
    /// Also log allowed events (registry requests).
    #[arg(long, global = true)]
    pub log_allowed: bool,
    /// Record what the install needed beyond the policy into a policy file to review
    /// (default: .safe-install.learned.toml in the project; another with --learn=FILE).
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, conflicts_with = "strict", global = true)]
    pub learn: Option<Option<PathBuf>>,
    /// Where user namespaces are unavailable, run with Landlock + seccomp only (weaker: see `doctor`).
    #[arg(long, global = true)]
    pub allow_degraded: bool,
    /// Exit 120 if anything was blocked, even when the command succeeded.
    #[arg(long, global = true)]
    pub strict: bool,
    /// The project directory (default: the nearest directory holding the manifest, else the current one).
    #[arg(long, value_name = "DIR", global = true)]
    pub project: Option<PathBuf>,
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// A shell whose syntax `shell-init` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The words `Command` gives a meaning of its own (clap adds `help`); any other first word is
/// a command to run.
const SUBCOMMANDS: &[&str] = &[
    "doctor",
    "explain",
    "demo",
    "shell-init",
    "completions",
    "man",
    "help",
];

impl Cli {
    /// The parse of the most common command line, `safe-install CMD ARGS...` with no option
    /// of safe-install's own, without building clap's parser (its help texts and every
    /// argument definition): about 0.1 ms of every run's start-up, measured over 200
    /// alternating runs, and this form needs none of it. `None` for anything else, which clap
    /// parses as usual.
    pub fn parse_plain_run(args: &[OsString]) -> Option<Cli> {
        let first = args.get(1)?;
        let word = first.to_str();
        let plain = match word {
            Some(w) => !w.is_empty() && !w.starts_with('-') && !SUBCOMMANDS.contains(&w),
            // Not UTF-8: no option or subcommand is spelled that way.
            None => !first.as_encoded_bytes().starts_with(b"-"),
        };
        plain.then(|| Cli {
            sandbox: SandboxArgs::default(),
            command: Command::Run(args[1..].to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_subcommand_list_is_clap_s() {
        let mut names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        names.push("help".into());
        names.sort();
        let mut ours: Vec<String> = SUBCOMMANDS.iter().map(|s| s.to_string()).collect();
        ours.sort();
        assert_eq!(names, ours);
    }

    #[test]
    fn a_plain_command_line_parses_as_clap_parses_it() {
        for args in [
            &["safe-install", "npm", "ci"][..],
            &[
                "safe-install",
                "pip",
                "install",
                "-r",
                "requirements.txt",
                "--log",
                "x",
            ],
            &["safe-install", "/bin/true"],
            &["safe-install", "npm", "--strict", "install", "--", "-v"],
            &["safe-install", "uv", "pip", "install", "doctor"],
        ] {
            let args = os(args);
            let fast = Cli::parse_plain_run(&args).expect("a plain command line");
            let clap = Cli::try_parse_from(&args).expect("clap parses it");
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{args:?}");
        }
    }

    #[test]
    fn options_and_subcommands_are_left_to_clap() {
        for args in [
            &["safe-install"][..],
            &["safe-install", "--strict", "npm", "ci"],
            &["safe-install", "-v", "npm", "ci"],
            &["safe-install", "doctor"],
            &["safe-install", "explain", "npm", "ci"],
            &["safe-install", "help"],
            &["safe-install", "shell-init", "bash"],
            &["safe-install", ""],
        ] {
            assert!(Cli::parse_plain_run(&os(args)).is_none(), "{args:?}");
        }
    }
}
