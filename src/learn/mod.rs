//! Learn mode (`--learn`): from the events of one sandboxed install to a policy file that
//! grants exactly what that install needed and the policy in force did not give it, for a
//! person to review and later runs to use with `--policy FILE --strict`.
//!
//! What is learned, and what never is:
//! - egress through the proxy to a `host:port` the install was refused (`egress-not-allowed`,
//!   `ip-literal`, `script-offline`): for a lifecycle script, that package's
//!   `[[package]] allow-hosts`, so no other package gains it; for the package manager itself,
//!   `[[egress.allow]]`. Always the exact target, never a wildcard or a port-less rule;
//! - a blocked read (or exec) of a path outside the view becomes `[[fs.ro]]` (the view is
//!   shared, so only that makes it visible); a script's blocked write where the package
//!   manager may write becomes that package's `allow-write`, any other blocked write
//!   `[[fs.rw]]`; the exact path (written `~/...` below the home directory);
//! - a package's existing `[[package]]` grant is copied into the learned one, since the
//!   last layer's grant for a package replaces the earlier ones;
//! - never: hidden and credential files, or any path with a component starting with `.`
//!   (`.env`, `~/.ssh`, `.git/hooks`, `~/.bashrc`; `~/.cache/NAME` is the one exception, a
//!   cache directory, though never `~/.cache` as a whole): reported as "not learned: this
//!   is a secret"; direct connections and DNS queries (no policy entry can allow them: traffic
//!   leaves only through the proxy, which resolves names itself); names resolving to private
//!   addresses (naming the address is the reviewer's decision); attack patterns (domain
//!   fronting, malformed requests, raw sockets, other processes' memory); a script attempt
//!   not attributed to a package; any reason code this module does not know;
//! - environment variables: dropped variables are not events (see README "Design notes"),
//!   so there is nothing to learn; `explain` lists what is dropped.
//!
//! Pure: events and the policy in, a [`Learned`] out; [`render`] turns it into TOML text and
//! [`file`] writes it without ever losing a file the user wrote.

pub mod file;
mod render;
#[cfg(test)]
mod tests;

pub use file::{check_target, write, LearnError, Written};
pub use render::{render, Header};

use crate::events::{now_rfc3339, Action, Event, Reason, Verdict};
use crate::plan::Plan;
use crate::policy::allow::{Rule, RuleSource};
use crate::policy::{package_name, valid_package_name, Entry, HideMatcher, PackageGrant, Policy};
use crate::reports::summary::action_name;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The file `--learn` writes when no name is given, in the project directory. Never loaded
/// automatically (unlike `.safe-install.toml`): it must be reviewed and named with `--policy`.
pub const DEFAULT_FILE: &str = ".safe-install.learned.toml";

/// The file to learn into: `--learn=FILE` as given, or [`DEFAULT_FILE`] in the project for a
/// bare `--learn`. A bare `--learn` followed by a `*.toml` "command" is the file name written
/// with a space (`--learn learned.toml npm ci`), refused rather than run.
pub fn target(
    given: Option<&Path>,
    project: &Path,
    argv: &[OsString],
) -> Result<PathBuf, LearnError> {
    if let Some(file) = given {
        if file.as_os_str().is_empty() {
            return Err(LearnError::EmptyFile);
        }
        return Ok(file.to_path_buf());
    }
    if let Some(first) = argv
        .first()
        .filter(|a| a.to_string_lossy().ends_with(".toml"))
    {
        let rest = argv[1..]
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        return Err(LearnError::FileAsCommand {
            file: first.to_string_lossy().into_owned(),
            rest,
        });
    }
    Ok(project.join(DEFAULT_FILE))
}

