//! Applying the landlock rung's rules: the filesystem rules of [`super::rules`], TCP bind and
//! connect handled with no port allowed (every permitted connect is made by the supervisor,
//! which no Landlock domain restricts), abstract unix sockets and signals scoped. Best effort
//! by ABI; the status is reported, never assumed.

use super::rules::{Grant, Rule};
use crate::sandbox::landlock::ABI_PINNED;
use crate::sandbox::report::{LandlockStatus, SetupError, Stage};
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

fn fail(e: impl std::fmt::Display) -> SetupError {
    SetupError::new(Stage::Landlock, e.to_string())
}

fn access(grant: Grant) -> BitFlags<AccessFs> {
    match grant {
        Grant::None => BitFlags::empty(),
        Grant::List => AccessFs::ReadDir.into(),
        Grant::Read => AccessFs::from_read(ABI_PINNED),
        Grant::Write => AccessFs::from_all(ABI_PINNED),
        Grant::Device => {
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev | AccessFs::ReadDir
        }
    }
}

/// Restrict the calling process and everything it starts.
pub fn apply(rules: &[Rule]) -> Result<LandlockStatus, SetupError> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_PINNED))
        .map_err(fail)?
        .handle_access(AccessNet::from_all(ABI_PINNED))
        .map_err(fail)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    for rule in rules {
        let Ok(meta) = std::fs::metadata(&rule.path) else {
            continue;
        };
        let mut rights = access(rule.grant);
        if !meta.is_dir() {
            rights &= AccessFs::from_file(ABI_PINNED);
        }
        if rights.is_empty() {
            continue;
        }
        // A path that vanished since the rules were computed simply gets no rule.
        let Ok(fd) = PathFd::new(&rule.path) else {
            continue;
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(fail)?;
    }
    let status = ruleset.restrict_self().map_err(fail)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockStatus::Full,
        RulesetStatus::PartiallyEnforced => LandlockStatus::Partial,
        RulesetStatus::NotEnforced => LandlockStatus::NotEnforced,
    })
}
