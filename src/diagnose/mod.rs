//! Commands that explain rather than run: `doctor` (this machine), `explain` (the policy for
//! a command), `demo` (the sandbox stopping a malicious package), `shell-init` (functions that
//! route the package managers through safe-install).

pub mod demo;
pub mod doctor;
pub mod explain;
pub mod interception;
pub mod shell_init;
