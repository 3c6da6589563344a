//! The event log: the stable, user-facing record of what the sandbox allowed, blocked or
//! could only enforce in a weaker form. One JSON object per line (`--log FILE`); the schema
//! is documented in README.md and must only grow, never change meaning.

mod reason;
pub mod summary;
mod writer;

pub use reason::Reason;
pub use writer::{EventLog, EventSink};

use serde::Serialize;

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

    #[test]
    fn timestamps_have_milliseconds() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), "2026-11-22T10:58:22.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