/// After the run: learn from `events`, write `file`, and return the lines for stderr.
pub fn record(
    events: &[(Event, u64)],
    policy: &Policy,
    plan: &Plan,
    argv: &[OsString],
    file: &Path,
) -> Result<String, LearnError> {
    let project = plan.project.as_path();
    let scope = Scope::new(policy, &plan.home, project, &plan.landlock.write)
        .with_approvals(plan.approvals.as_ref())
        .with_grants(plan.manager.binds_grants());
    let learned = learn(events, &scope);
    let text = render(
        &learned,
        &Header {
            learned_at: &now_rfc3339(),
            argv,
            project,
            file,
            layers: &policy.layers,
        },
    );
    let written = write(file, &text)?;
    let mut o = format!(
        "safe-install: learned {} {} into {}; review it, then use --policy {} --strict\n",
        learned.grants.len(),
        if learned.grants.len() == 1 {
            "entry"
        } else {
            "entries"
        },
        file.display(),
        file.display()
    );
    for g in &learned.grants {
        let table = match &g.package {
            Some(p) => format!("[[package]] {p} {}", g.section.key()),
            None => format!("[[{}]]", g.section.table()),
        };
        o.push_str(&format!("  + {table} {}  ({})\n", g.value, g.reason()));
    }
    for n in &learned.not_learned {
        o.push_str(&format!(
            "  - {} {} by {}: {}\n",
            action_name(n.action),
            n.target.escape_debug(),
            describe_needed_by(&n.needed_by).escape_debug(),
            n.why
        ));
    }
    if let Written::Replaced { backup } = written {
        o.push_str(&format!(
            "  (the previous learned file is kept as {})\n",
            backup.display()
        ));
    }
    Ok(o)
}

/// Which package's script (or the package manager itself) made an attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Who {
    pub package: Option<String>,
    pub script: Option<String>,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.package, &self.script) {
            (Some(p), Some(s)) => write!(f, "{p} ({s})"),
            (Some(p), None) => f.write_str(p),
            (None, Some(s)) => write!(f, "a {s} script"),
            (None, None) => f.write_str("the package manager"),
        }
    }
}

/// Who needed something, and how many times each.
pub type NeededBy = BTreeMap<Who, u64>;

/// The policy table an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    EgressAllow,
    FsRo,
    FsRw,
    /// `[[package]] allow-hosts`.
    PackageHosts,
    /// `[[package]] allow-write`.
    PackageWrite,
}

impl Section {
    /// The TOML table header.
    pub fn table(self) -> &'static str {
        match self {
            Section::EgressAllow => "egress.allow",
            Section::FsRo => "fs.ro",
            Section::FsRw => "fs.rw",
            Section::PackageHosts | Section::PackageWrite => "package",
        }
    }

    /// The key holding the value.
    pub fn key(self) -> &'static str {
        match self {
            Section::EgressAllow => "host",
            Section::FsRo | Section::FsRw => "path",
            Section::PackageHosts => "allow-hosts",
            Section::PackageWrite => "allow-write",
        }
    }

    /// What the entry lets the install do, for the reason text.
    fn noun(self) -> &'static str {
        match self {
            Section::EgressAllow | Section::PackageHosts => "connections through the proxy",
            Section::FsRo => "reading",
            Section::FsRw | Section::PackageWrite => "writing",
        }
    }
}

/// One learned policy entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub section: Section,
    /// The package (bare name) a `[[package]]` entry is for; `None` for the other tables.
    pub package: Option<String>,
    /// The exact `host:port`, absolute path or `~/` path.
    pub value: String,
    pub needed_by: NeededBy,
}

impl Grant {
    /// The entry's `reason`: who needed it and how many times.
    pub fn reason(&self) -> String {
        match self.section {
            Section::PackageHosts | Section::PackageWrite => format!(
                "learned: {} {} needed for {} by {}",
                self.section.key(),
                self.value,
                self.section.noun(),
                describe_needed_by(&self.needed_by)
            ),
            _ => format!(
                "learned: needed for {} by {}",
                self.section.noun(),
                describe_needed_by(&self.needed_by)
            ),
        }
    }
}

/// Why a blocked attempt was not turned into a policy entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotLearnedWhy {
    /// A hidden or credential file, or a path with a component starting with `.`.
    Secret,
    /// A direct connection: the namespace has no route out, whatever the policy says.
    DirectConnect,
    /// A DNS query: answered REFUSED whatever the policy says.
    Dns,
    /// A name that resolved to a loopback/private address: naming it is the reviewer's call.
    PrivateAddress,
    /// Domain fronting, a malformed request, a raw socket: never legitimate.
    Attack,
    /// The target cannot be written as an exact policy value.
    NotExact,
    /// A script's attempt that names no package: a package grant is the only narrow entry.
    Unattributed,
    /// A script of a package the package manager's own approval list does not approve: no
    /// grant is proposed for a package whose scripts should not run at all.
    NotApproved,
    /// The package manager binds no `[[package]]` grants (no lockfile says which package a
    /// script or build is), and a broader entry would open the place to every script.
    NoGrants,
    /// A reason code learn mode has no policy entry for.
    NoEntry(Reason),
}

