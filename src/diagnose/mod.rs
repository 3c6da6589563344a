//! Commands that explain rather than run: `doctor` (this machine), `explain` (the policy for
//! a command), `demo` (the sandbox stopping a malicious package).

pub mod demo;
pub mod doctor;
pub mod explain;
