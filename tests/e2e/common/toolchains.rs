//! The package managers scripts/toolchains.sh installs outside `/tmp`
//! (`/opt/safe-install-toolchains`, or `SAFE_INSTALL_TOOLCHAINS`), for the per-package-manager
//! tests.

use std::path::PathBuf;

/// Where scripts/toolchains.sh put the toolchains.
pub fn toolchains_root() -> PathBuf {
    std::env::var_os("SAFE_INSTALL_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/safe-install-toolchains"))
}

/// uv's wrapper (`uv/bin/uv`), which runs the uv executable installed from the Python index.
pub fn uv() -> PathBuf {
    let uv = toolchains_root().join("uv/bin/uv");
    assert!(
        uv.is_file(),
        "uv is not installed at {}. Fix: run scripts/toolchains.sh as root",
        uv.display()
    );
    uv
}