impl fmt::Display for NotLearnedWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotLearnedWhy::NoGrants => f.write_str(
                "not learned: this package manager binds no per-package grants (no lockfile says which package a script or build is); an entry for every script is yours to choose",
            ),
            NotLearnedWhy::Secret => f.write_str(
                "not learned: this is a secret (a hidden or credential file, or a name starting with '.')",
            ),
            NotLearnedWhy::DirectConnect => f.write_str(
                "not learned: direct connections never leave the sandbox; the script must use the proxy in HTTPS_PROXY",
            ),
            NotLearnedWhy::Dns => f.write_str(
                "not learned: DNS is never answered inside; names are resolved by the proxy",
            ),
            NotLearnedWhy::PrivateAddress => f.write_str(
                "not learned: the name resolves to a loopback or private address; allow that address by hand if it is meant",
            ),
            NotLearnedWhy::Attack => f.write_str("not learned: an attack pattern, never allowed"),
            NotLearnedWhy::NotExact => {
                f.write_str("not learned: the target is not an exact host:port or absolute path")
            }
            NotLearnedWhy::Unattributed => f.write_str(
                "not learned: a script attempt attributed to no package, and only a [[package]] grant would be narrow enough",
            ),
            NotLearnedWhy::NotApproved => f.write_str(
                "not learned: the package manager's own approval list does not approve this package's scripts; approve it there first (npm's allowScripts, pnpm's allowBuilds, yarn's dependenciesMeta) if it should run",
            ),
            NotLearnedWhy::NoEntry(r) => write!(f, "not learned: no policy entry allows `{r}`"),
        }
    }
}

/// A blocked attempt that stays blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLearned {
    pub action: Action,
    pub target: String,
    pub why: NotLearnedWhy,
    pub needed_by: NeededBy,
}

/// An allowed destination the install used (registry requests, existing policy rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    pub target: String,
    pub reason: Reason,
    pub count: u64,
}

/// Everything one run taught.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    /// Ordered by section, then package, then value.
    pub grants: Vec<Grant>,
    /// The grants in force for the packages that get a learned `[[package]]` entry: the
    /// learned entry replaces them (the last layer's grant wins), so it carries them over.
    pub kept: BTreeMap<String, Entry<PackageGrant>>,
    pub not_learned: Vec<NotLearned>,
    pub used: Vec<Used>,
}

/// What classifying paths needs to know about the run.
pub struct Scope<'a> {
    policy: &'a Policy,
    /// The caller's real home (canonical): paths below it are written `~/...`.
    pub home: &'a Path,
    /// The project (canonical): hide globs on project-relative paths apply below it.
    pub project: &'a Path,
    /// Where the package manager may write (the plan's Landlock write list): a script's
    /// refused write there needs only a package grant.
    level1_write: &'a [PathBuf],
    hide: HideMatcher,
    /// The package manager's approval list: grants are proposed for approved packages only.
    approvals: Option<&'a crate::pm::approvals::Approvals>,
    /// Whether the package manager binds `[[package]]` grants: without, none is proposed.
    grants: bool,
}

impl<'a> Scope<'a> {
    pub fn new(
        policy: &'a Policy,
        home: &'a Path,
        project: &'a Path,
        level1_write: &'a [PathBuf],
    ) -> Self {
        Scope {
            policy,
            home,
            project,
            level1_write,
            hide: HideMatcher::new(&policy.fs.hide),
            approvals: None,
            grants: true,
        }
    }

    /// Propose no `[[package]]` grant when the package manager binds none (pip, uv, yarn):
    /// it would apply to nothing.
    pub fn with_grants(mut self, grants: bool) -> Self {
        self.grants = grants;
        self
    }

    /// Propose `[[package]]` grants only for packages `approvals` lets run.
    pub fn with_approvals(
        mut self,
        approvals: Option<&'a crate::pm::approvals::Approvals>,
    ) -> Self {
        self.approvals = approvals;
        self
    }

    /// Whether the package manager's own list says `identity`'s scripts do not run.
    fn not_approved(&self, identity: Option<&str>) -> bool {
        match (self.approvals, identity) {
            (Some(a), Some(id)) => a.decide_identity(id).not_approved(),
            _ => false,
        }
    }

