//! The seccomp filters, for both modes: the deny list ([`compile`]) and the notify filter
//! ([`compile_notify`]) whose listener the supervisor serves. Whole syscalls to deny come
//! from the policy (`[[seccomp.deny]]`); the argument-checked rules are mechanism and live
//! here, each with its reason.
//!
//! Two deny filters are installed because seccompiler gives one filter one errno: EPERM for
//! what is refused, ENOSYS for `clone3` (its flags are in memory a filter cannot read, so it
//! must look unimplemented: glibc then falls back to `clone`, whose flags the EPERM filter
//! checks).

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("unsupported architecture {0}")]
    Arch(String),
    #[error("building the seccomp filter")]
    Build(#[from] seccompiler::BackendError),
    #[error("compiling the seccomp filter")]
    Compile(#[from] seccompiler::Error),
}

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// The obsolete packet-socket type (libc deprecates the constant; the kernel still accepts it).
const SOCK_PACKET: i32 = 10;

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, SeccompError> {
    Ok(SeccompCondition::new(arg, len, op, value)?)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, SeccompError> {
    Ok(SeccompRule::new(conds)?)
}

/// Who refuses TIOCSTI/TIOCLINUX (typing into a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyIoctls {
    /// This filter, with EPERM: no trace (landlock mode, whose notifier does not log them).
    Refuse,
    /// The notify filter ([`compile_notify`]): the supervisor logs the attempt and answers
    /// EPERM without running it. An ERRNO rule here would take precedence over the
    /// notification (the kernel runs every filter and keeps the strictest action), and the
    /// attempt would leave no event. A process under no listener (npm itself when its
    /// scripts have their own) meets the kernel's own rule: it has no controlling terminal
    /// (own session), and TIOCSTI into another session's terminal needs CAP_SYS_ADMIN of
    /// the host; if the supervisor is gone, its listener is closed and the call fails.
    Notified,
}

/// The ioctl rules for TIOCSTI and TIOCLINUX. The request is compared as 32 bits: the
/// kernel ignores the upper half, so a 64-bit compare is bypassed with TIOCSTI | 1 << 32.
// The ioctl constants' type differs between libcs (glibc c_ulong, musl c_int).
#[allow(clippy::unnecessary_cast)]
fn tty_ioctl_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    use SeccompCmpArgLen::Dword;
    use SeccompCmpOp::Eq;
    Ok(vec![
        rule(vec![cond(1, Dword, Eq, libc::TIOCSTI as u64)?])?,
        rule(vec![cond(1, Dword, Eq, libc::TIOCLINUX as u64)?])?,
    ])
}

/// The argument-checked EPERM rules.
fn argument_rules(rules: &mut Rules, tty: TtyIoctls) -> Result<(), SeccompError> {
    use SeccompCmpArgLen::{Dword, Qword};
    use SeccompCmpOp::{Eq, MaskedEq, Ne};

    // New namespaces via clone(2): a new user namespace would hand back every capability.
    let ns_flags = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ];
    let mut clone = Vec::new();
    for flag in ns_flags {
        let flag = af(flag);
        clone.push(rule(vec![cond(0, Qword, MaskedEq(flag), flag)?])?);
    }
    rules.insert(libc::SYS_clone, clone);

    // Typing into the user's terminal.
    if tty == TtyIoctls::Refuse {
        rules.insert(libc::SYS_ioctl, tty_ioctl_rules()?);
    }

    // Socket families other than unix, inet, inet6 and netlink-route (glibc's getaddrinfo
    // asks netlink-route which addresses exist). Raw and packet sockets are refused by the
    // notifier filter instead, so that each attempt is logged: an EPERM here would take
    // precedence over the notification.
    let mut socket = vec![rule(vec![
        cond(0, Dword, Ne, af(libc::AF_UNIX))?,
        cond(0, Dword, Ne, af(libc::AF_INET))?,
        cond(0, Dword, Ne, af(libc::AF_INET6))?,
        cond(0, Dword, Ne, af(libc::AF_NETLINK))?,
    ])?];
    socket.push(rule(vec![
        cond(0, Dword, Eq, af(libc::AF_NETLINK))?,
        cond(2, Dword, Ne, af(libc::NETLINK_ROUTE))?,
    ])?);
    rules.insert(libc::SYS_socket, socket);
    Ok(())
}

