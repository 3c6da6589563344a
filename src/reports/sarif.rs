//! `--report sarif FILE`: the blocked groups and what the install left behind as a SARIF
//! 2.1.0 log (OASIS), the format code scanning services ingest. One run; one rule per
//! reason code that occurs, with the remedy as help; one result per group, located at the
//! project file that brought the package in.
//!
//! Serde structs rather than hand-built JSON, so escaping is serde_json's and a field name
//! typo is a compile error. The file is replaced atomically (temporary file in the same
//! directory, fsync, rename): a crash or a full disk never leaves half a report for an
//! upload step to choke on.

use super::github::describe_group;
use super::publish::{Locator, ReportError};
use super::summary::{self, Group};
use crate::events::{Event, ProcessId, Reason, Severity, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const SRCROOT: &str = "%SRCROOT%";
const FINGERPRINT: &str = "safeInstallAttempt/v1";

#[derive(Debug, Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    invocations: Vec<Invocation>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    original_uri_base_ids: BTreeMap<&'static str, ArtifactLocation>,
    results: Vec<SarifResult>,
}

#[derive(Debug, Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Text,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Debug, Serialize)]
struct Text {
    text: String,
}

#[derive(Debug, Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Debug, Serialize)]
struct RuleProperties {
    tags: [&'static str; 2],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    exit_code: i32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    properties: ResultProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

/// What a result carries beyond the message, for scripts: the event log's fields.
#[derive(Debug, Serialize)]
struct ResultProperties {
    package: Option<String>,
    script: Option<String>,
    action: &'static str,
    target: String,
    reason: Reason,
    count: u64,
    pids: Vec<ProcessId>,
}

/// `egress-not-allowed` → `EgressNotAllowed` (SARIF rule names are PascalCase by convention).
fn rule_name(code: &str) -> String {
    code.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// How to allow attempts of this kind, in general terms: the human summary's remedy for a
/// placeholder target, so the two never disagree. For what the end-of-run check finds,
/// what to do about it.
fn rule_help(reason: Reason) -> String {
    match reason {
        Reason::Planted => return "Review what the package left: it runs later, outside any sandbox (the next CI step, the editor, the next Python start). Remove it, and the grant or --rw that let it through, unless you expect it; --strict fails on it. If a package keeps doing this, remove it or pin a version that behaves.".into(),
        Reason::PthInstalled => return "Review the wheel's .pth file: its import line runs at every later start of that Python. A known one is allowed by name in .safe-install.toml: [[pth.allow]] with package = \"NAME\" and a reason. It never fails --strict.".into(),
        _ => {}
    }
    let placeholder = match reason {
        Reason::HiddenFile
        | Reason::CredentialPath
        | Reason::OutsideView
        | Reason::ReadOnlyPath => "PATH",
        Reason::DnsQuery => "NAME",
        _ => "HOST:PORT",
    };
    let probe = Event::new(
        crate::events::Action::Connect,
        Verdict::Blocked,
        placeholder,
        reason,
    );
    // A probe of no package: its hint does not depend on grants.
    match summary::remedy(&probe, summary::HintScope::GRANTS) {
        Some(fix) => format!("To allow attempts like this, if they are legitimate: {fix}. Otherwise the package is misbehaving: remove it or pin a version that behaves."),
        None => "No flag or policy allows this: safe-install refuses it in every configuration. The package is misbehaving: remove it or pin a version that behaves.".into(),
    }
}

/// A stable identity of a group across runs (FNV-1a, 64 bits), so a code-scanning service
/// can tell a new attempt from one it has already shown.
fn fingerprint(g: &Group<'_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        g.who(),
        summary::action_name(g.action),
        g.target,
        g.first.reason.code(),
    ] {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The SARIF log for the groups of a run ([`summary::reported_groups`]).
pub fn build(groups: &[Group<'_>], locator: &Locator, strict: bool, exit_code: i32) -> Log {
    // Every group of a reason has the same severity: it follows the verdict and the reason.
    let level = |r: Reason| {
        groups
            .iter()
            .find(|g| g.first.reason == r)
            .map_or(Severity::Warning, |g| g.first.severity(strict))
            .sarif_level()
    };
    let mut reasons: Vec<Reason> = groups.iter().map(|g| g.first.reason).collect();
    reasons.sort();
    reasons.dedup();
    let rules = reasons
        .iter()
        .map(|&r| Rule {
            id: r.code(),
            name: rule_name(r.code()),
            short_description: Text {
                text: r.describe().into(),
            },
            full_description: Text {
                text: match r {
                    Reason::Planted | Reason::PthInstalled => format!(
                        "{} safe-install's end-of-run check found it and logged it with reason `{}` and verdict `found` (--log FILE has every field).",
                        r.describe(),
                        r.code()
                    ),
                    _ => format!(
                        "{} safe-install blocked the attempt and logged it with reason `{}` (--log FILE has every field).",
                        r.describe(),
                        r.code()
                    ),
                },
            },
            help: Text {
                text: rule_help(r),
            },
            default_configuration: Configuration { level: level(r) },
            properties: RuleProperties {
                tags: ["security", "supply-chain"],
            },
        })
        .collect();
    let base_url = url::Url::from_directory_path(locator.base()).ok();
    let mut original_uri_base_ids = BTreeMap::new();
    if let Some(u) = &base_url {
        original_uri_base_ids.insert(
            SRCROOT,
            ArtifactLocation {
                uri: u.to_string(),
                uri_base_id: None,
            },
        );
    }
    let results = groups
        .iter()
        .map(|g| {
            let reason = g.first.reason;
            let mut text = describe_group(g);
            if let Some(fix) = summary::remedy(g.first, locator.hints()) {
                text.push_str(" To allow it, if it is legitimate: ");
                text.push_str(&fix);
            }
            let locations = locator
                .locate(g)
                .and_then(|loc| {
                    let file = url::Url::from_file_path(&loc.path).ok()?;
                    let uri = base_url.as_ref()?.make_relative(&file)?;
                    Some(Location {
                        physical_location: PhysicalLocation {
                            artifact_location: ArtifactLocation {
                                uri,
                                uri_base_id: Some(SRCROOT),
                            },
                            region: loc.line.map(|start_line| Region { start_line }),
                        },
                    })
                })
                .into_iter()
                .collect();
            SarifResult {
                rule_id: reason.code(),
                rule_index: reasons.iter().position(|r| *r == reason).unwrap_or(0),
                level: g.first.severity(strict).sarif_level(),
                message: Text { text },
                locations,
                partial_fingerprints: BTreeMap::from([(FINGERPRINT, fingerprint(g))]),
                properties: ResultProperties {
                    package: g.package.map(str::to_string),
                    script: g.first.script.clone(),
                    action: summary::action_name(g.action),
                    target: g.target.to_string(),
                    reason,
                    count: g.count,
                    pids: g.pids().into_iter().cloned().collect(),
                },
            }
        })
        .collect();
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "safe-install",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful: true,
                exit_code,
            }],
            original_uri_base_ids,
            results,
        }],
    }
}

