//! safe-install: run a package manager's install in a Linux sandbox where lifecycle scripts
//! cannot read secrets, persist, escape, or send anything anywhere but the registries.
//!
//! The module tree follows the sandbox's concerns: `policy` (what is allowed, as data),
//! `pm` (what each package manager needs), `sandbox` (the child's ordered setup),
//! `supervisor` (the parent that spawns, serves and waits), `net` (egress proxy and DNS stub),
//! `events` (the user-facing log), `sys` (the thin syscall layer: the only module with
//! `unsafe`).

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cli;
pub mod creds;
pub mod diagnose;
pub mod events;
pub mod exit;
pub mod learn;
pub mod net;
pub mod observe;
pub mod plan;
pub mod pm;
pub mod policy;
pub mod sandbox;
pub mod shim;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
