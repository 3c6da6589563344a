//! The seccomp user-notification loop. File calls are only observed (answered CONTINUE: the
//! kernel's mounts and Landlock decide, and [`files`] explains). For the network it never turns a denial into an allow on the strength
//! of memory it read: destinations that stay inside the sandbox get CONTINUE (the network
//! namespace would let those through anyway, and a racing thread that rewrites the address
//! after our read still meets the namespace, which has no route out); destinations that would
//! leave are logged and answered with an errno at once, as the kernel would have refused them.

use super::attribution::Attributor;
use super::files::{self, Access, FileRules, Level};
use super::process;
use super::sockaddr::{abstract_served, listener_inside, parse, stays_inside, Dest, UnixName};
use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::sys::seccomp::int_of;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const MAX_SOCKADDR: usize = 128;
/// `sizeof(struct msghdr)` and `sizeof(struct mmsghdr)` on 64-bit Linux.
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;
/// How many messages of a sendmmsg are inspected; the rest share the first's fate.
const MAX_MMSG: usize = 64;

pub use crate::sys::seccomp::{Answer, Listener, Notification};

/// What a notifier needs besides its listener.
pub struct Observer {
    pub sink: EventSink,
    pub who: Arc<Attributor>,
    pub files: Arc<FileRules>,
    /// The command is not a package manager (its own attempts are judged like a script's).
    pub generic: bool,
    /// Script listeners being served (the proxy attributes requests only while any is).
    pub scripts_alive: Arc<std::sync::atomic::AtomicUsize>,
    /// Host pid → the script (`name@version`, lifecycle event) whose listener last saw it:
    /// a process can leave its script's tree (double fork) but never its filter, so this
    /// names who started a daemon that ancestry can only call orphaned.
    pub seen: std::sync::Mutex<std::collections::HashMap<i32, ScriptOrigin>>,
    /// Scripts' writes that outlive the sandbox outside their own folder, for the end-of-run
    /// check (`planted`).
    pub planted: Arc<super::planted::Observed>,
}

/// Who a script is, as its registration recorded it: `name@version` (the lockfile's identity
/// for its directory, else what npm gave it) and lifecycle event.
pub type ScriptOrigin = Arc<(Option<String>, Option<String>)>;

impl Observer {
    fn remember(&self, pid: i32, origin: &ScriptOrigin) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(pid, Arc::clone(origin));
    }

    /// The package and script whose listener last saw host pid `pid`.
    pub fn remembered(&self, pid: i32) -> Option<(Option<String>, Option<String>)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&pid).map(|o| (o.0.clone(), o.1.clone()))
    }
}

/// Whose filter a listener belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Init's filter: the whole sandbox. `generic`: the command is not a package manager, so
    /// its own file attempts are judged as a script's would be.
    Sandbox { generic: bool },
    /// A lifecycle script's filter, installed by its shim.
    Script {
        package_dir: Option<PathBuf>,
        /// The directories it writes as its own (from where npm started it).
        own: Vec<PathBuf>,
        /// `name@version` and the lifecycle event, from the script's registration.
        origin: ScriptOrigin,
    },
}

/// Serve notifications on a thread of its own until every process under the filter is gone,
/// or until `stop` is readable or hangs up with no notification pending (the caller knows
/// that no process under the filter can make a call any more, before the listener would
/// say so).
pub fn spawn(
    listener: Listener,
    observer: Arc<Observer>,
    scope: Scope,
    stop: Option<OwnedFd>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("seccomp-notify".into())
        .stack_size(NOTIFY_STACK)
        .spawn(move || {
            let stop = stop.as_ref().map(|s| s.as_fd());
            serve_after(&listener, &observer, &scope, stop, || {})
        })
}

/// Stack of a thread that serves a listener.
pub const NOTIFY_STACK: usize = 256 * 1024;

