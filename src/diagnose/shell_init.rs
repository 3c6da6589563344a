//! `safe-install shell-init bash|zsh|fish`: shell functions that send the package-manager
//! commands typed at the prompt that install, or run package code at install time, through
//! safe-install, and run everything else (`npm start`, `npm test`, `pip list`, a dev server)
//! as it is, with the real environment, `.env` and network.
//!
//! Functions rather than aliases: bash expands aliases only in interactive shells, and a
//! function can be bypassed the same way in all three shells (`command npm`). The functions
//! cannot recurse: each calls `command safe-install` or `command <tool>`, which skip shell
//! functions, and safe-install starts the package manager with `execve` by the path it
//! resolved, which never sees the caller's shell functions or aliases. The functions are not
//! exported, so a child shell (npm's `sh -c` for a lifecycle script) runs the real tool,
//! already inside the sandbox.
//!
//! Which commands are routed is data ([`ROUTES`]): for a tool whose subcommands are a closed
//! set, an unknown one goes through the sandbox (the stricter answer); for yarn, whose
//! unknown words are the project's own scripts, only the installing ones do.
pub use crate::cli::Shell;
use std::fmt::Write as _;

/// How a tool's command line decides between the sandbox and running it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// By the first argument: these run as they are (the project's own scripts, queries,
    /// the user's publishing with their own credentials); anything else, no argument
    /// included, goes through the sandbox.
    DirectOnly(&'static [&'static str]),
    /// By the first argument: only these go through the sandbox (a tool whose other words
    /// name the project's own scripts); no argument means install.
    SandboxOnly(&'static [&'static str]),
    /// A runner of a package's binary: one the project already installed
    /// (`node_modules/.bin/<name>`) runs as it is; anything else is downloaded and run, so it
    /// goes through the sandbox.
    LocalBinOrSandbox,
    /// Always through the sandbox (a runner that downloads what it runs).
    Always,
}

/// One wrapped tool.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub tool: &'static str,
    pub rule: Rule,
    /// Why, for the printed script.
    pub why: &'static str,
}

/// npm's commands that neither install nor run a dependency's code at install time. Not
/// `init`/`create` (they download and run an initializer package), not `audit` (`audit fix`
/// installs).
const NPM_DIRECT: &[&str] = &[
    "start",
    "stop",
    "restart",
    "test",
    "t",
    "tst",
    "run",
    "run-script",
    "rum",
    "urn",
    "ls",
    "list",
    "ll",
    "la",
    "view",
    "v",
    "info",
    "show",
    "outdated",
    "config",
    "c",
    "get",
    "set",
    "prefix",
    "root",
    "bin",
    "help",
    "search",
    "find",
    "s",
    "whoami",
    "login",
    "logout",
    "adduser",
    "add-user",
    "publish",
    "unpublish",
    "deprecate",
    "dist-tag",
    "owner",
    "access",
    "token",
    "version",
    "pack",
    "explain",
    "why",
    "query",
    "fund",
    "docs",
    "home",
    "bugs",
    "repo",
    "doctor",
    "ping",
    "pkg",
    "profile",
    "team",
    "org",
    "hook",
    "star",
    "unstar",
    "stars",
    "cache",
    "completion",
    "edit",
    "explore",
    "sbom",
    "diff",
    "shrinkwrap",
    "--version",
    "-v",
    "--help",
    "-h",
];
/// pnpm's.
const PNPM_DIRECT: &[&str] = &[
    "start",
    "test",
    "t",
    "run",
    "exec",
    "ls",
    "list",
    "ll",
    "outdated",
    "why",
    "config",
    "c",
    "root",
    "bin",
    "help",
    "publish",
    "pack",
    "login",
    "logout",
    "whoami",
    "view",
    "info",
    "audit",
    "licenses",
    "store",
    "server",
    "env",
    "init",
    "--version",
    "-v",
    "--help",
    "-h",
];
/// pip's.
const PIP_DIRECT: &[&str] = &[
    "list",
    "show",
    "freeze",
    "uninstall",
    "check",
    "config",
    "cache",
    "help",
    "debug",
    "hash",
    "inspect",
    "index",
    "search",
    "completion",
    "--version",
    "-V",
    "--help",
    "-h",
];
/// yarn's (1 and 4) commands that install or run downloaded code.
const YARN_SANDBOX: &[&str] = &[
    "",
    "install",
    "add",
    "up",
    "upgrade",
    "upgrade-interactive",
    "dlx",
    "rebuild",
    "import",
    "remove",
    "unplug",
    "link",
    "create",
    "global",
    "dedupe",
];
/// uv's.
const UV_SANDBOX: &[&str] = &[
    "", "pip", "sync", "add", "lock", "tool", "export", "build", "remove",
];

