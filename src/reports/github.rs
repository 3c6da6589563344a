//! GitHub Actions reports of blocked attempts and of what the install left behind: one
//! workflow-command annotation per group (`::warning` / `::error`, `::notice` for what never
//! fails `--strict`), and a Markdown section appended to `$GITHUB_STEP_SUMMARY`.
//!
//! Every string here may come from the installed code (a path it opened, a name it looked
//! up), so it is escaped for where it lands: workflow-command data and properties with the
//! runner's percent escapes (a raw newline would end the command and let the rest be read as
//! a new one), Markdown with backslash escapes (a raw `|` would split a table cell, `<` open
//! HTML).
//!
//! Escapes as the runner unescapes them (actions/runner `ActionCommand.cs`, mirrored by
//! actions/toolkit `packages/core/src/command.ts`): data `%`→`%25`, CR→`%0D`, LF→`%0A`;
//! properties also `:`→`%3A`, `,`→`%2C`.

use super::publish::Locator;
use super::summary::{self, Group};
use crate::events::{Event, Severity, Verdict};
use std::fmt::Write as _;

/// Annotations GitHub shows per step and kind (warning, error); more are dropped silently.
pub const ANNOTATIONS_PER_STEP: usize = 10;

/// Longest target shown in an annotation or a table cell; the event log has the whole one.
const MAX_TARGET_CHARS: usize = 200;

/// Rows of one package in the step summary's table of blocked attempts, the rest counted in
/// one row: a review in CI wants them all, but GitHub refuses a step summary over 1 MiB
/// (a wiper makes thousands).
const STEP_SUMMARY_PER_PACKAGE: usize = 100;

/// Escape workflow-command data (the message after `::`).
pub fn escape_data(s: &str) -> String {
    escape_command(s, false)
}

/// Escape a workflow-command property value (`file=`, `title=`).
pub fn escape_property(s: &str) -> String {
    escape_command(s, true)
}

fn escape_command(s: &str, property: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// Escape text for Markdown (GitHub Flavored), safe inside a table cell or a list item:
/// characters that open inline syntax get a backslash (`|` cannot split the cell, `` ` ``
/// open code, `<` start HTML, `&` an entity, `@` a mention, `#` an issue link, `$` math),
/// so do those that start a block at the beginning (`-`, `+`, `1.`); line breaks and other
/// control characters become visible `\n`-style escapes.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let chars: Vec<char> = s.chars().collect();
    let mut leading_digits = true;
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\n' => out.push_str("\\\\n"),
            '\r' => out.push_str("\\\\r"),
            '\t' => out.push_str("\\\\t"),
            c if c.is_control() || summary::is_bidi_control(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '!'
            | '|' | '~' | '&' | '@' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            // `1. x` would start an ordered list; `1.2.3.4` would not.
            '.' if leading_digits && i > 0 && chars.get(i + 1).is_none_or(|n| *n == ' ') => {
                out.push_str("\\.");
            }
            c => out.push(c),
        }
        leading_digits = leading_digits && c.is_ascii_digit();
    }
    out
}

/// `s` cut to `max` characters, with `…` when something was cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One sentence naming who did what, where, how often, and why it was refused; for what
/// the end-of-run check found, who left what, why it matters and the check's detail.
pub fn describe_group(g: &Group<'_>) -> String {
    let script = g
        .first
        .script
        .as_deref()
        .map(|s| format!(" ({})", summary::neutralise(s)))
        .unwrap_or_default();
    // The runner's log shows ANSI sequences: escaped like the human summary.
    let who = summary::neutralise(g.who());
    let target = summary::neutralise(&shorten(g.target, MAX_TARGET_CHARS)).into_owned();
    let reason = g.first.reason;
    if g.first.verdict == Verdict::Found {
        let detail = g
            .first
            .detail
            .as_deref()
            .map(|d| format!(" {}.", summary::neutralise(d).trim_end_matches('.')))
            .unwrap_or_default();
        return format!(
            "{who}{script} left {target} behind: found [{reason}] {}{detail}",
            reason.describe()
        );
    }
    let times = if g.count == 1 {
        String::from("once")
    } else {
        format!("{} times", g.count)
    };
    format!(
        "{who}{script} tried to {} {target}, {times}: blocked [{reason}] {}",
        summary::action_name(g.action),
        reason.describe()
    )
}

