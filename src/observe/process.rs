//! Reading about a sandboxed process from the supervisor: its memory (for syscall arguments),
//! its pid inside the sandbox, its command line.

use crate::events::ProcessId;

/// Read `len` bytes at `addr` in process `pid` (host pid). Fails when the process is gone.
pub fn read_memory(pid: i32, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use nix::sys::uio::{process_vm_readv, RemoteIoVec};
    let mut buf = vec![0u8; len];
    let base =
        usize::try_from(addr).map_err(|_| std::io::Error::from_raw_os_error(libc::EFAULT))?;
    let remote = [RemoteIoVec { base, len }];
    let n = process_vm_readv(
        nix::unistd::Pid::from_raw(pid),
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &remote,
    )?;
    buf.truncate(n);
    Ok(buf)
}

/// The process's pid as seen inside the sandbox (last entry of `NSpid`) and on the host.
pub fn ids(host_pid: i32) -> ProcessId {
    let sandbox = std::fs::read_to_string(format!("/proc/{host_pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("NSpid:"))
                .and_then(|l| l.split_whitespace().last().and_then(|p| p.parse().ok()))
        })
        .unwrap_or(host_pid);
    ProcessId {
        sandbox,
        host: host_pid,
    }
}

/// The command line, each argument cut to 200 bytes and at most 16 arguments.
pub fn argv(host_pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{host_pid}/cmdline")).ok()?;
    let mut args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .take(16)
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            s.chars().take(200).collect()
        })
        .collect();
    if args.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{host_pid}/comm")).ok()?;
        args.push(comm.trim().to_string());
    }
    Some(args)
}