fn arch() -> Result<TargetArch, SeccompError> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|_| SeccompError::Arch(std::env::consts::ARCH.into()))
}

/// Compile the filters: `deny` (whole syscalls, EPERM) plus the argument rules.
pub fn compile(
    deny: &[(String, libc::c_long)],
    tty: TtyIoctls,
) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = arch()?;
    let mut eperm: Rules = BTreeMap::new();
    argument_rules(&mut eperm, tty)?;
    for (_, nr) in deny {
        // A whole-syscall deny overrides any argument rule for the same call.
        eperm.insert(*nr, Vec::new());
    }
    let eperm = SeccompFilter::new(
        eperm,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM.unsigned_abs()),
        arch,
    )?;
    let mut enosys: Rules = BTreeMap::new();
    enosys.insert(libc::SYS_clone3, Vec::new());
    let enosys = SeccompFilter::new(
        enosys,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS.unsigned_abs()),
        arch,
    )?;
    Ok(vec![eperm.try_into()?, enosys.try_into()?])
}

/// The seccompiler action used as a stand-in for SECCOMP_RET_USER_NOTIF, which seccompiler
/// 0.5 cannot express: compiled as SECCOMP_RET_TRACE | data, then patched.
const NOTIFY_SENTINEL: u32 = 0x5afe;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const BPF_RET_K: u16 = 0x06;

/// Which syscalls the notify filter sends to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// Connects, sends with an address, raw sockets.
    Network,
    /// The same plus the calls that open, create or link paths: for processes whose file
    /// attempts are worth a notification each (lifecycle scripts, build backends), never the
    /// package manager's own bulk file work.
    NetworkAndFiles,
    /// Landlock mode: the calls the supervisor answers itself (`observe::connect`). Every
    /// decision rests on register arguments or on kernel objects the supervisor holds, never
    /// on memory the target could change afterwards, and no notification is ever answered
    /// with CONTINUE:
    ///
    /// - `connect`: the supervisor connects the target's socket (a copy taken with
    ///   `pidfd_getfd`) to the proxy itself, or refuses; Landlock refuses direct TCP connects
    ///   anyway (no port is allowed to the sandbox);
    /// - `socket`/`socketpair` of any type but stream for inet, inet6 and unix (UDP, so DNS
    ///   too, raw, datagram unix sockets, which could send to any path), and packet sockets:
    ///   refused;
    /// - `sendto`/`sendmsg`/`sendmmsg` with `MSG_FASTOPEN`, which connects without `connect`
    ///   and bypasses Landlock's TCP rules: refused;
    /// - `listen`: the supervisor listens on its copy of the socket itself when the socket is
    ///   a unix one or an inet one bound to a loopback address, and refuses otherwise.
    ///   `listen()` on an unbound inet socket binds it to the wildcard address with no
    ///   `bind()` call (the kernel's autobind, `inet_autobind`/`inet_csk_get_port`), which
    ///   Landlock's `LANDLOCK_ACCESS_NET_BIND_TCP` (a `bind()` hook) never sees; and below
    ///   ABI 4 `bind()` itself is not covered.
    ConnectOnBehalf,
}

/// The path syscalls observed with [`Observe::NetworkAndFiles`], on every architecture.
const AT_FILE_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_unlinkat,
    libc::SYS_truncate,
    libc::SYS_mkdirat,
];

/// The legacy path calls, which exist on x86_64 only (newer architectures have just the
/// `*at` forms).
#[cfg(target_arch = "x86_64")]
const LEGACY_FILE_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_link,
    libc::SYS_symlink,
    libc::SYS_rename,
    libc::SYS_unlink,
    libc::SYS_mkdir,
    // glibc's and libuv's `rmdir()` (a wiper removing what it emptied).
    libc::SYS_rmdir,
];
#[cfg(not(target_arch = "x86_64"))]
const LEGACY_FILE_SYSCALLS: &[libc::c_long] = &[];

/// Every path syscall observed with [`Observe::NetworkAndFiles`].
pub fn file_syscalls() -> impl Iterator<Item = libc::c_long> {
    AT_FILE_SYSCALLS.iter().chain(LEGACY_FILE_SYSCALLS).copied()
}

