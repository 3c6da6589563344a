//! Executing the planned view: an empty tmpfs root, the planned mounts on it parents-first,
//! then `pivot_root` into it and detach the host's tree.
//!
//! Kernel notes:
//! - Read-only is applied with `mount_setattr(AT_RECURSIVE)`, which only sets the flags asked
//!   for: a classic `MS_REMOUNT|MS_BIND|MS_RDONLY` would have to repeat flags the host mount
//!   has locked (nosuid, nodev, noexec) or fail with EPERM.
//! - `/proc` must be mounted before the old root is detached: the kernel only allows a new
//!   procfs in a user namespace while a fully visible one exists in the mount namespace.
//! - `pivot_root(".", ".")` stacks the old root on the new one; `umount2(".", MNT_DETACH)`
//!   then removes it without needing a `put_old` directory.

use super::report::{SetupError, Stage};
use crate::plan::{Mount, MountKind, Plan};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// The device nodes bound from the host.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A directory of the new root with what files are bound from: the empty file bound over
/// every hidden file, and the planned files' contents. Written, then made a read-only,
/// nosuid, nodev, noexec mount of its own: a bind takes the flags of its source's mount, so
/// no bound file needs a `mount_setattr` of its own.
const SOURCES: &str = ".safe-install-sources";
/// A file of the new root: the system-shell gate's program, bound over the system shell.
const GATE_FILE: &str = ".safe-install-gate";
/// In [`SOURCES`]: the empty file.
const EMPTY_FILE: &str = "empty";

fn err(stage: Stage, e: nix::errno::Errno, what: &str, path: &Path) -> SetupError {
    SetupError::errno(stage, e, format!("{what} {}", path.display()))
}

fn setattr(path: &Path, set: u64, recursive: bool) -> Result<(), SetupError> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| SetupError::new(Stage::Mounts, "path with NUL byte"))?;
    crate::sys::mount::set_attributes(&c, set, recursive)
        .map_err(|e| err(Stage::Mounts, e, "mount_setattr", path))
}

/// Existing directories the new root may be built on, in the child's own mount namespace.
const STAGING_CANDIDATES: &[&str] = &["/run", "/dev/shm", "/mnt", "/media", "/srv"];

/// The first candidate that exists and holds none of the plan's bind sources (covering it
/// would hide them from the binds).
pub fn staging_in_place(plan: &Plan) -> Option<PathBuf> {
    let sources: Vec<&Path> = plan
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::BindRo(src) | MountKind::BindRw(src) => Some(src.as_path()),
            _ => None,
        })
        .collect();
    STAGING_CANDIDATES
        .iter()
        .map(Path::new)
        .filter(|dir| {
            std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
                && !sources
                    .iter()
                    .any(|s| s.starts_with(dir) || dir.starts_with(s))
        })
        .map(Path::to_path_buf)
        .next()
}

/// `root` joined with an absolute sandbox path.
fn inside(root: &Path, target: &Path) -> PathBuf {
    root.join(target.strip_prefix("/").unwrap_or(target))
}

/// Build the view under `root` (an existing empty directory) and pivot into it.
/// Build the planned view on an empty tmpfs at `root` (its /proc mount fails as
/// [`Stage::Proc`], every other step as [`Stage::Mounts`]).
pub fn build(mounts: &[Mount], root: &Path) -> Result<(), SetupError> {
    // Nothing we mount may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| err(Stage::Mounts, e, "make private", Path::new("/")))?;
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=16m"),
    )
    .map_err(|e| err(Stage::Mounts, e, "mount tmpfs root at", root))?;

    let sources = write_sources(root, mounts)?;
    let mut done: Vec<&Mount> = Vec::new();
    for m in mounts {
        apply(root, m, &done, &sources)?;
        done.push(m);
    }
    // The root itself: nothing may be created next to the mount points.
    setattr(
        root,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        false,
    )
}

/// The file in `sources` holding the content of the `index`th planned mount.
fn content_file(sources: &Path, index: usize) -> PathBuf {
    sources.join(format!("file-{index}"))
}

