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