/// The annotation title of a group: what happened, by whom.
fn title(g: &Group<'_>) -> String {
    let who = summary::neutralise(g.who());
    if g.first.verdict == Verdict::Found {
        format!("safe-install found {} left by {who}", g.first.reason)
    } else {
        format!(
            "safe-install blocked {} by {who}",
            summary::action_name(g.action)
        )
    }
}

/// The workflow commands for the groups (blocked attempts and findings), one line each
/// (empty when there are none): `::error` / `::warning` for what fails `--strict` (with it
/// / without it), `::notice` for information. GitHub shows [`ANNOTATIONS_PER_STEP`] of a
/// kind: past that, the last line of the kind says how many more there are.
pub fn annotations(groups: &[Group<'_>], locator: &Locator, strict: bool) -> String {
    let mut out = String::new();
    for severity in [Severity::Error, Severity::Warning, Severity::Note] {
        let kind: Vec<&Group<'_>> = groups
            .iter()
            .filter(|g| g.first.severity(strict) == severity)
            .collect();
        annotations_of_kind(&mut out, severity.workflow_command(), &kind, locator);
    }
    out
}

fn annotations_of_kind(out: &mut String, command: &str, groups: &[&Group<'_>], locator: &Locator) {
    let shown = if groups.len() > ANNOTATIONS_PER_STEP {
        ANNOTATIONS_PER_STEP - 1
    } else {
        groups.len()
    };
    for g in &groups[..shown] {
        let mut props = Vec::new();
        if let Some(loc) = locator.locate(g) {
            props.push(format!("file={}", escape_property(&loc.relative)));
            if let Some(line) = loc.line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!("title={}", escape_property(&title(g))));
        let mut message = describe_group(g);
        if let Some(fix) = summary::remedy(g.first, locator.hints()) {
            message.push_str("\nTo allow it, if it is legitimate: ");
            message.push_str(&summary::neutralise(&fix));
        }
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            escape_data(&message)
        );
    }
    if shown < groups.len() {
        let rest = &groups[shown..];
        let attempts: u64 = rest.iter().map(|g| g.count).sum();
        let (title, what) = if rest.iter().all(|g| g.first.verdict == Verdict::Blocked) {
            (
                "safe-install blocked more",
                format!("groups of blocked attempts ({attempts} attempts)"),
            )
        } else {
            (
                "safe-install found more",
                format!("groups of blocked attempts and things the install left behind ({attempts} in all)"),
            )
        };
        let _ = writeln!(
            out,
            "::{command} title={}::{}",
            escape_property(title),
            escape_data(&format!(
                "{} more {what}: see the job's step summary or the event log (--log FILE).",
                rest.len()
            ))
        );
    }
}

/// The Markdown section for `$GITHUB_STEP_SUMMARY`: a heading naming the command, a
/// one-line verdict, the table of blocked groups, the table of what the install left
/// behind, and what ran weaker than usual.
/// Written also when nothing was blocked, so a reader can tell "ran, nothing blocked" from
/// "did not run".
pub fn step_summary(
    events: &[(Event, u64)],
    command: &str,
    locator: &Locator,
    strict: bool,
) -> String {
    let groups = summary::blocked_groups(events);
    let found = summary::found_groups(events);
    let mut o = String::new();
    let _ = writeln!(o, "### safe-install: {}\n", escape_markdown(command));
    let total: u64 = groups.iter().map(|g| g.count).sum();
    if groups.is_empty() {
        let _ = writeln!(
            o,
            "{}No blocked attempts: nothing the install ran tried to reach a secret, a host or a path outside the sandbox.",
            if found.is_empty() { "✅ " } else { "" }
        );
    } else {
        let consequence = if strict {
            "the step fails (`--strict`)"
        } else {
            "the install's own exit status stands; add `--strict` to fail the step"
        };
        let _ = writeln!(
            o,
            "⛔ **Blocked {total} attempt{} in {} group{}**: {consequence}.\n",
            if total == 1 { "" } else { "s" },
            groups.len(),
            if groups.len() == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            o,
            "| package | script | action | target | count | how to allow it |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | ---: | --- |");
        let (listed, more) = summary::listed_groups(&groups, STEP_SUMMARY_PER_PACKAGE);
        for g in listed {
            let script = g.first.script.as_deref().unwrap_or("");
            let fix = summary::remedy(g.first, locator.hints())
                .unwrap_or_else(|| format!("cannot be allowed ({})", g.first.reason.describe()));
            let place = place(locator, g);
            let _ = writeln!(
                o,
                "| {}{} | {} | {} | {} | {} | {} |",
                escape_markdown(g.who()),
                escape_markdown(&place),
                escape_markdown(script),
                summary::action_name(g.action),
                escape_markdown(&shorten(g.target, MAX_TARGET_CHARS)),
                g.count,
                escape_markdown(&format!("{fix} [{}]", g.first.reason)),
            );
        }
        for (who, groups, attempts) in more {
            let _ = writeln!(
                o,
                "| {} | | | {groups} more target{} | {attempts} | see the event log (`--log FILE`) |",
                escape_markdown(who),
                if groups == 1 { "" } else { "s" },
            );
        }
    }
    if !found.is_empty() {
        left_behind(&mut o, &found, locator, strict);
    }
    let degraded: Vec<&Event> = events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.verdict == Verdict::Degraded)
        .collect();
    if !degraded.is_empty() {
        let _ = writeln!(o, "\nWeaker than usual on this runner:\n");
        for e in degraded {
            let _ = writeln!(
                o,
                "- {} ({})",
                escape_markdown(e.detail.as_deref().unwrap_or(&e.target)),
                e.reason
            );
        }
    }
    o.push('\n');
    o
}