    /// Whether `path` is, or may be, a secret: a component starting with `.` (below the
    /// project or the home directory when it lies there, whose own location is the user's
    /// choice; anywhere otherwise), or a match of the policy's hide globs (by name anywhere,
    /// by project-relative path in the project). Conservative on purpose: a learned policy is
    /// a grant, and a grant of a secret is the one mistake learn mode must not make.
    fn is_secret(&self, path: &Path) -> bool {
        let below = path
            .strip_prefix(self.project)
            .or_else(|_| path.strip_prefix(self.home))
            .unwrap_or(path);
        // `~/.cache` (the XDG cache directory) holds downloads and build output, not
        // secrets: a package's own directory below it may be learned (`~/.cache/swc`), but
        // never `~/.cache` itself, which holds every tool's cache, and never a dotted name
        // deeper down.
        let below = match path.strip_prefix(self.home.join(".cache")) {
            Ok(rel) if !path.starts_with(self.project) => {
                if rel.as_os_str().is_empty() {
                    return true;
                }
                rel
            }
            _ => below,
        };
        let dotted = below.components().any(|c| match c {
            Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
            _ => false,
        });
        if dotted {
            return true;
        }
        let rel = path.strip_prefix(self.project).unwrap_or(path);
        let by_rel = path.starts_with(self.project) && self.hide.first_match(rel).is_some();
        let by_name = path
            .file_name()
            .is_some_and(|n| self.hide.first_match(Path::new(n)).is_some());
        by_rel || by_name
    }

    /// The policy text for `path`: `~/rel` below the home directory, else the absolute path.
    /// `None` when it is not absolute, has `.`/`..` components or a NUL (the validator
    /// would refuse it).
    fn policy_path(&self, path: &str) -> Option<String> {
        let p = Path::new(path);
        if !p.is_absolute()
            || path.chars().any(char::is_control)
            || p.components()
                .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
        {
            return None;
        }
        match p.strip_prefix(self.home) {
            Ok(rel) if !rel.as_os_str().is_empty() => Some(format!("~/{}", rel.to_str()?)),
            _ => Some(p.to_str()?.to_string()),
        }
    }
}

