//! The end-to-end test harness: runs the real `safe-install` binary against real npm and
//! pip on fixture projects, each test in its own temporary "world" (a fake home full of
//! planted secrets, a project with a `.env` family and a `.git`, a file outside both).
//!
//! Nothing here touches the real home directory or reaches past 127.0.0.0/8.
//!
//! Overrides (CI copies the test binary to a world-readable directory and runs it as an
//! unprivileged user, where the compile-time paths are unreadable):
//! - `SAFE_INSTALL_BIN`: the binary under test (default: cargo's `CARGO_BIN_EXE_safe-install`);
//! - `SAFE_INSTALL_FIXTURES`: the fixtures directory (default: `tests/fixtures` of the crate);
//! - `SAFE_INSTALL_TEST_ROOT`: where `scripts/setup.sh` put Verdaccio and pypiserver
//!   (default: `/opt/safe-install-test`).
//!
//! A missing precondition is a loud failure naming the fix, never a skip.
//!
//! One file per concern; the everyday ones are re-exported here, so a test module needs
//! only `use crate::common::*`:
//! - `prereqs`: the binary, the fixtures, system programs, shared constants;
//! - `guard`: the lock that lets the leak checks run alone in the shared process;
//! - `commands`: running a command with a timeout and capturing its output;
//! - `world`: a test's private world (fake home, project, planted secrets, environment);
//! - `npm`, `pip`: projects, fixtures, lockfiles, virtualenvs, wheels;
//! - `trees`: installed trees and their differences;
//! - `attack_reports`: what the evil fixtures read and write, the host listeners they target;
//! - `events`: the JSON Lines event log;
//! - `host`: processes, temporary directories and mounts on the host;
//! - `problems`: collect every problem, fail once.
//!
//! And, used by name (`common::servers::…`): `attacks` (one sandboxed evil install and its
//! boundary checks), `servers` (Verdaccio, pypiserver, the TLS terminator), `netns` (the
//! egress tests' test host), `reports` (the SARIF validator), `wiper` (issue 14's wiper:
//! packing it, the project and home before and after, what its run must show).

pub mod attack_reports;
pub mod attacks;
pub mod commands;
pub mod events;
pub mod guard;
pub mod host;
pub mod netns;
pub mod npm;
pub mod pip;
pub mod prereqs;
pub mod problems;
pub mod reports;
pub mod servers;
pub mod toolchains;
pub mod trees;
pub mod wiper;
pub mod world;

pub use attack_reports::*;
pub use commands::*;
pub use events::*;
pub use guard::*;
pub use host::*;
pub use npm::*;
pub use pip::*;
pub use prereqs::*;
pub use problems::*;
pub use trees::*;
pub use world::*;
