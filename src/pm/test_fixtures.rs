//! Test fixtures shared by the package managers' tests: they derive the registry allow-list
//! and the approval lists from an explicit environment and files on disk, and check what
//! they yield.

use crate::policy::allow::Rule;
use std::collections::BTreeMap;
use std::path::Path;

/// An environment map (as `NpmSources::env` / `PipSources::env` hold it) from name/value pairs.
pub fn env_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Write each `(relative path, text)` below `root`, creating the directories on the way.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
    }
}

/// Allow rules as a user would write them (`registry.example.com:443`), in order.
pub fn rules_as_written(rules: &[Rule]) -> Vec<String> {
    rules.iter().map(Rule::to_string).collect()
}

/// A [`super::Context`] for `argv` run by `program` (the tool's entry file), in `project`
/// with `home`, with `env` as the caller's environment.
pub fn tool_context(
    program: std::path::PathBuf,
    argv: &[&str],
    env: &[(&str, &str)],
    home: &Path,
    project: &Path,
) -> super::Context {
    let argv: Vec<std::ffi::OsString> = argv.iter().map(std::ffi::OsString::from).collect();
    super::Context {
        resolved: super::resolve::Resolved {
            program: Some(program),
            path: None,
            dropped: Vec::new(),
        },
        detected: super::detect(&argv),
        argv,
        env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        cwd: project.to_path_buf(),
        home: home.to_path_buf(),
        project: project.to_path_buf(),
        uid: 1,
        gid: 1,
    }
}
