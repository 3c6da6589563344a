//! Wiping the inherited environment block in init's memory. Init is a clone of the
//! supervisor, so the caller's full environment (tokens included) sits in its address space
//! at the range the kernel reports as env_start..env_end; nothing in init needs it.

/// Overwrite the process's original environment strings with zeros.
pub fn wipe_environment_block() {
    let Some((start, end)) = env_range() else {
        return;
    };
    if end <= start {
        return;
    }
    // SAFETY: [start, end) is the environment block the kernel set up at exec and reports in
    // /proc/self/stat; it is mapped writable (it lies on the initial stack) and nothing in this
    // process reads it after this point (the command gets its environment from the plan).
    unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
}

/// Fields 50 and 51 of /proc/self/stat (after the parenthesised command name, which may hold
/// spaces).
fn env_range() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); field N is at index N - 3.
    let start = fields.get(50 - 3)?.parse().ok()?;
    let end = fields.get(51 - 3)?.parse().ok()?;
    Some((start, end))
}
