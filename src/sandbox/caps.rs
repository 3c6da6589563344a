//! Dropping every capability the sandbox's init holds in its user namespace once setup is
//! done. The command runs as a non-zero uid inside, so execve would clear them anyway; this
//! makes it hold for init itself and for any path that does not exec.

use super::report::{SetupError, Stage};

const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

pub fn drop_all() -> Result<(), SetupError> {
    for cap in 0..=last_cap() {
        // SAFETY: prctl with PR_CAPBSET_DROP takes an integer capability number only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 && nix::errno::Errno::last() != nix::errno::Errno::EINVAL {
            return Err(SetupError::errno(
                Stage::Capabilities,
                nix::errno::Errno::last(),
                format!("drop capability {cap} from the bounding set"),
            ));
        }
    }
    // SAFETY: integer-only prctl.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: header and two zeroed data structs in the layout capset(2) documents for
    // _LINUX_CAPABILITY_VERSION_3; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(SetupError::errno(
            Stage::Capabilities,
            nix::errno::Errno::last(),
            "capset",
        ));
    }
    Ok(())
}