/// Write [`SOURCES`] under `root` (the empty file, each planned file's content) and make it
/// the read-only mount every file bind comes from.
fn write_sources(root: &Path, mounts: &[Mount]) -> Result<PathBuf, SetupError> {
    let dir = root.join(SOURCES);
    std::fs::create_dir(&dir)
        .map_err(|e| SetupError::io(Stage::Mounts, &e, "mkdir the sources"))?;
    let create = |path: &Path, content: &[u8], what: &str| write_new(path, content, 0o444, what);
    create(&dir.join(EMPTY_FILE), b"", "create the empty file")?;
    for (index, m) in mounts.iter().enumerate() {
        if let MountKind::File(content) = &m.kind {
            create(
                &content_file(&dir, index),
                content.as_bytes(),
                &format!("write {}", m.target.display()),
            )?;
        }
    }
    bind(&dir, &dir)?;
    setattr(
        &dir,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        false,
    )?;
    Ok(dir)
}

/// Switch to the view built at `root` (`pivot_root`) and detach the host's tree.
pub fn enter(root: &Path) -> Result<(), SetupError> {
    std::env::set_current_dir(root)
        .map_err(|e| SetupError::io(Stage::PivotRoot, &e, "chdir to the new root"))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| err(Stage::PivotRoot, e, "pivot_root", root))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| err(Stage::PivotRoot, e, "detach the old root", root))?;
    std::env::set_current_dir("/").map_err(|e| SetupError::io(Stage::PivotRoot, &e, "chdir /"))?;
    Ok(())
}

/// Whether missing directories at `target` may be created: only inside a tmpfs of ours, never
/// inside a bind of the host (that would write to the user's files).
fn on_private_tmpfs(done: &[&Mount], target: &Path) -> bool {
    match done
        .iter()
        .filter(|m| target.starts_with(&m.target) && target != m.target)
        .max_by_key(|m| m.target.components().count())
    {
        None => true,
        Some(m) => matches!(m.kind, MountKind::Tmpfs | MountKind::Dev),
    }
}

fn make_dir(root: &Path, done: &[&Mount], target: &Path) -> Result<PathBuf, SetupError> {
    let path = inside(root, target);
    if !on_private_tmpfs(done, target) {
        if path.is_dir() {
            return Ok(path);
        }
        return Err(SetupError::new(
            Stage::Mounts,
            format!("mount point {} is missing on the host", target.display()),
        ));
    }
    // Ours to create, and most mount points are new: mkdir first, the parents when missing.
    mkdir_p(&path)
        .map_err(|e| SetupError::io(Stage::Mounts, &e, format!("mkdir {}", target.display())))?;
    Ok(path)
}

/// `mkdir -p` that tries each directory before looking at it (`create_dir_all` stats first).
fn mkdir_p(path: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                mkdir_p(parent)?;
            }
            match std::fs::create_dir(path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
                other => other,
            }
        }
        Err(e) => Err(e),
    }
}

fn make_file(root: &Path, done: &[&Mount], target: &Path) -> Result<PathBuf, SetupError> {
    let path = inside(root, target);
    if path.exists() {
        return Ok(path);
    }
    if let Some(parent) = target.parent() {
        make_dir(root, done, parent)?;
    }
    if !on_private_tmpfs(done, target) {
        return Err(SetupError::new(
            Stage::Mounts,
            format!("mount point {} is missing on the host", target.display()),
        ));
    }
    std::fs::File::create(&path)
        .map_err(|e| SetupError::io(Stage::Mounts, &e, format!("create {}", target.display())))?;
    Ok(path)
}

fn bind(source: &Path, dest: &Path) -> Result<(), SetupError> {
    mount(
        Some(source),
        dest,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err(Stage::Mounts, e, "bind", source))
}

