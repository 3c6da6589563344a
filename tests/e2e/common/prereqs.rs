//! What the suite needs from the machine and shares everywhere: the binary under test, the
//! fixtures directory (both overridable, see `common`), the system `PATH`, the run timeout,
//! and loud checks for the programs a test needs (never a skip).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The PATH every command of the tests runs with: system directories only, so that
/// `python3` is `/usr/bin/python3` and not a shim under the real home.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prefix of every temporary directory the tests create, so that leak checks can tell
/// them apart from what the binary under test leaves behind.
pub const TEMP_PREFIX: &str = "si-test-";

/// How long a single npm / pip / safe-install run may take before the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary under test.
pub fn bin() -> PathBuf {
    let path = match std::env::var_os("SAFE_INSTALL_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_safe-install")),
    };
    assert!(
        path.is_file(),
        "the safe-install binary {} does not exist: run `cargo build`, or point SAFE_INSTALL_BIN at it",
        path.display()
    );
    path
}

/// The fixtures directory (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    let path = match std::env::var_os("SAFE_INSTALL_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    };
    assert!(
        path.join("npm/evil/package.json").is_file(),
        "the fixtures directory {} is incomplete: point SAFE_INSTALL_FIXTURES at the repository's tests/fixtures",
        path.display()
    );
    path
}

/// True when the tests run as root (they run once as root and once as `si-tester` in CI).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails loudly when a program the tests need is missing.
pub fn require_program(path: &str, fix: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing, which this test needs. Fix: {fix}"
    );
}

pub fn require_npm() {
    require_program(
        "/usr/bin/node",
        "install Node.js 20+ (scripts/setup.sh as root)",
    );
    assert!(
        which("npm").is_some(),
        "npm is not on {SYSTEM_PATH}. Fix: install npm (scripts/setup.sh as root)"
    );
}

pub fn require_python_venv() {
    require_program(
        "/usr/bin/python3",
        "apt-get install python3 python3-venv python3-pip (scripts/setup.sh as root)",
    );
    let out = Command::new("/usr/bin/python3")
        .args(["-c", "import ensurepip, venv, setuptools"])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .output()
        .expect("run /usr/bin/python3");
    assert!(
        out.status.success(),
        "/usr/bin/python3 cannot create virtualenvs with pip and setuptools ({}). Fix: apt-get install python3-venv python3-pip python3-setuptools (scripts/setup.sh as root)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Finds a program on [`SYSTEM_PATH`].
pub fn which(name: &str) -> Option<PathBuf> {
    SYSTEM_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
