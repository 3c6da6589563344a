//! safe-install: run a package manager's install in a Linux sandbox where package code
//! (lifecycle scripts, build backends) runs at a second trust level below the package manager:
//! it cannot read secrets or credentials, reach the network, plant code for later, or escape,
//! and every attempt is logged with the package and script that made it.
//!
//! The module tree follows the sandbox's concerns, from data to mechanism to what users read
//! (docs/architecture.md has the layer order and the rule for what may import what):
//! `policy` (what is allowed, as data), `pm` (what each package manager needs), `plan`
//! (policy and context to one inspectable plan), `creds` (credentials sealed out of the
//! sandbox), `sandbox` (the child's ordered setup), `shim` (trust level 2's entry points),
//! `supervisor` (the parent that spawns, serves and waits), `net` (egress proxy and DNS stub),
//! `observe` (from notified syscalls to attributed events), `events` (the user-facing log),
//! `reports` (summary, GitHub, SARIF), `learn` (policy proposals from a run), `diagnose`
//! (`explain`, `doctor`, `demo`, `shell-init`), `session` (one command from start to exit),
//! `sys` (the thin syscall layer: the only module with `unsafe`).

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cli;
pub(crate) mod creds;
pub mod diagnose;
pub(crate) mod events;
pub mod exit;
pub(crate) mod learn;
pub(crate) mod net;
pub(crate) mod observe;
pub(crate) mod plan;
pub(crate) mod pm;
pub(crate) mod policy;
pub(crate) mod reports;
pub mod sandbox;
pub mod session;
pub mod shim;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
