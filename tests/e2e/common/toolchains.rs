//! The package-manager toolchains `scripts/toolchains.sh` installs outside `/tmp`
//! (`/opt/safe-install-toolchains/<name>/bin`, or `SAFE_INSTALL_TOOLCHAINS`).

use std::path::PathBuf;

/// The `bin` directory of toolchain `name` (`yarn1`, `yarn4`, …); fails loudly when missing.
pub fn toolchain_bin(name: &str) -> PathBuf {
    let root = std::env::var_os("SAFE_INSTALL_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/safe-install-toolchains"));
    let bin = root.join(name).join("bin");
    assert!(
        bin.is_dir(),
        "toolchain {name} is missing ({} is not a directory). Fix: scripts/toolchains.sh as root",
        bin.display()
    );
    bin
}
