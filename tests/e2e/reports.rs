//! The CI-facing reports of a real install: GitHub workflow annotations on stderr, the
//! Markdown section appended to `$GITHUB_STEP_SUMMARY`, and `--report sarif FILE` validated
//! against the OASIS SARIF 2.1.0 schema by a real JSON-schema validator (python
//! `jsonschema`, installed with the schema by scripts/setup.sh).
//!
//! The expected groups are computed here from the run's own event log (package, action,
//! target of each blocked event), so a report that drops, merges or invents a group fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::reports::validate_sarif;
use crate::common::*;

/// What the step summary file held before safe-install ran (an earlier step's section).
const OLD_SUMMARY: &str = "## An earlier step\n\n| kept | as is |\n| --- | --- |\n| 1 | 2 |\n";

/// GitHub shows at most this many annotations of one kind per step.
const ANNOTATIONS_PER_STEP: usize = 10;

/// One blocked attempt group as the event log shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Group {
    who: String,
    action: String,
    target: String,
    package: Option<String>,
    reason: String,
    /// Found by the end-of-run check (verdict `found`), not blocked.
    found: bool,
}

/// A finished `safe-install` run under a simulated GitHub Actions environment.
struct CiRun {
    world: World,
    out: Output,
    events: Vec<Value>,
    summary: String,
    sarif_path: PathBuf,
}

