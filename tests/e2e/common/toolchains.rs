//! The package-manager toolchains `scripts/toolchains.sh` installs outside `/tmp`
//! (`/opt/safe-install-toolchains`, or `SAFE_INSTALL_TOOLCHAINS`): one directory per
//! toolchain whose `bin/` holds the package manager and the `node` it runs with. A missing
//! toolchain is a loud failure naming the fix, never a skip.

use std::path::PathBuf;

/// Where the toolchains are.
pub fn root() -> PathBuf {
    std::env::var_os("SAFE_INSTALL_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/safe-install-toolchains"))
}

/// The `bin/` directory of toolchain `name` (`pnpm10`, `pnpm12`, `uv`, ...), which must hold
/// `program`.
pub fn bin_dir(name: &str, program: &str) -> PathBuf {
    let dir = root().join(name).join("bin");
    assert!(
        dir.join(program).is_file(),
        "{program} of toolchain {name} is not at {}. Fix: run scripts/toolchains.sh (as root)",
        dir.join(program).display()
    );
    dir
}

/// `PATH` with toolchain `name` first, then the system directories.
pub fn path_with(name: &str, program: &str) -> String {
    format!(
        "{}:{}",
        bin_dir(name, program).display(),
        super::SYSTEM_PATH
    )
}

/// uv's wrapper (`uv/bin/uv`), which runs the uv executable installed from the Python index.
pub fn uv() -> PathBuf {
    bin_dir("uv", "uv").join("uv")
}

/// The `bin` directory of toolchain `name` (`yarn1`, `yarn4`, …), which must exist.
pub fn toolchain_bin(name: &str) -> PathBuf {
    let bin = root().join(name).join("bin");
    assert!(
        bin.is_dir(),
        "toolchain {name} is missing ({} is not a directory). Fix: scripts/toolchains.sh as root",
        bin.display()
    );
    bin
}
