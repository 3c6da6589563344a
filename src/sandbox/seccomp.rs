//! The seccomp filters, for both modes: the deny filter ([`compile`]) and the notify filter
//! ([`compile_notify`]) whose listener the supervisor serves. Whole syscalls to deny come
//! from the policy (`[[seccomp.deny]]`); the argument-checked rules are mechanism and live
//! here, each with its reason. Both are compiled by [`super::bpf`] (binary search on the
//! syscall number; one action per syscall).
//!
//! The deny filter answers EPERM for what is refused and ENOSYS for `clone3`: its flags are
//! in memory a filter cannot read, so it must look unimplemented, and glibc then falls back
//! to `clone`, whose flags the EPERM rules check.

use super::bpf::{self, Cond, Entry, Filter, Op, Rule, Width};
use std::collections::BTreeMap;

/// A compiled filter.
pub type Program = Vec<bpf::Insn>;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("unsupported architecture {0}")]
    Arch(String),
    #[error("compiling the seccomp filter: {0}")]
    Compile(#[from] bpf::BpfError),
    #[error("installing the seccomp filter: {0}")]
    Install(std::io::Error),
}

/// Per syscall number, the rules any of which matches (none: the whole call).
type Rules = BTreeMap<i64, Vec<Rule>>;

/// The obsolete packet-socket type (libc deprecates the constant; the kernel still accepts it).
const SOCK_PACKET: i32 = 10;

fn cond(arg: u8, width: Width, op: Op) -> Cond {
    Cond { arg, width, op }
}

/// `arg & flag == flag`, all 64 bits.
fn has_flag(arg: u8, flag: u64) -> Cond {
    cond(
        arg,
        Width::Qword,
        Op::MaskedEq {
            mask: flag,
            value: flag,
        },
    )
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
fn tty_ioctl_rules() -> Vec<Rule> {
    vec![
        Rule(vec![cond(1, Width::Dword, Op::Eq(libc::TIOCSTI as u64))]),
        Rule(vec![cond(1, Width::Dword, Op::Eq(libc::TIOCLINUX as u64))]),
    ]
}

/// The argument-checked EPERM rules.
fn argument_rules(rules: &mut Rules, tty: TtyIoctls) {
    use Width::Dword;
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
    let clone = ns_flags
        .iter()
        .map(|f| Rule(vec![has_flag(0, af(*f))]))
        .collect();
    rules.insert(libc::SYS_clone, clone);

    // Typing into the user's terminal.
    if tty == TtyIoctls::Refuse {
        rules.insert(libc::SYS_ioctl, tty_ioctl_rules());
    }

    // Socket families other than unix, inet, inet6 and netlink-route (glibc's getaddrinfo
    // asks netlink-route which addresses exist). Raw and packet sockets are refused by the
    // notify filter instead, so that each attempt is logged: an EPERM here would take
    // precedence over the notification. So AF_PACKET passes this rule. Where a process has
    // no listener above it, the kernel refuses both: they need CAP_NET_RAW, which no process
    // of the sandbox holds (capabilities are dropped and no-new-privs set before anything
    // runs).
    let socket = vec![
        Rule(vec![
            cond(0, Dword, Op::Ne(af(libc::AF_UNIX))),
            cond(0, Dword, Op::Ne(af(libc::AF_INET))),
            cond(0, Dword, Op::Ne(af(libc::AF_INET6))),
            cond(0, Dword, Op::Ne(af(libc::AF_NETLINK))),
            cond(0, Dword, Op::Ne(af(libc::AF_PACKET))),
        ]),
        Rule(vec![
            cond(0, Dword, Op::Eq(af(libc::AF_NETLINK))),
            cond(2, Dword, Op::Ne(af(libc::NETLINK_ROUTE))),
        ]),
    ];
    rules.insert(libc::SYS_socket, socket);
}

/// The `AUDIT_ARCH_*` of the architecture this binary was built for.
fn arch() -> Result<u32, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(bpf::AUDIT_ARCH_X86_64),
        "aarch64" => Ok(AUDIT_ARCH_AARCH64),
        "riscv64" => Ok(AUDIT_ARCH_RISCV64),
        other => Err(SeccompError::Arch(other.into())),
    }
}

