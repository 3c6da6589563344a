//! Any other command: the base policy only, no registries, nothing at level 2 (there is no
//! package code to tell apart from the command), everything observed.

use super::{CaTrust, ConfigError, Context, Family, Level2, PackageManager, Registries};

#[derive(Debug)]
pub struct Generic;

pub static GENERIC: Generic = Generic;

impl PackageManager for Generic {
    fn family(&self) -> Family {
        Family::Generic
    }

    fn is_package_manager(&self) -> bool {
        false
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        crate::policy::builtin::GENERIC
    }

    fn manifests(&self) -> &'static [&'static str] {
        &[]
    }

    fn registries(&self, _ctx: &Context) -> Result<Registries, ConfigError> {
        Ok(Registries::default())
    }

    fn level2(&self, _ctx: &Context) -> Level2 {
        Level2::Unhooked("not a package manager safe-install knows: the whole command is one level")
    }

    fn ca_trust(&self) -> CaTrust {
        // The interception CA is only made for registries a package manager's credentials
        // name; a generic command has none. Node's variable is the harmless choice.
        CaTrust::Node
    }
}
