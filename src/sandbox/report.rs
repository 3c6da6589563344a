//! Messages from the sandbox to the supervisor over a close-on-exec pipe: one JSON object per
//! line. EOF without `ExecFailed` means the command was executed. The child never panics past
//! setup: it reports and exits.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

/// The setup steps, in order; a failure names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    ParentDeath,
    IdMap,
    Hostname,
    Loopback,
    Mounts,
    Proc,
    PivotRoot,
    NoNewPrivs,
    Capabilities,
    Landlock,
    Seccomp,
    Fork,
    Exec,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::ParentDeath => "tying the sandbox's life to the supervisor",
            Stage::IdMap => "writing the user namespace id maps",
            Stage::Hostname => "setting the sandbox host name",
            Stage::Loopback => "bringing up the loopback interface",
            Stage::Mounts => "building the filesystem view",
            Stage::Proc => "mounting the sandbox's /proc",
            Stage::PivotRoot => "switching to the filesystem view",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Capabilities => "dropping capabilities",
            Stage::Landlock => "applying Landlock rules",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Fork => "starting the command",
            Stage::Exec => "executing the command",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LandlockStatus {
    Full,
    Partial,
    NotEnforced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "msg")]
pub enum Report {
    /// The view is in place (the supervisor may remove the staging directory).
    Ready,
    /// Descriptors in init for the supervisor to copy (with pidfd_getfd: sending them with
    /// sendmsg would itself wait for the notifier), open until it acknowledges: the seccomp
    /// notify listener, when init installed one, and the control socket on which lifecycle
    /// scripts hand over their own listeners, when scripts run at trust level 2.
    Handles {
        listener: Option<i32>,
        control: Option<i32>,
    },
    /// Landlock was applied with this result.
    Landlock { status: LandlockStatus, abi: i32 },
    /// Setup failed; nothing of the command ran.
    SetupFailed {
        stage: Stage,
        errno: Option<i32>,
        detail: String,
    },
    /// The command could not be executed.
    ExecFailed { errno: i32, program: String },
}

/// Write one report line. Errors are ignored: the supervisor also sees the exit status.
pub fn send(fd: BorrowedFd<'_>, report: &Report) {
    if let Ok(mut line) = serde_json::to_vec(report) {
        line.push(b'\n');
        let mut file = match fd.try_clone_to_owned() {
            Ok(owned) => std::fs::File::from(owned),
            Err(_) => return,
        };
        let _ = file.write_all(&line);
    }
}

/// Parse report lines from everything read so far.
pub fn parse_all(bytes: &[u8]) -> Vec<Report> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// Follow the child's reports as they arrive (line-delimited JSON) until the pipe closes,
/// handing each to `each` (which may stop the run with an error); returns them all.
pub fn follow<E: From<std::io::Error>>(
    pipe: std::os::fd::OwnedFd,
    mut each: impl FnMut(&Report) -> Result<(), E>,
) -> Result<Vec<Report>, E> {
    use std::io::Read;
    let mut reports = Vec::new();
    let mut buf = Vec::new();
    let mut pipe = std::fs::File::from(pipe);
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return Ok(reports),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
                    continue;
                };
                let lines: Vec<u8> = buf.drain(..=end).collect();
                for r in parse_all(&lines) {
                    each(&r)?;
                    reports.push(r);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A setup failure inside the sandbox.
#[derive(Debug, Clone)]
pub struct SetupError {
    pub stage: Stage,
    pub errno: Option<i32>,
    pub detail: String,
}

impl SetupError {
    pub fn new(stage: Stage, detail: impl Into<String>) -> Self {
        SetupError {
            stage,
            errno: None,
            detail: detail.into(),
        }
    }

    pub fn errno(stage: Stage, err: nix::errno::Errno, detail: impl Into<String>) -> Self {
        SetupError {
            stage,
            errno: Some(err as i32),
            detail: format!("{}: {}", detail.into(), err.desc()),
        }
    }

    pub fn io(stage: Stage, err: &std::io::Error, detail: impl Into<String>) -> Self {
        SetupError {
            stage,
            errno: err.raw_os_error(),
            detail: format!("{}: {err}", detail.into()),
        }
    }

    pub fn report(&self, fd: impl AsFd) {
        send(
            fd.as_fd(),
            &Report::SetupFailed {
                stage: self.stage,
                errno: self.errno,
                detail: self.detail.clone(),
            },
        );
    }
}
