//! `capset`: clearing the effective, permitted and inheritable sets.

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

/// Clear every capability of the calling thread (effective, permitted, inheritable).
pub fn clear_all() -> nix::Result<()> {
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: header and two zeroed data structs in the layout capset(2) documents for
    // _LINUX_CAPABILITY_VERSION_3; both outlive the call, and the kernel only reads them.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    nix::errno::Errno::result(rc).map(drop)
}
