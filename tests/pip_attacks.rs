//! A hostile pip install in the sandbox: every attack of the core fails and the install
//! still succeeds. One sandboxed install (shared by the tests of this file, see
//! tests/common/attacks.rs); each test checks one boundary.

mod common;

attack_tests!(common::attacks::Kind::Pip);