/// The filter whose matches the supervisor is notified of; see [`Observe`] for what each
/// observes.
pub fn compile_notify(observe: Observe) -> Result<BpfProgram, SeccompError> {
    let rules = match observe {
        Observe::Network => observed_rules(false)?,
        Observe::NetworkAndFiles => observed_rules(true)?,
        Observe::ConnectOnBehalf => on_behalf_rules()?,
    };
    notify_program(rules)
}

/// Full mode: every connect, sends that carry an address (sendto with a destination, sendmsg
/// and sendmmsg, whose addresses are in memory), and raw or packet sockets (answered EPERM by
/// the supervisor, after logging); with `files` also the path calls of [`file_syscalls`].
fn observed_rules(files: bool) -> Result<Rules, SeccompError> {
    use SeccompCmpArgLen::{Dword, Qword};
    use SeccompCmpOp::{Eq, MaskedEq, Ne};
    let mut rules: Rules = BTreeMap::new();
    if files {
        for nr in file_syscalls() {
            rules.insert(nr, Vec::new());
        }
    }
    rules.insert(libc::SYS_connect, Vec::new());
    rules.insert(libc::SYS_sendmsg, Vec::new());
    rules.insert(libc::SYS_sendmmsg, Vec::new());
    rules.insert(libc::SYS_sendto, vec![rule(vec![cond(4, Qword, Ne, 0)?])?]);
    // Refused by the supervisor after logging (see `TtyIoctls::Notified`).
    rules.insert(libc::SYS_ioctl, tty_ioctl_rules()?);
    let mut socket = vec![rule(vec![cond(0, Dword, Eq, af(libc::AF_PACKET))?])?];
    for family in [libc::AF_INET, libc::AF_INET6] {
        for ty in [libc::SOCK_RAW, SOCK_PACKET] {
            socket.push(rule(vec![
                cond(0, Dword, Eq, af(family))?,
                cond(1, Dword, MaskedEq(TYPE_MASK), af(ty))?,
            ])?);
        }
    }
    rules.insert(libc::SYS_socket, socket);
    Ok(rules)
}

/// Socket types live in the low 4 bits of `type` (the rest are SOCK_NONBLOCK/SOCK_CLOEXEC).
const TYPE_MASK: u64 = 0xf;

/// A small non-negative constant (family, type, flag) as a filter operand.
fn af(v: i32) -> u64 {
    u64::from(v.unsigned_abs())
}

/// Rules matching `family` with any socket type but SOCK_STREAM (seccompiler has no masked
/// not-equal, so each type is listed).
fn non_stream(family: i32) -> Result<Vec<SeccompRule>, SeccompError> {
    use SeccompCmpArgLen::Dword;
    use SeccompCmpOp::{Eq, MaskedEq};
    let mut rules = Vec::new();
    for ty in 0..=TYPE_MASK {
        if ty == af(libc::SOCK_STREAM) {
            continue;
        }
        rules.push(rule(vec![
            cond(0, Dword, Eq, af(family))?,
            cond(1, Dword, MaskedEq(TYPE_MASK), ty)?,
        ])?);
    }
    Ok(rules)
}

fn fastopen(flags_arg: u8) -> Result<Vec<SeccompRule>, SeccompError> {
    let f = af(libc::MSG_FASTOPEN);
    Ok(vec![rule(vec![cond(
        flags_arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(f),
        f,
    )?])?])
}

/// Landlock mode (see [`Observe::ConnectOnBehalf`]).
fn on_behalf_rules() -> Result<Rules, SeccompError> {
    let mut rules: Rules = BTreeMap::new();
    rules.insert(libc::SYS_connect, Vec::new());
    rules.insert(libc::SYS_listen, Vec::new());
    let mut socket = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
        socket.extend(non_stream(family)?);
    }
    socket.push(rule(vec![cond(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        af(libc::AF_PACKET),
    )?])?);
    rules.insert(libc::SYS_socket, socket);
    rules.insert(libc::SYS_socketpair, non_stream(libc::AF_UNIX)?);
    rules.insert(libc::SYS_sendto, fastopen(3)?);
    rules.insert(libc::SYS_sendmsg, fastopen(2)?);
    rules.insert(libc::SYS_sendmmsg, fastopen(3)?);
    Ok(rules)
}

