//! Landlock mode's filesystem view, by Landlock rules alone: no mount namespace, so the
//! plan's mounts become rules on the host's own paths.
//!
//! Landlock only grants (rules are unions along the path, tied to inodes), so "the project
//! read-write except `.env` and `.git`" cannot be one rule. A directory that holds a carve-out
//! (a hidden file, a masked path, a read-only place inside a writable one) gets only the right
//! to list it; each of its existing entries gets the directory's rights on its own, except the
//! carve-outs; the directories leading to a carve-out are treated the same way, recursively.
//! Consequences, listed in the `degraded` event: hidden files are unreadable rather than
//! empty, and such directories accept no new entries (creating, renaming and removing in them
//! needs a right that would be inherited by the carve-outs too).

use super::{Grant, Layer, Rule, Tcp};
use crate::plan::{MountKind, Plan};
use std::path::{Path, PathBuf};

/// Device nodes usable in landlock mode (the full sandbox's private /dev has these).
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// The places the plan shows, with what each may do; `tmp` is the private TMPDIR.
pub(crate) fn roots(plan: &Plan, tmp: &Path) -> Vec<(PathBuf, Grant)> {
    let mut roots = Vec::new();
    for m in &plan.mounts {
        let grant = match &m.kind {
            MountKind::BindRo(_) => Grant::Read,
            MountKind::BindRw(_) => Grant::Write,
            // The host's /proc, read-only: root's sysctl files are writable by uid 0 even
            // without capabilities. Other processes' environ and memory need ptrace access,
            // which Landlock refuses outside the sandbox.
            MountKind::Proc => Grant::Read,
            // Private places (home, /tmp) and hidden files: nothing of the host's shows.
            MountKind::Tmpfs | MountKind::HideFile | MountKind::HideDir => Grant::None,
            MountKind::Dev => {
                for d in DEVICES {
                    roots.push((PathBuf::from(d), Grant::Device));
                }
                continue;
            }
            // Links exist on the host already; a generated file (resolv.conf) cannot replace
            // the host's without a mount namespace.
            MountKind::Symlink(_) | MountKind::File(_) | MountKind::ShellGate => continue,
        };
        roots.push((m.target.clone(), grant));
    }
    roots.push((tmp.to_path_buf(), Grant::Write));
    roots
}

/// Whether `inner` (beneath a root with `outer`) must be carved out of it: a union of rules
/// would otherwise give it `outer`'s rights.
fn carved(outer: Grant, inner: Grant) -> bool {
    inner < outer
}

/// Landlock mode's layer for the plan: its view as rules (reading directories: the entries
/// around carve-outs), and no TCP at all.
pub fn layer(plan: &Plan, tmp: &Path) -> Layer {
    Layer {
        rules: build(plan, tmp),
        tcp: Tcp::Closed,
    }
}

/// The filesystem rules for the plan. Reads directories (the entries around carve-outs).
pub fn build(plan: &Plan, tmp: &Path) -> Vec<Rule> {
    let roots = roots(plan, tmp);
    let mut out = Vec::new();
    for (path, grant) in &roots {
        if matches!(grant, Grant::None) {
            continue;
        }
        if *grant == Grant::Device {
            out.push(Rule {
                path: path.clone(),
                grant: *grant,
            });
            continue;
        }
        let cuts: Vec<&Path> = roots
            .iter()
            .filter(|(p, g)| p != path && p.starts_with(path) && carved(*grant, *g))
            .map(|(p, _)| p.as_path())
            .collect();
        emit(path, *grant, &cuts, &mut out);
    }
    out
}

