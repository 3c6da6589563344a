//! npm and its relatives (npx, pnpm, yarn): recognition and project manifest.

use std::path::Path;

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

/// The `integrity` values the project's lockfile (`npm-shrinkwrap.json`, else
/// `package-lock.json`) records for every installed copy of each package, by name. Lockfile
/// versions 2 and 3 (`packages`, keyed by install path) and 1 (nested `dependencies`).
pub fn locked_integrities(project: &Path) -> std::collections::HashMap<String, Vec<String>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    let text = ["npm-shrinkwrap.json", "package-lock.json"]
        .iter()
        .find_map(|f| std::fs::read_to_string(project.join(f)).ok());
    let Some(lock) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) else {
        return out;
    };
    if let Some(packages) = lock.get("packages").and_then(|p| p.as_object()) {
        for (path, entry) in packages {
            let Some((_, name)) = path.rsplit_once("node_modules/") else {
                continue;
            };
            if let Some(i) = entry.get("integrity").and_then(|i| i.as_str()) {
                out.entry(name.to_string()).or_default().push(i.to_string());
            }
        }
    }
    fn v1(deps: &serde_json::Value, out: &mut std::collections::HashMap<String, Vec<String>>) {
        let Some(deps) = deps.as_object() else { return };
        for (name, entry) in deps {
            if let Some(i) = entry.get("integrity").and_then(|i| i.as_str()) {
                out.entry(name.clone()).or_default().push(i.to_string());
            }
            if let Some(nested) = entry.get("dependencies") {
                v1(nested, out);
            }
        }
    }
    if let Some(deps) = lock.get("dependencies") {
        v1(deps, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrities_from_every_lockfile_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("package-lock.json"),
            r#"{ "lockfileVersion": 3, "packages": {
                 "": { "name": "app" },
                 "node_modules/sharp": { "version": "1.0.0", "integrity": "sha512-AAA" },
                 "node_modules/x/node_modules/@scope/sharp": { "integrity": "sha512-BBB" } },
               "dependencies": { "old": { "integrity": "sha1-CCC",
                 "dependencies": { "inner": { "integrity": "sha512-DDD" } } } } }"#,
        )
        .expect("write");
        let got = locked_integrities(dir.path());
        assert_eq!(got["sharp"], ["sha512-AAA"]);
        assert_eq!(got["@scope/sharp"], ["sha512-BBB"]);
        assert_eq!(got["old"], ["sha1-CCC"]);
        assert_eq!(got["inner"], ["sha512-DDD"]);
        assert!(!got.contains_key("app"));
    }
}