/// The step summary's table of what the end-of-run check found, with what it means for the
/// step and what to do about each finding (the check's detail says it).
fn left_behind(o: &mut String, found: &[Group<'_>], locator: &Locator, strict: bool) {
    let failing = found.iter().filter(|g| g.first.fails_strict()).count();
    let consequence = match (failing, strict) {
        (0, _) => "information only: none of it fails `--strict`",
        (_, true) => "the step fails (`--strict`)",
        (_, false) => "add `--strict` to fail the step on what was planted",
    };
    let _ = writeln!(
        o,
        "\n⚠️ **The install left {} thing{} that run{} later**: {consequence}.\n",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        if found.len() == 1 { "s" } else { "" }
    );
    let _ = writeln!(o, "| package | script | target | finding | what it is |");
    let _ = writeln!(o, "| --- | --- | --- | --- | --- |");
    for g in found {
        let script = g.first.script.as_deref().unwrap_or("");
        let what = g
            .first
            .detail
            .as_deref()
            .unwrap_or_else(|| g.first.reason.describe());
        let _ = writeln!(
            o,
            "| {}{} | {} | {} | {} | {} |",
            escape_markdown(g.who()),
            escape_markdown(&place(locator, g)),
            escape_markdown(script),
            escape_markdown(&shorten(g.target, MAX_TARGET_CHARS)),
            g.first.reason,
            escape_markdown(what),
        );
    }
}

/// ` (from FILE:LINE)`: the project file that brought the group's package in, if any.
fn place(locator: &Locator, g: &Group<'_>) -> String {
    locator
        .locate(g)
        .map(|l| match l.line {
            Some(line) => format!(" (from {}:{line})", l.relative),
            None => format!(" (from {})", l.relative),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Action, Reason};

    #[test]
    fn data_escapes_percent_first_and_line_breaks() {
        // A target that already holds an escape must not be unescaped by the runner into a
        // line break: `%0A` has to arrive as the three characters it is.
        assert_eq!(escape_data("a%0Ab"), "a%250Ab");
        assert_eq!(escape_data("x\n::error::y"), "x%0A::error::y");
        assert_eq!(escape_data("r\rn\n%"), "r%0Dn%0A%25");
        assert_eq!(escape_data("host:443, ok"), "host:443, ok");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%0A\nd"), "a%3Ab%2Cc%250A%0Ad");
        assert_eq!(
            escape_property("dir/package-lock.json"),
            "dir/package-lock.json"
        );
    }

    #[test]
    fn markdown_cannot_break_a_table_cell() {
        assert_eq!(escape_markdown("a|b"), "a\\|b");
        assert_eq!(escape_markdown("`rm -rf`"), "\\`rm -rf\\`");
        assert_eq!(escape_markdown("x\ny"), "x\\\\ny");
        assert_eq!(escape_markdown("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(escape_markdown("&lt;"), "\\&lt;");
        assert_eq!(escape_markdown("1. -x"), "1\\. -x");
        assert_eq!(
            escape_markdown("- @scope/a #1 $x$"),
            "\\- \\@scope/a \\#1 \\$x\\$"
        );
        assert_eq!(escape_markdown("127.0.0.1:443"), "127.0.0.1:443");
        assert_eq!(escape_markdown("nul\u{0}"), "nul\\\\u{0}");
        assert_eq!(escape_markdown("naïve"), "naïve");
    }

    fn blocked(package: &str, target: &str, reason: Reason) -> Event {
        let mut e = Event::new(Action::Connect, Verdict::Blocked, target, reason);
        e.package = Some(package.into());
        e.script = Some("postinstall".into());
        e
    }

    #[test]
    fn one_annotation_per_group_on_one_line() {
        let hostile = "evil.example.com:443\n::error::forged";
        let events = vec![
            (blocked("evil@1.0.0", hostile, Reason::EgressNotAllowed), 2),
            (blocked("evil@1.0.0", hostile, Reason::EgressNotAllowed), 1),
            (
                blocked("evil@1.0.0", "127.0.0.1:9", Reason::DirectConnect),
                1,
            ),
        ];
        let groups = summary::blocked_groups(&events);
        let text = annotations(&groups, &Locator::none(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines.iter().all(|l| l.starts_with("::warning title=")),
            "{text}"
        );
        assert!(
            // Shown escaped for people first (a raw line break never reaches the runner).
            lines[1].contains("evil.example.com:443\\x0a::error::forged, 3 times"),
            "{text}"
        );
        assert!(!text.contains("\n::error"), "{text}");
        let strict = annotations(&groups, &Locator::none(), true);
        assert!(
            strict.lines().all(|l| l.starts_with("::error ")),
            "{strict}"
        );
    }

    fn found(package: &str, target: &str, reason: Reason) -> Event {
        let mut e = Event::new(Action::Write, Verdict::Found, target, reason)
            .with_detail("it stays after the install");
        e.package = Some(package.into());
        e
    }

    #[test]
    fn what_was_left_behind_is_annotated_by_severity_and_first() {
        let mut planted = found(
            "evil@1.0.0",
            "/p/.vscode/\x1b[2Kall clear\n::error::forged",
            Reason::Planted,
        );
        planted.script = Some("postinstall".into());
        let mut events: Vec<(Event, u64)> = (0..10)
            .map(|i| {
                (
                    blocked(
                        "evil@1.0.0",
                        &format!("10.0.0.{i}:1"),
                        Reason::DirectConnect,
                    ),
                    1,
                )
            })
            .collect();
        events.push((planted, 1));
        events.push((
            found(
                "si_pth@1.0.0",
                "/v/site-packages/si_pth.pth",
                Reason::PthInstalled,
            ),
            1,
        ));
        let groups = summary::reported_groups(&events);
        let text = annotations(&groups, &Locator::none(), false);
        let lines: Vec<&str> = text.lines().collect();
        // Ten warnings (the planted file first, eight blocked, one line for the rest), one
        // notice.
        assert_eq!(lines.len(), 11, "{text}");
        assert!(
            lines[0].starts_with("::warning title=safe-install found planted left by evil@1.0.0::evil@1.0.0 (postinstall) left /p/.vscode/\\x1b[2Kall clear\\x0a::error::forged behind: found [planted]"),
            "{text}"
        );
        assert!(lines[0].contains("it stays after the install"), "{text}");
        assert!(
            lines[9].contains("2 more groups of blocked attempts (2 attempts)"),
            "{text}"
        );
        assert!(
            lines[10].starts_with(
                "::notice title=safe-install found pth-installed left by si_pth@1.0.0::"
            ) && lines[10].contains("[pth-installed]"),
            "{text}"
        );
        assert!(
            !text.contains('\x1b') && !text.contains("\n::error"),
            "{text}"
        );
        let strict = annotations(&groups, &Locator::none(), true);
        assert_eq!(
            strict.lines().filter(|l| l.starts_with("::error ")).count(),
            10,
            "{strict}"
        );
        assert_eq!(
            strict
                .lines()
                .filter(|l| l.starts_with("::notice "))
                .count(),
            1,
            "{strict}"
        );
    }

    #[test]
    fn step_summary_lists_what_was_left_behind() {
        let mut planted = found("evil@1.0.0", "/p/.vscode/a|b\x1b[2K", Reason::Planted);
        planted.script = Some("postinstall".into());
        let events = vec![(planted, 1)];
        let md = step_summary(&events, "npm ci", &Locator::none(), true);
        assert!(
            md.contains("No blocked attempts") && !md.contains('✅'),
            "{md}"
        );
        assert!(
            md.contains("The install left 1 thing that runs later**: the step fails (`--strict`)"),
            "{md}"
        );
        assert!(
            md.contains("| evil\\@1.0.0 | postinstall | /p/.vscode/a\\|b\\\\u{1b}\\[2K | planted | it stays after the install |"),
            "{md}"
        );
        let pth = vec![(
            found("si_pth@1.0.0", "/v/si_pth.pth", Reason::PthInstalled),
            1,
        )];
        let md = step_summary(&pth, "pip install x", &Locator::none(), true);
        assert!(
            md.contains("information only: none of it fails `--strict`"),
            "{md}"
        );
    }

    #[test]
    fn annotations_past_the_limit_are_counted_in_one_more() {
        let events: Vec<(Event, u64)> = (0..12)
            .map(|i| {
                (
                    blocked(
                        "evil@1.0.0",
                        &format!("10.0.0.{i}:1"),
                        Reason::DirectConnect,
                    ),
                    1,
                )
            })
            .collect();
        let groups = summary::blocked_groups(&events);
        let text = annotations(&groups, &Locator::none(), false);
        assert_eq!(text.lines().count(), ANNOTATIONS_PER_STEP, "{text}");
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.contains("3 more groups of blocked attempts (3 attempts)")),
            "{text}"
        );
    }

    #[test]
    fn step_summary_has_a_row_per_group_and_says_when_nothing_was_blocked() {
        let events = vec![
            (
                blocked("evil@1.0.0", "a|b`c`\nd", Reason::EgressNotAllowed),
                1,
            ),
            (
                blocked("other@2.0.0", "/home/u/.npmrc", Reason::HiddenFile),
                3,
            ),
        ];
        let md = step_summary(&events, "npm ci", &Locator::none(), false);
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .collect();
        assert_eq!(rows.len(), 3, "header and two rows:\n{md}");
        assert!(md.contains("Blocked 4 attempts in 2 groups"), "{md}");
        assert!(rows[1].contains("a\\|b\\`c\\`\\\\nd"), "{md}");
        // Every row has exactly the header's seven unescaped pipes.
        for row in &rows {
            let bytes = row.as_bytes();
            let pipes = (0..bytes.len())
                .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
                .count();
            assert_eq!(pipes, 7, "{row}");
        }
        let quiet = step_summary(&[], "npm ci", &Locator::none(), false);
        assert!(quiet.contains("No blocked attempts"), "{quiet}");
        assert!(!quiet.contains("| package"), "{quiet}");
    }

    #[test]
    fn the_step_summary_lists_a_wiper_in_a_few_rows() {
        let events: Vec<(Event, u64)> = (0..300)
            .map(|i| {
                let mut e = blocked("wiper@1.0.0", &format!("/p/f{i:03}"), Reason::ReadOnlyPath);
                e.action = Action::Write;
                (e, 1)
            })
            .collect();
        let md = step_summary(&events, "npm ci", &Locator::none(), false);
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| wiper\\@1.0.0"))
            .collect();
        assert_eq!(rows.len(), STEP_SUMMARY_PER_PACKAGE + 1, "{md}");
        let more = 300 - STEP_SUMMARY_PER_PACKAGE;
        assert!(
            rows[STEP_SUMMARY_PER_PACKAGE].contains(&format!("| {more} more targets | {more} |")),
            "{md}"
        );
        assert!(
            md.contains("**Blocked 300 attempts in 300 groups**"),
            "{md}"
        );
    }
}
