//! The caller as safe-install found it: command line, environment, directories and ids, the
//! package manager recognised and its executable resolved by looking at files. Everything
//! the package managers' knowledge (`pm`) and the plan read about the run starts here.

use super::Detected;
use std::ffi::OsString;
use std::path::PathBuf;

/// Everything about the caller the plan depends on.
#[derive(Debug, Clone)]
pub struct Context {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Canonical current directory.
    pub cwd: PathBuf,
    /// Canonical real home directory.
    pub home: PathBuf,
    /// Canonical project directory.
    pub project: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub detected: Detected,
    /// The executable and the `PATH` it runs with (`pm::resolve`).
    pub resolved: super::resolve::Resolved,
}

impl Context {
    pub fn var(&self, name: &str) -> Option<&OsString> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The `PATH` the command runs with inside, which is also where safe-install looks for a
    /// tool's files on the host: for a package manager, without the directories package code
    /// can write.
    pub fn trusted_path(&self) -> Option<&std::ffi::OsStr> {
        self.resolved.path.as_deref()
    }
}
