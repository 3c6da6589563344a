//! A throw-away `npm ci` project for the unit tests that build a plan from it (the mount
//! view here, the Landlock rules of landlock mode).

use super::Context;
use crate::pm;
use crate::policy::{builtin, Policy};
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

/// Where the project lives: under the home directory (a laptop checkout) or beside it
/// (a CI workspace).
#[derive(Clone, Copy)]
pub enum Project {
    InHome,
    BesideHome,
}

/// A temporary tree with a home (`.ssh`, `.npm`) and an npm project holding a `.env`, a
/// `config/.env.production` and a `.git/hooks` directory, and the context of `npm ci` run
/// in it. The directory is removed when the returned guard drops.
pub fn npm_ci(project: Project) -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let home = root.join("home");
    let project: PathBuf = match project {
        Project::InHome => home.join("work/app"),
        Project::BesideHome => root.join("work/app"),
    };
    for d in [".ssh", ".npm"] {
        fs::create_dir_all(home.join(d)).expect("mkdir");
    }
    for d in [".git/hooks", "config"] {
        fs::create_dir_all(project.join(d)).expect("mkdir");
    }
    fs::write(project.join("package.json"), "{}").expect("write");
    fs::write(project.join(".env"), "SECRET=1").expect("write");
    fs::write(project.join("config/.env.production"), "SECRET=1").expect("write");
    let argv: Vec<OsString> = vec!["npm".into(), "ci".into()];
    let ctx = Context {
        resolved: Default::default(),
        detected: pm::detect(&argv),
        argv,
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: project.clone(),
        home,
        project,
        uid: 1234,
        gid: 1234,
    };
    (dir, ctx)
}

/// The built-in base and npm policy layers, as a run of `npm` gets them.
pub fn npm_policy() -> Policy {
    let mut p = Policy::default();
    p.add_layer("base", builtin::BASE.1).expect("base");
    p.add_layer("npm", builtin::NPM.1).expect("npm");
    p
}
