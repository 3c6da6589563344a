//! The sandbox's pid 1: starts the command in its own session, forwards the signals the
//! supervisor relays, reaps orphans, and when the command exits kills everything left (a
//! double-forked daemon included) and exits with the command's status. What is left is
//! first stopped and shown to the supervisor, which logs each process with its attribution
//! (`daemon-killed`): once killed, nothing would say who started it.

use super::report::{send, Report, SetupError, Stage};
use crate::sandbox::child_plan::Command;
use crate::sys::process::OneThread;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execve, setsid, Pid};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Signals relayed to the command's process group.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn watched() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// On the leftovers channel, init to the supervisor: processes are left (stopped), log them.
pub const LEFTOVERS: u8 = b'?';
/// On the leftovers channel, init to the supervisor: every other process of the sandbox has
/// been killed and reaped, and init exits next with the status that follows (see
/// [`all_gone`]). Nothing in the sandbox runs code any more, so the supervisor need not wait
/// while init's exit tears its namespaces down (about half a millisecond).
pub const ALL_GONE: u8 = b'D';

/// Init's last message: [`ALL_GONE`], then the exit status it leaves with (`i32`, little
/// endian).
pub fn all_gone(status: i32) -> [u8; 5] {
    let mut message = [ALL_GONE; 5];
    message[1..].copy_from_slice(&status.to_le_bytes());
    message
}

/// How long init waits for the supervisor to log the processes left over; then they are
/// killed anyway (the supervisor being slow or gone must not keep them alive).
const LEFTOVERS_TIMEOUT_MS: u16 = 5000;

/// Start the command and serve as init until it exits. Never returns.
pub fn run(
    command: &Command,
    one: &OneThread,
    report: BorrowedFd<'_>,
    leftovers: BorrowedFd<'_>,
) -> ! {
    let set = watched();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        SetupError::errno(Stage::Signals, e, "block signals").report(report);
        exit(crate::exit::SETUP_FAILED);
    }
    // Init is single-threaded (the supervisor cloned it before starting any thread).
    let child = match start_command(command, one, report) {
        Ok(child) => child,
        Err(e) => {
            SetupError::io(Stage::Fork, &e.into(), "clone (CLONE_VM | CLONE_VFORK)").report(report);
            exit(crate::exit::SETUP_FAILED);
        }
    };
    // Init's copy of the report pipe must close so the supervisor sees EOF once the command
    // has been executed; nothing else in init uses it afterwards.
    crate::sys::fd::close_before_exit(report);

    let mut status: Option<i32> = None;
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(Pid::from_raw(-child.as_raw()), sig);
            continue;
        }
        if let Some(code) = reap(child) {
            status = Some(code);
        }
        if let Some(code) = status {
            // Whatever the command left behind dies with it, after the supervisor has seen it.
            if others_alive() {
                show_leftovers(leftovers);
            }
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            while waitpid(Pid::from_raw(-1), None).is_ok() {}
            let _ = nix::unistd::write(leftovers, &all_gone(code));
            exit(code);
        }
    }
}

/// Whether a process other than init still runs in the sandbox's pid namespace (its own
/// `/proc`). One that has exited and waits for its parent to collect its status (a zombie)
/// runs nothing: it is no daemon left behind.
fn others_alive() -> bool {
    // Signal 0 to every process init may signal in its pid namespace: ESRCH means there is
    // none at all, zombie or not (the usual end), and spares reading /proc, whose opens the
    // notify filter would send to the supervisor. Anything else is settled by /proc.
    if kill(Pid::from_raw(-1), None) == Err(nix::errno::Errno::ESRCH) {
        return false;
    }
    std::fs::read_dir("/proc").is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
                .is_some_and(|pid| pid > 1 && running(pid))
        })
    })
}

/// Whether process `pid` (in the caller's `/proc`) still runs: it exists and is not a
/// zombie. Also the supervisor's test for processes left behind.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !stat_is_zombie(&s))
}

/// The state field of `/proc/<pid>/stat` is `Z` (after the command name, which is in
/// parentheses and may itself contain `)` and spaces).
fn stat_is_zombie(stat: &str) -> bool {
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Stop every other process (SIGSTOP cannot be caught: none can fork or exit meanwhile), ask
/// the supervisor to log them, and wait for its answer or the time-out.
fn show_leftovers(channel: BorrowedFd<'_>) {
    let _ = kill(Pid::from_raw(-1), Signal::SIGSTOP);
    if nix::unistd::write(channel, &[LEFTOVERS]).is_err() {
        return;
    }
    let mut pfd = [nix::poll::PollFd::new(
        channel,
        nix::poll::PollFlags::POLLIN,
    )];
    let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(LEFTOVERS_TIMEOUT_MS));
}

fn exit(code: i32) -> ! {
    crate::sys::process::exit_now(code)
}