impl CiRun {
    fn context(&self) -> String {
        format!(
            "{}\n--- step summary ---\n{}\n--- event log ---\n{}",
            self.out.describe(),
            self.summary,
            self.events
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// The blocked groups of the event log, sorted as the reports sort them.
    /// The groups every report shows: what the install left behind (verdict `found`)
    /// first, then the blocked attempts, each sorted by who, action, target.
    fn groups(&self) -> Vec<Group> {
        let mut groups = self.groups_of("found");
        groups.extend(self.groups_of("blocked"));
        groups
    }

    fn groups_of(&self, verdict: &str) -> Vec<Group> {
        let mut groups: BTreeMap<(String, String, String), Group> = BTreeMap::new();
        for e in self.events.iter().filter(|e| e["verdict"] == verdict) {
            let package = e["package"].as_str().map(str::to_string);
            let who = package
                .clone()
                .unwrap_or_else(|| "(package manager)".into());
            let action = e["action"].as_str().unwrap_or_default().to_string();
            let target = e["target"].as_str().unwrap_or_default().to_string();
            groups
                .entry((who.clone(), action.clone(), target.clone()))
                .or_insert(Group {
                    who,
                    action,
                    target,
                    package,
                    reason: e["reason"].as_str().unwrap_or_default().to_string(),
                    found: verdict == "found",
                });
        }
        groups.into_values().collect()
    }

    /// The workflow-command lines safe-install printed (stdout and stderr).
    fn commands(&self) -> Vec<&str> {
        self.out
            .stdout
            .lines()
            .chain(self.out.stderr.lines())
            .filter(|l| l.starts_with("::"))
            .collect()
    }

    fn sarif(&self) -> Value {
        let text = fs::read_to_string(&self.sarif_path).unwrap_or_else(|e| {
            panic!(
                "--report sarif {} was not written: {e}\n{}",
                self.sarif_path.display(),
                self.context()
            )
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the SARIF report is not JSON ({e}):\n{text}"))
    }

    /// The 1-based line of package-lock.json naming the package of `g`.
    fn lock_line(&self, g: &Group) -> Option<usize> {
        let name = g.package.as_deref().map(|p| match p.rfind('@') {
            Some(i) if i > 0 => &p[..i],
            _ => p,
        })?;
        let lock = fs::read_to_string(self.world.project.join("package-lock.json")).ok()?;
        let key = format!("node_modules/{name}\":");
        lock.lines().position(|l| l.contains(&key)).map(|i| i + 1)
    }
}

/// `safe-install [--strict] --report sarif FILE --log LOG ARGS` in the world's project, as
/// a GitHub Actions runner would run it: `GITHUB_ACTIONS=true`, a step summary file that
/// already holds an earlier step's section, the world's root as the workspace.
fn ci_run(world: World, strict: bool, args: &[&str]) -> CiRun {
    let summary_path = world.root().join("step-summary.md");
    write_file(&summary_path, OLD_SUMMARY);
    let sarif_path = world.root().join("reports/safe-install.sarif");
    fs::create_dir_all(sarif_path.parent().expect("parent")).expect("mkdir reports");
    let log = world.log_path("ci");
    let mut cmd = world.safe_install();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary_path)
        .env("GITHUB_WORKSPACE", world.root())
        // Where the evil fixture writes its report (a benign install ignores it).
        .args(attack_report_flags(&world))
        .arg("--project")
        .arg(&world.project)
        .arg("--log")
        .arg(&log)
        .arg("--report")
        .arg("sarif")
        .arg(&sarif_path);
    if strict {
        cmd.arg("--strict");
    }
    cmd.args(args);
    let out = {
        let _g = shared_run_guard();
        run(&mut cmd, RUN_TIMEOUT)
    };
    kill_processes_with_cmdline(&world.project.display().to_string());
    let events = read_log(&log);
    let summary = fs::read_to_string(&summary_path).unwrap_or_default();
    CiRun {
        world,
        out,
        events,
        summary,
        sarif_path,
    }
}

/// The hostile npm fixture (its postinstall attacks; see tests/fixtures/npm/evil).
fn evil_run(name: &str, strict: bool) -> CiRun {
    let world = World::new(name);
    let listeners = Listeners::start(&world);
    let tarball = pack_npm_fixture(&world, "evil");
    write_npm_project(&world, &[&tarball]);
    write_attack_config(&world, &world.project, &listeners, None);
    let run = ci_run(world, strict, NPM_CI);
    assert!(
        listeners.received().is_empty(),
        "the host's listeners received: {:?}",
        listeners.received()
    );
    run
}

/// Workflow-command data escaping as the runner unescapes it (GitHub's documented
/// escapes: `%`, CR, LF in data; also `:` and `,` in properties).
fn unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

/// `::level k=v,k=v::message` split into level, properties and message, unescaped.
fn parse_command(line: &str) -> (String, BTreeMap<String, String>, String) {
    let rest = line.strip_prefix("::").expect("a workflow command");
    let (head, message) = rest.split_once("::").unwrap_or((rest, ""));
    let (level, props) = head.split_once(' ').unwrap_or((head, ""));
    let props = props
        .split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect();
    (level.to_string(), props, unescape(message))
}

/// A Markdown table cell's text with the backslash escapes removed.
fn unescape_markdown(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// The table rows (not header, not separator) of the section safe-install appended.
fn table_rows(appended: &str) -> Vec<String> {
    appended
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---") && !l.starts_with("| package |"))
        .map(unescape_markdown)
        .collect()
}

/// Checks the annotations against the groups: one per group (up to GitHub's limit), the
/// given level only, the lockfile line of the acting package as the place.
fn check_annotations(run: &CiRun, groups: &[Group], level: &str) {
    let mut p = Problems::new();
    let commands = run.commands();
    let annotations: Vec<_> = commands.iter().map(|l| parse_command(l)).collect();
    p.check(
        annotations.len() == groups.len().min(ANNOTATIONS_PER_STEP),
        || {
            format!(
                "{} annotations for {} groups (want one each, at most {ANNOTATIONS_PER_STEP})",
                annotations.len(),
                groups.len()
            )
        },
    );
    for (l, _, _) in &annotations {
        p.check(l == level, || {
            format!("an annotation of level {l} (want {level})")
        });
    }
    let shown = if groups.len() > ANNOTATIONS_PER_STEP {
        &groups[..ANNOTATIONS_PER_STEP - 1]
    } else {
        groups
    };
    for g in shown {
        let found = annotations.iter().find(|(_, props, message)| {
            let (what, title) = if g.found {
                (String::from(" left "), "found")
            } else {
                (format!(" {} ", g.action), g.action.as_str())
            };
            message.contains(&g.who)
                && message.contains(&what)
                && message.contains(&g.target)
                && props.get("title").is_some_and(|t| t.contains(title))
        });
        let Some((_, props, _)) = found else {
            p.push(format!("no annotation for {g:?}"));
            continue;
        };
        if g.package.is_some() {
            p.check(
                props.get("file").map(String::as_str) == Some("project/package-lock.json"),
                || {
                    format!(
                        "the annotation for {g:?} is not on project/package-lock.json: {props:?}"
                    )
                },
            );
            let want = run.lock_line(g).map(|n| n.to_string());
            p.check(want.is_some() && props.get("line") == want.as_ref(), || {
                format!("the annotation for {g:?} has line {:?}, the lockfile names the package on line {want:?}", props.get("line"))
            });
        }
    }
    p.finish(&run.context());
}

/// Checks the step summary: the earlier content kept, then a section with one row per group.
fn check_step_summary(run: &CiRun, groups: &[Group]) {
    let mut p = Problems::new();
    p.check(run.summary.starts_with(OLD_SUMMARY), || {
        "the step summary no longer starts with the earlier step's section (truncated or rewritten)"
            .into()
    });
    let appended = run.summary.get(OLD_SUMMARY.len()..).unwrap_or_default();
    p.check(appended.contains("### safe-install: npm ci"), || {
        "the appended section has no `### safe-install: npm ci` heading".into()
    });
    let rows = table_rows(appended);
    p.check(rows.len() == groups.len(), || {
        format!("{} table rows for {} groups", rows.len(), groups.len())
    });
    for g in groups {
        p.check(
            rows.iter().any(|r| {
                let cells: Vec<&str> = r.split(" | ").collect();
                // What the install left behind has its own table: package, script, target,
                // finding, what it is.
                let (target, reason) = if g.found {
                    (cells.get(2), cells.get(3) == Some(&g.reason.as_str()))
                } else {
                    (
                        cells.get(3),
                        cells.get(2) == Some(&g.action.as_str())
                            && r.contains(&format!("[{}]", g.reason)),
                    )
                };
                r.contains(&g.who) && target == Some(&g.target.as_str()) && reason
            }),
            || format!("no table row for {g:?}"),
        );
    }
    p.finish(&run.context());
}

/// Checks the SARIF report: schema-valid, one result per group at `level`, one rule per
/// reason, package groups located at the lockfile line.
fn check_sarif(run: &CiRun, groups: &[Group], level: &str) {
    let sarif = run.sarif();
    if let Err(errors) = validate_sarif(&run.sarif_path) {
        panic!(
            "{} is not valid SARIF 2.1.0:\n{errors}\n{sarif:#}",
            run.sarif_path.display()
        );
    }
    let mut p = Problems::new();
    let sarif_run = &sarif["runs"][0];
    p.check(sarif["runs"].as_array().map(Vec::len) == Some(1), || {
        "want exactly one run".into()
    });
    p.check(
        sarif_run["tool"]["driver"]["name"] == "safe-install",
        || "tool.driver.name is not safe-install".into(),
    );
    let rule_ids: BTreeSet<&str> = sarif_run["tool"]["driver"]["rules"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    let reasons: BTreeSet<&str> = groups.iter().map(|g| g.reason.as_str()).collect();
    p.check(rule_ids == reasons, || {
        format!("rules {rule_ids:?}, reasons in the log {reasons:?}")
    });
    let results = sarif_run["results"].as_array().cloned().unwrap_or_default();
    p.check(results.len() == groups.len(), || {
        format!("{} results for {} groups", results.len(), groups.len())
    });
    for g in groups {
        let Some(r) = results.iter().find(|r| {
            let props = &r["properties"];
            props["action"] == g.action.as_str()
                && props["target"] == g.target.as_str()
                && props["package"].as_str() == g.package.as_deref()
        }) else {
            p.push(format!("no result for {g:?}"));
            continue;
        };
        p.check(
            r["ruleId"] == g.reason.as_str() && r["level"] == level,
            || {
                format!(
                    "result for {g:?} has ruleId {} level {}",
                    r["ruleId"], r["level"]
                )
            },
        );
        p.check(r["properties"]["count"].as_u64().unwrap_or(0) >= 1, || {
            format!("result for {g:?} has no count")
        });
        if g.package.is_some() {
            let loc = &r["locations"][0]["physicalLocation"];
            p.check(
                loc["artifactLocation"]["uri"] == "project/package-lock.json"
                    && loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%",
                || format!("result for {g:?} is not located at %SRCROOT%/project/package-lock.json: {loc}"),
            );
            let want = run.lock_line(g).map(|n| n as u64);
            p.check(loc["region"]["startLine"].as_u64() == want, || {
                format!(
                    "result for {g:?} starts at {}, want line {want:?}",
                    loc["region"]["startLine"]
                )
            });
        }
    }
    p.finish(&format!("{sarif:#}\n{}", run.context()));
}

#[test]
fn hostile_install_reports_each_blocked_group_to_github_and_sarif() {
    let run = evil_run("report-evil", false);
    assert_eq!(
        run.out.code(),
        0,
        "without --strict the install's own status stands\n{}",
        run.context()
    );
    let groups = run.groups();
    assert!(
        groups.len() >= 2,
        "the hostile fixture should be blocked in several ways; groups: {groups:#?}\n{}",
        run.context()
    );
    assert!(
        groups
            .iter()
            .any(|g| g.package.as_deref() == Some("si-evil@1.0.0")),
        "no group is attributed to si-evil@1.0.0: {groups:#?}"
    );
    check_annotations(&run, &groups, "warning");
    check_step_summary(&run, &groups);
    check_sarif(&run, &groups, "warning");
}

#[test]
fn strict_hostile_install_reports_errors_and_exits_120() {
    let run = evil_run("report-strict", true);
    assert_eq!(run.out.code(), 120, "{}", run.context());
    let groups = run.groups();
    assert!(!groups.is_empty(), "nothing blocked\n{}", run.context());
    check_annotations(&run, &groups, "error");
    check_sarif(&run, &groups, "error");
}

#[test]
fn benign_install_writes_no_annotation_and_says_so_in_the_summary() {
    let world = World::new("report-benign");
    let tarball = pack_npm_fixture(&world, "benign");
    write_npm_project(&world, &[&tarball]);
    let run = ci_run(world, true, NPM_CI);
    assert_eq!(run.out.code(), 0, "{}", run.context());
    assert!(run.groups().is_empty(), "{}", run.context());
    assert!(
        run.commands().is_empty(),
        "a benign install printed workflow commands: {:?}",
        run.commands()
    );
    let appended = run
        .summary
        .strip_prefix(OLD_SUMMARY)
        .unwrap_or_else(|| panic!("the earlier step summary was not kept:\n{}", run.summary));
    assert!(
        appended.contains("### safe-install: npm ci") && appended.contains("No blocked attempts"),
        "the appended section does not say that nothing was blocked:\n{appended}"
    );
    assert!(table_rows(appended).is_empty(), "{appended}");
    let sarif = run.sarif();
    if let Err(errors) = validate_sarif(&run.sarif_path) {
        panic!("not valid SARIF 2.1.0:\n{errors}\n{sarif:#}");
    }
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(0),
        "{sarif:#}"
    );
}

#[test]
fn the_sarif_validator_rejects_invalid_logs() {
    // The negative control: without it, a validator that accepts anything would pass
    // every test above.
    // Prefixed like every directory of the tests, so a leak check running meanwhile skips it.
    let dir = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}sarif-"))
        .tempdir()
        .expect("tempdir");
    let cases = [
        (
            "no driver",
            r#"{"version":"2.1.0","runs":[{"tool":{}}]}"#,
            "driver",
        ),
        (
            "bad level",
            r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}"#,
            "fatal",
        ),
        (
            "informationUri not a URI",
            r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","informationUri":"not a uri"}}}]}"#,
            "uri",
        ),
    ];
    for (what, text, needle) in cases {
        let file = dir.path().join("bad.sarif");
        fs::write(&file, text).expect("write");
        match validate_sarif(&file) {
            Ok(()) => panic!("the validator accepted an invalid log ({what}): {text}"),
            Err(errors) => assert!(errors.contains(needle), "{what}: {errors}"),
        }
    }
}

#[test]
fn unknown_report_format_is_refused_before_anything_runs() {
    let world = World::new("report-usage");
    let marker = world.project.join("ran");
    let out = run(
        world
            .safe_install()
            .args(["--report", "html"])
            .arg(world.root().join("x.html"))
            .arg("--project")
            .arg(&world.project)
            .args(["sh", "-c", "touch ran"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(
        out.stderr.contains("--report html") && out.stderr.contains("valid formats: sarif"),
        "{}",
        out.describe()
    );
    assert!(!marker.exists(), "the command ran despite the bad flag");
}
