//! pnpm's content-addressable store: where it is for this caller, and the argument that pins
//! pnpm to it.
//!
//! pnpm hard-links package files from the store into the project. `link()` fails with
//! `EXDEV` between two mounts even on one filesystem, and pnpm then copies everything (10,
//! silently) or moves its store into `node_modules/.pnpm-store` (12). So the plan shows the
//! store on the project's mount (`plan::view`), and pnpm is told where it is with
//! `--config.store-dir=` (the command line beats every file): pnpm's own placement probe,
//! which would pick another directory when it cannot link, never runs, and a project's
//! `storeDir` (a project file, so not ours to trust with a read-write place) is overridden.

use crate::pm::Context;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The store directory this caller's pnpm uses, from the caller's own settings only: a store
/// the user named on the command line or in the environment, else pnpm's home
/// (`PNPM_HOME`, `$XDG_DATA_HOME/pnpm`, `~/.local/share/pnpm`) + `store`. pnpm adds its
/// layout version (`v10`, `v11`) beneath it.
pub fn store_dir(ctx: &Context) -> PathBuf {
    if let Some(p) = from_args(&ctx.argv) {
        return absolute(&ctx.cwd, &p);
    }
    let env_path = |name: &str| ctx.var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    for name in [
        "pnpm_config_store_dir",
        "PNPM_CONFIG_STORE_DIR",
        "npm_config_store_dir",
        "NPM_CONFIG_STORE_DIR",
    ] {
        if let Some(p) = env_path(name) {
            return p;
        }
    }
    let home = env_path("PNPM_HOME")
        .or_else(|| env_path("XDG_DATA_HOME").map(|d| d.join("pnpm")))
        .unwrap_or_else(|| ctx.home.join(".local/share/pnpm"));
    home.join("store")
}

/// The store the caller named on the command line (`--store-dir X`, `--store-dir=X`,
/// `--config.store-dir=X`).
pub fn from_args(argv: &[OsString]) -> Option<PathBuf> {
    let args: Vec<&str> = argv.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if *a == "--" {
            break;
        }
        for flag in ["--store-dir", "--config.store-dir", "--config.storeDir"] {
            if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                found = Some(PathBuf::from(v));
            } else if *a == flag {
                found = args.get(i + 1).map(PathBuf::from);
            }
        }
    }
    found
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// The argument that pins pnpm to `store`, unless the caller named one already.
pub fn pin_args(argv: &[OsString], store: &Path) -> Vec<OsString> {
    if from_args(argv).is_some() {
        return Vec::new();
    }
    let mut arg = OsString::from("--config.store-dir=");
    arg.push(store);
    vec![arg]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_store_named_on_the_command_line_wins_and_is_not_pinned_again() {
        let a = argv(&["pnpm", "install", "--store-dir", "/s"]);
        assert_eq!(from_args(&a), Some(PathBuf::from("/s")));
        assert!(pin_args(&a, Path::new("/other")).is_empty());
        let a = argv(&["pnpm", "--config.store-dir=/t", "i"]);
        assert_eq!(from_args(&a), Some(PathBuf::from("/t")));
        let a = argv(&["pnpm", "exec", "--", "x", "--store-dir=/u"]);
        assert_eq!(from_args(&a), None);
        assert_eq!(
            pin_args(&a, Path::new("/h/store")),
            vec![OsString::from("--config.store-dir=/h/store")]
        );
    }
}