/// Serve a listener on this thread until every process under its filter is gone (or `stop`,
/// as for [`spawn`]), with `counted` run once a script's listener counts as alive and before
/// the first notification is received: the registration's answer, so that the proxy never
/// sees the script running uncounted.
pub fn serve_after(
    listener: &Listener,
    observer: &Observer,
    scope: &Scope,
    stop: Option<BorrowedFd<'_>>,
    counted: impl FnOnce(),
) {
    if let Err(e) = listener.set_sync_wake_up() {
        tracing::debug!("seccomp listener: no same-CPU wake-up: {e}");
    }
    let script = matches!(scope, Scope::Script { .. });
    if script {
        observer.scripts_alive.fetch_add(1, Ordering::SeqCst);
    }
    counted();
    serve(listener, observer, scope, stop);
    if script {
        observer.scripts_alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(listener: &Listener, observer: &Observer, scope: &Scope, stop: Option<BorrowedFd<'_>>) {
    serve_until(listener, stop, |listener, req| {
        if let Scope::Script { origin, .. } = scope {
            observer.remember(req.pid.as_raw(), origin);
        }
        if file_call(req.nr) {
            // The kernel decides file access (mounts, Landlock); this only explains it, and
            // answers early only where the kernel would refuse too (see `observe_file`).
            observe_file(listener, req, observer, scope)
        } else {
            handle(listener, req, observer, scope)
        }
    });
}

/// Receive notifications until every process under the listener's filter is gone (the
/// listener hangs up), answering each with `answer(listener, notification)`.
pub fn serve_loop(listener: &Listener, answer: impl FnMut(&Listener, &Notification) -> Answer) {
    serve_until(listener, None, answer)
}

/// [`serve_loop`], ending also once `stop` is readable or hung up and no notification is
/// pending: a pending one is answered first, so nothing a process asked goes unlogged.
fn serve_until(
    listener: &Listener,
    stop: Option<BorrowedFd<'_>>,
    mut answer: impl FnMut(&Listener, &Notification) -> Answer,
) {
    let watched = if stop.is_some() { 2 } else { 1 };
    loop {
        let mut pfd = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.unwrap_or(listener.as_fd()), PollFlags::POLLIN),
        ];
        match poll(&mut pfd[..watched], PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        // Without a pending notification, the poll returned for a hang-up (every process
        // under the filter is gone), an error, or the stop.
        if !pfd[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            return;
        }
        let req = match listener.receive() {
            Ok(crate::sys::seccomp::Received::Notification(req)) => req,
            Ok(crate::sys::seccomp::Received::Gone) => continue,
            Err(_) => return,
        };
        listener.answer(req.id, answer(listener, &req));
    }
}

fn file_call(nr: libc::c_long) -> bool {
    crate::sandbox::seccomp::file_syscalls().any(|f| f == nr)
}

/// `O_WRONLY | O_RDWR | O_CREAT | O_TRUNC`: an open that may write.
fn opens_for_write(flags: u64) -> bool {
    let flags = int_of(flags);
    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
}

/// The paths a path syscall names: (dirfd, path pointer, access, follow a final link).
fn file_operands(nr: libc::c_long, a: &[u64; 6], pid: i32) -> Vec<(i32, u64, Access, bool)> {
    let cwd = libc::AT_FDCWD;
    let open_access = |flags: u64| {
        let follow = int_of(flags) & libc::O_NOFOLLOW == 0;
        let access = if opens_for_write(flags) {
            Access::Write
        } else {
            Access::Read
        };
        (access, follow)
    };
    #[cfg(target_arch = "x86_64")]
    match nr {
        libc::SYS_open => {
            let (acc, follow) = open_access(a[1]);
            return vec![(cwd, a[0], acc, follow)];
        }
        libc::SYS_creat => return vec![(cwd, a[0], Access::Write, true)],
        // A hard link to a hidden file would be a way to read it, and to a file the caller
        // may not write a way to write it; the new name is a write.
        libc::SYS_link => {
            return vec![
                (cwd, a[0], Access::LinkFrom, false),
                (cwd, a[1], Access::Write, false),
            ]
        }
        libc::SYS_symlink => return vec![(cwd, a[1], Access::Write, false)],
        libc::SYS_unlink | libc::SYS_mkdir | libc::SYS_rmdir => {
            return vec![(cwd, a[0], Access::Write, false)]
        }
        libc::SYS_rename => {
            return vec![
                (cwd, a[0], Access::Write, false),
                (cwd, a[1], Access::Write, false),
            ]
        }
        _ => {}
    }
    match nr {
        libc::SYS_openat => {
            let (acc, follow) = open_access(a[2]);
            vec![(int_of(a[0]), a[1], acc, follow)]
        }
        libc::SYS_openat2 => {
            // struct open_how { u64 flags; u64 mode; u64 resolve; }
            let flags = process::read_memory(pid, a[2], 8)
                .ok()
                .and_then(|b| b.try_into().ok())
                .map(u64::from_ne_bytes)
                .unwrap_or(0);
            let (acc, follow) = open_access(flags);
            vec![(int_of(a[0]), a[1], acc, follow)]
        }
        libc::SYS_linkat => vec![
            (
                int_of(a[0]),
                a[1],
                Access::LinkFrom,
                int_of(a[4]) & libc::AT_SYMLINK_FOLLOW != 0,
            ),
            (int_of(a[2]), a[3], Access::Write, false),
        ],
        libc::SYS_symlinkat => vec![(int_of(a[1]), a[2], Access::Write, false)],
        libc::SYS_unlinkat | libc::SYS_mkdirat => vec![(int_of(a[0]), a[1], Access::Write, false)],
        libc::SYS_truncate => vec![(cwd, a[0], Access::Write, true)],
        libc::SYS_renameat | libc::SYS_renameat2 => vec![
            (int_of(a[0]), a[1], Access::Write, false),
            (int_of(a[2]), a[3], Access::Write, false),
        ],
        _ => Vec::new(),
    }
}

/// The terminal of the process's session. Nothing inside has one (the command runs in its
/// own session), so the kernel answers ENXIO; a script that made a pty of its own its
/// controlling terminal gets the same answer, so that the log tells the truth.
const CONTROLLING_TERMINAL: &str = "/dev/tty";

/// bash's probe at every start (`check_dev_tty`: `open("/dev/tty", O_RDWR | O_NONBLOCK)`, to
/// learn whether it has a controlling terminal), which is no attempt on anyone's terminal:
/// logged, it made `--strict` fail every install whose scripts start bash. Only that exact
/// open by a process running bash: a script cannot choose these flags through bash, and
/// any other open of the terminal is logged.
fn shell_tty_probe(nr: libc::c_long, args: &[u64; 6], pid: i32) -> bool {
    let flags = match nr {
        libc::SYS_openat => args[2],
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => args[1],
        _ => return false,
    };
    let flags = int_of(flags) & !libc::O_CLOEXEC & !libc::O_LARGEFILE;
    flags == libc::O_RDWR | libc::O_NONBLOCK
        && std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "bash"))
}