/// `AUDIT_ARCH_AARCH64` (EM_AARCH64 | 64-bit | little-endian).
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_RISCV64` (EM_RISCV | 64-bit | little-endian).
const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;

/// `rules`, each with `action`, into a filter whose default is to allow.
fn filter_of(rules: Rules, action: u32) -> Result<Filter, SeccompError> {
    Ok(Filter {
        arch: arch()?,
        syscalls: rules
            .into_iter()
            .map(|(nr, rules)| (nr, Entry { rules, action }))
            .collect(),
        default: libc::SECCOMP_RET_ALLOW,
    })
}

/// Compile the deny filter: whole syscalls from `deny` and the argument rules, EPERM;
/// `clone3`, ENOSYS.
pub fn compile(deny: &[(String, libc::c_long)], tty: TtyIoctls) -> Result<Program, SeccompError> {
    let mut rules: Rules = BTreeMap::new();
    argument_rules(&mut rules, tty);
    for (_, nr) in deny {
        // A whole-syscall deny overrides any argument rule for the same call.
        // `c_long` is 32 bits wide on 32-bit targets; numbers are kept as i64.
        #[allow(clippy::useless_conversion)]
        rules.insert(i64::from(*nr), Vec::new());
    }
    let mut filter = filter_of(
        rules,
        libc::SECCOMP_RET_ERRNO | bpf::errno_data(libc::EPERM),
    )?;
    // Whatever the policy says of clone3: unimplemented, so that glibc falls back to clone.
    filter.syscalls.insert(
        libc::SYS_clone3,
        Entry::always(libc::SECCOMP_RET_ERRNO | bpf::errno_data(libc::ENOSYS)),
    );
    Ok(bpf::compile(&filter)?)
}

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
pub fn compile_notify(observe: Observe) -> Result<Program, SeccompError> {
    let rules = match observe {
        Observe::Network => observed_rules(false),
        Observe::NetworkAndFiles => observed_rules(true),
        Observe::ConnectOnBehalf => on_behalf_rules(),
    };
    notify_program(rules)
}

/// Full mode: every connect, sends that carry an address (sendto with a destination, sendmsg
/// and sendmmsg, whose addresses are in memory), and raw or packet sockets (answered EPERM by
/// the supervisor, after logging); with `files` also the path calls of [`file_syscalls`].
fn observed_rules(files: bool) -> Rules {
    use Width::{Dword, Qword};
    let mut rules: Rules = BTreeMap::new();
    if files {
        for nr in file_syscalls() {
            rules.insert(nr, Vec::new());
        }
    }
    rules.insert(libc::SYS_connect, Vec::new());
    rules.insert(libc::SYS_sendmsg, Vec::new());
    rules.insert(libc::SYS_sendmmsg, Vec::new());
    rules.insert(
        libc::SYS_sendto,
        vec![Rule(vec![cond(4, Qword, Op::Ne(0))])],
    );
    // Refused by the supervisor after logging (see `TtyIoctls::Notified`).
    rules.insert(libc::SYS_ioctl, tty_ioctl_rules());
    let mut socket = vec![Rule(vec![cond(0, Dword, Op::Eq(af(libc::AF_PACKET)))])];
    for family in [libc::AF_INET, libc::AF_INET6] {
        for ty in [libc::SOCK_RAW, SOCK_PACKET] {
            socket.push(Rule(vec![
                cond(0, Dword, Op::Eq(af(family))),
                socket_type(af(ty)),
            ]));
        }
    }
    rules.insert(libc::SYS_socket, socket);
    rules
}

/// Socket types live in the low 4 bits of `type` (the rest are SOCK_NONBLOCK/SOCK_CLOEXEC).
const TYPE_MASK: u64 = 0xf;

/// `socket()`'s type argument is `ty`, whatever its flags.
fn socket_type(ty: u64) -> Cond {
    cond(
        1,
        Width::Dword,
        Op::MaskedEq {
            mask: TYPE_MASK,
            value: ty,
        },
    )
}

/// A small non-negative constant (family, type, flag) as a filter operand.
fn af(v: i32) -> u64 {
    u64::from(v.unsigned_abs())
}

/// Rules matching `family` with any socket type but SOCK_STREAM, one per type.
fn non_stream(family: i32) -> Vec<Rule> {
    (0..=TYPE_MASK)
        .filter(|ty| *ty != af(libc::SOCK_STREAM))
        .map(|ty| {
            Rule(vec![
                cond(0, Width::Dword, Op::Eq(af(family))),
                socket_type(ty),
            ])
        })
        .collect()
}

fn fastopen(flags_arg: u8) -> Vec<Rule> {
    let f = af(libc::MSG_FASTOPEN);
    vec![Rule(vec![cond(
        flags_arg,
        Width::Dword,
        Op::MaskedEq { mask: f, value: f },
    )])]
}

/// Landlock mode (see [`Observe::ConnectOnBehalf`]).
fn on_behalf_rules() -> Rules {
    let mut rules: Rules = BTreeMap::new();
    rules.insert(libc::SYS_connect, Vec::new());
    rules.insert(libc::SYS_listen, Vec::new());
    let mut socket = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
        socket.extend(non_stream(family));
    }
    socket.push(Rule(vec![cond(
        0,
        Width::Dword,
        Op::Eq(af(libc::AF_PACKET)),
    )]));
    rules.insert(libc::SYS_socket, socket);
    rules.insert(libc::SYS_socketpair, non_stream(libc::AF_UNIX));
    rules.insert(libc::SYS_sendto, fastopen(3));
    rules.insert(libc::SYS_sendmsg, fastopen(2));
    rules.insert(libc::SYS_sendmmsg, fastopen(3));
    rules
}

/// Compile `rules` into a filter that returns SECCOMP_RET_USER_NOTIF for every match.
fn notify_program(rules: Rules) -> Result<Program, SeccompError> {
    Ok(bpf::compile(&filter_of(
        rules,
        libc::SECCOMP_RET_USER_NOTIF,
    )?)?)
}

/// Install the notify filter and return its listener (no_new_privs must already be set).
pub fn install_listener(prog: &Program) -> std::io::Result<crate::sys::seccomp::Listener> {
    crate::sys::seccomp::install_listener(prog)
}

/// Install a compiled filter on the calling thread (no_new_privs must already be set).
pub fn install(prog: &Program) -> Result<(), SeccompError> {
    crate::sys::seccomp::install(prog).map_err(SeccompError::Install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_deny_list_compiles() {
        let filter = compile(&builtin_deny(), TtyIoctls::Refuse).expect("compile");
        assert!(filter.len() > 50);
        let notified = compile(&builtin_deny(), TtyIoctls::Notified).expect("compile");
        assert!(notified.len() < filter.len());
    }

    fn builtin_deny() -> Vec<(String, libc::c_long)> {
        let mut p = crate::policy::Policy::default();
        p.add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        p.seccomp
            .deny
            .iter()
            .filter_map(|e| crate::sys::syscalls::number(&e.value).map(|n| (e.value.clone(), n)))
            .collect()
    }

    #[test]
    fn the_notify_filters_notify() {
        for observe in [
            Observe::Network,
            Observe::NetworkAndFiles,
            Observe::ConnectOnBehalf,
        ] {
            let prog = compile_notify(observe).expect("compile");
            assert!(prog.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
        }
    }

    // The compiled filters against seccompiler's, which compiled them before
    // (`sandbox::bpf`): both run in the test's interpreter on every syscall number and on
    // argument values around every constant the rules name; they must give the same action.

    /// seccompiler's program for `rules` with `action` (a stand-in value for actions it
    /// cannot express).
    fn reference(rules: &Rules, action: seccompiler::SeccompAction) -> seccompiler::BpfProgram {
        use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
        let converted = rules
            .iter()
            .map(|(nr, rules)| {
                let rules = rules
                    .iter()
                    .map(|r| {
                        let conds =
                            r.0.iter()
                                .map(|c| {
                                    let len = match c.width {
                                        Width::Dword => SeccompCmpArgLen::Dword,
                                        Width::Qword => SeccompCmpArgLen::Qword,
                                    };
                                    let (op, value) = match c.op {
                                        Op::Eq(v) => (SeccompCmpOp::Eq, v),
                                        Op::Ne(v) => (SeccompCmpOp::Ne, v),
                                        Op::MaskedEq { mask, value } => {
                                            (SeccompCmpOp::MaskedEq(mask), value)
                                        }
                                    };
                                    SeccompCondition::new(c.arg, len, op, value).expect("condition")
                                })
                                .collect();
                        SeccompRule::new(conds).expect("rule")
                    })
                    .collect();
                (*nr, rules)
            })
            .collect();
        seccompiler::SeccompFilter::new(
            converted,
            seccompiler::SeccompAction::Allow,
            action,
            std::env::consts::ARCH.try_into().expect("arch"),
        )
        .expect("filter")
        .try_into()
        .expect("program")
    }

    /// Argument vectors for `rules`: each argument any of the constants the rules compare
    /// with, with a flag bit, with the upper half set, or zero and all ones.
    fn argument_samples(rules: &Rules) -> Vec<[u64; 6]> {
        let mut pool = vec![0u64, 1, u64::MAX, 0x80000, 0x800];
        for c in rules.values().flatten().flat_map(|r| r.0.iter()) {
            let v = match c.op {
                Op::Eq(v) | Op::Ne(v) => v,
                Op::MaskedEq { mask, value } => {
                    pool.push(mask);
                    value
                }
            };
            pool.extend([v, v | 0x80000, v | 1 << 32, v ^ 1]);
        }
        pool.sort_unstable();
        pool.dedup();
        // A fixed pseudo-random walk over the pool (the same every run).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pool[(x % pool.len() as u64) as usize]
        };
        (0..400)
            .map(|_| [next(), next(), next(), next(), next(), next()])
            .collect()
    }

    fn same_actions(
        ours: &Program,
        theirs: &[seccompiler::sock_filter],
        rules: &Rules,
        map: impl Fn(u32) -> u32,
    ) {
        let theirs: Vec<libc::sock_filter> = theirs
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let arch = arch().expect("arch");
        let samples = argument_samples(rules);
        for nr in 0..600u32 {
            let args: &[[u64; 6]] = if rules.contains_key(&i64::from(nr)) {
                &samples
            } else {
                &samples[..4]
            };
            for a in args {
                let want = bpf::run(&theirs, nr, arch, *a).map(&map);
                assert_eq!(bpf::run(ours, nr, arch, *a), want, "nr {nr} args {a:x?}");
            }
        }
    }

    #[test]
    fn the_deny_filter_acts_as_seccompilers_two_did() {
        for tty in [TtyIoctls::Refuse, TtyIoctls::Notified] {
            let deny = builtin_deny();
            let ours = compile(&deny, tty).expect("compile");
            let mut eperm: Rules = BTreeMap::new();
            argument_rules(&mut eperm, tty);
            for (_, nr) in &deny {
                eperm.insert(*nr, Vec::new());
            }
            let mut enosys: Rules = BTreeMap::new();
            enosys.insert(libc::SYS_clone3, Vec::new());
            let eperm_prog = reference(&eperm, seccompiler::SeccompAction::Errno(1));
            let enosys_prog = reference(&enosys, seccompiler::SeccompAction::Errno(38));
            // Two ERRNO filters: the kernel keeps the later one's answer; merged into one
            // reference program by running both.
            let both: Rules = eperm.clone().into_iter().chain(enosys.clone()).collect();
            let arch = arch().expect("arch");
            let to_libc = |p: &seccompiler::BpfProgram| -> Vec<libc::sock_filter> {
                p.iter()
                    .map(|i| libc::sock_filter {
                        code: i.code,
                        jt: i.jt,
                        jf: i.jf,
                        k: i.k,
                    })
                    .collect()
            };
            let (eperm_prog, enosys_prog) = (to_libc(&eperm_prog), to_libc(&enosys_prog));
            for nr in 0..600u32 {
                for a in argument_samples(&both)
                    .iter()
                    .take(if both.contains_key(&i64::from(nr)) {
                        400
                    } else {
                        4
                    })
                {
                    let second = bpf::run(&enosys_prog, nr, arch, *a);
                    let want = if second == Some(libc::SECCOMP_RET_ALLOW) {
                        bpf::run(&eperm_prog, nr, arch, *a)
                    } else {
                        second
                    };
                    assert_eq!(
                        bpf::run(&ours, nr, arch, *a),
                        want,
                        "{tty:?} nr {nr} args {a:x?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_notify_filters_act_as_seccompilers_did() {
        const STAND_IN: u32 = 0x5afe;
        for (observe, rules) in [
            (Observe::Network, observed_rules(false)),
            (Observe::NetworkAndFiles, observed_rules(true)),
            (Observe::ConnectOnBehalf, on_behalf_rules()),
        ] {
            let ours = compile_notify(observe).expect("compile");
            let theirs = reference(&rules, seccompiler::SeccompAction::Trace(STAND_IN));
            same_actions(&ours, &theirs, &rules, |k| {
                if k == libc::SECCOMP_RET_TRACE | STAND_IN {
                    libc::SECCOMP_RET_USER_NOTIF
                } else {
                    k
                }
            });
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

    /// The supervisor's part in a test where the child plays it: the first notification from
    /// `child` must be `socket(family, …)`; it is answered EPERM, and `child` must then exit
    /// 0 (its own check of the answer it got). A filter that notifies nothing fails the test
    /// after 5 s instead of hanging it.
    fn answer_one_socket(
        listener: &crate::sys::seccomp::Listener,
        child: nix::unistd::Pid,
        family: i32,
    ) -> Result<(), String> {
        use crate::sys::seccomp::{Answer, Received};
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut pfd = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut pfd, PollTimeout::from(5000u16)).map_err(|e| e.to_string())? == 0 {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            return Err("no notification within 5 s".into());
        }
        let seen = match listener.receive().map_err(|e| e.to_string())? {
            Received::Notification(n) => n,
            Received::Gone => return Err("no notification".into()),
        };
        listener.answer(seen.id, Answer::Errno(libc::EPERM));
        if seen.nr != libc::SYS_socket || seen.int_arg(0) != family {
            return Err(format!("notified of {seen:?}"));
        }
        match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            other => Err(format!("the sandboxed process: {other:?}")),
        }
    }

    /// A packet socket passes the deny filter and reaches the notify filter under it, in
    /// both modes: an EPERM from the deny filter would take precedence over the notification
    /// (the kernel runs every filter and keeps the strictest action), and the attempt would
    /// leave no event. The child plays the supervisor, as below.
    #[test]
    fn in_a_child_a_packet_socket_reaches_the_notify_filter_past_the_deny_filter() {
        use nix::unistd::ForkResult;
        for (tty, observe) in [
            (TtyIoctls::Notified, Observe::Network),
            (TtyIoctls::Refuse, Observe::ConnectOnBehalf),
        ] {
            crate::sys::process::in_child(|| {
                let deny = compile(&[], tty).map_err(|e| e.to_string())?;
                let notify = compile_notify(observe).map_err(|e| e.to_string())?;
                crate::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())?;
                install(&deny).map_err(|e| e.to_string())?;
                let listener = install_listener(&notify).map_err(|e| e.to_string())?;
                match crate::sys::process::fork_in_test().map_err(|e| e.to_string())? {
                    ForkResult::Child => {
                        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
                        let packet = socket(
                            AddressFamily::Packet,
                            SockType::Raw,
                            SockFlag::empty(),
                            None,
                        );
                        let refused = packet.err() == Some(nix::errno::Errno::EPERM);
                        crate::sys::process::exit_now(i32::from(!refused))
                    }
                    ForkResult::Parent { child } => {
                        answer_one_socket(&listener, child, libc::AF_PACKET)
                            .map_err(|e| format!("{observe:?}: {e}"))
                    }
                }
            })
            .expect("in the child");
        }
    }

    #[test]
    fn in_a_child_landlock_modes_notify_filter_sends_udp_to_the_supervisor() {
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
                ForkResult::Parent { child } => answer_one_socket(&listener, child, libc::AF_INET),
            }
        })
        .expect("in the child");
    }
}
