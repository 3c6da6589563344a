//! One error for a whole run, so that the edge (`main`) maps every failure to its documented
//! exit status in one place (`exit_code`) and prints it as one paragraph.

use crate::creds::seal::{SealError, TrustError};
use crate::events::LogError;
use crate::learn::LearnError;
use crate::plan::PlanError;
use crate::pm::resolve::ResolveError;
use crate::policy::PolicyError;
use crate::reports::publish::ReportError;
use crate::supervisor::egress::EgressError;
use crate::supervisor::SupervisorError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot determine the current directory")]
    Cwd(#[source] std::io::Error),
    #[error("--project {}: no such directory", path.display())]
    ProjectMissing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--project {}: not a directory", .0.display())]
    ProjectNotDir(PathBuf),
    #[error(
        "the command installs another directory (`{option} {value}` names {}) than the \
         project safe-install runs it in ({}): {manager} would take that directory's \
         configuration and environment as the project's, which safe-install has neither \
         sealed nor looked at (a registry token in its .npmrc, the interpreters of its \
         .venv). Fix: run it from that directory, without the option or variable: \
         cd {value} && safe-install {manager} …",
        dir.display(),
        project.display()
    )]
    AnotherDirectory {
        manager: &'static str,
        option: String,
        value: String,
        dir: PathBuf,
        project: PathBuf,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Learn(#[from] LearnError),
    /// The event log named on the command line cannot be opened.
    #[error(transparent)]
    OpenLog(LogError),
    /// The event log could not be completed: the run happened, its record is incomplete.
    #[error(transparent)]
    FinishLog(LogError),
    #[error("refusing to run without a sandbox: {why}{below}. {fixes}")]
    NoSandbox {
        why: String,
        below: String,
        fixes: String,
    },
    /// Landlock mode's host side (its proxy listener, private directories) cannot be made.
    #[error("cannot prepare landlock mode's host side")]
    LandlockHost(#[source] std::io::Error),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}

impl SessionError {
    /// The documented exit status (`crate::exit`) for this failure.
    pub fn exit_code(&self) -> i32 {
        use crate::exit;
        match self {
            SessionError::Learn(e) => e.exit_code(),
            SessionError::Supervisor(e) => e.exit_code(),
            SessionError::NoSandbox { .. } => exit::UNSUPPORTED,
            SessionError::Seal(_)
            | SessionError::Trust(_)
            | SessionError::FinishLog(_)
            | SessionError::LandlockHost(_) => exit::SETUP_FAILED,
            SessionError::Cwd(_)
            | SessionError::ProjectMissing { .. }
            | SessionError::ProjectNotDir(_)
            | SessionError::AnotherDirectory { .. }
            | SessionError::Policy(_)
            | SessionError::Resolve(_)
            | SessionError::Egress(_)
            | SessionError::Plan(_)
            | SessionError::Report(_)
            | SessionError::OpenLog(_) => exit::INVALID_INPUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        assert_eq!(
            SessionError::ProjectNotDir("/x".into()).exit_code(),
            crate::exit::INVALID_INPUT
        );
        assert_eq!(
            SessionError::NoSandbox {
                why: String::new(),
                below: String::new(),
                fixes: String::new()
            }
            .exit_code(),
            crate::exit::UNSUPPORTED
        );
        assert_eq!(
            SessionError::Learn(LearnError::EmptyFile).exit_code(),
            crate::exit::USAGE
        );
        assert_eq!(
            SessionError::FinishLog(LogError::Write {
                path: "/log".into(),
                source: std::io::Error::other("x")
            })
            .exit_code(),
            crate::exit::SETUP_FAILED
        );
    }
}
