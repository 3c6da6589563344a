//! `safe-install shell-init bash|zsh|fish`: shell functions that send every package-manager
//! command typed at the prompt through safe-install.
//!
//! Functions rather than aliases: bash expands aliases only in interactive shells, and a
//! function can be bypassed the same way in all three shells (`command npm`). The functions
//! cannot recurse: each calls `command safe-install`, which skips shell functions, and
//! safe-install starts the package manager with `execve` after its own PATH search
//! (`sandbox::init`), which never sees the caller's shell functions or aliases. The functions
//! are not exported, so a child shell (npm's `sh -c` for a lifecycle script) runs the real
//! tool, already inside the sandbox.

use std::fmt::Write as _;

/// The commands that get a wrapper: the tools whose installs run strangers' code.
pub const TOOLS: &[&str] = &["npm", "npx", "pnpm", "yarn", "pip", "pip3", "uv"];

/// A shell whose syntax `shell-init` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
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

/// The script for `shell`: a comment header, then one function per tool in [`TOOLS`].
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
        "# Each function runs the tool inside safe-install's sandbox. To run one tool without"
    );
    let _ = writeln!(
        out,
        "# it, type `command npm ...` (the real npm). Sourcing this twice is harmless; an alias"
    );
    let _ = writeln!(
        out,
        "# of the same name is removed, since it would shadow the function."
    );
    for tool in TOOLS {
        out.push('\n');
        match shell {
            Shell::Bash | Shell::Zsh => {
                // `unalias` first: bash and zsh expand an alias in a function definition's
                // name, which would turn `npm() {` into a syntax error.
                let _ = writeln!(out, "unalias {tool} 2>/dev/null || true");
                let _ = writeln!(out, "{tool}() {{ command safe-install {tool} \"$@\"; }}");
            }
            Shell::Fish => {
                let _ = writeln!(
                    out,
                    "functions -q {tool}; and functions -e {tool}\n\
                     function {tool} --wraps {tool} --description '{tool} inside safe-install (bypass: command {tool})'\n    \
                     command safe-install {tool} $argv\nend"
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_calls_safe_install_through_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = render(shell);
            for tool in TOOLS {
                let call = format!("command safe-install {tool} ");
                assert!(text.contains(&call), "{shell:?} lacks `{call}`:\n{text}");
            }
        }
    }
}
