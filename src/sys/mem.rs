//! Wiping memory: secrets about to be freed, and the environment block a cloned or forked
//! child inherited from the supervisor.

/// Overwrite `bytes` with zeros in a way the compiler may not elide (memory about to be
/// freed).
pub fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of `bytes`; a
        // volatile write keeps the compiler from eliding the wipe.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// Overwrite the process's original environment strings (the range the kernel reports as
/// `env_start..env_end` in /proc/self/stat) with zeros. For a child that is a copy of the
/// supervisor: the caller's full environment, tokens included, sits there, and nothing in
/// the child reads it (the command gets its environment from the plan).
pub fn wipe_environment_block() {
    let Some((start, end)) = env_range() else {
        return;
    };
    if end <= start {
        return;
    }
    // SAFETY: [start, end) is the environment block the kernel set up at exec and reports in
    // /proc/self/stat; it is mapped writable (it lies on the initial stack) and nothing in this
    // process reads it after this point (std::env reads the copy libc made of the pointers,
    // and no caller reads the environment afterwards).
    unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
}

/// Fields 50 and 51 of /proc/self/stat (after the parenthesised command name, which may hold
/// spaces).
fn env_range() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    env_range_of(&stat)
}

fn env_range_of(stat: &str) -> Option<(usize, usize)> {
    let after = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); field N is at index N - 3.
    let start = fields.get(50 - 3)?.parse().ok()?;
    let end = fields.get(51 - 3)?.parse().ok()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_environment_range_is_read_after_the_command_name() {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
        let (start, end) = super::env_range_of(&stat).expect("range");
        assert!(start < end);
        let odd = stat.replacen('(', "(a) b (", 1);
        assert_eq!(super::env_range_of(&odd), Some((start, end)));
    }

    #[test]
    fn wipe_zeroes() {
        let mut b = *b"secret";
        super::wipe(&mut b);
        assert_eq!(b, [0; 6]);
    }
}