fn emit(dir: &Path, grant: Grant, cuts: &[&Path], out: &mut Vec<Rule>) {
    let inside: Vec<&Path> = cuts
        .iter()
        .copied()
        .filter(|c| c.starts_with(dir) && *c != dir)
        .collect();
    if inside.is_empty() {
        out.push(Rule {
            path: dir.to_path_buf(),
            grant,
        });
        return;
    }
    out.push(Rule {
        path: dir.to_path_buf(),
        grant: Grant::List,
    });
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if inside.iter().any(|c| *c == p) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        // A rule is placed on what a path resolves to: a link in the project pointing at
        // ~/.ssh must not grant ~/.ssh. Links are followed under the target's own rules.
        if meta.file_type().is_symlink() {
            continue;
        }
        if inside.iter().any(|c| c.starts_with(&p)) {
            if meta.is_dir() {
                emit(&p, grant, &inside, out);
            }
        } else {
            out.push(Rule { path: p, grant });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_fixtures::{npm_ci, npm_policy, Project};
    use crate::plan::{build as build_plan, Context};
    use std::fs;

    /// A CI-style workspace beside the home, with ordinary directories and files next to
    /// the hidden ones and a symlink out to `~/.ssh`.
    fn fixture() -> (tempfile::TempDir, Context) {
        let (dir, ctx) = npm_ci(Project::BesideHome);
        for d in ["src", "node_modules"] {
            fs::create_dir_all(ctx.project.join(d)).expect("mkdir");
        }
        fs::write(ctx.project.join("config/app.json"), "{}").expect("write");
        std::os::unix::fs::symlink(ctx.home.join(".ssh"), ctx.project.join("keys"))
            .expect("symlink");
        (dir, ctx)
    }

    fn rules(ctx: &Context) -> Vec<Rule> {
        let tmp = Path::new("/tmp/private-tmp");
        let host = crate::plan::HostPlaces {
            proxy: "127.0.0.1:40000".parse().expect("address"),
            tmp: tmp.to_path_buf(),
            config: PathBuf::from("/tmp/private-config"),
        };
        let plan =
            build_plan(&npm_policy(), ctx, &crate::plan::Mode::Landlock(host)).expect("plan");
        build(&plan, tmp)
    }

    fn grant_of(rules: &[Rule], p: &Path) -> Option<Grant> {
        rules.iter().find(|r| r.path == p).map(|r| r.grant)
    }

    /// What a union of Landlock rules gives `p`: the best grant of any rule on it or an
    /// ancestor (List applies to the directory itself only in effect: it carries no file
    /// rights).
    fn effective(rules: &[Rule], p: &Path) -> Grant {
        rules
            .iter()
            .filter(|r| p.starts_with(&r.path))
            .map(|r| r.grant)
            .max()
            .unwrap_or(Grant::None)
    }

    #[test]
    fn hidden_files_get_no_rule_and_their_siblings_do() {
        let (_d, ctx) = fixture();
        let r = rules(&ctx);
        let project = &ctx.project;
        assert_eq!(grant_of(&r, project), Some(Grant::List));
        assert_eq!(effective(&r, &project.join(".env")), Grant::List);
        assert_eq!(
            effective(&r, &project.join("config/.env.production")),
            Grant::List
        );
        assert_eq!(
            effective(&r, &project.join("config/app.json")),
            Grant::Write
        );
        assert_eq!(effective(&r, &project.join("package.json")), Grant::Write);
        assert_eq!(
            effective(&r, &project.join("node_modules/x/index.js")),
            Grant::Write
        );
        assert_eq!(effective(&r, &project.join("src")), Grant::Write);
    }

    #[test]
    fn git_is_read_only_and_links_grant_nothing() {
        let (_d, ctx) = fixture();
        let r = rules(&ctx);
        assert_eq!(
            effective(&r, &ctx.project.join(".git/hooks/pre-commit")),
            Grant::Read
        );
        assert!(r.iter().all(|x| x.path != ctx.project.join("keys")));
        assert_eq!(effective(&r, &ctx.home.join(".ssh/id_rsa")), Grant::None);
    }

    #[test]
    fn home_is_closed_except_the_cache_and_tmp_is_private() {
        let (_d, ctx) = fixture();
        let r = rules(&ctx);
        assert_eq!(effective(&r, &ctx.home.join(".bashrc")), Grant::None);
        assert_eq!(effective(&r, &ctx.home.join(".npm/_cacache")), Grant::Write);
        assert_eq!(effective(&r, Path::new("/tmp/other")), Grant::None);
        assert_eq!(effective(&r, Path::new("/tmp/private-tmp/x")), Grant::Write);
        assert_eq!(effective(&r, Path::new("/proc/1/status")), Grant::Read);
        assert_eq!(effective(&r, Path::new("/usr/bin/env")), Grant::Read);
    }

    #[test]
    fn masked_system_files_are_carved_out_of_etc() {
        let (_d, ctx) = fixture();
        let r = rules(&ctx);
        if Path::new("/etc/shadow").exists() {
            assert_eq!(grant_of(&r, Path::new("/etc")), Some(Grant::List));
            assert_eq!(effective(&r, Path::new("/etc/shadow")), Grant::List);
        }
        if Path::new("/etc/passwd").exists() {
            assert_eq!(effective(&r, Path::new("/etc/passwd")), Grant::Read);
        }
    }
}
