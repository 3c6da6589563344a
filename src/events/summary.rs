//! The human summary printed on stderr when the command ends: one line per distinct blocked
//! attempt (who, what, where), repeats counted, and what would allow it if it was legitimate.
//! Silent when nothing was blocked.

use super::{Action, Event, Reason, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The flag or policy line that would allow an attempt, if there is one.
pub fn remedy(event: &Event) -> Option<String> {
    let target = &event.target;
    match event.reason {
        Reason::EgressNotAllowed | Reason::PrivateAddress | Reason::IpLiteral => Some(format!(
            "--allow-host {target}  (policy: [[egress.allow]] host = \"{target}\")"
        )),
        Reason::DnsQuery => Some(format!(
            "names resolve through the proxy; if {target} is a registry: --allow-host {target}"
        )),
        Reason::DirectConnect => Some(
            "nothing: direct connections never leave; HTTP(S) clients must use the proxy in HTTPS_PROXY".into(),
        ),
        Reason::HiddenFile => Some("--policy with [[fs.hide]] narrowed, if this file is no secret".into()),
        Reason::CredentialPath | Reason::OutsideView => Some(format!("--ro {target}  (if it holds no secret)")),
        Reason::ReadOnlyPath => Some(format!("--rw {target}")),
        _ => None,
    }
}

/// Render the summary; `None` when nothing was blocked.
pub fn render(events: &[(Event, u64)], log_path: Option<&Path>, colour: bool) -> Option<String> {
    let blocked: Vec<&(Event, u64)> = events
        .iter()
        .filter(|(e, _)| e.verdict == Verdict::Blocked)
        .collect();
    let degraded: Vec<&Event> = events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.verdict == Verdict::Degraded)
        .collect();
    if blocked.is_empty() && degraded.is_empty() {
        return None;
    }
    let (bold, red, yellow, reset) = if colour {
        ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    // Group by (package, action, target): pids differ between repeats of the same attempt.
    let mut groups: BTreeMap<(String, String, String), (u64, &Event)> = BTreeMap::new();
    for (e, n) in &blocked {
        let who = e
            .package
            .clone()
            .unwrap_or_else(|| "(package manager)".into());
        let key = (who, action_name(e.action).to_string(), e.target.clone());
        groups.entry(key).or_insert((0, e)).0 += n;
    }
    let mut o = String::new();
    for e in &degraded {
        let _ = writeln!(
            o,
            "{yellow}safe-install: weaker than usual:{reset} {} ({})",
            e.detail.as_deref().unwrap_or(e.target.as_str()),
            e.reason
        );
    }
    if !groups.is_empty() {
        let total: u64 = groups.values().map(|(n, _)| n).sum();
        let _ = writeln!(
            o,
            "{bold}{red}safe-install: blocked {total} attempt{}{reset}",
            if total == 1 { "" } else { "s" }
        );
        for ((who, action, target), (n, e)) in &groups {
            let script = e
                .script
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let times = if *n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "  {who}{script}: {action} {target}{times}  [{}]",
                e.reason
            );
            if let Some(fix) = remedy(e) {
                let _ = writeln!(o, "      to allow: {fix}");
            }
        }
    }
    match log_path {
        Some(p) => {
            let _ = writeln!(o, "  event log: {}", p.display());
        }
        None => {
            let _ = writeln!(o, "  details: run again with --log FILE");
        }
    }
    Some(o)
}

/// The action as the event log spells it.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Read => "read",
        Action::Write => "write",
        Action::Exec => "exec",
        Action::Connect => "connect",
        Action::Dns => "dns",
        Action::Proxy => "proxy",
        Action::Env => "env",
        Action::Sandbox => "sandbox",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_when_nothing_was_blocked() {
        let ok = Event::new(
            Action::Sandbox,
            Verdict::Allowed,
            "landlock",
            Reason::SandboxFull,
        );
        assert!(render(&[(ok, 1)], None, false).is_none());
    }

    #[test]
    fn groups_repeats_and_names_the_fix() {
        let mut a = Event::new(
            Action::Proxy,
            Verdict::Blocked,
            "exfil.example.com:443",
            Reason::EgressNotAllowed,
        );
        a.package = Some("evil@1.0.0".into());
        a.script = Some("postinstall".into());
        let text = render(
            &[(a.clone(), 2), (a, 1)],
            Some(Path::new("/tmp/log.jsonl")),
            false,
        )
        .expect("summary");
        assert!(text.contains("blocked 3 attempts"), "{text}");
        assert!(
            text.contains("evil@1.0.0 (postinstall): proxy exfil.example.com:443 ×3"),
            "{text}"
        );
        assert!(
            text.contains("--allow-host exfil.example.com:443"),
            "{text}"
        );
        assert!(text.contains("/tmp/log.jsonl"), "{text}");
        assert!(!text.contains('\x1b'));
    }
}
