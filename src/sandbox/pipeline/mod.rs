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

/// `no_new_privs`.
pub fn no_new_privs() -> Result<(), SetupError> {
    crate::sys::prctl::set_no_new_privs()
        .map_err(|e| SetupError::errno(Stage::NoNewPrivs, e, "PR_SET_NO_NEW_PRIVS"))
}

/// Wipe the environment block this copy of the supervisor inherited; the rest of its memory
/// is made unreadable by [`non_dumpable`].
pub fn wipe_environment() -> Result<(), SetupError> {
    crate::sys::mem::wipe_environment_block();
    Ok(())
}

/// From here on the process's memory (`/proc/<pid>/{environ,mem}`) is unreadable to the
/// command: same uid, same Landlock domain, but no longer dumpable.
pub fn non_dumpable() -> Result<(), SetupError> {
    crate::sys::prctl::set_dumpable(false)
        .map_err(|e| SetupError::errno(Stage::NonDumpable, e, "PR_SET_DUMPABLE"))
}

#[cfg(test)]
mod tests {
    use super::{full, landlock_mode};
    use crate::sandbox::report::Stage;

    #[test]
    fn each_pipeline_lists_distinct_steps_and_together_every_stage() {
        for steps in [full::STEPS, landlock_mode::STEPS] {
            for (i, s) in steps.iter().enumerate() {
                assert!(!steps[i + 1..].contains(s), "{s:?} listed twice");
            }
            // Both start by tying the child's life to the supervisor and end with the
            // command.
            assert_eq!(steps.first(), Some(&Stage::ParentDeath));
            assert_eq!(
                &steps[steps.len() - 3..],
                &[Stage::Signals, Stage::Fork, Stage::Exec]
            );
        }
        for s in Stage::ALL {
            // /proc is one of the planned mounts, failing on its own.
            let listed = full::STEPS.contains(s) || landlock_mode::STEPS.contains(s);
            assert!(listed || *s == Stage::Proc, "{s:?} is no pipeline's step");
        }
    }

    #[test]
    fn the_security_relevant_order_holds() {
        let pos = |steps: &[Stage], s: Stage| steps.iter().position(|x| *x == s);
        for steps in [full::STEPS, landlock_mode::STEPS] {
            let before = |a: Stage, b: Stage| pos(steps, a) < pos(steps, b);
            // seccomp needs no_new_privs; the listener is handed over before init turns
            // non-dumpable (pidfd_getfd needs it dumpable); nothing runs before all of it.
            assert!(before(Stage::NoNewPrivs, Stage::Landlock));
            assert!(before(Stage::NoNewPrivs, Stage::Seccomp));
            assert!(before(Stage::Landlock, Stage::Seccomp));
            assert!(before(Stage::Seccomp, Stage::Handover));
            assert!(before(Stage::Handover, Stage::NonDumpable));
            assert!(before(Stage::NonDumpable, Stage::Fork));
            assert!(before(Stage::WipeEnvironment, Stage::Fork));
        }
        let full = full::STEPS;
        assert!(pos(full, Stage::Mounts) < pos(full, Stage::PivotRoot));
        assert!(pos(full, Stage::EgressSockets) < pos(full, Stage::Mounts));
        assert!(pos(full, Stage::Landlock) < pos(full, Stage::ControlSocket));
    }
}
