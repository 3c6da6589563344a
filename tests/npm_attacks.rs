//! A hostile npm install in the sandbox: every attack of the core fails and the install
//! still succeeds. One sandboxed install (shared by the tests of this file, see
//! tests/common/attacks.rs); each test checks one boundary.

mod common;

use std::sync::OnceLock;

use common::attacks::{EvilRun, Kind};

static RUN: OnceLock<Result<EvilRun, String>> = OnceLock::new();

fn evil() -> &'static EvilRun {
    RUN.get_or_init(|| EvilRun::capture(Kind::Npm))
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn install_succeeds_despite_the_attacks() {
    evil().check_install_succeeded();
}

#[test]
fn file_secrets_are_unreadable() {
    evil().check_file_secrets();
}

#[test]
fn secret_environment_never_reaches_scripts() {
    evil().check_environment();
}

#[test]
fn nothing_persists_on_the_host() {
    evil().check_persistence();
}

#[test]
fn hidden_files_cannot_be_tampered_with() {
    evil().check_hidden_file_tampering();
}

#[test]
fn escape_syscalls_fail() {
    evil().check_escape_syscalls();
}

#[test]
fn double_forked_daemon_dies_with_the_sandbox() {
    evil().check_daemon_died();
}

#[test]
fn nothing_leaves_through_loopback_or_unix_sockets() {
    evil().check_exfiltration();
}

#[test]
fn event_log_records_blocks_without_secret_values() {
    evil().check_event_log();
}
