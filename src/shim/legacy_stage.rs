//! pip's legacy install step, staged. pip before 23.1, for an sdist without `pyproject.toml`
//! when the `wheel` package is missing (what `python3 -m venv` gives on Debian 12), does not
//! build a wheel: it runs the package's own `setup.py install`, which writes straight into
//! the venv. Given write access to the venv, that code could also delete or truncate what is
//! there (pip included), unlogged.
//!
//! So the step never gets it. The python shim runs it as a child with `--root <stage>`
//! (setuptools then writes `<stage>/<venv>/lib/…`, and its install record names the final
//! paths with the root stripped, which is what pip reads back), at level 2 like every build
//! step, able to write only temp and its build directory. Once it has exited, this process
//! (pip's child, level 1, in which no package code has run) moves what it installed into the
//! venv: only regular files and directories, only beneath the venv's `lib`, `lib64`,
//! `include` and `bin` (what the step could reach before), each file written beside its
//! destination and renamed over it. That is what a wheel could install, and nothing more: an
//! install adds and replaces files, it never deletes one.
//!
//! The stage lies in the sandbox's temp, which other package code may write while it is
//! read, so it is walked by descriptor without following any symbolic link: a link swapped in
//! for a staged directory or file cannot make this process copy something package code may
//! not read into the venv, where it could.

use nix::dir::Dir;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot make its stage directory: {0}")]
    Create(std::io::Error),
    #[error("cannot start the install step: {0}")]
    Spawn(std::io::Error),
    #[error("cannot read the stage at {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    #[error(
        "setup.py install left {0} in its stage, which is neither a file nor a directory; \
         only files and directories are installed"
    )]
    NotAFile(PathBuf),
    #[error(
        "setup.py install wanted to install {0}, outside the venv's lib, include and bin; \
         nothing of it was installed"
    )]
    Outside(PathBuf),
    #[error("cannot install {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Whether pip chose where the step installs (`--root`, `--prefix`, `--home` for
/// `--target`, `--user`): then it is not staged, and writes only where any build step may
/// (`--target` goes through pip's temp).
pub fn chooses_its_own_root(args: &[OsString]) -> bool {
    args.iter().any(|a| {
        let a = a.as_bytes();
        ["--root", "--prefix", "--home", "--user"]
            .iter()
            .any(|f| a == f.as_bytes() || a.starts_with(format!("{f}=").as_bytes()))
    })
}

/// Run the step (`exe`, this interpreter file, with pip's `args` and `--root <stage>`),
/// then install what it staged beneath `dirs`. Returns the exit status for pip.
pub fn run(exe: &Path, args: &[OsString], dirs: &[PathBuf]) -> Result<i32, StageError> {
    let stage = tempfile::Builder::new()
        .prefix("safe-install-setup-py-install-")
        .tempdir()
        .map_err(StageError::Create)?;
    let mut child = std::process::Command::new(exe);
    if let Some(argv0) = args.first() {
        // Python derives sys.executable and the venv from argv[0].
        child.arg0(argv0);
    }
    let status = child
        .args(args.iter().skip(1))
        .arg("--root")
        .arg(stage.path())
        .status()
        .map_err(StageError::Spawn)?;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    };
    if code != 0 {
        return Ok(code);
    }
    let files = read_stage(stage.path())?;
    let installs = destinations(files, dirs)?;
    for (dest, file) in installs {
        install(&dest, file)?;
    }
    Ok(0)
}

/// A staged regular file: its path relative to the stage, its open descriptor and whether
/// it is executable.
struct Staged {
    rel: PathBuf,
    fd: OwnedFd,
    executable: bool,
}

/// Every regular file beneath `stage`, opened without following links; anything else that
/// is not a directory is an error.
fn read_stage(stage: &Path) -> Result<Vec<Staged>, StageError> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_DIRECTORY;
    let dir = Dir::open(stage, flags, Mode::empty()).map_err(|source| StageError::Read {
        path: stage.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    walk(dir, PathBuf::new(), &mut files)?;
    Ok(files)
}

fn walk(mut dir: Dir, rel: PathBuf, files: &mut Vec<Staged>) -> Result<(), StageError> {
    let names: Vec<OsString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    for name in names {
        let path = rel.join(&name);
        // O_NONBLOCK: a FIFO planted in the stage must not block the open.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = match openat(&dir, name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENXIO) => {
                return Err(StageError::NotAFile(path))
            }
            Err(source) => return Err(StageError::Read { path, source }),
        };
        let st = fstat(&fd).map_err(|source| StageError::Read {
            path: path.clone(),
            source,
        })?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFDIR {
            let sub = Dir::from_fd(fd).map_err(|source| StageError::Read {
                path: path.clone(),
                source,
            })?;
            walk(sub, path, files)?;
        } else if kind == SFlag::S_IFREG {
            files.push(Staged {
                rel: path,
                fd,
                executable: st.st_mode & 0o111 != 0,
            });
        } else {
            return Err(StageError::NotAFile(path));
        }
    }
    Ok(())
}

/// Where each staged file goes: `/` + its path in the stage, which must lie strictly beneath
/// one of `dirs`. All are checked before anything is written: a step that wanted one file
/// elsewhere installs nothing.
fn destinations(
    files: Vec<Staged>,
    dirs: &[PathBuf],
) -> Result<Vec<(PathBuf, Staged)>, StageError> {
    files
        .into_iter()
        .map(|f| {
            let dest = Path::new("/").join(&f.rel);
            let plain = f
                .rel
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            if plain && beneath_one(&dest, dirs) {
                Ok((dest, f))
            } else {
                Err(StageError::Outside(dest))
            }
        })
        .collect()
}

