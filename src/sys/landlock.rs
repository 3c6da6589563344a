//! The kernel's Landlock ABI version, asked without creating a ruleset.

/// The Landlock ABI version the running kernel offers (0 when it has none).
pub fn abi_version() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attribute pointer, size 0 and the VERSION flag, the call only
    // returns the ABI version or an error; it creates no file descriptor.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(v).map_or(0, |v| v.max(0))
}
