//! What the full sandbox's child is told of the plan, and how it travels.
//!
//! The supervisor clones the child first and plans meanwhile (`pipeline::full`): creating the
//! namespaces costs the child about as long as planning costs the supervisor, so the two run
//! side by side instead of one after the other. The child is a copy of the supervisor from
//! before the plan existed, so the part of the plan it executes is sent to it over a pipe:
//! the view's mounts, the Landlock and seccomp rules, and the command. Nothing else of the
//! plan (credentials, the lockfile, the allow-list) ever reaches the sandbox's memory.
//!
//! The encoding is a private one between two copies of the same binary: fields in a fixed
//! order, lengths as little-endian `u32`, paths and environment entries as raw bytes (a path
//! need not be UTF-8). Decoding checks every length against what is left, so a short or
//! corrupt message is an error, never a panic.

use super::seccomp::Observe;
use crate::plan::{LandlockPlan, Mount, MountKind, Plan};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The plan as the child executes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildPlan {
    /// Where the child builds the new root (`mounts::staging_in_place`, or a temporary
    /// directory the supervisor made).
    pub staging: PathBuf,
    pub mounts: Vec<Mount>,
    pub landlock: LandlockPlan,
    /// `(name, number)` of syscalls refused with EPERM.
    pub seccomp_deny: Vec<(String, libc::c_long)>,
    /// What init's own notify filter observes (`None`: level 2 installs its own).
    pub observe: Option<Observe>,
    /// Whether lifecycle scripts or build backends register their own listeners on the
    /// control socket.
    pub level2_registers: bool,
    pub command: Command,
}

/// The command init starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub argv: Vec<OsString>,
    /// Resolved on the host (`Plan::program`); `None`: searched for inside as execvp does.
    pub program: Option<PathBuf>,
    pub cwd: PathBuf,
    /// The scrubbed environment, in order.
    pub env: Vec<(OsString, OsString)>,
}