/// Compile `rules` into a filter that returns SECCOMP_RET_USER_NOTIF for every match.
/// seccompiler 0.5 cannot express that action: the filter is compiled with
/// SECCOMP_RET_TRACE | [`NOTIFY_SENTINEL`], then each such return is patched.
fn notify_program(rules: Rules) -> Result<BpfProgram, SeccompError> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Trace(NOTIFY_SENTINEL),
        arch()?,
    )?;
    let mut prog: BpfProgram = filter.try_into()?;
    for insn in prog.iter_mut() {
        if insn.code == BPF_RET_K && insn.k == SECCOMP_RET_TRACE | NOTIFY_SENTINEL {
            insn.k = libc::SECCOMP_RET_USER_NOTIF;
        }
    }
    Ok(prog)
}

/// Install the notify filter and return its listener (no_new_privs must already be set).
pub fn install_listener(prog: &BpfProgram) -> std::io::Result<crate::sys::seccomp::Listener> {
    crate::sys::seccomp::install_listener(prog)
}

/// Install compiled filters on the calling thread (no_new_privs must already be set).
pub fn install(filters: &[BpfProgram]) -> Result<(), SeccompError> {
    for f in filters {
        seccompiler::apply_filter(f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_deny_list_compiles() {
        let mut p = crate::policy::Policy::default();
        p.add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        let deny: Vec<_> = p
            .seccomp
            .deny
            .iter()
            .filter_map(|e| crate::sys::syscalls::number(&e.value).map(|n| (e.value.clone(), n)))
            .collect();
        let filters = compile(&deny, TtyIoctls::Refuse).expect("compile");
        assert_eq!(filters.len(), 2);
        assert!(filters[0].len() > 50);
        let notified = compile(&deny, TtyIoctls::Notified).expect("compile");
        assert!(notified[0].len() < filters[0].len());
    }

    #[test]
    fn the_notify_filters_have_no_sentinel_left() {
        for observe in [
            Observe::Network,
            Observe::NetworkAndFiles,
            Observe::ConnectOnBehalf,
        ] {
            let prog = compile_notify(observe).expect("compile");
            assert!(prog.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
            assert!(!prog
                .iter()
                .any(|i| i.k == SECCOMP_RET_TRACE | NOTIFY_SENTINEL));
        }
    }

    // In-child tests: the filters are installed in a forked child (`sys::process::in_child`),
    // which then makes the refused calls and checks the errno; unprivileged, like the
    // sandbox itself (no_new_privs first).

    fn errno_of<T>(r: nix::Result<T>) -> Option<nix::errno::Errno> {
        r.err()
    }

    fn expect(
        what: &str,
        got: Option<nix::errno::Errno>,
        want: Option<nix::errno::Errno>,
    ) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: {got:?}, expected {want:?}"))
        }
    }

    #[test]
    fn in_a_child_the_deny_filters_refuse_with_eperm() {
        use nix::errno::Errno;
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        crate::sys::process::in_child(|| {
            let deny = vec![("getcwd".to_string(), libc::SYS_getcwd)];
            let filters = compile(&deny, TtyIoctls::Refuse).map_err(|e| e.to_string())?;
            crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
            install(&filters).map_err(|e| e.to_string())?;
            // A whole syscall from the policy.
            let cwd = std::env::current_dir().err().and_then(|e| e.raw_os_error());
            if cwd != Some(libc::EPERM) {
                return Err(format!("getcwd: {cwd:?}, expected EPERM"));
            }
            // Socket families: unix, inet and netlink-route pass; the rest are refused.
            let sock = |f, t, p: Option<SockProtocol>| socket(f, t, SockFlag::SOCK_CLOEXEC, p);
            expect(
                "unix",
                errno_of(sock(AddressFamily::Unix, SockType::Stream, None)),
                None,
            )?;
            expect(
                "inet",
                errno_of(sock(AddressFamily::Inet, SockType::Stream, None)),
                None,
            )?;
            expect(
                "netlink route",
                errno_of(sock(
                    AddressFamily::Netlink,
                    SockType::Raw,
                    Some(SockProtocol::NetlinkRoute),
                )),
                None,
            )?;
            expect(
                "netlink audit",
                errno_of(sock(
                    AddressFamily::Netlink,
                    SockType::Raw,
                    Some(SockProtocol::NetlinkAudit),
                )),
                Some(Errno::EPERM),
            )?;
            expect(
                "AF_ALG",
                errno_of(sock(AddressFamily::Alg, SockType::SeqPacket, None)),
                Some(Errno::EPERM),
            )?;
            // TIOCSTI is refused before the kernel looks at the descriptor (ENOTTY otherwise).
            let file = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            use std::os::fd::AsFd;
            expect(
                "TIOCSTI",
                errno_of(crate::sys::tty::inject_byte(file.as_fd(), b'x')),
                Some(Errno::EPERM),
            )
        })
        .expect("in the child");
    }

    #[test]
    fn in_a_child_a_notified_tiocsti_is_left_to_the_notify_filter() {
        use nix::errno::Errno;
        use std::os::fd::AsFd;
        crate::sys::process::in_child(|| {
            let filters = compile(&[], TtyIoctls::Notified).map_err(|e| e.to_string())?;
            crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
            install(&filters).map_err(|e| e.to_string())?;
            // Without the notify filter nothing refuses it here: the kernel's own answer.
            let file = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            expect(
                "TIOCSTI",
                errno_of(crate::sys::tty::inject_byte(file.as_fd(), b'x')),
                Some(Errno::ENOTTY),
            )
        })
        .expect("in the child");
    }

    #[test]
    fn in_a_child_a_listener_takes_the_same_cpu_wake_up_flag() {
        // Without it every notification may cross CPUs: about 70 µs instead of 12 per
        // observed call on a 2-core machine (measured with 2,000 opens of a script).
        crate::sys::process::in_child(|| {
            let prog = compile_notify(Observe::Network).map_err(|e| e.to_string())?;
            crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
            let listener = install_listener(&prog).map_err(|e| e.to_string())?;
            listener
                .set_sync_wake_up()
                .map_err(|e| format!("SECCOMP_IOCTL_NOTIF_SET_FLAGS: {e}"))
        })
        .expect("in the child");
    }

    #[test]
    fn in_a_child_landlock_modes_notify_filter_sends_udp_to_the_supervisor() {
        use crate::sys::seccomp::{Answer, Received};
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        use nix::unistd::ForkResult;
        // The child plays the supervisor: it installs the filter, forks the "sandboxed"
        // process (which inherits it) and answers its notifications.
        crate::sys::process::in_child(|| {
            let prog = compile_notify(Observe::ConnectOnBehalf).map_err(|e| e.to_string())?;
            crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
            let listener = install_listener(&prog).map_err(|e| e.to_string())?;
            match crate::sys::process::fork_in_test().map_err(|e| e.to_string())? {
                ForkResult::Child => {
                    let stream = socket(
                        AddressFamily::Inet,
                        SockType::Stream,
                        SockFlag::empty(),
                        None,
                    );
                    let udp = socket(
                        AddressFamily::Inet,
                        SockType::Datagram,
                        SockFlag::empty(),
                        None,
                    );
                    let ok = stream.is_ok() && udp.err() == Some(nix::errno::Errno::EPERM);
                    crate::sys::process::exit_now(i32::from(!ok))
                }
                ForkResult::Parent { child } => {
                    // A filter that notifies nothing must fail the test, not hang it.
                    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                    use std::os::fd::AsFd;
                    let mut pfd = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
                    if poll(&mut pfd, PollTimeout::from(5000u16)).map_err(|e| e.to_string())? == 0 {
                        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                        return Err("no notification within 5 s".into());
                    }
                    let seen = match listener.receive().map_err(|e| e.to_string())? {
                        Received::Notification(n) => n,
                        Received::Gone => return Err("no notification".into()),
                    };
                    listener.answer(seen.id, Answer::Errno(libc::EPERM));
                    if seen.nr != libc::SYS_socket || seen.int_arg(0) != libc::AF_INET {
                        return Err(format!("notified of {seen:?}"));
                    }
                    match nix::sys::wait::waitpid(child, None) {
                        Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                        other => Err(format!("the sandboxed process: {other:?}")),
                    }
                }
            }
        })
        .expect("in the child");
    }
}