/// The command's process, started sharing this one's memory until it executes the command
/// (`spawn_shared`: nothing of init, a copy of the supervisor, is copied for it). Everything
/// that allocates is prepared here first, so the child only makes system calls, reports an
/// exec failure and leaves.
pub(crate) fn start_command(
    command: &Command,
    one: &OneThread,
    report: BorrowedFd<'_>,
) -> Result<Pid, crate::sys::process::SpawnError> {
    let exec = Exec::prepare(command);
    let mut stack = vec![0u8; EXEC_STACK];
    crate::sys::process::spawn_shared(one, Box::new(|| exec.run(report)), &mut stack)
}

/// The command's stack until it executes: system calls and the failure report only.
const EXEC_STACK: usize = 256 * 1024;

/// The command's execve arguments, prepared before the child exists.
struct Exec {
    cwd: PathBuf,
    program: OsString,
    /// `None` when an argument holds a NUL byte (reported as EINVAL).
    args: Option<Vec<CString>>,
    env: Vec<CString>,
    /// Where execvp would look, in order.
    candidates: Vec<CString>,
}

impl Exec {
    fn prepare(command: &Command) -> Self {
        let program = command.argv.first().cloned().unwrap_or_default();
        let args = command
            .argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .ok();
        let env: Vec<CString> = command
            .env
            .iter()
            .filter_map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        let path_var = command
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let candidates = match &command.program {
            Some(resolved) => vec![resolved.clone()],
            None => candidates(&program, path_var.as_deref()),
        };
        Exec {
            cwd: command.cwd.clone(),
            program,
            args,
            env,
            candidates: candidates
                .iter()
                .filter_map(|c| CString::new(c.as_os_str().as_bytes()).ok())
                .collect(),
        }
    }

    /// In the command's process: own session (no controlling terminal, so TIOCSTI has no
    /// target), default signal state, no inherited descriptors, then exec.
    fn run(&self, report: BorrowedFd<'_>) -> ! {
        let _ = setsid();
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        crate::sys::process::default_sigpipe();
        // The report pipe is already close-on-exec and stays usable until exec.
        crate::sys::fd::cloexec_from(3);
        if let Err(e) = std::env::set_current_dir(&self.cwd) {
            SetupError::io(Stage::Exec, &e, format!("chdir {}", self.cwd.display())).report(report);
            exit(crate::exit::SETUP_FAILED);
        }
        let Some(args) = &self.args else {
            exec_failed(report, libc::EINVAL, &self.program);
        };
        let mut last = libc::ENOENT;
        for c in &self.candidates {
            let Err(e) = execve(c, args, &self.env);
            if e == nix::errno::Errno::ENOEXEC {
                // Like execvp and every shell: a file the kernel cannot execute (an entry
                // point without `#!`, such as pnpm's launcher before its native binary is in
                // place) is a shell script, run by /bin/sh.
                let mut sh_args = vec![c"/bin/sh".to_owned(), c.clone()];
                sh_args.extend(args.iter().skip(1).cloned());
                let Err(e) = execve(c"/bin/sh", &sh_args, &self.env);
                last = e as i32;
                continue;
            }
            // Like execvp: EACCES is remembered but the search goes on.
            if e != nix::errno::Errno::ENOENT && e != nix::errno::Errno::ENOTDIR {
                last = e as i32;
            }
        }
        exec_failed(report, last, &self.program)
    }
}

fn exec_failed(report: BorrowedFd<'_>, errno: i32, program: &OsStr) -> ! {
    send(
        report.as_fd(),
        &Report::ExecFailed {
            errno,
            program: program.to_string_lossy().into_owned(),
        },
    );
    exit(if errno == libc::ENOENT {
        crate::exit::NOT_FOUND
    } else {
        crate::exit::NOT_EXECUTABLE
    })
}

/// Where execvp would look for `program`.
fn candidates(program: &OsStr, path_var: Option<&OsStr>) -> Vec<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return vec![PathBuf::from(program)];
    }
    let default = OsString::from("/usr/local/bin:/usr/bin:/bin");
    std::env::split_paths(path_var.unwrap_or(&default))
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".").join(program)
            } else {
                dir.join(program)
            }
        })
        .collect()
}

/// Reap every child that has exited (an init's duty: orphans are reparented to it); the exit
/// status of `child` (128 + N for signal N) if it was among them.
pub(crate) fn reap(child: Pid) -> Option<i32> {
    let mut status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => status = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                status = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return status,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_message_carries_the_status_after_its_tag() {
        for status in [0, 3, 137, 255, -1] {
            let m = super::all_gone(status);
            assert_eq!(m[0], super::ALL_GONE);
            assert_eq!(i32::from_le_bytes([m[1], m[2], m[3], m[4]]), status);
        }
    }

    #[test]
    fn a_zombie_is_told_by_its_state_whatever_its_name() {
        assert!(super::stat_is_zombie("20 (sh) Z 1 20 20 0 -1"));
        assert!(super::stat_is_zombie("21 (a) Z (b)) Z 1 21"));
        assert!(!super::stat_is_zombie("22 (x) Z) S 1 22"));
        assert!(!super::stat_is_zombie("23 (node) R 1 23"));
        assert!(super::running(std::process::id() as i32));
    }
}
