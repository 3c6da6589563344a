//! GitHub Actions reports of blocked attempts: one workflow-command annotation per group
//! (`::warning` / `::error`), and a Markdown section appended to `$GITHUB_STEP_SUMMARY`.
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

use super::report::Locator;
use super::summary::{self, Group};
use super::{Event, Verdict};
use std::fmt::Write as _;

/// Annotations GitHub shows per step and kind (warning, error); more are dropped silently.
pub const ANNOTATIONS_PER_STEP: usize = 10;

/// Longest target shown in an annotation or a table cell; the event log has the whole one.
const MAX_TARGET_CHARS: usize = 200;

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
            '.' if leading_digits && i > 0 && chars.get(i + 1).map_or(true, |n| *n == ' ') => {
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

/// One sentence naming who did what, where, how often, and why it was refused.
pub fn describe_group(g: &Group<'_>) -> String {
    let script = g
        .first
        .script
        .as_deref()
        .map(|s| format!(" ({})", summary::neutralise(s)))
        .unwrap_or_default();
    let times = if g.count == 1 {
        String::from("once")
    } else {
        format!("{} times", g.count)
    };
    // The runner's log shows ANSI sequences: escaped like the human summary.
    format!(
        "{}{script} tried to {} {}, {times}: blocked [{}] {}",
        summary::neutralise(g.who()),
        summary::action_name(g.action),
        summary::neutralise(&shorten(g.target, MAX_TARGET_CHARS)),
        g.first.reason,
        g.first.reason.describe()
    )
}

/// The workflow commands for the blocked groups, one line each (empty when nothing was
/// blocked). Past [`ANNOTATIONS_PER_STEP`], the last line says how many more there are.
pub fn annotations(groups: &[Group<'_>], locator: &Locator, strict: bool) -> String {
    let command = if strict { "error" } else { "warning" };
    let shown = if groups.len() > ANNOTATIONS_PER_STEP {
        ANNOTATIONS_PER_STEP - 1
    } else {
        groups.len()
    };
    let mut out = String::new();
    for g in &groups[..shown] {
        let mut props = Vec::new();
        if let Some(loc) = locator.locate(g) {
            props.push(format!("file={}", escape_property(&loc.relative)));
            if let Some(line) = loc.line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!(
                "safe-install blocked {} by {}",
                summary::action_name(g.action),
                summary::neutralise(g.who())
            ))
        ));
        let mut message = describe_group(g);
        if let Some(fix) = summary::remedy(g.first) {
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
        let _ = writeln!(
            out,
            "::{command} title={}::{}",
            escape_property("safe-install blocked more"),
            escape_data(&format!(
                "{} more groups of blocked attempts ({attempts} attempts): see the job's step summary or the event log (--log FILE).",
                rest.len()
            ))
        );
    }
    out
}

/// The Markdown section for `$GITHUB_STEP_SUMMARY`: a heading naming the command, a
/// one-line verdict, the table of blocked groups, and what ran weaker than usual.
/// Written also when nothing was blocked, so a reader can tell "ran, nothing blocked" from
/// "did not run".
pub fn step_summary(
    events: &[(Event, u64)],
    command: &str,
    locator: &Locator,
    strict: bool,
) -> String {
    let groups = summary::blocked_groups(events);
    let mut o = String::new();
    let _ = writeln!(o, "### safe-install: {}\n", escape_markdown(command));
    let total: u64 = groups.iter().map(|g| g.count).sum();
    if groups.is_empty() {
        let _ = writeln!(
            o,
            "✅ No blocked attempts: nothing the install ran tried to reach a secret, a host or a path outside the sandbox."
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
        for g in &groups {
            let script = g.first.script.as_deref().unwrap_or("");
            let fix = summary::remedy(g.first)
                .unwrap_or_else(|| format!("cannot be allowed ({})", g.first.reason.describe()));
            let place = locator
                .locate(g)
                .map(|l| match l.line {
                    Some(line) => format!(" (from {}:{line})", l.relative),
                    None => format!(" (from {})", l.relative),
                })
                .unwrap_or_default();
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
}
