//! Messages from the sandbox to the supervisor over a close-on-exec pipe: one JSON object per
//! line. EOF without `ExecFailed` means the command was executed. The child never panics past
//! setup: it reports and exits.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

/// The setup steps of both child pipelines (each pipeline's `STEPS` lists its own in
/// order); a failure names the one that failed. One variant per step: a report that names
/// the wrong step costs a user an afternoon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    ParentDeath,
    Subreaper,
    IdMap,
    /// The full sandbox's namespaces other than the user and pid ones (`unshare`).
    Namespaces,
    Hostname,
    Loopback,
    EgressSockets,
    /// The full sandbox's child reading the part of the plan it executes.
    ReceivePlan,
    /// The full sandbox's child taking back every CPU the caller allows.
    Cpus,
    Mounts,
    /// Inside [`Stage::Mounts`]: the sandbox's own procfs, a planned mount that fails for
    /// reasons of its own (a partly masked host /proc).
    Proc,
    PivotRoot,
    SeccompCompile,
    NoNewPrivs,
    Capabilities,
    WipeEnvironment,
    Landlock,
    ControlSocket,
    Seccomp,
    Handover,
    NonDumpable,
    Signals,
    Fork,
    Exec,
}

impl Stage {
    /// Every stage, for tests and documentation.
    pub const ALL: &'static [Stage] = &[
        Stage::ParentDeath,
        Stage::Subreaper,
        Stage::IdMap,
        Stage::Namespaces,
        Stage::Hostname,
        Stage::Loopback,
        Stage::EgressSockets,
        Stage::ReceivePlan,
        Stage::Cpus,
        Stage::Mounts,
        Stage::Proc,
        Stage::PivotRoot,
        Stage::SeccompCompile,
        Stage::NoNewPrivs,
        Stage::Capabilities,
        Stage::WipeEnvironment,
        Stage::Landlock,
        Stage::ControlSocket,
        Stage::Seccomp,
        Stage::Handover,
        Stage::NonDumpable,
        Stage::Signals,
        Stage::Fork,
        Stage::Exec,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Stage::ParentDeath => "tying the sandbox's life to the supervisor",
            Stage::Subreaper => "becoming the command's reaper",
            Stage::IdMap => "writing the user namespace id maps",
            Stage::Namespaces => "creating the mount, network, ipc, uts and cgroup namespaces",
            Stage::Hostname => "setting the sandbox host name",
            Stage::Loopback => "bringing up the loopback interface",
            Stage::EgressSockets => "opening the proxy and DNS sockets",
            Stage::ReceivePlan => "receiving the plan from the supervisor",
            Stage::Cpus => "taking back the caller's CPUs",
            Stage::Mounts => "building the filesystem view",
            Stage::Proc => "mounting the sandbox's /proc",
            Stage::PivotRoot => "switching to the filesystem view",
            Stage::SeccompCompile => "compiling the seccomp filters",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Capabilities => "dropping capabilities",
            Stage::WipeEnvironment => "wiping the inherited environment",
            Stage::Landlock => "applying Landlock rules",
            Stage::ControlSocket => "opening the control socket for lifecycle scripts",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Handover => "handing the seccomp listener to the supervisor",
            Stage::NonDumpable => "making the sandbox's init non-dumpable",
            Stage::Signals => "blocking the signals init relays",
            Stage::Fork => "starting the command",
            Stage::Exec => "executing the command",
        }
    }
}

/// Runs a pipeline's steps in the order its `STEPS` lists, remembering which one is running:
/// a panic (caught at the top of the child) is reported as a failure of that step, never of
/// another.
#[derive(Debug)]
pub struct Steps {
    order: &'static [Stage],
    current: std::cell::Cell<Option<Stage>>,
}

impl Steps {
    pub fn new(order: &'static [Stage]) -> Self {
        Steps {
            order,
            current: std::cell::Cell::new(None),
        }
    }

    /// Run `step` as `stage`. A step out of the listed order is a bug in the pipeline: it
    /// fails (naming the step) rather than run with the order the doc comment does not say.
    pub fn run<T>(
        &self,
        stage: Stage,
        step: impl FnOnce() -> Result<T, SetupError>,
    ) -> Result<T, SetupError> {
        let at = |s: Stage| self.order.iter().position(|o| *o == s);
        let after_current = match (self.current.get().and_then(at), at(stage)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(before), Some(now)) => now > before,
        };
        if !after_current {
            return Err(SetupError::new(
                stage,
                "setup step out of the pipeline's order (a bug in safe-install)",
            ));
        }
        self.current.set(Some(stage));
        step()
    }

    /// The step running now (the first before any ran).
    pub fn current(&self) -> Stage {
        self.current
            .get()
            .or_else(|| self.order.first().copied())
            .unwrap_or(Stage::ParentDeath)
    }

    /// A panic during the current step, as its failure.
    pub fn panicked(&self) -> SetupError {
        SetupError::new(self.current(), "panic during setup")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_have_distinct_names_and_descriptions() {
        let mut names = std::collections::BTreeSet::new();
        let mut texts = std::collections::BTreeSet::new();
        for s in Stage::ALL {
            let name = serde_json::to_string(s).expect("name");
            assert!(names.insert(name), "{s:?}");
            assert!(texts.insert(s.describe()), "{s:?}");
        }
        assert_eq!(
            serde_json::to_string(&Stage::EgressSockets).expect("name"),
            "\"egress-sockets\""
        );
    }

    #[test]
    fn steps_run_in_order_and_a_panic_names_the_running_step() {
        const ORDER: &[Stage] = &[Stage::ParentDeath, Stage::NoNewPrivs, Stage::Landlock];
        let steps = Steps::new(ORDER);
        assert_eq!(steps.panicked().stage, Stage::ParentDeath);
        steps.run(Stage::ParentDeath, || Ok(())).expect("first");
        steps.run(Stage::NoNewPrivs, || Ok(())).expect("second");
        assert_eq!(steps.panicked().stage, Stage::NoNewPrivs);
        let back = steps.run(Stage::ParentDeath, || Ok(()));
        assert_eq!(back.expect_err("out of order").stage, Stage::ParentDeath);
        let unlisted = steps.run(Stage::Mounts, || Ok(()));
        assert_eq!(unlisted.expect_err("not listed").stage, Stage::Mounts);
        let failed: Result<(), _> = steps.run(Stage::Landlock, || {
            Err(SetupError::new(Stage::Landlock, "x"))
        });
        assert_eq!(failed.expect_err("fails").stage, Stage::Landlock);
        assert_eq!(steps.panicked().stage, Stage::Landlock);
    }
}
