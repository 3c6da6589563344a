//! The landlock rung's notify filter: the syscalls the supervisor answers itself. Every
//! decision rests on register arguments or on kernel objects the supervisor holds, never on
//! memory the target could change afterwards, and no notification is ever answered with
//! CONTINUE:
//!
//! - `connect`: the supervisor connects the target's socket (a copy taken with
//!   `pidfd_getfd`) to the proxy itself, or refuses; Landlock refuses direct TCP connects
//!   anyway (no port is allowed to the sandbox);
//! - `socket`/`socketpair` of any type but stream for inet, inet6 and unix (UDP, so DNS too,
//!   raw, datagram unix sockets, which could send to any path), and packet sockets: refused;
//! - `sendto`/`sendmsg`/`sendmmsg` with `MSG_FASTOPEN`, which connects without `connect` and
//!   bypasses Landlock's TCP rules: refused;
//! - `listen`: the supervisor listens on its copy of the socket itself when the socket is a
//!   unix one or an inet one bound to a loopback address, and refuses otherwise. `listen()` on
//!   an unbound inet socket binds it to the wildcard address with no `bind()` call (the
//!   kernel's autobind, `inet_autobind`/`inet_csk_get_port`), which Landlock's
//!   `LANDLOCK_ACCESS_NET_BIND_TCP` (a `bind()` hook) never sees; and below ABI 4 `bind()`
//!   itself is not covered.
//!
//! The deny list of the full sandbox (`sandbox::seccomp::compile`) is installed as well.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("unsupported architecture {0}")]
    Arch(String),
    #[error("building the landlock mode's notify filter")]
    Build(#[from] seccompiler::BackendError),
    #[error("compiling the landlock mode's notify filter")]
    Compile(#[from] seccompiler::Error),
}

/// seccompiler 0.5 cannot express SECCOMP_RET_USER_NOTIF: the filter is compiled with
/// SECCOMP_RET_TRACE | this marker, then patched.
const NOTIFY_MARKER: u32 = 0x5afd;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const BPF_RET_K: u16 = 0x06;
/// Socket types live in the low 4 bits of `type` (the rest are SOCK_NONBLOCK/SOCK_CLOEXEC).
const TYPE_MASK: u64 = 0xf;

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, FilterError> {
    Ok(SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        op,
        value,
    )?)
}

/// Rules matching `family` with any socket type but SOCK_STREAM (seccompiler has no masked
/// not-equal, so each type is listed).
fn non_stream(family: i32) -> Result<Vec<SeccompRule>, FilterError> {
    let mut rules = Vec::new();
    for ty in 0..=TYPE_MASK {
        if ty == libc::SOCK_STREAM as u64 {
            continue;
        }
        rules.push(SeccompRule::new(vec![
            cond(0, SeccompCmpOp::Eq, family as u64)?,
            cond(1, SeccompCmpOp::MaskedEq(TYPE_MASK), ty)?,
        ])?);
    }
    Ok(rules)
}

fn fastopen(flags_arg: u8) -> Result<Vec<SeccompRule>, FilterError> {
    let f = libc::MSG_FASTOPEN as u64;
    Ok(vec![SeccompRule::new(vec![cond(
        flags_arg,
        SeccompCmpOp::MaskedEq(f),
        f,
    )?])?])
}

/// Compile the notify filter.
pub fn compile() -> Result<BpfProgram, FilterError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_connect, Vec::new());
    rules.insert(libc::SYS_listen, Vec::new());
    let mut socket = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
        socket.extend(non_stream(family)?);
    }
    socket.push(SeccompRule::new(vec![cond(
        0,
        SeccompCmpOp::Eq,
        libc::AF_PACKET as u64,
    )?])?);
    rules.insert(libc::SYS_socket, socket);
    rules.insert(libc::SYS_socketpair, non_stream(libc::AF_UNIX)?);
    rules.insert(libc::SYS_sendto, fastopen(3)?);
    rules.insert(libc::SYS_sendmsg, fastopen(2)?);
    rules.insert(libc::SYS_sendmmsg, fastopen(3)?);
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| FilterError::Arch(std::env::consts::ARCH.into()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Trace(NOTIFY_MARKER),
        arch,
    )?;
    let mut prog: BpfProgram = filter.try_into()?;
    for insn in prog.iter_mut() {
        if insn.code == BPF_RET_K && insn.k == SECCOMP_RET_TRACE | NOTIFY_MARKER {
            insn.k = libc::SECCOMP_RET_USER_NOTIF;
        }
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_notifies_and_has_no_marker_left() {
        let prog = compile().expect("compile");
        assert!(prog.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
        assert!(!prog
            .iter()
            .any(|i| i.k == SECCOMP_RET_TRACE | NOTIFY_MARKER));
    }
}
