//! The sandbox side: what the child does, in a security-relevant order, before the package
//! manager starts. One pipeline per mode ([`pipeline::full`]: pid 1 of new namespaces;
//! [`pipeline::landlock_mode`]: a forked child that restricts itself in place), built from
//! one file per kernel mechanism (id maps, mounts, Landlock, seccomp, capabilities).
//!
//! Any failure is reported as `SetupFailed { stage, .. }` and the child exits before the
//! command could run. Nothing here may unwind.

pub mod bpf;
pub mod caps;
pub mod child_plan;
pub mod control;
pub mod egress;
pub mod idmap;
pub mod init;
pub mod landlock;
pub mod loopback;
pub mod mounts;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod seccomp;

/// Host name inside the sandbox.
pub const HOSTNAME: &str = "safe-install";
