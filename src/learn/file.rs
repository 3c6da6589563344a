//! Writing the learned policy without ever losing a file the user wrote.
//!
//! - A file that exists and is not a previous learn output (its first line is not
//!   [`MARKER`]) is never replaced: [`check_target`] refuses before the install runs, and
//!   [`write`] checks again (the project is writable from inside the sandbox).
//! - A previous learn output is kept as `<file>.bak` (the backup path obeys the same rule).
//! - The new text goes to a temporary file in the same directory, is synced, and is renamed
//!   into place with `RENAME_NOREPLACE` (through `tempfile`'s `persist_noclobber`), so a
//!   reader sees the old file, no file, or the whole new one, and a file created meanwhile
//!   is not clobbered. Symbolic links are never followed: one planted at the target or the
//!   backup path is refused, not written through.

use super::render::MARKER;
use std::fs::File;
use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(
        "--learn {path}: this file exists and was not written by --learn; refusing to \
         overwrite it. Name another file with --learn=FILE, or move this one away first"
    )]
    NotLearnOutput { path: PathBuf },
    #[error(
        "--learn {path}: not a regular file (a symbolic link, a directory, ...); refusing to \
         write there. Name another file with --learn=FILE"
    )]
    NotRegular { path: PathBuf },
    #[error("--learn: cannot read {path} to check it is a previous learn output")]
    Inspect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--learn takes its file name after `=`: `--learn={file} {rest}`. As written, \
         `{file}` would be run as the command"
    )]
    FileAsCommand { file: String, rest: String },
    #[error(
        "--learn= needs a file name (or write --learn alone for {})",
        super::DEFAULT_FILE
    )]
    EmptyFile,
    #[error("--learn: cannot write the learned policy to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LearnError {
    /// The documented exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            LearnError::FileAsCommand { .. } | LearnError::EmptyFile => crate::exit::USAGE,
            _ => crate::exit::INVALID_INPUT,
        }
    }
}

/// What [`write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Created,
    /// A previous learn output was replaced and kept at `backup`.
    Replaced {
        backup: PathBuf,
    },
}

/// Where a replaced learn output is kept.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Fails unless writing `path` (and its backup) can lose nothing the user wrote: each is
/// absent or a regular file whose first line is [`MARKER`]. Returns whether `path` exists.
pub fn check_target(path: &Path) -> Result<bool, LearnError> {
    let exists = check_one(path)?;
    if exists {
        check_one(&backup_path(path))?;
    }
    Ok(exists)
}

fn check_one(path: &Path) -> Result<bool, LearnError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(LearnError::Inspect {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.file_type().is_file() {
        return Err(LearnError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let inspect = |source| LearnError::Inspect {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(inspect)?;
    let mut first = String::new();
    BufReader::new(file.take(4096))
        .read_line(&mut first)
        .map_err(inspect)?;
    if first.trim_end_matches(['\n', '\r']) == MARKER {
        Ok(true)
    } else {
        Err(LearnError::NotLearnOutput {
            path: path.to_path_buf(),
        })
    }
}

/// Atomically write `text` to `path`, keeping a previous learn output as `<path>.bak`.
pub fn write(path: &Path, text: &str) -> Result<Written, LearnError> {
    let err = |source| LearnError::Write {
        path: path.to_path_buf(),
        source,
    };
    let existed = check_target(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".safe-install-learn-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    // A policy is meant to be read (and committed) like the project's other files.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    let outcome = if existed {
        let backup = backup_path(path);
        // `rename` replaces a symbolic link planted at `backup` rather than following it;
        // `check_target` made sure nothing there is the user's.
        std::fs::rename(path, &backup).map_err(err)?;
        Written::Replaced { backup }
    } else {
        Written::Created
    };
    tmp.persist_noclobber(path).map_err(|e| err(e.error))?;
    if let Ok(d) = File::open(dir) {
        // The rename is durable once the directory is; failing to sync it loses nothing.
        let _ = d.sync_all();
    }
    Ok(outcome)
}