/// Resolve each path the call names and log what the plan says about it. The answer is
/// CONTINUE, except for `/dev/tty` (refused with ENXIO, as the kernel refuses it to a
/// process without a controlling terminal): refusing on the strength of memory read is
/// safe, allowing never is.
fn observe_file(
    listener: &Listener,
    req: &Notification,
    observer: &Observer,
    scope: &Scope,
) -> Answer {
    let pid = req.pid.as_raw();
    let root = files::Root::of_pid(pid);
    let on_host = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    for (dirfd, ptr, access, follow) in file_operands(req.nr, &req.args, pid) {
        let Some(raw) = files::read_c_string(pid, ptr) else {
            continue;
        };
        let base = if raw.first() == Some(&b'/') {
            PathBuf::from("/")
        } else {
            match files::base_dir(pid, dirfd) {
                Some(b) => b,
                None => continue,
            }
        };
        if !listener.still_valid(req.id) {
            return Answer::Continue;
        }
        let files::Resolved { path, exists } = files::resolve(&root, &base, &raw, follow);
        // The resolution's last lookup already told whether the path itself exists.
        let inside = |p: &Path| match exists {
            Some(known) if p == path => known,
            _ => root.exists(p),
        };
        if path == Path::new(CONTROLLING_TERMINAL) {
            if shell_tty_probe(req.nr, &req.args, pid) {
                // The kernel refuses it too (no controlling terminal): nothing to log.
                return Answer::Errno(libc::ENXIO);
            }
            let who = observer.who.of_pid(pid);
            // The package manager itself is not judged (see `FileRules::judge`).
            if matches!(scope, Scope::Sandbox { generic: false }) && who.script.is_none() {
                continue;
            }
            let finding = files::Finding {
                action: match access {
                    Access::Read | Access::LinkFrom => Action::Read,
                    Access::Write => Action::Write,
                },
                reason: Reason::ControllingTerminal,
                target: CONTROLLING_TERMINAL.into(),
                detail: "the terminal of whoever runs the install; the sandbox runs in its own session without one, and opening it is refused (ENXIO)".into(),
            };
            emit_finding(observer, finding, who);
            return Answer::Errno(libc::ENXIO);
        }
        if path.starts_with("/proc") {
            // The sandbox's own procfs: `self` means the caller, which only it can resolve.
            // Attribution (several /proc reads) is paid only for a finding.
            let Some(finding) = files::judge_proc(&path, || process::ids(pid).sandbox) else {
                continue;
            };
            let who = observer.who.of_pid(pid);
            // The package manager itself is not judged (see `FileRules::judge`).
            if matches!(scope, Scope::Sandbox { generic: false }) && who.script.is_none() {
                continue;
            }
            emit_finding(observer, finding, who);
            continue;
        }
        let level = match scope {
            Scope::Script {
                package_dir, own, ..
            } => Level::Script {
                package_dir: package_dir.as_deref(),
                own,
            },
            Scope::Sandbox { generic: true } => Level::Command,
            // Judged as a script first: most calls are nothing either way, and attribution
            // (several /proc reads) is paid only for findings.
            Scope::Sandbox { generic: false } => Level::Script {
                package_dir: None,
                own: &[],
            },
        };
        // A script's write into `.bin`, allowed or not, names who to attribute an entry the
        // end-of-run check finds there (a grant's write is not in level 2's general rules).
        if matches!(scope, Scope::Script { .. })
            && access == Access::Write
            && observer.files.in_bin(&path)
        {
            observer
                .planted
                .record(path.clone(), || observer.who.of_pid(pid));
        }
        let Some(finding) = observer
            .files
            .judge(&path, access, level, &inside, &on_host)
        else {
            // Let through by a grant or `--rw`: remembered (attribution paid only here) for
            // the end-of-run check, which reports it if it is still there.
            if matches!(scope, Scope::Script { .. })
                && observer.files.left_behind(&path, access, level)
            {
                observer
                    .planted
                    .record(path.clone(), || observer.who.of_pid(pid));
            }
            continue;
        };
        let who = observer.who.of_pid(pid);
        // The package manager itself is not judged (see `FileRules::judge`).
        if matches!(scope, Scope::Sandbox { generic: false }) && who.script.is_none() {
            continue;
        }
        if finding.reason == crate::events::Reason::ReadOnlyPath
            && observer
                .files
                .pip_build_may_write(&path, files::base_dir(pid, libc::AT_FDCWD).as_deref())
        {
            continue;
        }
        emit_finding(observer, finding, who);
    }
    Answer::Continue
}