/// The wrapped tools and how each routes.
pub const ROUTES: &[Route] = &[
    Route { tool: "npm", rule: Rule::DirectOnly(NPM_DIRECT), why: "installs (install, ci, update, rebuild, exec, …) in the sandbox; the project's own scripts and queries as they are" },
    Route { tool: "npx", rule: Rule::LocalBinOrSandbox, why: "a binary the project installed runs as it is; one npx would download, in the sandbox" },
    Route { tool: "pnpm", rule: Rule::DirectOnly(PNPM_DIRECT), why: "installs (install, add, update, rebuild, dlx, …) in the sandbox; scripts and queries as they are" },
    Route { tool: "pnpx", rule: Rule::Always, why: "pnpm dlx: downloads what it runs" },
    Route { tool: "pnx", rule: Rule::Always, why: "pnpm dlx: downloads what it runs" },
    Route { tool: "yarn", rule: Rule::SandboxOnly(YARN_SANDBOX), why: "installs (yarn, install, add, up, dlx, …) in the sandbox; every other word is one of the project's scripts" },
    Route { tool: "pip", rule: Rule::DirectOnly(PIP_DIRECT), why: "install, download and wheel build packages: in the sandbox; queries as they are" },
    Route { tool: "pip3", rule: Rule::DirectOnly(PIP_DIRECT), why: "as pip" },
    Route { tool: "uv", rule: Rule::SandboxOnly(UV_SANDBOX), why: "uv pip, sync, add, lock, tool, build in the sandbox; uv run, venv, python as they are" },
    Route { tool: "uvx", rule: Rule::Always, why: "uv tool run: downloads what it runs" },
];

/// The commands that get a wrapper.
pub fn tools() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|r| r.tool)
}

/// Whether `args` (after the tool's name) run through the sandbox, given whether
/// `node_modules/.bin/<first word>` exists: the decision the printed functions make, for
/// the unit tests and `explain`.
pub fn sandboxed(rule: Rule, args: &[&str], local_bin: bool) -> bool {
    let first = args.first().copied().unwrap_or("");
    match rule {
        Rule::DirectOnly(direct) => first.is_empty() || !direct.contains(&first),
        Rule::SandboxOnly(sandbox) => sandbox.contains(&first),
        Rule::LocalBinOrSandbox => !local_bin,
        Rule::Always => true,
    }
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }

    /// The line a user adds to their rc file.
    fn rc_line(self) -> &'static str {
        match self {
            Shell::Bash => "command -v safe-install >/dev/null && eval \"$(safe-install shell-init bash)\"   # ~/.bashrc",
            Shell::Zsh => "command -v safe-install >/dev/null && eval \"$(safe-install shell-init zsh)\"    # ~/.zshrc",
            Shell::Fish => "command -q safe-install; and safe-install shell-init fish | source   # ~/.config/fish/config.fish",
        }
    }
}

/// The script for `shell`: a comment header, then one function per tool in [`ROUTES`].
pub fn render(shell: Shell) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# safe-install shell integration ({}), printed by `safe-install shell-init {}`.",
        shell.name(),
        shell.name()
    );
    let _ = writeln!(out, "# Load it from your rc file:");
    let _ = writeln!(out, "#   {}", shell.rc_line());
    let _ = writeln!(
        out,
        "# Each function runs the commands that install, or run package code at install time, inside"
    );
    let _ = writeln!(
        out,
        "# safe-install's sandbox, and everything else (npm start, npm test, pip list) as it is."
    );
    let _ = writeln!(
        out,
        "# To run one command without the sandbox, type `command npm ...` (the real npm). Sourcing"
    );
    let _ = writeln!(
        out,
        "# this twice is harmless; an alias of the same name is removed, since it would shadow the function."
    );
    for route in ROUTES {
        out.push('\n');
        let _ = writeln!(out, "# {}: {}", route.tool, route.why);
        match shell {
            Shell::Bash | Shell::Zsh => posix_function(&mut out, route),
            Shell::Fish => fish_function(&mut out, route),
        }
    }
    out
}

