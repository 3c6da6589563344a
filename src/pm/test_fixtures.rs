//! Test fixtures shared by the npm and pip configuration tests: both derive the registry
//! allow-list from an explicit environment and files on disk, and check the rules it yields.

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