/// Whether `dest` lies strictly beneath one of `dirs`.
fn beneath_one(dest: &Path, dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| dest.starts_with(d) && dest != d)
}

/// Write `file` at `dest`: the directories beneath the allowed one made as needed, the content written to a new file beside `dest`
/// and renamed over it, mode 0755 or 0644.
fn install(dest: &Path, file: Staged) -> Result<(), StageError> {
    let err = |source| StageError::Write {
        path: dest.to_path_buf(),
        source,
    };
    // The venv is level 1's: package code cannot have put a link there.
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(err)?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent.join(format!(".{name}.safe-install-{}", std::process::id()));
    let mode = if file.executable { 0o755 } else { 0o644 };
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(err)?;
    let mut src = std::fs::File::from(file.fd);
    let copied = std::io::copy(&mut src, &mut out)
        .and_then(|_| out.flush())
        .and_then(|()| std::fs::rename(&tmp, dest));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn pips_own_roots_are_not_staged() {
        let base = ["python", "-c", "x", "install", "--record", "/tmp/r"];
        assert!(!chooses_its_own_root(&os(&base)));
        for extra in [
            &["--root", "/r"][..],
            &["--prefix=/p"],
            &["--home", "/tmp/pip-target-x"],
            &["--user", "--prefix="],
        ] {
            let mut a = base.to_vec();
            a.extend_from_slice(extra);
            assert!(chooses_its_own_root(&os(&a)), "{extra:?}");
        }
        // A value that merely starts like a flag is not one.
        assert!(!chooses_its_own_root(&os(&["python", "--rooted"])));
    }

    #[test]
    fn staged_files_install_beneath_the_venvs_dirs_only() {
        let stage = tempfile::tempdir().expect("test setup");
        let venv = tempfile::tempdir().expect("test setup");
        let lib = venv.path().join("lib");
        let bin = venv.path().join("bin");
        std::fs::create_dir_all(lib.join("site")).expect("test setup");
        std::fs::create_dir_all(&bin).expect("test setup");
        std::fs::write(lib.join("site/keep.py"), "keep").expect("test setup");
        std::fs::write(lib.join("site/old.py"), "old").expect("test setup");
        let staged = |rel: &Path| {
            stage
                .path()
                .join(rel.strip_prefix("/").expect("test setup"))
        };
        std::fs::create_dir_all(staged(&lib.join("site/pkg"))).expect("test setup");
        std::fs::write(staged(&lib.join("site/pkg/__init__.py")), "new").expect("test setup");
        std::fs::write(staged(&lib.join("site/old.py")), "replaced").expect("test setup");
        std::fs::create_dir_all(staged(&bin)).expect("test setup");
        std::fs::write(staged(&bin.join("tool")), "#!/bin/sh\n").expect("test setup");
        std::fs::set_permissions(
            staged(&bin.join("tool")),
            std::os::unix::fs::PermissionsExt::from_mode(0o4777),
        )
        .expect("test setup");
        let dirs = [lib.clone(), bin.clone()];
        let files = read_stage(stage.path()).expect("test setup");
        for (dest, f) in destinations(files, &dirs).expect("test setup") {
            install(&dest, f).expect("test setup");
        }
        assert_eq!(
            std::fs::read_to_string(lib.join("site/pkg/__init__.py")).expect("test setup"),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(lib.join("site/old.py")).expect("test setup"),
            "replaced"
        );
        assert_eq!(
            std::fs::read_to_string(lib.join("site/keep.py")).expect("test setup"),
            "keep"
        );
        let mode = std::fs::metadata(bin.join("tool"))
            .expect("test setup")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777,
            0o755
        );
    }

    #[test]
    fn a_file_outside_the_dirs_installs_nothing() {
        let stage = tempfile::tempdir().expect("test setup");
        let venv = tempfile::tempdir().expect("test setup");
        let lib = venv.path().join("lib");
        std::fs::create_dir_all(&lib).expect("test setup");
        let staged = |rel: &Path| {
            stage
                .path()
                .join(rel.strip_prefix("/").expect("test setup"))
        };
        std::fs::create_dir_all(staged(&lib)).expect("test setup");
        std::fs::write(staged(&lib.join("a.py")), "a").expect("test setup");
        std::fs::write(staged(&venv.path().join("pyvenv.cfg")), "planted").expect("test setup");
        let files = read_stage(stage.path()).expect("test setup");
        let err = destinations(files, std::slice::from_ref(&lib))
            .err()
            .expect("test setup");
        assert!(matches!(err, StageError::Outside(p) if p.ends_with("pyvenv.cfg")));
    }

    #[test]
    fn a_symbolic_link_or_fifo_in_the_stage_is_refused() {
        let stage = tempfile::tempdir().expect("test setup");
        std::fs::create_dir(stage.path().join("d")).expect("test setup");
        std::os::unix::fs::symlink("/etc/passwd", stage.path().join("d/link")).expect("test setup");
        assert!(matches!(
            read_stage(stage.path()),
            Err(StageError::NotAFile(p)) if p == Path::new("d/link")
        ));
        let stage = tempfile::tempdir().expect("test setup");
        nix::unistd::mkfifo(&stage.path().join("fifo"), Mode::from_bits_truncate(0o600))
            .expect("test setup");
        assert!(matches!(
            read_stage(stage.path()),
            Err(StageError::NotAFile(_))
        ));
    }
}