/// Build the log and replace `path` with it atomically.
pub fn write(
    path: &Path,
    groups: &[Group<'_>],
    locator: &Locator,
    strict: bool,
    exit_code: i32,
) -> Result<(), ReportError> {
    let log = build(groups, locator, strict, exit_code);
    let mut text = serde_json::to_vec_pretty(&log).map_err(|source| ReportError::Encode {
        format: "sarif",
        source,
    })?;
    text.push(b'\n');
    write_atomically(path, &text).map_err(|source| ReportError::Write {
        format: "sarif",
        path: path.to_path_buf(),
        source,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // A report is for sharing (uploaded, attached); tempfile creates 0600.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Best effort: make the rename itself durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Action;

    #[test]
    fn rule_names_and_help() {
        assert_eq!(rule_name("egress-not-allowed"), "EgressNotAllowed");
        assert!(rule_help(Reason::EgressNotAllowed).contains("--allow-host HOST:PORT"));
        assert!(rule_help(Reason::ReadOnlyPath).contains("--rw PATH"));
        assert!(rule_help(Reason::RawSocket).contains("No flag or policy allows this"));
    }

    #[test]
    fn one_rule_per_reason_one_result_per_group() {
        let mut a = Event::new(
            Action::Proxy,
            Verdict::Blocked,
            "x.example.com:443",
            Reason::EgressNotAllowed,
        );
        a.package = Some("evil@1.0.0".into());
        a.pid = Some(ProcessId {
            sandbox: 5,
            host: 500,
        });
        let mut b = a.clone();
        b.pid = Some(ProcessId {
            sandbox: 6,
            host: 600,
        });
        let mut c = a.clone();
        c.target = "y.example.com:443".into();
        let d = Event::new(
            Action::Dns,
            Verdict::Blocked,
            "y.example.com",
            Reason::DnsQuery,
        );
        let events = vec![(a, 2), (b, 1), (c, 1), (d, 1)];
        let groups = summary::blocked_groups(&events);
        let log = serde_json::to_value(build(&groups, &Locator::none(), true, 0)).expect("json");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2, "{log:#}");
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 3, "{log:#}");
        let first = results
            .iter()
            .find(|r| r["properties"]["target"] == "x.example.com:443")
            .expect("x group");
        assert_eq!(first["level"], "error");
        assert_eq!(first["properties"]["count"], 3);
        assert_eq!(
            first["properties"]["pids"].as_array().map(Vec::len),
            Some(2)
        );
        let index = first["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[index]["id"], first["ruleId"]);
        assert!(first.get("locations").is_none(), "no file, no location");
    }

    #[test]
    fn findings_are_results_with_their_own_rules_and_levels() {
        let mut planted = Event::new(
            Action::Write,
            Verdict::Found,
            "/p/node_modules/.bin/x",
            Reason::Planted,
        );
        planted.package = Some("evil@1.0.0".into());
        planted.script = Some("postinstall".into());
        let mut pth = Event::new(
            Action::Write,
            Verdict::Found,
            "/v/si_pth.pth",
            Reason::PthInstalled,
        );
        pth.package = Some("si_pth@1.0.0".into());
        let mut blocked = planted.clone();
        blocked.verdict = Verdict::Blocked;
        blocked.reason = Reason::ReadOnlyPath;
        let events = vec![(planted, 1), (pth, 1), (blocked, 1)];
        let groups = summary::reported_groups(&events);
        for (strict, planted_level) in [(false, "warning"), (true, "error")] {
            let log =
                serde_json::to_value(build(&groups, &Locator::none(), strict, 0)).expect("json");
            let run = &log["runs"][0];
            let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
            let results = run["results"].as_array().expect("results");
            assert_eq!((rules.len(), results.len()), (3, 3), "{log:#}");
            let level_of = |id: &str| {
                let r = results.iter().find(|r| r["ruleId"] == id).expect(id);
                let rule = &rules[r["ruleIndex"].as_u64().expect("index") as usize];
                assert_eq!(rule["id"], id);
                assert_eq!(rule["defaultConfiguration"]["level"], r["level"]);
                r["level"].as_str().unwrap_or_default().to_string()
            };
            assert_eq!(level_of("planted"), planted_level);
            assert_eq!(level_of("read-only-path"), planted_level);
            assert_eq!(level_of("pth-installed"), "note");
            let planted = results
                .iter()
                .find(|r| r["ruleId"] == "planted")
                .expect("planted");
            assert_eq!(planted["properties"]["package"], "evil@1.0.0");
            assert_eq!(planted["properties"]["script"], "postinstall");
            assert!(
                planted["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("left /p/node_modules/.bin/x behind")),
                "{planted:#}"
            );
        }
        assert!(rule_help(Reason::PthInstalled).contains("[[pth.allow]]"));
    }

    #[test]
    fn written_atomically_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.sarif");
        std::fs::write(&path, "x".repeat(100_000)).expect("old");
        write(&path, &[], &Locator::none(), false, 0).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(0));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
