//! A [`Learned`] as policy-file text: a header saying it was learned (when, from which
//! command, that it must be reviewed), what was not learned and why, then one entry per grant
//! in the schema of `policies/*.toml`.
//!
//! Everything here comes from the sandbox, i.e. from the code under suspicion: paths, host
//! names and package names may hold newlines meant to break out of a comment and add an entry.
//! Values are quoted by the `toml` crate; comment text has control characters escaped.

use super::{describe_needed_by, Grant, Learned, Section};
use crate::policy::{Entry, PackageGrant};
use crate::reports::summary::action_name;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

/// The first line of every learned file; how [`super::file`] recognises a previous output.
pub const MARKER: &str = "# safe-install learned policy: REVIEW BEFORE USE.";

/// Where a learned policy came from, for its header.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// RFC 3339 time of the run.
    pub learned_at: &'a str,
    /// The sandboxed command.
    pub argv: &'a [OsString],
    pub project: &'a Path,
    /// The file being written (for the "use it" line).
    pub file: &'a Path,
    /// The policy layers in force during the run, lowest first.
    pub layers: &'a [String],
}

/// The policy file text.
pub fn render(learned: &Learned, header: &Header<'_>) -> String {
    let command = header
        .argv
        .iter()
        .map(|a| shell_word(&redact(&a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let file = shell_word(&header.file.display().to_string());
    let mut o = String::new();
    let mut line = |text: &str| {
        o.push_str(text);
        o.push('\n');
    };
    line(MARKER);
    line("#");
    line(&format!(
        "# Learned by `safe-install --learn` at {} from:",
        comment(header.learned_at)
    ));
    line(&format!("#   {}", comment(&command)));
    line(&format!(
        "# in the project {}",
        comment(&header.project.display().to_string())
    ));
    line(&format!(
        "# with the policy: {}.",
        comment(&header.layers.join(", "))
    ));
    line("#");
    line("# Each entry is something that install needed and the policy in force did not give");
    line("# it, exactly as observed: exact host:port targets and exact paths, no wildcards.");
    line("# Remove what you do not trust, then use the file:");
    line(&format!(
        "#   safe-install --policy {} --strict {}",
        comment(&file),
        comment(&command)
    ));
    line("# A --strict run exits 120 when a package does anything this file does not allow.");
    line("# Learning again replaces this file and keeps the previous one as <file>.bak.");
    line("# Environment variables are never learned: dropped variables are not logged (see");
    line("# `safe-install explain`); pass one with [[env.pass]] after checking it is no secret.");
    if !learned.not_learned.is_empty() {
        line("#");
        line("# Not learned (these stay blocked, and a --strict run still fails on them):");
        for n in &learned.not_learned {
            line(&format!(
                "#   {} {} by {}: {}",
                action_name(n.action),
                comment(&n.target),
                comment(&describe_needed_by(&n.needed_by)),
                n.why
            ));
        }
    }
    if !learned.used.is_empty() {
        line("#");
        line("# Also used, already allowed by the policy in force:");
        for u in &learned.used {
            line(&format!(
                "#   {} ({}), {}",
                comment(&u.target),
                u.reason,
                super::times(u.count)
            ));
        }
    }
    if learned.grants.is_empty() {
        line("#");
        line("# Nothing was needed beyond the policy in force.");
    }
    for g in learned.grants.iter().filter(|g| g.package.is_none()) {
        line("");
        line(&format!("[[{}]]", g.section.table()));
        line(&format!("{} = {}", g.section.key(), quote(&g.value)));
        line(&format!("reason = {}", quote(&g.reason())));
    }
    for (name, grants) in packages(learned) {
        line("");
        line(package_block(name, &grants, learned.kept.get(name)).trim_end());
    }
    o
}

/// The learned grants for each package, by name.
fn packages(learned: &Learned) -> BTreeMap<&str, Vec<&Grant>> {
    let mut by_name: BTreeMap<&str, Vec<&Grant>> = BTreeMap::new();
    for g in &learned.grants {
        if let Some(p) = &g.package {
            by_name.entry(p.as_str()).or_default().push(g);
        }
    }
    by_name
}

/// One `[[package]]` entry: what was learned for it plus the grant in force, which this entry
/// replaces (the last layer's grant for a package wins).
fn package_block(name: &str, grants: &[&Grant], kept: Option<&Entry<PackageGrant>>) -> String {
    let mut hosts: Vec<String> = Vec::new();
    let mut read: Vec<String> = Vec::new();
    let mut write: Vec<String> = Vec::new();
    let mut reasons: Vec<String> = grants.iter().map(|g| g.reason()).collect();
    if let Some(k) = kept {
        hosts.extend(k.value.allow_hosts.iter().cloned());
        read.extend(k.value.allow_read.iter().map(|p| p.to_string()));
        write.extend(k.value.allow_write.iter().map(|p| p.to_string()));
        reasons.push(format!(
            "kept from {} (this entry replaces it): {}",
            k.origin, k.reason
        ));
    }
    for g in grants {
        let list = match g.section {
            Section::PackageHosts => &mut hosts,
            _ => &mut write,
        };
        if !list.contains(&g.value) {
            list.push(g.value.clone());
        }
    }
    let mut o = format!("[[package]]\nname = {}\n", quote(name));
    for (key, list) in [
        ("allow-hosts", &hosts),
        ("allow-read", &read),
        ("allow-write", &write),
    ] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|v| quote(v)).collect();
            let _ = writeln!(o, "{key} = [{}]", items.join(", "));
        }
    }
    let _ = writeln!(o, "reason = {}", quote(&reasons.join("; ")));
    o
}

/// A TOML basic string, escaped by the `toml` crate.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Text safe inside a `#` comment: control characters (newlines above all) escaped.
fn comment(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(o, "{}", c.escape_default());
        } else {
            o.push(c);
        }
    }
    o
}

/// A word the way a shell would need it: quoted when it holds anything special.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A command-line argument with credentials removed: the user-info of a URL, and the value of
/// `NAME=VALUE` / `--name=VALUE` when the name looks like a secret. The learned file sits in
/// the project and may be committed.
fn redact(arg: &str) -> String {
    if let Some((name, _)) = arg.split_once('=') {
        let lower = name.to_ascii_lowercase();
        if [
            "token",
            "auth",
            "password",
            "passwd",
            "secret",
            "key",
            "credential",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            return format!("{name}=REDACTED");
        }
    }
    let Some(at) = arg.find("://") else {
        return arg.to_string();
    };
    let start = arg[..at]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .map(|i| i + 1)
        .unwrap_or(0);
    match url::Url::parse(&arg[start..]) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("REDACTED");
            let _ = u.set_password(None);
            format!("{}{}", &arg[..start], u)
        }
        _ => arg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_on_the_command_line_are_redacted() {
        assert_eq!(
            redact("--registry=https://u:p@registry.example.com/"),
            "--registry=https://REDACTED@registry.example.com/"
        );
        assert_eq!(
            redact("--//registry.example.com/:_authToken=abc"),
            "--//registry.example.com/:_authToken=REDACTED"
        );
        assert_eq!(redact("ci"), "ci");
        assert_eq!(
            redact("https://registry.example.com/"),
            "https://registry.example.com/"
        );
    }

    #[test]
    fn comments_cannot_be_broken_out_of() {
        assert_eq!(comment("a\n[[fs.rw]]"), "a\\n[[fs.rw]]");
    }
}
