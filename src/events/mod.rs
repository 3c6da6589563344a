//! The event log: the stable, user-facing record of what the sandbox allowed, blocked or
//! could only enforce in a weaker form. One JSON object per line (`--log FILE`); the schema
//! is documented in README.md and must only grow, never change meaning.

mod reason;
mod writer;

pub use reason::Reason;
pub use writer::{EventLog, EventSink, LogError};

use serde::Serialize;

/// The `script` of an event whose process attribution could not place: a script, for every
/// decision (the log says so rather than blame the package manager).
pub const UNATTRIBUTED: &str = "(unattributed script process)";

/// What kind of operation an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    Write,
    Exec,
    Connect,
    Dns,
    Proxy,
    Env,
    Sandbox,
}

/// What the sandbox decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Blocked,
    Allowed,
    Degraded,
    /// Nothing was refused: the end-of-run check found something the install left behind
    /// that runs later (`planted`, `pth-installed`). Always logged.
    Found,
}

/// The process an event is about, in the sandbox's pid namespace and on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessId {
    /// The pid as processes inside the sandbox see it.
    pub sandbox: i32,
    /// The pid in the supervisor's namespace.
    pub host: i32,
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// RFC 3339 UTC with milliseconds.
    pub ts: String,
    pub action: Action,
    pub verdict: Verdict,
    /// A path, `host:port`, `address:port` or a DNS name.
    pub target: String,
    pub pid: Option<ProcessId>,
    /// `name@version` of the package whose script acted, `null` for the package manager.
    pub package: Option<String>,
    /// The lifecycle script or build hook (`postinstall`, `build_wheel`, ...).
    pub script: Option<String>,
    /// The command line of the acting process, truncated.
    pub argv: Option<Vec<String>>,
    /// The rule or policy entry that decided (a stable kebab-case code).
    pub reason: Reason,
    /// Free-form human detail (what to add to allow it, what is weaker). Not for matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    /// A new event stamped now, with no process attribution.
    pub fn new(
        action: Action,
        verdict: Verdict,
        target: impl Into<String>,
        reason: Reason,
    ) -> Self {
        Event {
            ts: now_rfc3339(),
            action,
            verdict,
            target: target.into(),
            pid: None,
            package: None,
            script: None,
            argv: None,
            reason,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Whether `--strict` fails on this event: a blocked attempt, or something the install
    /// planted (`pth-installed` is information).
    pub fn fails_strict(&self) -> bool {
        self.verdict == Verdict::Blocked
            || (self.verdict == Verdict::Found && self.reason == Reason::Planted)
    }

    /// How loudly the reports for machines show this event: what fails `--strict` is an
    /// error with it and a warning without; a finding that never fails it is a note.
    pub fn severity(&self, strict: bool) -> Severity {
        match (self.fails_strict(), strict) {
            (true, true) => Severity::Error,
            (true, false) => Severity::Warning,
            (false, _) => Severity::Note,
        }
    }
}

/// How loudly a report shows an event (see [`Event::severity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    /// The GitHub workflow command (`::error`, `::warning`, `::notice`).
    pub fn workflow_command(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        }
    }

    /// The SARIF `level`.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// The current time as RFC 3339 UTC with milliseconds (`2026-11-22T10:58:22.123Z`).
pub fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serialises_to_the_documented_schema() {
        let mut ev = Event::new(
            Action::Read,
            Verdict::Blocked,
            "/home/u/.ssh/id_rsa",
            Reason::HiddenFile,
        );
        ev.ts = "2026-11-22T10:58:22.123Z".into();
        ev.pid = Some(ProcessId {
            sandbox: 7,
            host: 4242,
        });
        ev.package = Some("evil@1.0.0".into());
        ev.script = Some("postinstall".into());
        let line = serde_json::to_string(&ev).expect("serialise");
        assert_eq!(
            line,
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"read","verdict":"blocked","target":"/home/u/.ssh/id_rsa","pid":{"sandbox":7,"host":4242},"package":"evil@1.0.0","script":"postinstall","argv":null,"reason":"hidden-file"}"#
        );
    }

    /// Serialise with a fixed timestamp, for snapshots.
    fn line(mut ev: Event) -> String {
        ev.ts = "2026-11-22T10:58:22.123Z".into();
        serde_json::to_string(&ev).expect("serialise")
    }

    // Snapshots of the stable schema (README "Event log"): field order ts, action, verdict,
    // target, pid, package, script, argv, reason, then detail only when present. A change
    // here is a change to what users' CI scripts parse.

    #[test]
    fn snapshot_connect_blocked() {
        let mut ev = Event::new(
            Action::Connect,
            Verdict::Blocked,
            "127.0.0.1:4444",
            Reason::DirectConnect,
        )
        .with_detail("tcp connect refused with ECONNREFUSED");
        ev.pid = Some(ProcessId {
            sandbox: 12,
            host: 90210,
        });
        ev.package = Some("@scope/evil@1.0.0".into());
        ev.script = Some("postinstall".into());
        ev.argv = Some(vec!["node".into(), "attack.js".into()]);
        assert_eq!(
            line(ev),
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"connect","verdict":"blocked","target":"127.0.0.1:4444","pid":{"sandbox":12,"host":90210},"package":"@scope/evil@1.0.0","script":"postinstall","argv":["node","attack.js"],"reason":"direct-connect","detail":"tcp connect refused with ECONNREFUSED"}"#
        );
    }

    #[test]
    fn snapshot_dns_blocked_by_the_package_manager() {
        let ev = Event::new(
            Action::Dns,
            Verdict::Blocked,
            "c2.example.com",
            Reason::DnsQuery,
        )
        .with_detail("answered REFUSED");
        assert_eq!(
            line(ev),
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"dns","verdict":"blocked","target":"c2.example.com","pid":null,"package":null,"script":null,"argv":null,"reason":"dns-query","detail":"answered REFUSED"}"#
        );
    }

    #[test]
    fn snapshot_read_blocked_with_awkward_characters() {
        let mut ev = Event::new(
            Action::Read,
            Verdict::Blocked,
            "/proj/a \"b\"\n\\c.env",
            Reason::HiddenFile,
        );
        ev.package = Some("evil@1.0.0".into());
        ev.script = Some("build_wheel".into());
        assert_eq!(
            line(ev),
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"read","verdict":"blocked","target":"/proj/a \"b\"\n\\c.env","pid":null,"package":"evil@1.0.0","script":"build_wheel","argv":null,"reason":"hidden-file"}"#
        );
    }

    #[test]
    fn snapshot_sandbox_status() {
        let full = Event::new(
            Action::Sandbox,
            Verdict::Allowed,
            "landlock",
            Reason::SandboxFull,
        )
        .with_detail("kernel Landlock ABI 6; safe-install uses ABI 6");
        assert_eq!(
            line(full),
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"sandbox","verdict":"allowed","target":"landlock","pid":null,"package":null,"script":null,"argv":null,"reason":"sandbox-full","detail":"kernel Landlock ABI 6; safe-install uses ABI 6"}"#
        );
        let weaker = Event::new(
            Action::Sandbox,
            Verdict::Degraded,
            "landlock",
            Reason::LandlockPartial,
        );
        assert_eq!(
            line(weaker),
            r#"{"ts":"2026-11-22T10:58:22.123Z","action":"sandbox","verdict":"degraded","target":"landlock","pid":null,"package":null,"script":null,"argv":null,"reason":"landlock-partial"}"#
        );
    }

    #[test]
    fn timestamps_have_milliseconds() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), "2026-11-22T10:58:22.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
