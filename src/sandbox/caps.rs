//! Dropping every capability the sandbox's init holds in its user namespace once setup is
//! done. The command runs as a non-zero uid inside, so execve would clear them anyway; this
//! makes it hold for init itself and for any path that does not exec.

use super::report::{SetupError, Stage};

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

pub fn drop_all() -> Result<(), SetupError> {
    for cap in 0..=last_cap() {
        match crate::sys::prctl::drop_bounding(cap) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => {
                return Err(SetupError::errno(
                    Stage::Capabilities,
                    e,
                    format!("drop capability {cap} from the bounding set"),
                ))
            }
        }
    }
    // Best effort: only kernels without ambient capabilities refuse, and they have none.
    let _ = crate::sys::prctl::clear_ambient();
    crate::sys::caps::clear_all().map_err(|e| SetupError::errno(Stage::Capabilities, e, "capset"))
}