/// Mount `m`, the `done.len()`th of the plan, with the files bound from `sources`.
fn apply(root: &Path, m: &Mount, done: &[&Mount], sources: &Path) -> Result<(), SetupError> {
    let t = &m.target;
    match &m.kind {
        MountKind::Tmpfs => {
            let dest = make_dir(root, done, t)?;
            let mode = if t == Path::new("/tmp")
                || t == Path::new("/var/tmp")
                || t == Path::new(crate::plan::trust::SCRIPT_TMP)
            {
                "mode=1777"
            } else {
                "mode=0700"
            };
            mount(
                Some("tmpfs"),
                &dest,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(mode),
            )
            .map_err(|e| err(Stage::Mounts, e, "mount tmpfs at", t))?;
        }
        MountKind::BindRo(src) | MountKind::BindRw(src) => {
            let dest = if src.is_dir() {
                make_dir(root, done, t)?
            } else {
                make_file(root, done, t)?
            };
            bind(src, &dest)?;
            let ro = matches!(m.kind, MountKind::BindRo(_));
            let flags =
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | if ro { MOUNT_ATTR_RDONLY } else { 0 };
            setattr(&dest, flags, true)?;
        }
        MountKind::Symlink(link) => {
            let path = inside(root, t);
            if let Some(parent) = t.parent() {
                make_dir(root, done, parent)?;
            }
            if std::fs::symlink_metadata(&path).is_err() {
                symlink(link, &path).map_err(|e| {
                    SetupError::io(Stage::Mounts, &e, format!("symlink {}", t.display()))
                })?;
            }
        }
        // Read-only, nosuid, nodev and noexec from the sources' mount.
        MountKind::HideFile => bind(&sources.join(EMPTY_FILE), &inside(root, t))?,
        MountKind::HideDir => {
            let dest = inside(root, t);
            mount(
                Some("tmpfs"),
                &dest,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=0555,size=4k"),
            )
            .map_err(|e| err(Stage::Mounts, e, "hide directory", t))?;
        }
        MountKind::Proc => {
            let dest = make_dir(root, done, t)?;
            mount(
                Some("proc"),
                &dest,
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| err(Stage::Proc, e, "mount proc at", t))?;
        }
        MountKind::Dev => dev(root, done, t)?,
        // Written by `write_sources`; the flags come from its mount.
        MountKind::File(_) => {
            let dest = make_file(root, done, t)?;
            bind(&content_file(sources, done.len()), &dest)?;
        }
        MountKind::ShellGate => {
            let gate = write_gate(root)?;
            let dest = make_file(root, done, t)?;
            bind(&gate, &dest)?;
            setattr(
                &dest,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                false,
            )?;
        }
    }
    Ok(())
}

/// The system-shell gate's program as a file of the new root (whose mount allows execution,
/// unlike [`SOURCES`]'), made read-only with the root at the end of [`build`]. A plan names
/// the gate only when this build has one.
fn write_gate(root: &Path) -> Result<PathBuf, SetupError> {
    let program = crate::plan::trust::SYSTEM_SHELL_GATE.ok_or_else(|| {
        SetupError::new(
            Stage::Mounts,
            "the plan names the system-shell gate, which this build does not have",
        )
    })?;
    let path = root.join(GATE_FILE);
    write_new(&path, program, 0o555, "write the system-shell gate")?;
    Ok(path)
}

/// A new file of the new root with `content` and `mode` (never one that exists: the root is
/// a fresh tmpfs).
fn write_new(path: &Path, content: &[u8], mode: u32, what: &str) -> Result<(), SetupError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, content))
        .map_err(|e| SetupError::io(Stage::Mounts, &e, what.to_string()))
}

/// A minimal /dev: a few host device nodes, a private devpts and shm.
fn dev(root: &Path, done: &[&Mount], t: &Path) -> Result<(), SetupError> {
    let dest = make_dir(root, done, t)?;
    mount(
        Some("tmpfs"),
        &dest,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )
    .map_err(|e| err(Stage::Mounts, e, "mount tmpfs at", t))?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let node = dest.join(name);
        std::fs::File::create(&node)
            .map_err(|e| SetupError::io(Stage::Mounts, &e, format!("create /dev/{name}")))?;
        bind(&host, &node)?;
    }
    // Every node bound so far at once (devpts and shm, mounted next, have their own flags).
    setattr(&dest, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, true)?;
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        symlink(to, dest.join(name))
            .map_err(|e| SetupError::io(Stage::Mounts, &e, format!("symlink /dev/{name}")))?;
    }
    let pts = dest.join("pts");
    std::fs::create_dir(&pts).map_err(|e| SetupError::io(Stage::Mounts, &e, "mkdir /dev/pts"))?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(|e| err(Stage::Mounts, e, "mount devpts at", &pts))?;
    let shm = dest.join("shm");
    std::fs::create_dir(&shm).map_err(|e| SetupError::io(Stage::Mounts, &e, "mkdir /dev/shm"))?;
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|e| err(Stage::Mounts, e, "mount tmpfs at", &shm))?;
    setattr(&dest, MOUNT_ATTR_RDONLY, false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mkdir_p;

    #[test]
    fn mkdir_p_makes_missing_parents_and_takes_an_existing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        mkdir_p(&deep).expect("nested");
        assert!(deep.is_dir());
        mkdir_p(&deep).expect("existing");
        mkdir_p(&dir.path().join("a/b/d")).expect("sibling");
        std::fs::write(dir.path().join("a/file"), "x").expect("file");
        let in_the_way = mkdir_p(&dir.path().join("a/file")).expect_err("a file is no directory");
        assert_eq!(in_the_way.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(mkdir_p(&dir.path().join("a/file/below")).is_err());
    }
}
