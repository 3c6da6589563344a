//! npm and its relatives (npx, pnpm, yarn): recognition and project manifest.

/// Files that mark a Node.js project root.
pub const MANIFESTS: &[&str] = &["package.json"];

/// Program names of the npm family.
pub fn is_npm_tool(program: &str) -> bool {
    matches!(
        program,
        "npm" | "npx" | "pnpm" | "pnpx" | "yarn" | "yarnpkg" | "corepack"
    )
}

/// Whether `program` runs lifecycle scripts through npm's `script-shell` setting (read from
/// `npm_config_script_shell`), which is how scripts get trust level 2. Yarn 2+ runs scripts
/// in its own shell and classic yarn has no such setting: for those the whole command is
/// observed at one level.
pub fn has_script_shell(program: &str) -> bool {
    matches!(program, "npm" | "npx" | "pnpm" | "pnpx")
}
