//! The child pipelines, one per mode, and the steps they share. Each pipeline's steps are
//! listed in order at the top of its file.

pub mod full;
pub mod landlock_mode;

use crate::sandbox::report::{SetupError, Stage};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Die with the supervisor (`PR_SET_PDEATHSIG`), even if it already died before the call:
/// `alive` is a pipe whose other end only the supervisor holds, readable (hung up) once it is
/// gone. The first step of both modes' setup.
pub fn die_with_supervisor(alive: std::os::fd::BorrowedFd<'_>) -> Result<(), SetupError> {
    crate::sys::prctl::set_parent_death_signal(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| SetupError::errno(Stage::ParentDeath, e, "PR_SET_PDEATHSIG"))?;
    let mut pfd = [PollFd::new(alive, PollFlags::POLLIN)];
    if poll(&mut pfd, PollTimeout::ZERO)
        .map_err(|e| SetupError::errno(Stage::ParentDeath, e, "poll"))?
        > 0
    {
        return Err(SetupError::new(
            Stage::ParentDeath,
            "the supervisor is gone",
        ));
    }
    Ok(())
}
