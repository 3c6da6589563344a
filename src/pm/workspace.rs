//! Workspaces (monorepos): started in a member's directory, npm, pnpm, yarn and uv take the
//! workspace's root as their project (its configuration, its lockfile, its install tree).
//! Each tool finds that root by its own rule ([`super::PackageManager::workspace_root`]);
//! what they share is here: reading the member globs a root declares, and matching a
//! member's path against them as the tools' glob libraries do (`*` stays within one path
//! component, `**` crosses them, `!pattern` excludes).

use globset::{GlobBuilder, GlobMatcher};
use std::path::{Component, Path, PathBuf};

/// One member pattern: `negate` for `!pattern`.
struct Pattern {
    glob: GlobMatcher,
    negate: bool,
}

/// The patterns, in order. A pattern that does not compile matches nothing (the member then
/// stays its own project: the tool inside sees less, never more).
fn compile(patterns: &[String]) -> Vec<Pattern> {
    patterns
        .iter()
        .filter_map(|p| {
            let (negate, p) = match p.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            let p = p.trim_start_matches("./").trim_end_matches('/');
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .ok()?
                .compile_matcher();
            Some(Pattern { glob, negate })
        })
        .collect()
}

/// Whether `member` (a directory) is one of the members `patterns` declare for the workspace
/// at `root`: the last pattern that matches its relative path decides (npm's
/// map-workspaces adds and removes in order; yarn's micromatch and uv's `exclude` give the
/// same answer for lists whose exclusions follow their inclusions). A path through a
/// `node_modules` is never a member.
pub fn is_member(root: &Path, member: &Path, patterns: &[String]) -> bool {
    let Ok(rel) = member.strip_prefix(root) else {
        return false;
    };
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| c == Component::Normal("node_modules".as_ref()))
    {
        return false;
    }
    compile(patterns)
        .iter()
        .rev()
        .find(|p| p.glob.is_match(rel))
        .is_some_and(|p| !p.negate)
}