fn emit_finding(observer: &Observer, finding: files::Finding, who: crate::net::Attribution) {
    let mut ev = Event::new(
        finding.action,
        Verdict::Blocked,
        finding.target,
        finding.reason,
    )
    .with_detail(finding.detail);
    who.apply(&mut ev);
    observer.sink.emit(ev);
}

fn handle(listener: &Listener, req: &Notification, observer: &Observer, scope: &Scope) -> Answer {
    let (sink, who) = (&observer.sink, observer.who.as_ref());
    let pid = req.pid.as_raw();
    let args = req.args;
    let nr = req.nr;
    let (dests, what) = match nr {
        libc::SYS_socket => {
            emit(
                sink,
                who,
                pid,
                format!("socket(family {}, type {})", args[0], args[1] & 0xf),
                Reason::RawSocket,
                "raw and packet sockets are refused",
            );
            return Answer::Errno(libc::EPERM);
        }
        // Only TIOCSTI and TIOCLINUX reach here (the filter compares the request): refused
        // from the registers alone, whatever the descriptor is.
        libc::SYS_ioctl => {
            // The request is compared as the filter does: 32 bits.
            let name = if u32::try_from(libc::TIOCLINUX).ok()
                == u32::try_from(args[1] & 0xffff_ffff).ok()
            {
                "TIOCLINUX"
            } else {
                "TIOCSTI"
            };
            emit_action(
                sink,
                who,
                pid,
                Action::Write,
                name.to_string(),
                Reason::TerminalInjection,
                &format!(
                    "ioctl {name} on descriptor {}: typing into a terminal is refused (EPERM)",
                    req.int_arg(0)
                ),
            );
            return Answer::Errno(libc::EPERM);
        }
        libc::SYS_connect => (
            read_addr(pid, args[1], args[2])
                .into_iter()
                .collect::<Vec<_>>(),
            "connect",
        ),
        libc::SYS_sendto => (
            read_addr(pid, args[4], args[5]).into_iter().collect(),
            "sendto",
        ),
        libc::SYS_sendmsg => (
            read_msghdr_addr(pid, args[1]).into_iter().collect(),
            "sendmsg",
        ),
        libc::SYS_sendmmsg => (read_mmsg_addrs(pid, args[1], args[2]), "sendmmsg"),
        _ => return Answer::Continue,
    };
    if !listener.still_valid(req.id) {
        return Answer::Continue;
    }
    let stream =
        nr == libc::SYS_connect && socket_type(req.pid, req.int_arg(0)) == Some(libc::SOCK_STREAM);
    if let Some(addr) = dests.iter().find_map(|d| unserved_loopback(pid, d, stream)) {
        emit(
            sink,
            who,
            pid,
            addr.to_string(),
            Reason::DirectConnect,
            &format!(
                "{what} to the sandbox's own loopback where nothing listens: the host's local services (databases, docker, metadata proxies) are out of reach"
            ),
        );
        return Answer::Errno(libc::ECONNREFUSED);
    }
    // A port something inside listens on (the package manager's proxy, a server of its own)
    // but level 2 may not connect to.
    if stream {
        if let Some(addr) = dests.iter().find_map(closed_to_level2) {
            if matches!(scope, Scope::Script { .. }) {
                emit(
                    sink,
                    who,
                    pid,
                    addr.to_string(),
                    Reason::ScriptOffline,
                    &format!(
                        "lifecycle scripts and build backends may connect only to their own proxy port ({}) and the DNS stub; the package manager's proxy and any other local port are closed to them by their Landlock domain",
                        crate::plan::addresses::SCRIPT_PROXY
                    ),
                );
                // What Landlock answers too.
                return Answer::Errno(libc::EACCES);
            }
        }
    }
    if let Some((target, errno)) = dests.iter().find_map(|d| unix_out_of_reach(pid, d)) {
        emit(
            sink,
            who,
            pid,
            target,
            Reason::UnixSocket,
            &format!(
                "{what} to a unix socket nothing inside the sandbox serves: the host's (ssh-agent, docker, dbus, X11) are not in its view or its network namespace"
            ),
        );
        return Answer::Errno(errno);
    }
    let Some(out) = dests.iter().find(|d| !stays_inside(d)) else {
        return Answer::Continue;
    };
    let target = match out {
        Dest::Inet(addr) => addr.to_string(),
        Dest::Other(family) => format!("address family {family}"),
        Dest::Unix(name) => name.display(),
    };
    let fastopen =
        nr == libc::SYS_sendto && args[3] & u64::from(libc::MSG_FASTOPEN.unsigned_abs()) != 0;
    let detail = format!(
        "{what}{} to an address outside the sandbox; its network namespace has no route out (HTTP(S) goes through safe-install's proxy)",
        if fastopen { " with MSG_FASTOPEN" } else { "" }
    );
    emit(sink, who, pid, target, Reason::DirectConnect, &detail);
    Answer::Errno(libc::ENETUNREACH)
}