/// What this run's events teach: every blocked attempt is either a grant or a
/// [`NotLearned`]; allowed proxy requests are listed as [`Used`].
pub fn learn(events: &[(Event, u64)], scope: &Scope<'_>) -> Learned {
    let mut grants: BTreeMap<(Section, Option<String>, String), NeededBy> = BTreeMap::new();
    // Keyed by the action's name: `Action` has no order of its own.
    type RefusedKey = (String, &'static str, NotLearnedWhy);
    let mut refused: BTreeMap<RefusedKey, (Action, NeededBy)> = BTreeMap::new();
    let mut used: BTreeMap<(String, Reason), u64> = BTreeMap::new();
    for (event, count) in events {
        match event.verdict {
            Verdict::Blocked => {}
            Verdict::Allowed if event.action == Action::Proxy => {
                *used
                    .entry((event.target.clone(), event.reason))
                    .or_default() += count;
                continue;
            }
            // What the end-of-run check found was let through already: nothing to grant, and
            // a `--strict` run with the learned file still fails on a planted finding.
            Verdict::Allowed | Verdict::Degraded | Verdict::Found => continue,
        }
        let who = Who {
            package: event.package.clone(),
            script: event.script.clone(),
        };
        match classify(event, scope) {
            Ok(key) => {
                *grants.entry(key).or_default().entry(who).or_default() += count;
            }
            Err(why) => {
                *refused
                    .entry((event.target.clone(), action_name(event.action), why))
                    .or_insert_with(|| (event.action, NeededBy::new()))
                    .1
                    .entry(who)
                    .or_default() += count;
            }
        }
    }
    // A path both read and written needs only the read-write entry (writes are granted a
    // directory, which covers reads of what is below it).
    let written: Vec<String> = grants
        .keys()
        .filter(|(s, _, _)| *s == Section::FsRw)
        .map(|(_, _, v)| v.clone())
        .collect();
    for value in written {
        // Reads of the written directory itself or of anything below it.
        let read: Vec<_> = grants
            .keys()
            .filter(|(s, _, v)| {
                *s == Section::FsRo && Path::new(v.as_str()).starts_with(value.as_str())
            })
            .cloned()
            .collect();
        for key in read {
            if let Some(readers) = grants.remove(&key) {
                let writers = grants
                    .entry((Section::FsRw, None, value.clone()))
                    .or_default();
                for (who, n) in readers {
                    *writers.entry(who).or_default() += n;
                }
            }
        }
    }
    let kept = grants
        .keys()
        .filter_map(|(_, package, _)| package.as_deref())
        .filter_map(|p| Some((p.to_string(), scope.policy.scripts.grant(p)?.clone())))
        .collect();
    Learned {
        grants: grants
            .into_iter()
            .map(|((section, package, value), needed_by)| Grant {
                section,
                package,
                value,
                needed_by,
            })
            .collect(),
        kept,
        not_learned: refused
            .into_iter()
            .map(|((target, _, why), (action, needed_by))| NotLearned {
                action,
                target,
                why,
                needed_by,
            })
            .collect(),
        used: used
            .into_iter()
            .map(|((target, reason), count)| Used {
                target,
                reason,
                count,
            })
            .collect(),
    }
}

/// The entry a blocked event would need (section, package for `[[package]]`, value), or why
/// it gets none.
fn classify(
    event: &Event,
    scope: &Scope<'_>,
) -> Result<(Section, Option<String>, String), NotLearnedWhy> {
    let is_script = event.package.is_some() || event.script.is_some();
    // The package a `[[package]]` grant would name, for an attempt by a script.
    let package = || {
        if !scope.grants {
            return Err(NotLearnedWhy::NoGrants);
        }
        if scope.not_approved(event.package.as_deref()) {
            return Err(NotLearnedWhy::NotApproved);
        }
        event
            .package
            .as_deref()
            .map(package_name)
            .filter(|p| valid_package_name(p))
            .map(String::from)
            .ok_or(NotLearnedWhy::Unattributed)
    };
    let section = match (event.action, event.reason) {
        (_, Reason::HiddenFile | Reason::CredentialPath) => return Err(NotLearnedWhy::Secret),
        (Action::Proxy, Reason::EgressNotAllowed | Reason::IpLiteral | Reason::ScriptOffline) => {
            let host = exact_host(&event.target)?;
            return match (is_script, event.reason) {
                (false, Reason::ScriptOffline) => Err(NotLearnedWhy::Unattributed),
                (false, _) => Ok((Section::EgressAllow, None, host)),
                (true, _) => Ok((Section::PackageHosts, Some(package()?), host)),
            };
        }
        (_, Reason::PrivateAddress) => return Err(NotLearnedWhy::PrivateAddress),
        (_, Reason::DirectConnect) => return Err(NotLearnedWhy::DirectConnect),
        (_, Reason::DnsQuery) => return Err(NotLearnedWhy::Dns),
        (
            _,
            Reason::SniMismatch
            | Reason::MalformedRequest
            | Reason::RawSocket
            | Reason::OtherProcess,
        ) => return Err(NotLearnedWhy::Attack),
        (Action::Read | Action::Exec, Reason::OutsideView) => Section::FsRo,
        (Action::Write, Reason::OutsideView) => Section::FsRw,
        (Action::Write, Reason::ReadOnlyPath) => {
            let target = Path::new(&event.target);
            if is_script && scope.level1_write.iter().any(|w| target.starts_with(w)) {
                Section::PackageWrite
            } else {
                Section::FsRw
            }
        }
        (_, reason) => return Err(NotLearnedWhy::NoEntry(reason)),
    };
    // A write is granted the directory it needs, never a file name that changes between
    // runs (the summary's hint says the same; see `write_grant_dir`).
    let target = match section {
        Section::FsRw | Section::PackageWrite => {
            crate::reports::summary::write_grant_dir(&event.target)
        }
        _ => event.target.as_str(),
    };
    if scope.is_secret(Path::new(&event.target)) || scope.is_secret(Path::new(target)) {
        return Err(NotLearnedWhy::Secret);
    }
    let value = scope.policy_path(target).ok_or(NotLearnedWhy::NotExact)?;
    let package = match section {
        Section::PackageWrite => Some(package()?),
        _ => None,
    };
    Ok((section, package, value))
}

/// `host:port` as the proxy logged it, if it is an exact rule with a port (never a wildcard,
/// never port-less, which would allow both web ports).
fn exact_host(target: &str) -> Result<String, NotLearnedWhy> {
    let rule =
        Rule::parse(target, RuleSource::AllowHostFlag).map_err(|_| NotLearnedWhy::NotExact)?;
    match (&rule.host, rule.port) {
        (crate::policy::allow::RuleHost::Exact(_), Some(_)) if !target.contains('*') => {
            Ok(target.to_string())
        }
        _ => Err(NotLearnedWhy::NotExact),
    }
}

/// `a@1.0.0 (postinstall), 2 times; the package manager, 1 time`.
pub fn describe_needed_by(needed_by: &NeededBy) -> String {
    needed_by
        .iter()
        .map(|(who, n)| format!("{who}, {}", times(*n)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn times(n: u64) -> String {
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}
