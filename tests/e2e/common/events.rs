//! safe-install's JSON Lines event log as the tests read it: parsing, the documented fields,
//! and looking for one event.

use std::fs;
use std::path::Path;

use serde_json::Value;

/// Reads a `--log` file: one JSON object per line. Fails on a line that is not JSON.
pub fn read_log(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the event log {} was not written: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("{} line {}: not JSON ({e}): {l}", path.display(), i + 1)
            })
        })
        .collect()
}

/// The fields every event must have (design.md, "Event log").
pub const EVENT_FIELDS: &[&str] = &[
    "ts", "action", "verdict", "target", "pid", "package", "script", "argv", "reason",
];

/// Checks the schema of every event; returns one line per problem.
pub fn check_event_schema(events: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for f in EVENT_FIELDS {
            if e.get(f).is_none() {
                problems.push(format!("event {} lacks `{f}`: {e}", i + 1));
            }
        }
        let action = e["action"].as_str().unwrap_or("");
        if ![
            "read", "write", "exec", "connect", "dns", "proxy", "env", "sandbox",
        ]
        .contains(&action)
        {
            problems.push(format!("event {} has action {:?}", i + 1, e["action"]));
        }
        let verdict = e["verdict"].as_str().unwrap_or("");
        if !["blocked", "allowed", "degraded", "found"].contains(&verdict) {
            problems.push(format!("event {} has verdict {:?}", i + 1, e["verdict"]));
        }
    }
    problems
}

/// True if some event has these action and verdict and a target containing `needle`.
pub fn has_event(events: &[Value], action: &str, verdict: &str, needle: &str) -> bool {
    events.iter().any(|e| {
        e["action"] == action
            && e["verdict"] == verdict
            && e["target"].as_str().is_some_and(|t| t.contains(needle))
    })
}