/// A unix socket address that leads nowhere inside the sandbox, with the errno the kernel
/// answers for it: an abstract name no socket in the sandbox's network namespace is bound
/// to (ECONNREFUSED), or a path that exists on the host but not in the view (ENOENT).
/// Paths that exist nowhere are runtimes probing (glibc's nscd socket): not events.
fn unix_out_of_reach(pid: i32, dest: &Dest) -> Option<(String, i32)> {
    let Dest::Unix(name) = dest else { return None };
    match name {
        UnixName::Abstract(n) => {
            (!abstract_served(pid, n)).then(|| (name.display(), libc::ECONNREFUSED))
        }
        UnixName::Path(raw) => {
            let root = files::Root::of_pid(pid);
            let base = if raw.first() == Some(&b'/') {
                PathBuf::from("/")
            } else {
                files::base_dir(pid, libc::AT_FDCWD)?
            };
            let files::Resolved { path, exists } = files::resolve(&root, &base, raw, true);
            let inside = exists.unwrap_or_else(|| root.exists(&path));
            let on_host = std::fs::symlink_metadata(&path).is_ok();
            (!inside && on_host).then(|| (path.display().to_string(), libc::ENOENT))
        }
        UnixName::Unnamed => None,
    }
}

/// A loopback TCP destination level 2 may not connect to: anything but the scripts' proxy port
/// and the DNS stub (the ports its Landlock domain allows).
fn closed_to_level2(dest: &Dest) -> Option<std::net::SocketAddr> {
    let Dest::Inet(addr) = dest else { return None };
    let loopback = addr.ip().is_loopback() || addr.ip().to_canonical().is_loopback();
    let allowed = [
        crate::plan::addresses::SCRIPT_PROXY.port(),
        crate::plan::addresses::DNS.port(),
    ];
    (loopback && !allowed.contains(&addr.port())).then_some(*addr)
}

