//! Issue 14's wiper (`tests/fixtures/trust/npm-wiper`, the package `si-wiper`): the wiper
//! packed for a world, snapshots of the project and the home (and of a venv), and the check
//! that a sandboxed run of it lost nothing outside its own package folder. Shared by npm's,
//! pnpm's and yarn's wiper tests; npm's bare control proves the fixture wipes. pip's wiper
//! (`tests/fixtures/trust/pip-wiper`, a build backend) shares the snapshots and
//! [`check_nothing_lost`].

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::netns::LoggedRun;
use super::*;

/// `si-wiper@1.0.0` packed into the world's tarballs, told to wipe the world's project and
/// home (and whatever home it is given). safe-install's own cache directory is made now, as
/// the first run would make it, so that a snapshot taken before the run already has it.
pub fn pack_wiper(world: &World) -> PathBuf {
    fs::create_dir_all(world.home.join(SAFE_INSTALL_CACHE)).expect("mkdir ~/.cache/safe-install");
    let staged = stage_npm_fixture(
        world,
        "trust/npm-wiper",
        "si-wiper",
        |_| {},
        "wiper-target.json",
        &serde_json::json!({ "project": world.project, "home": world.home }),
    );
    pack_npm_dir(world, &staged)
}

/// Paths to leave out of a [`ProjectAndHome`] snapshot, relative to the project and the home
/// (a directory leaves out everything beneath it): the wiper's own folder, and what the
/// package manager itself (level 1) rewrites on every run.
pub struct Skip<'a> {
    pub project: &'a [&'a str],
    pub home: &'a [&'a str],
}

/// Every file of the project and of the home (and of a venv) but those skipped, for
/// before/after comparisons.
pub struct ProjectAndHome {
    pub project: Tree,
    pub home: Tree,
    /// A venv outside the project, what is left out of it, and its files.
    pub venv: Option<(PathBuf, Vec<PathBuf>, Tree)>,
}

/// What safe-install itself keeps in the home for the package manager's level (Node's
/// compile cache, created before the run): never the wiper's doing, whoever runs first.
const SAFE_INSTALL_CACHE: &str = ".cache/safe-install";

impl ProjectAndHome {
    /// [`ProjectAndHome::read`] before a wiper's run, which must find the package manager's
    /// warm store or cache in the home (beneath `store`, relative to it, with a file name
    /// containing `entry`): a snapshot without it would prove nothing about it.
    pub fn read_with_store(world: &World, skip: &Skip, store: &str, entry: &str) -> ProjectAndHome {
        let before = ProjectAndHome::read(world, skip);
        assert!(
            before
                .home
                .keys()
                .any(|k| k.starts_with(store) && k.to_string_lossy().contains(entry)),
            "the warm install left nothing like {entry} in ~/{store}"
        );
        before
    }

    pub fn read(world: &World, skip: &Skip) -> ProjectAndHome {
        let tree = |dir: &Path, skip: &[&str]| {
            snapshot_tree(dir, world.root(), &|rel: &Path| {
                skip.iter().any(|s| rel == Path::new(s))
            })
        };
        let mut home = skip.home.to_vec();
        home.push(SAFE_INSTALL_CACHE);
        ProjectAndHome {
            project: tree(&world.project, skip.project),
            home: tree(&world.home, &home),
            venv: None,
        }
    }

    /// [`ProjectAndHome::read`], and every file of `venv` but those of `skip` (relative to
    /// the venv; a directory leaves out everything beneath it).
    pub fn read_with_venv(
        world: &World,
        skip: &Skip,
        venv: &Path,
        venv_skip: &[PathBuf],
    ) -> ProjectAndHome {
        let tree = snapshot_tree(venv, world.root(), &|rel: &Path| {
            venv_skip.iter().any(|s| rel == s)
        });
        ProjectAndHome {
            venv: Some((venv.to_path_buf(), venv_skip.to_vec(), tree)),
            ..ProjectAndHome::read(world, skip)
        }
    }

    /// The same trees read again, for the comparison after the run.
    fn read_again(&self, world: &World, skip: &Skip) -> ProjectAndHome {
        match &self.venv {
            Some((venv, venv_skip, _)) => {
                ProjectAndHome::read_with_venv(world, skip, venv, venv_skip)
            }
            None => ProjectAndHome::read(world, skip),
        }
    }
}

/// What to expect of a sandboxed run of the wiper installed at `own` (its package folder,
/// relative to the project): it ran (it deleted its own files at least), the project and the
/// home are as `before` outside what `skip` leaves out, and a refused write of each of
/// `refused` (a tail or part of the target) is logged as si-wiper's postinstall.
pub fn check_wiper(
    world: &World,
    r: &LoggedRun,
    own: &str,
    skip: &Skip,
    before: &ProjectAndHome,
    refused: &[&str],
) -> Problems {
    let mut p = Problems::new();
    let report_path = world.project.join(own).join("wiper-report.json");
    let counts: Option<Value> = fs::read_to_string(&report_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Some(counts) = counts else {
        p.push(format!(
            "the wiper wrote no report at {}",
            report_path.display()
        ));
        return p;
    };
    p.check(counts["deleted"].as_u64().unwrap_or(0) > 0, || {
        format!("the wiper deleted nothing, not even its own files: {counts}")
    });
    check_nothing_lost(
        &mut p,
        world,
        r,
        ("si-wiper@1.0.0", Some("postinstall")),
        skip,
        before,
        refused,
    );
    p
}

/// The project, the home (and the venv) are as `before` outside what `skip` leaves out, and
/// a refused write of each of `refused` (a tail or part of the target) is logged as `who`'s
/// (`name@version` and its script; `None`: any script, as long as it names one).
pub fn check_nothing_lost(
    p: &mut Problems,
    world: &World,
    r: &LoggedRun,
    who: (&str, Option<&str>),
    skip: &Skip,
    before: &ProjectAndHome,
    refused: &[&str],
) {
    let after = before.read_again(world, skip);
    for d in diff_trees(&before.project, &after.project) {
        p.check(false, || format!("project: {d}"));
    }
    for d in diff_trees(&before.home, &after.home) {
        p.check(false, || format!("home: {d}"));
    }
    if let (Some((_, _, want)), Some((_, _, got))) = (&before.venv, &after.venv) {
        for d in diff_trees(want, got) {
            p.check(false, || format!("venv: {d}"));
        }
    }
    let (package, script) = who;
    for target in refused {
        p.check(
            r.blocked_by(package, script, "write", "read-only-path", target) >= 1,
            || {
                format!(
                    "the wiper's refused deletion in {target} is not logged as {package} ({})",
                    script.unwrap_or("a hook")
                )
            },
        );
    }
}