impl Command {
    pub fn of(plan: &Plan) -> Self {
        Command {
            argv: plan.argv.clone(),
            program: plan.program.clone(),
            cwd: plan.cwd.clone(),
            env: plan.env.pass.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the plan message ends early (at byte {0})")]
    Truncated(usize),
    #[error("the plan message holds an unknown {what} tag {tag}")]
    Tag { what: &'static str, tag: u8 },
    #[error("the plan message is of another version ({0})")]
    Version(u8),
    #[error("the plan message has {0} bytes left over")]
    Trailing(usize),
    #[error("the plan message holds a name that is not UTF-8")]
    Utf8,
    #[error("the plan message holds a syscall number out of range")]
    Number,
}

const VERSION: u8 = 1;

fn unknown(what: &'static str, tag: u8) -> DecodeError {
    DecodeError::Tag { what, tag }
}

/// Whether level 2 starts through a shim that registers its own listener (the script shell,
/// the python shim) on the control socket.
pub fn level2_registers(plan: &Plan) -> bool {
    plan.script.is_some() || plan.python.is_some()
}

/// What init's own notify filter observes: nothing when lifecycle scripts or build backends
/// install their own (trust level 2, through the script shell or the python shim: one
/// listener per filter chain, and the package manager's bulk file work stays unobserved);
/// otherwise what the package manager's level calls for
/// (`PackageManager::level1_observes`: the network only for a tool whose bulk file work would
/// cost too much to observe, the network and file attempts of everything else).
pub fn init_observes(plan: &Plan) -> Option<Observe> {
    if level2_registers(plan) {
        return None;
    }
    Some(match plan.manager.level1_observes() {
        crate::pm::Level1Observes::Network => Observe::Network,
        crate::pm::Level1Observes::NetworkAndFiles => Observe::NetworkAndFiles,
    })
}

/// Encode what the child needs of `plan`, with `staging` as the place to build the root.
pub fn encode(plan: &Plan, staging: &Path) -> Vec<u8> {
    encode_with(plan, staging, init_observes(plan), level2_registers(plan))
}

fn encode_with(plan: &Plan, staging: &Path, observe: Option<Observe>, level2: bool) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(4096));
    w.u8(VERSION);
    w.bytes(staging.as_os_str().as_bytes());
    w.len(plan.mounts.len());
    for m in &plan.mounts {
        w.bytes(m.target.as_os_str().as_bytes());
        w.bytes(m.why.as_bytes());
        match &m.kind {
            MountKind::Tmpfs => w.u8(0),
            MountKind::BindRo(p) => {
                w.u8(1);
                w.path(p);
            }
            MountKind::BindRw(p) => {
                w.u8(2);
                w.path(p);
            }
            MountKind::Symlink(p) => {
                w.u8(3);
                w.path(p);
            }
            MountKind::HideFile => w.u8(4),
            MountKind::HideDir => w.u8(5),
            MountKind::Proc => w.u8(6),
            MountKind::Dev => w.u8(7),
            MountKind::File(text) => {
                w.u8(8);
                w.bytes(text.as_bytes());
            }
            MountKind::ShellGate => w.u8(9),
        }
    }
    for list in [
        &plan.landlock.read,
        &plan.landlock.write,
        &plan.landlock.devices,
    ] {
        w.len(list.len());
        for p in list {
            w.path(p);
        }
    }
    match &plan.landlock.connect_tcp {
        None => w.u8(0),
        Some(ports) => {
            w.u8(1);
            w.len(ports.len());
            for port in ports {
                w.0.extend_from_slice(&port.to_le_bytes());
            }
        }
    }
    w.len(plan.seccomp_deny.len());
    for (name, nr) in &plan.seccomp_deny {
        w.bytes(name.as_bytes());
        // `c_long` is 32 bits wide on 32-bit targets; the message always carries 64.
        #[allow(clippy::useless_conversion)]
        let nr = i64::from(*nr);
        w.0.extend_from_slice(&nr.to_le_bytes());
    }
    w.u8(match observe {
        None => 0,
        Some(Observe::Network) => 1,
        Some(Observe::NetworkAndFiles) => 2,
        Some(Observe::ConnectOnBehalf) => 3,
    });
    w.u8(u8::from(level2));
    w.len(plan.argv.len());
    for a in &plan.argv {
        w.bytes(a.as_bytes());
    }
    match &plan.program {
        None => w.u8(0),
        Some(p) => {
            w.u8(1);
            w.path(p);
        }
    }
    w.path(&plan.cwd);
    w.len(plan.env.pass.len());
    for (k, v) in &plan.env.pass {
        w.bytes(k.as_bytes());
        w.bytes(v.as_bytes());
    }
    w.0
}

/// Decode a message [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<ChildPlan, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let staging = r.path()?;
    let mut mounts = Vec::new();
    for _ in 0..r.len()? {
        let target = r.path()?;
        let why = r.string()?;
        let kind = match r.u8()? {
            0 => MountKind::Tmpfs,
            1 => MountKind::BindRo(r.path()?),
            2 => MountKind::BindRw(r.path()?),
            3 => MountKind::Symlink(r.path()?),
            4 => MountKind::HideFile,
            5 => MountKind::HideDir,
            6 => MountKind::Proc,
            7 => MountKind::Dev,
            8 => MountKind::File(r.string()?),
            9 => MountKind::ShellGate,
            tag => return Err(unknown("mount", tag)),
        };
        mounts.push(Mount { target, kind, why });
    }
    let mut lists: [Vec<PathBuf>; 3] = Default::default();
    for list in &mut lists {
        for _ in 0..r.len()? {
            list.push(r.path()?);
        }
    }
    let [read, write, devices] = lists;
    let connect_tcp = match r.u8()? {
        0 => None,
        1 => {
            let mut ports = Vec::new();
            for _ in 0..r.len()? {
                let b = r.take(2)?;
                ports.push(u16::from_le_bytes([b[0], b[1]]));
            }
            Some(ports)
        }
        tag => return Err(unknown("connect", tag)),
    };
    let mut seccomp_deny = Vec::new();
    for _ in 0..r.len()? {
        let name = r.string()?;
        let b = r.take(8)?;
        let mut nr = [0u8; 8];
        nr.copy_from_slice(b);
        let nr = libc::c_long::try_from(i64::from_le_bytes(nr)).map_err(|_| DecodeError::Number)?;
        seccomp_deny.push((name, nr));
    }
    let observe = match r.u8()? {
        0 => None,
        1 => Some(Observe::Network),
        2 => Some(Observe::NetworkAndFiles),
        3 => Some(Observe::ConnectOnBehalf),
        tag => return Err(unknown("observe", tag)),
    };
    let level2_registers = match r.u8()? {
        0 => false,
        1 => true,
        tag => return Err(unknown("level-2", tag)),
    };
    let mut argv = Vec::new();
    for _ in 0..r.len()? {
        argv.push(r.os()?);
    }
    let program = match r.u8()? {
        0 => None,
        1 => Some(r.path()?),
        tag => return Err(unknown("program", tag)),
    };
    let cwd = r.path()?;
    let mut env = Vec::new();
    for _ in 0..r.len()? {
        env.push((r.os()?, r.os()?));
    }
    if r.at != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - r.at));
    }
    Ok(ChildPlan {
        staging,
        mounts,
        landlock: LandlockPlan {
            read,
            write,
            devices,
            connect_tcp,
        },
        seccomp_deny,
        observe,
        level2_registers,
        command: Command {
            argv,
            program,
            cwd,
            env,
        },
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// A count or length. Nothing in a plan comes near 4 GiB; saturating keeps the encoder
    /// total, and the decoder then fails on the short message.
    fn len(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }

    fn path(&mut self, p: &Path) {
        self.bytes(p.as_os_str().as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let b = &self.bytes[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).map_err(|_| DecodeError::Truncated(self.at))
    }

    fn raw(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n)
    }

    fn os(&mut self) -> Result<OsString, DecodeError> {
        Ok(OsString::from_vec(self.raw()?.to_vec()))
    }

    fn path(&mut self) -> Result<PathBuf, DecodeError> {
        Ok(PathBuf::from(self.os()?))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.raw()?.to_vec()).map_err(|_| DecodeError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_fixtures;

    fn non_utf8(bytes: &[u8]) -> PathBuf {
        PathBuf::from(OsString::from_vec(bytes.to_vec()))
    }

    fn sample() -> Plan {
        let (_dir, ctx) = test_fixtures::npm_ci(test_fixtures::Project::InHome);
        let mut plan =
            crate::plan::build(&test_fixtures::npm_policy(), &ctx, &crate::plan::Mode::Full)
                .expect("plan");
        plan.mounts = vec![
            Mount {
                target: "/".into(),
                kind: MountKind::Tmpfs,
                why: "root".into(),
            },
            Mount {
                target: "/usr".into(),
                kind: MountKind::BindRo("/usr".into()),
                why: "system".into(),
            },
            Mount {
                target: non_utf8(b"/work/caf\xe9"),
                kind: MountKind::BindRw(non_utf8(b"/host/caf\xe9")),
                why: "project".into(),
            },
            Mount {
                target: "/bin".into(),
                kind: MountKind::Symlink("usr/bin".into()),
                why: "merged /usr".into(),
            },
            Mount {
                target: "/work/.env".into(),
                kind: MountKind::HideFile,
                why: "secret".into(),
            },
            Mount {
                target: "/root/.ssh".into(),
                kind: MountKind::HideDir,
                why: "keys".into(),
            },
            Mount {
                target: "/proc".into(),
                kind: MountKind::Proc,
                why: String::new(),
            },
            Mount {
                target: "/dev".into(),
                kind: MountKind::Dev,
                why: "devices".into(),
            },
            Mount {
                target: "/etc/resolv.conf".into(),
                kind: MountKind::File("nameserver 127.0.0.53\n".into()),
                why: "dns".into(),
            },
            Mount {
                target: "/usr/bin/dash".into(),
                kind: MountKind::ShellGate,
                why: "gate".into(),
            },
        ];
        plan.landlock = LandlockPlan {
            read: vec!["/usr".into(), "/etc".into()],
            write: vec![non_utf8(b"/work/caf\xe9"), "/tmp".into()],
            devices: vec!["/dev/null".into()],
            connect_tcp: Some(vec![8080, 53]),
        };
        plan.seccomp_deny = vec![("ptrace".into(), 101), ("kexec_load".into(), 246)];
        plan.argv = vec!["npm".into(), OsString::from_vec(b"\xff-arg".to_vec())];
        plan.program = Some("/usr/bin/npm".into());
        plan.cwd = "/work".into();
        plan.env.pass = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("X".into(), OsString::from_vec(b"a=\xfe".to_vec())),
        ];
        plan
    }

    #[test]
    fn a_plan_survives_the_trip_byte_for_byte() {
        let plan = sample();
        let staging = non_utf8(b"/run/st\xe4ging");
        let bytes = encode_with(&plan, &staging, Some(Observe::NetworkAndFiles), true);
        let child = decode(&bytes).expect("decodes");
        assert_eq!(child.staging, staging);
        assert_eq!(child.mounts, plan.mounts);
        assert_eq!(child.landlock.read, plan.landlock.read);
        assert_eq!(child.landlock.write, plan.landlock.write);
        assert_eq!(child.landlock.devices, plan.landlock.devices);
        assert_eq!(child.landlock.connect_tcp, plan.landlock.connect_tcp);
        assert_eq!(child.seccomp_deny, plan.seccomp_deny);
        assert_eq!(child.observe, Some(Observe::NetworkAndFiles));
        assert!(child.level2_registers);
        assert_eq!(child.command, Command::of(&plan));
    }

    #[test]
    fn the_optional_parts_survive_absent() {
        let mut plan = sample();
        plan.landlock.connect_tcp = None;
        plan.program = None;
        let child = decode(&encode_with(&plan, Path::new("/run"), None, false)).expect("decodes");
        assert_eq!(child.landlock.connect_tcp, None);
        assert_eq!(child.command.program, None);
        assert_eq!(child.observe, None);
        assert!(!child.level2_registers);
    }

    #[test]
    fn what_init_observes_is_decided_from_the_plan() {
        let plan = sample();
        let child = decode(&encode(&plan, Path::new("/run"))).expect("decodes");
        assert_eq!(child.observe, init_observes(&plan));
        assert_eq!(child.level2_registers, level2_registers(&plan));
        for observe in [Observe::Network, Observe::ConnectOnBehalf] {
            let bytes = encode_with(&plan, Path::new("/run"), Some(observe), false);
            assert_eq!(decode(&bytes).expect("decodes").observe, Some(observe));
        }
    }

    #[test]
    fn every_short_or_altered_message_is_an_error_not_a_panic() {
        let bytes = encode(&sample(), Path::new("/run"));
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::Trailing(1)));
        let mut other = bytes.clone();
        other[0] = VERSION + 1;
        assert_eq!(decode(&other), Err(DecodeError::Version(VERSION + 1)));
        // Every single-byte change either decodes or fails cleanly.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = decode(&b);
        }
    }
}
