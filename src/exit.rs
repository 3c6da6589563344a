//! Documented exit codes. Anything else is the package manager's own status (or 128+N when it
//! died of signal N, as shells report it).

/// `--strict` and at least one attempt was blocked (the command itself succeeded).
pub const BLOCKED_STRICT: i32 = 120;
/// The sandbox cannot run on this host (no user namespaces, no /proc mount, old kernel).
pub const UNSUPPORTED: i32 = 122;
/// A policy file, flag value or project layout is invalid.
pub const INVALID_INPUT: i32 = 123;
/// The sandbox failed to set up (a bug or an unusual host); nothing ran.
pub const SETUP_FAILED: i32 = 124;
/// Unknown flag or bad command-line syntax.
pub const USAGE: i32 = 125;
/// The command was found but could not be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found inside the sandbox.
pub const NOT_FOUND: i32 = 127;

/// `(code, meaning)` for the README and `--help`.
pub const TABLE: &[(i32, &str)] = &[
    (
        BLOCKED_STRICT,
        "--strict: the command succeeded but something was blocked",
    ),
    (
        UNSUPPORTED,
        "the sandbox cannot run on this host (see `safe-install doctor`)",
    ),
    (
        INVALID_INPUT,
        "invalid policy file, flag value or project directory",
    ),
    (
        SETUP_FAILED,
        "sandbox setup failed; the command did not run",
    ),
    (USAGE, "unknown flag or bad command-line syntax"),
    (
        NOT_EXECUTABLE,
        "the command was found but could not be executed",
    ),
    (NOT_FOUND, "the command was not found inside the sandbox"),
];
