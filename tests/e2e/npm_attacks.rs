//! A hostile npm install in the sandbox: every attack of the core fails and the install
//! still succeeds. One sandboxed install (shared by the tests of this module, see
//! tests/e2e/common/attacks.rs); each test checks one boundary.

crate::attack_tests!(crate::common::attacks::Kind::Npm);