/// A loopback destination other than the proxy and DNS stub on which nothing inside listens:
/// an attempt at the host's local services, which the namespace keeps out of reach.
fn unserved_loopback(pid: i32, dest: &Dest, stream: bool) -> Option<std::net::SocketAddr> {
    let Dest::Inet(addr) = dest else { return None };
    if !addr.ip().is_loopback() && !addr.ip().to_canonical().is_loopback() {
        return None;
    }
    let ours = [
        crate::plan::addresses::PROXY,
        crate::plan::addresses::SCRIPT_PROXY,
        crate::plan::addresses::DNS,
    ];
    if ours.iter().any(|o| o.port() == addr.port()) {
        return None;
    }
    let proto = if stream { "tcp" } else { "udp" };
    (!listener_inside(pid, proto, addr.port())).then_some(*addr)
}

/// SO_TYPE of descriptor `fd` in process `pid`, through a copy taken with pidfd_getfd.
fn socket_type(pid: nix::unistd::Pid, fd: i32) -> Option<i32> {
    let copy = crate::sys::fd::copy_fd(pid, fd).ok()?;
    nix::sys::socket::getsockopt(&copy, nix::sys::socket::sockopt::SockType)
        .ok()
        .map(|t| t as i32)
}

/// Log a blocked connect of `pid`, attributed.
pub fn emit(
    sink: &EventSink,
    who: &Attributor,
    pid: i32,
    target: String,
    reason: Reason,
    detail: &str,
) {
    emit_action(sink, who, pid, Action::Connect, target, reason, detail);
}

/// Log a blocked attempt of `pid`, attributed.
fn emit_action(
    sink: &EventSink,
    who: &Attributor,
    pid: i32,
    action: Action,
    target: String,
    reason: Reason,
    detail: &str,
) {
    let mut ev = Event::new(action, Verdict::Blocked, target, reason).with_detail(detail);
    who.of_pid(pid).apply(&mut ev);
    sink.emit(ev);
}

fn read_addr(pid: i32, ptr: u64, len: u64) -> Option<Dest> {
    if ptr == 0 || len == 0 {
        return None;
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_SOCKADDR);
    process::read_memory(pid, ptr, len).ok().map(|b| parse(&b))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// `msg_name` / `msg_namelen` of a `struct msghdr`.
fn name_of(hdr: &[u8]) -> Option<(u64, u64)> {
    Some((u64_at(hdr, 0)?, u64::from(u32_at(hdr, 8)?)))
}

fn read_msghdr_addr(pid: i32, ptr: u64) -> Option<Dest> {
    let hdr = process::read_memory(pid, ptr, MSGHDR).ok()?;
    let (name, len) = name_of(&hdr)?;
    read_addr(pid, name, len)
}

fn read_mmsg_addrs(pid: i32, ptr: u64, vlen: u64) -> Vec<Dest> {
    let n = usize::try_from(vlen).unwrap_or(usize::MAX).min(MAX_MMSG);
    let Ok(all) = process::read_memory(pid, ptr, n * MMSGHDR) else {
        return Vec::new();
    };
    all.chunks(MMSGHDR)
        .filter_map(name_of)
        .filter_map(|(name, len)| read_addr(pid, name, len))
        .collect()
}
