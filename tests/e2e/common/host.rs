//! The host as the leak checks see it: processes by command line, entries of the temporary
//! directories, the mount table, signals.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::*;

/// Processes (other than this one) whose command line contains `needle`.
pub fn processes_with_cmdline(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// Kills (SIGKILL) the processes found by [`processes_with_cmdline`]; a cleanup step
/// after a failed assertion, so that a broken sandbox does not leave strays behind.
pub fn kill_processes_with_cmdline(needle: &str) {
    for (pid, _) in processes_with_cmdline(needle) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Entries of the temporary directory owned by the current user that are not the
/// tests' own (`si-test-*`): what the binary under test may leave behind.
pub fn foreign_tmp_entries() -> BTreeMap<String, u64> {
    let uid = nix::unistd::geteuid().as_raw();
    let mut entries = BTreeMap::new();
    for dir in tmp_dirs() {
        let Ok(list) = fs::read_dir(&dir) else {
            continue;
        };
        for e in list.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if let Ok(meta) = fs::symlink_metadata(e.path()) {
                if meta.uid() == uid {
                    entries.insert(e.path().display().to_string(), meta.ino());
                }
            }
        }
    }
    entries
}

fn tmp_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")];
    let t = std::env::temp_dir();
    if !dirs.contains(&t) {
        dirs.push(t);
    }
    if let Ok(run_user) = fs::read_dir(format!("/run/user/{}", nix::unistd::geteuid())) {
        let _ = run_user;
        dirs.push(PathBuf::from(format!(
            "/run/user/{}",
            nix::unistd::geteuid()
        )));
    }
    dirs
}

/// The mount points of this process's mount namespace.
pub fn host_mounts() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut mounts: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .collect();
    mounts.sort();
    mounts
}

/// Sends `signal` to a process.
pub fn send_signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .unwrap_or_else(|e| panic!("kill({pid}, {signal}): {e}"));
}