/// `a|b|c` for a `case` pattern; the empty word is `""`.
fn case_pattern(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() {
                "\"\"".to_string()
            } else {
                (*w).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn posix_function(out: &mut String, route: &Route) {
    let tool = route.tool;
    let sandbox = format!("command safe-install {tool} \"$@\"");
    let direct = format!("command {tool} \"$@\"");
    // `unalias` first: bash and zsh expand an alias in a function definition's name, which
    // would turn `npm() {` into a syntax error.
    let _ = writeln!(out, "unalias {tool} 2>/dev/null || true");
    match route.rule {
        Rule::Always => {
            let _ = writeln!(out, "{tool}() {{ {sandbox}; }}");
        }
        Rule::DirectOnly(words) => {
            let _ = writeln!(
                out,
                "{tool}() {{\n  case \"${{1-}}\" in\n    {}) {direct} ;;\n    *) {sandbox} ;;\n  esac\n}}",
                case_pattern(words)
            );
        }
        Rule::SandboxOnly(words) => {
            let _ = writeln!(
                out,
                "{tool}() {{\n  case \"${{1-}}\" in\n    {}) {sandbox} ;;\n    *) {direct} ;;\n  esac\n}}",
                case_pattern(words)
            );
        }
        Rule::LocalBinOrSandbox => {
            // The first word that is not an option names the binary.
            let _ = writeln!(
                out,
                "{tool}() {{\n  local __si_a __si_bin=\n  for __si_a in \"$@\"; do\n    case \"$__si_a\" in -*) ;; *) __si_bin=$__si_a; break ;; esac\n  done\n  if [ -n \"$__si_bin\" ] && [ -e \"node_modules/.bin/$__si_bin\" ]; then\n    {direct}\n  else\n    {sandbox}\n  fi\n}}"
            );
        }
    }
}

fn fish_function(out: &mut String, route: &Route) {
    let tool = route.tool;
    let sandbox = format!("command safe-install {tool} $argv");
    let direct = format!("command {tool} $argv");
    let _ = writeln!(
        out,
        "functions -q {tool}; and functions -e {tool}\nfunction {tool} --wraps {tool} --description '{tool}: installs inside safe-install (bypass: command {tool})'"
    );
    let words = |ws: &[&str]| {
        ws.iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match route.rule {
        Rule::Always => {
            let _ = writeln!(out, "    {sandbox}");
        }
        Rule::DirectOnly(ws) => {
            let _ = writeln!(
                out,
                "    set -l __si_first \"$argv[1]\"\n    if test (count $argv) -gt 0; and contains -- $__si_first {}\n        {direct}\n    else\n        {sandbox}\n    end",
                words(ws)
            );
        }
        Rule::SandboxOnly(ws) => {
            let _ = writeln!(
                out,
                "    set -l __si_first \"$argv[1]\"\n    if contains -- $__si_first {}\n        {sandbox}\n    else\n        {direct}\n    end",
                words(ws)
            );
        }
        Rule::LocalBinOrSandbox => {
            let _ = writeln!(
                out,
                "    set -l __si_bin\n    for __si_a in $argv\n        if not string match -q -- '-*' $__si_a\n            set __si_bin $__si_a\n            break\n        end\n    end\n    if test -n \"$__si_bin\"; and test -e \"node_modules/.bin/$__si_bin\"\n        {direct}\n    else\n        {sandbox}\n    end"
            );
        }
    }
    let _ = writeln!(out, "end");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_calls_safe_install_through_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = render(shell);
            for tool in tools() {
                let call = format!("command safe-install {tool} ");
                assert!(text.contains(&call), "{shell:?} lacks `{call}`:\n{text}");
            }
        }
    }

    #[test]
    fn installs_go_through_the_sandbox_and_the_projects_own_commands_do_not() {
        let rule = |tool: &str| {
            ROUTES
                .iter()
                .find(|r| r.tool == tool)
                .map(|r| r.rule)
                .unwrap_or(Rule::Always)
        };
        for (tool, args, local_bin, want) in [
            ("npm", &["ci"][..], false, true),
            ("npm", &["install", "x"][..], false, true),
            ("npm", &["rebuild"][..], false, true),
            ("npm", &["exec", "x"][..], false, true),
            ("npm", &["some-new-command"][..], false, true),
            ("npm", &[][..], false, true),
            ("npm", &["start"][..], false, false),
            ("npm", &["test"][..], false, false),
            ("npm", &["run", "dev"][..], false, false),
            ("npm", &["publish"][..], false, false),
            ("npm", &["create", "vite"][..], false, true),
            ("npm", &["init", "x"][..], false, true),
            ("pip", &["install", "x"][..], false, true),
            ("pip", &["download", "x"][..], false, true),
            ("pip", &["list"][..], false, false),
            ("pip3", &["freeze"][..], false, false),
            ("yarn", &[][..], false, true),
            ("yarn", &["add", "x"][..], false, true),
            ("yarn", &["dev"][..], false, false),
            ("pnpm", &["add", "x"][..], false, true),
            ("pnpm", &["dlx", "x"][..], false, true),
            ("pnpm", &["start"][..], false, false),
            ("uv", &["pip", "install", "x"][..], false, true),
            ("uv", &["sync"][..], false, true),
            ("uv", &["run", "app"][..], false, false),
            ("uv", &["tool", "run", "x"][..], false, true),
            ("yarn", &["dlx", "x"][..], false, true),
            ("yarn", &["create", "x"][..], false, true),
            ("npm", &["x", "y"][..], false, true),
            ("pnx", &["x"][..], false, true),
            ("npx", &["jest"][..], true, false),
            ("npx", &["create-thing"][..], false, true),
            ("pnpx", &["x"][..], true, true),
            ("uvx", &["x"][..], false, true),
        ] {
            assert_eq!(
                sandboxed(rule(tool), args, local_bin),
                want,
                "{tool} {args:?}"
            );
        }
    }
}
