//! `mount_setattr`: changing the attributes of a mount (read-only, nosuid, ...), which the
//! classic `mount(MS_REMOUNT)` cannot do atomically for a whole tree.

use std::ffi::CStr;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `AT_RECURSIVE`: the whole tree beneath.
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Set the attributes `set` (`MOUNT_ATTR_*`) on the mount at `path` (not following a final
/// link), on every mount beneath it too when `recursive`.
pub fn set_attributes(path: &CStr, set: u64, recursive: bool) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_SYMLINK_NOFOLLOW.unsigned_abs() | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is a valid NUL-terminated string and `attr` a properly sized mount_attr;
    // both outlive the call, and the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}