/// The member patterns of a `package.json`'s `workspaces` (an array, or an object with a
/// `packages` array: yarn 1's form), `None` when it declares none or cannot be read.
pub fn package_json_workspaces(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let list = match &json["workspaces"] {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => o.get("packages")?.as_array()?,
        _ => return None,
    };
    Some(
        list.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// The nearest strict ancestor of `nearest` for which `is_root` says yes.
pub fn ancestor_root(nearest: &Path, mut is_root: impl FnMut(&Path) -> bool) -> Option<PathBuf> {
    nearest
        .ancestors()
        .skip(1)
        .find(|dir| is_root(dir))
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn members_match_as_the_tools_globs_do() {
        let root = Path::new("/r");
        let m = |dir: &str, p: &[&str]| is_member(root, &root.join(dir), &pats(p));
        assert!(m("packages/a", &["packages/*"]));
        assert!(m("packages/a", &["./packages/*/"]));
        assert!(!m("packages/a/b", &["packages/*"]));
        assert!(m("packages/a/b", &["packages/**"]));
        assert!(m("apps/web", &["packages/*", "apps/web"]));
        assert!(!m("packages/old", &["packages/*", "!packages/old"]));
        assert!(m("packages/old", &["!packages/old", "packages/*"]));
        assert!(!m("node_modules/x", &["**"]));
        assert!(!m("packages/node_modules/x", &["packages/**"]));
        assert!(!m("", &["*"]));
        assert!(!m("packages/a", &["packages/[", "other/*"]));
        assert!(!is_member(root, Path::new("/elsewhere/a"), &pats(&["**"])));
    }

    /// The root each tool takes from `member` of the tree `files` (below a temporary root),
    /// for `argv` and `env`; relative to the temporary root.
    fn root_of(
        files: &[(&str, &str)],
        member: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> Option<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = dir.path();
        crate::pm::test_fixtures::write_files(top, files);
        let project = top.join(member);
        std::fs::create_dir_all(&project).expect("member");
        let ctx = crate::pm::test_fixtures::tool_context(
            top.join("tool"),
            argv,
            env,
            &top.join("home"),
            &project,
        );
        ctx.detected
            .manager
            .workspace_root(&ctx)
            .map(|r| r.strip_prefix(top).unwrap_or(&r).display().to_string())
    }

    #[test]
    fn npm_takes_the_first_ancestor_whose_workspaces_include_the_package() {
        let tree = [
            (
                "m/package.json",
                r#"{ "workspaces": ["packages/*", "!packages/old"] }"#,
            ),
            ("m/packages/a/package.json", "{}"),
            ("m/packages/old/package.json", "{}"),
            ("m/packages/a/sub/package.json", "{}"),
        ];
        let npm = |member: &str, argv: &[&str]| root_of(&tree, member, argv, &[]);
        assert_eq!(npm("m/packages/a", &["npm", "ci"]), Some("m".into()));
        assert_eq!(npm("m/packages/old", &["npm", "ci"]), None);
        // Not a member of m: npm goes on up, and finds none.
        assert_eq!(npm("m/packages/a/sub", &["npm", "ci"]), None);
        for off in [
            &["npm", "ci", "--no-workspaces"][..],
            &["npm", "ci", "--workspaces", "false"],
            &["npm", "i", "-g", "x"],
            &["npm", "i", "--location=global", "x"],
            &["npm", "--prefix", ".", "ci"],
        ] {
            assert_eq!(npm("m/packages/a", off), None, "{off:?}");
        }
        assert_eq!(
            npm("m/packages/a", &["npm", "run", "x", "--", "-g"]),
            Some("m".into())
        );
    }

    #[test]
    fn pnpm_takes_the_nearest_workspace_file_or_the_named_directory() {
        let tree = [
            ("w/pnpm-workspace.yaml", "packages:\n  - 'p/*'\n"),
            ("w/package.json", "{}"),
            ("w/p/a/package.json", "{}"),
            ("other/pnpm-workspace.yaml", ""),
        ];
        let pnpm = |argv: &[&str], env: &[(&str, &str)]| root_of(&tree, "w/p/a", argv, env);
        assert_eq!(pnpm(&["pnpm", "install"], &[]), Some("w".into()));
        assert_eq!(pnpm(&["pnpm", "install", "--ignore-workspace"], &[]), None);
        let named = pnpm(
            &["pnpm", "install"],
            &[("NPM_CONFIG_WORKSPACE_DIR", "/elsewhere")],
        );
        assert_eq!(named, Some("/elsewhere".into()));
    }

    #[test]
    fn uv_asks_the_first_ancestor_with_a_pyproject_only() {
        let ws = "[project]\nname = 'r'\n[tool.uv.workspace]\nmembers = ['libs/*']\nexclude = ['libs/skip']\n";
        let tree = [
            ("r/pyproject.toml", ws),
            ("r/libs/a/pyproject.toml", "[project]\nname = 'a'\n"),
            ("r/libs/skip/pyproject.toml", "[project]\nname = 'skip'\n"),
            ("r/libs/a/tests/t/pyproject.toml", "[project]\nname = 't'\n"),
        ];
        let uv = |member: &str| root_of(&tree, member, &["uv", "sync"], &[]);
        assert_eq!(uv("r/libs/a"), Some("r".into()));
        assert_eq!(uv("r/libs/skip"), None);
        // Inside another project (a's): that project decides, and it declares no workspace.
        assert_eq!(uv("r/libs/a/tests/t"), None);
        assert_eq!(uv("r"), None);
    }

    #[test]
    fn package_json_workspaces_in_both_forms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |text: &str| std::fs::write(dir.path().join("package.json"), text).expect("write");
        write(r#"{ "workspaces": ["a/*", "b"] }"#);
        assert_eq!(
            package_json_workspaces(dir.path()),
            Some(pats(&["a/*", "b"]))
        );
        write(r#"{ "workspaces": { "packages": ["c/*"], "nohoist": ["x"] } }"#);
        assert_eq!(package_json_workspaces(dir.path()), Some(pats(&["c/*"])));
        write(r#"{ "name": "x" }"#);
        assert_eq!(package_json_workspaces(dir.path()), None);
        write("not json");
        assert_eq!(package_json_workspaces(dir.path()), None);
    }
}
