//! The human summary printed on stderr when the command ends: one line per distinct blocked
//! attempt (who, what, where), repeats counted, and what would allow it if it was legitimate;
//! what the end-of-run check found left behind. Silent when there is nothing to say.

use crate::events::{Action, Event, ProcessId, Reason, Verdict};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// How many targets of one package the summary on the terminal lists, of what was blocked
/// and of what was left behind; one line counts the rest.
pub const SHOWN_PER_PACKAGE: usize = 10;

/// Text from the sandbox (targets, names, command lines) made safe to show to people: a
/// script chooses the paths it opens and its own command line, and raw, they could erase
/// the summary's lines, print a forged all-clear, retitle the terminal or set the clipboard
/// (OSC 52), or reorder what is read (Unicode bidi overrides). Every C0 and C1 control
/// character, ESC and DEL included, becomes a visible `\xNN`, every bidi control a visible
/// `\u{NNNN}`; everything else is shown as is. The JSON log keeps the exact text.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        let n = u32::from(c);
        if c.is_control() {
            let _ = write!(out, "\\x{n:02x}");
        } else if needs_escape(c) {
            let _ = write!(out, "\\u{{{n:04x}}}");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// C0, DEL, C1, and the Unicode controls that change the display order of text.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The bidi marks, embeddings, overrides and isolates (Unicode TR 9), which make a
/// terminal or a web page show characters in another order than they are.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        u32::from(c),
        0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069
    )
}

/// What would allow an attempt, if anything does: either flags to add to the command line
/// (one line), or a policy snippet (a first line saying where it goes, then complete TOML
/// with its `reason`), each exactly what makes the next run pass when pasted as printed; or a
/// sentence starting with "nothing" when no flag or policy allows it. Targets and package
/// names come from the sandbox, so TOML values are quoted by the `toml` crate. Without
/// package grants ([`HintScope`]), a script's hint is a flag where one shows a place the
/// package manager does not write, else nothing.
pub fn remedy(event: &Event, scope: HintScope<'_>) -> Option<String> {
    let target = &event.target;
    let attributed = script_package(event);
    let package = attributed.filter(|_| scope.grants);
    match event.reason {
        // A script's egress goes through its own proxy port, which only its package's grant
        // opens; `--allow-host` is the package manager's allow-list and never applies to it.
        Reason::EgressNotAllowed | Reason::IpLiteral | Reason::ScriptOffline
            if !(event.reason == Reason::ScriptOffline && event.action == Action::Connect) =>
        {
            Some(match package {
                Some(name) => package_grant(name, "allow-hosts", target, "connects to"),
                None if event.reason == Reason::ScriptOffline => format!(
                    "nothing narrower: no grant can name the script's package (it is attributed to none, or the package manager binds no grants); --scripts-network registry lets every script reach the registries only, never {target}"
                ),
                None => format!("--allow-host {target}"),
            })
        }
        Reason::PrivateAddress => Some(
            "nothing automatic: the name resolves to a loopback or private address; name that address:port yourself (--allow-host ADDRESS:PORT, the event's detail gives it) if it is meant".into(),
        ),
        Reason::DnsQuery => Some(
            "nothing: DNS is never answered inside; HTTP(S) clients resolve names through the proxy in HTTPS_PROXY".into(),
        ),
        Reason::DirectConnect => Some(
            "nothing: direct connections never leave; HTTP(S) clients must use the proxy in HTTPS_PROXY".into(),
        ),
        Reason::HiddenFile => Some(
            "nothing: files matching a hide rule stay hidden (see `safe-install explain`); a file that is no secret needs a name no hide rule matches".into(),
        ),
        Reason::CredentialPath => Some(
            "nothing: credentials never enter the sandbox; registry credentials reach the package manager only (.npmrc, pip.conf, netrc, --secret-env)".into(),
        ),
        // A write outside the view needs the place writable; grants name directories.
        Reason::OutsideView if event.action == Action::Write => {
            let dir = write_grant_dir(target);
            Some(match package {
                Some(name) => package_grant(name, "allow-write", dir, "writes"),
                None => format!("--rw {dir}"),
            })
        }
        Reason::OutsideView => Some(match package {
            Some(name) => package_grant(name, "allow-read", target, "reads"),
            None => format!("--ro {target}"),
        }),
        Reason::ReadOnlyPath if target.contains("/.git/") || target.ends_with("/.git") => Some(
            "nothing: .git is read-only so that no hook or configuration can be planted".into(),
        ),
        Reason::ReadOnlyPath if is_shell_startup(target) => Some(
            "nothing: shell start-up files are where an install would persist".into(),
        ),
        // Another package's files, `.bin`, the tree's metadata: never a need of a script
        // (the project's own scripts already write the whole install tree).
        Reason::ReadOnlyPath
            if target.contains("/node_modules/") && !target.contains("/node_modules/.prisma") =>
        {
            Some("nothing: package code writes only its own folder of the install tree (another package's files, node_modules/.bin and .package-lock.json are npm's)".into())
        }
        // A place shown read-only to scripts (the project, a cache, the venv): without a
        // package grant, only a flag that opens it to every script, which is no hint.
        Reason::ReadOnlyPath => {
            let dir = write_grant_dir(target);
            let level1s = scope.kept.iter().any(|k| Path::new(dir).starts_with(k));
            Some(match (package, attributed) {
                (Some(name), _) => package_grant(name, "allow-write", dir, "writes"),
                (None, Some(_)) if level1s => format!(
                    "nothing narrower: this package manager binds no per-package grants, and --rw {dir} would let every script write there, where the package manager itself writes or reads"
                ),
                (None, _) => format!("--rw {dir}"),
            })
        }
        // A connect from level 2 to a local port other than its own proxy: no policy opens
        // the package manager's port (or another local server) to a script.
        Reason::ScriptOffline => Some(
            "nothing: scripts and build backends reach the network only through their own proxy (HTTPS_PROXY inside); for a host one needs: [[package]] allow-hosts".into(),
        ),
        _ => None,
    }
}

/// What a hint depends on besides the event.
#[derive(Debug, Clone, Copy)]
pub struct HintScope<'a> {
    /// Whether the package manager binds `[[package]]` grants (`PackageManager::binds_grants`).
    pub grants: bool,
    /// The host places the run shows read-write (the project, the caches, the target
    /// environment): where the package manager writes or reads, never a script's by a flag.
    pub kept: &'a [std::path::PathBuf],
}

impl HintScope<'_> {
    /// Grants bound, no place known: the hints of an npm run.
    pub const GRANTS: HintScope<'static> = HintScope {
        grants: true,
        kept: &[],
    };

    /// The host places `plan` shows read-write: its read-write binds, except a bind that
    /// only carries a store and the places it links into (`plan::StoreView`), which count
    /// instead.
    pub fn kept_places(plan: &crate::plan::Plan) -> Vec<std::path::PathBuf> {
        let carrier = plan.store.as_ref().and_then(|s| s.carrier.as_ref());
        let mut kept: Vec<std::path::PathBuf> = plan
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, crate::plan::MountKind::BindRw(_)))
            .filter(|m| Some(&m.target) != carrier)
            .map(|m| m.target.clone())
            .collect();
        if let Some(store) = plan.store.as_ref().filter(|s| s.carrier.is_some()) {
            kept.push(store.dir.clone());
            kept.extend(store.into.iter().cloned());
        }
        kept
    }
}

/// The first line of every policy-snippet remedy: where the TOML below it goes.
pub const POLICY_SNIPPET: &str =
    "add to .safe-install.toml in the project (or a file you pass with --policy):";

/// A complete `[[package]]` entry granting `value` under `key` to package `name`.
fn package_grant(name: &str, key: &str, value: &str, verb: &str) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        "{POLICY_SNIPPET}\n[[package]]\nname = {}\n{key} = [{}]\nreason = {}",
        quote(name),
        quote(value),
        quote(&format!(
            "{name} {verb} {value} during install (review: is this expected?)"
        ))
    )
}

/// The directory a write grant should name for a refused write of `target`: the target
/// itself when it looks like a directory (a `mkdir` of a cache or build directory, the first
/// missing one of a `mkdir -p`), else its parent: a file name (`out.bin`, a temp name such
/// as `.tmp-3f9a2c` or `x.json.1234`) changes between runs, and a grant creates the
/// directory it names, so it must never name a file.
pub fn write_grant_dir(target: &str) -> &str {
    let path = Path::new(target);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return target;
    };
    // A dot after the first character (an extension, a numbered temp suffix), or a run of
    // digits as temp names have; a leading dot alone is a directory (`.prisma`, `.cache`).
    let looks_like_file = name.get(1..).is_some_and(|rest| rest.contains('.'))
        || name.chars().filter(char::is_ascii_digit).count() >= 4;
    match path.parent().and_then(|p| p.to_str()) {
        Some(parent) if looks_like_file && parent != "/" && !parent.is_empty() => parent,
        _ => target,
    }
}

/// `~/.bashrc` and friends: a write there is persistence, never a need.
fn is_shell_startup(target: &str) -> bool {
    const FILES: [&str; 8] = [
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".config/fish/config.fish",
    ];
    FILES.iter().any(|f| target.ends_with(&format!("/{f}")))
}

/// The bare package name of a script's event (`None` for the package manager's own).
fn script_package(event: &Event) -> Option<&str> {
    event.script.as_ref()?;
    event.package.as_deref().map(crate::policy::package_name)
}

/// Blocked attempts that are "the same" for a reader: same package, action and target
/// (findings of the end-of-run check also the same reason: [`found_groups`]).
/// Pids differ between repeats of one attempt (npm retrying, a script run per package), so
/// they are collected, not part of the key. The human summary, the GitHub annotations and
/// the SARIF report all show these groups, in this order (package, action, target).
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// `name@version` of the acting package, `None` for the package manager itself.
    pub package: Option<&'a str>,
    pub action: Action,
    pub target: &'a str,
    /// How many times it happened, repeats included.
    pub count: u64,
    /// The first event of the group: its script, reason and detail stand for the group.
    pub first: &'a Event,
    /// Every distinct event of the group (one per pid).
    pub events: Vec<&'a Event>,
}

impl Group<'_> {
    /// Who acted, for people: the package, or `(package manager)`.
    pub fn who(&self) -> &str {
        self.package.unwrap_or("(package manager)")
    }

    /// The distinct processes that made the attempt, in order of appearance.
    pub fn pids(&self) -> Vec<&ProcessId> {
        let mut pids: Vec<&ProcessId> = Vec::new();
        for p in self.events.iter().filter_map(|e| e.pid.as_ref()) {
            if !pids.contains(&p) {
                pids.push(p);
            }
        }
        pids
    }
}

/// The blocked events of `events`, grouped (see [`Group`]), sorted by package, action, target.
pub fn blocked_groups(events: &[(Event, u64)]) -> Vec<Group<'_>> {
    groups_of(events, Verdict::Blocked)
}

/// What the end-of-run check found (verdict `found`: `planted`, `pth-installed`), grouped
/// like blocked attempts (one finding per path, in practice), sorted the same way.
pub fn found_groups(events: &[(Event, u64)]) -> Vec<Group<'_>> {
    groups_of(events, Verdict::Found)
}

/// Everything the reports for machines show, one entry per group: what the install left
/// behind first (it stays and runs later, while the blocked attempts were stopped; GitHub
/// shows only ten annotations of a kind), then the blocked attempts. The annotations and
/// SARIF use this.
pub fn reported_groups(events: &[(Event, u64)]) -> Vec<Group<'_>> {
    let mut groups = found_groups(events);
    groups.extend(blocked_groups(events));
    groups
}

/// The events of one verdict, grouped by package, action, target (and reason, so two
/// findings of one path stay two).
fn groups_of(events: &[(Event, u64)], verdict: Verdict) -> Vec<Group<'_>> {
    let mut groups: BTreeMap<(&str, &str, &str, &str), Group<'_>> = BTreeMap::new();
    for (e, n) in events.iter().filter(|(e, _)| e.verdict == verdict) {
        let package = e.package.as_deref();
        // Blocked attempts of one target are one group whatever rule refused each.
        let reason = if verdict == Verdict::Found {
            e.reason.code()
        } else {
            ""
        };
        let key = (
            package.unwrap_or("(package manager)"),
            action_name(e.action),
            e.target.as_str(),
            reason,
        );
        let g = groups.entry(key).or_insert_with(|| Group {
            package,
            action: e.action,
            target: &e.target,
            count: 0,
            first: e,
            events: Vec::new(),
        });
        g.count += n;
        g.events.push(e);
    }
    groups.into_values().collect()
}

/// What was left out of a list of groups for people: per package (in order), how many
/// groups and how many attempts.
pub type LeftOut<'g> = Vec<(&'g str, usize, u64)>;

/// The groups a report for people lists: the first `per_package` of each package (a wiper
/// makes thousands of attempts; the first few tell the story, the event log has every one),
/// and what that leaves out.
pub fn listed_groups<'g, 'e>(
    groups: &'g [Group<'e>],
    per_package: usize,
) -> (Vec<&'g Group<'e>>, LeftOut<'g>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed = Vec::new();
    let mut more: LeftOut<'g> = Vec::new();
    for g in groups {
        let n = seen.entry(g.who()).or_default();
        *n += 1;
        if *n <= per_package {
            listed.push(g);
            continue;
        }
        match more.iter_mut().find(|(who, _, _)| *who == g.who()) {
            Some(m) => {
                m.1 += 1;
                m.2 += g.count;
            }
            None => more.push((g.who(), 1, g.count)),
        }
    }
    (listed, more)
}

/// Render the summary; `None` when nothing was blocked. `scope`: see [`remedy`].
pub fn render(
    events: &[(Event, u64)],
    log_path: Option<&Path>,
    colour: bool,
    scope: HintScope<'_>,
) -> Option<String> {
    let blocked: Vec<&(Event, u64)> = events
        .iter()
        .filter(|(e, _)| e.verdict == Verdict::Blocked)
        .collect();
    let degraded: Vec<&Event> = events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.verdict == Verdict::Degraded)
        .collect();
    let found: Vec<&Event> = events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.verdict == Verdict::Found)
        .collect();
    if blocked.is_empty() && degraded.is_empty() && found.is_empty() {
        return None;
    }
    let (bold, red, yellow, reset) = if colour {
        ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let groups = blocked_groups(events);
    let mut o = String::new();
    for e in &degraded {
        let _ = writeln!(
            o,
            "{yellow}safe-install: weaker than usual:{reset} {} ({})",
            neutralise(e.detail.as_deref().unwrap_or(e.target.as_str())),
            e.reason
        );
    }
    if !found.is_empty() {
        let _ = writeln!(
            o,
            "{bold}{yellow}safe-install: the install left {} thing{} that run{} later:{reset}",
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            if found.len() == 1 { "s" } else { "" }
        );
        // Paths, names and details come from what package code wrote: escaped as the
        // blocked lines are (see `neutralise`).
        let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
        let mut more: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &found {
            let package = e.package.as_deref().unwrap_or("(package manager)");
            let seen = shown.entry(package).or_default();
            *seen += 1;
            if *seen > SHOWN_PER_PACKAGE {
                *more.entry(package).or_default() += 1;
                continue;
            }
            let who = neutralise(package);
            let script = e
                .script
                .as_deref()
                .map(|s| format!(" ({})", neutralise(s)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {who}{script}: {}  [{}]",
                neutralise(&e.target),
                e.reason
            );
            if let Some(d) = &e.detail {
                let _ = writeln!(o, "      {}", neutralise(d));
            }
        }
        for (who, n) in &more {
            let _ = writeln!(o, "  {}: {n} more (see the event log)", neutralise(who));
        }
    }
    if !groups.is_empty() {
        let total: u64 = groups.iter().map(|g| g.count).sum();
        let _ = writeln!(
            o,
            "{bold}{red}safe-install: blocked {total} attempt{}{reset}",
            if total == 1 { "" } else { "s" }
        );
        let (listed, more) = listed_groups(&groups, SHOWN_PER_PACKAGE);
        for g in listed {
            let (who, action, target, n, e) = (
                neutralise(g.who()),
                action_name(g.action),
                neutralise(g.target),
                &g.count,
                g.first,
            );
            let script = e
                .script
                .as_deref()
                .map(|s| format!(" ({})", neutralise(s)))
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
            if let Some(fix) = remedy(e, scope) {
                // Escaped for people (see `neutralise`); a policy snippet's TOML indented
                // under the line saying where it goes.
                let mut lines = fix.lines();
                let first = lines.next().unwrap_or_default();
                let _ = writeln!(o, "      to allow: {}", neutralise(first));
                for l in lines {
                    let _ = writeln!(o, "        {}", neutralise(l));
                }
            }
        }
        for (who, targets, attempts) in &more {
            let _ = writeln!(
                o,
                "  {}: {attempts} more attempt{} on {targets} more target{} (see the event log)",
                neutralise(who),
                if *attempts == 1 { "" } else { "s" },
                if *targets == 1 { "" } else { "s" },
            );
        }
    }
    match log_path {
        Some(p) => {
            let _ = writeln!(o, "  event log: {}", neutralise(&p.display().to_string()));
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
    use std::path::PathBuf;

    #[test]
    fn control_sequences_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(neutralise("/p/plain.txt"), "/p/plain.txt");
        assert_eq!(neutralise("naïve 日本"), "naïve 日本");
        assert_eq!(
            neutralise("a\x1b[2K\x1b]52;c;eA==\x07b"),
            "a\\x1b[2K\\x1b]52;c;eA==\\x07b"
        );
        assert_eq!(
            neutralise("\r\n\t\0\x7f\u{9b}"),
            "\\x0d\\x0a\\x09\\x00\\x7f\\x9b"
        );
        assert_eq!(neutralise("x\u{202e}txt.exe"), "x\\u{202e}txt.exe");
        assert_eq!(neutralise("\u{2066}\u{200f}"), "\\u{2066}\\u{200f}");
    }

    #[test]
    fn hostile_targets_reach_the_terminal_escaped() {
        let mut e = Event::new(
            Action::Read,
            Verdict::Blocked,
            "/h/.ssh/\x1b[1A\x1b[2Kall clear\x1b]52;c;eA==\x07\u{202e}",
            Reason::CredentialPath,
        );
        e.package = Some("evil\x1b[8m@1.0.0".into());
        e.script = Some("post\x1binstall".into());
        let text = render(&[(e, 1)], None, false, HintScope::GRANTS).expect("summary");
        assert!(
            !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(
            text.contains("\\x1b[1A\\x1b[2Kall clear\\x1b]52;c;eA==\\x07\\u{202e}"),
            "{text}"
        );
        assert!(
            text.contains("evil\\x1b[8m@1.0.0 (post\\x1binstall)"),
            "{text}"
        );
    }

    #[test]
    fn what_was_left_behind_reaches_the_terminal_escaped() {
        let mut e = Event::new(
            Action::Write,
            Verdict::Found,
            "/p/.vscode/\x1b[2K\x1b[1Aall clear\x1b]52;c;eA==\x07\u{202e}",
            Reason::Planted,
        )
        .with_detail("points to ../x/\x1b[8mevil.js");
        e.package = Some("evil\x1b[8m@1.0.0".into());
        e.script = Some("post\x1binstall".into());
        let text = render(&[(e, 1)], None, false, HintScope::GRANTS).expect("summary");
        assert!(
            !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(
            text.contains(
                "evil\\x1b[8m@1.0.0 (post\\x1binstall): /p/.vscode/\\x1b[2K\\x1b[1Aall clear\\x1b]52;c;eA==\\x07\\u{202e}  [planted]"
            ),
            "{text}"
        );
        assert!(text.contains("../x/\\x1b[8mevil.js"), "{text}");
    }

    #[test]
    fn quiet_when_nothing_was_blocked() {
        let ok = Event::new(
            Action::Sandbox,
            Verdict::Allowed,
            "landlock",
            Reason::SandboxFull,
        );
        assert!(render(&[(ok, 1)], None, false, HintScope::GRANTS).is_none());
    }

    /// The TOML part of a policy-snippet remedy, as a user would paste it.
    fn snippet(fix: &str) -> &str {
        fix.strip_prefix(POLICY_SNIPPET)
            .map(|t| t.trim_start_matches('\n'))
            .unwrap_or_else(|| panic!("not a policy snippet: {fix}"))
    }

    /// Pasting a snippet into a policy file validates (the `reason` is there).
    fn validates(fix: &str) -> crate::policy::Policy {
        let mut p = crate::policy::Policy::default();
        p.add_layer(".safe-install.toml", snippet(fix))
            .unwrap_or_else(|e| panic!("the hint does not validate: {e}\n{fix}"));
        p
    }

    #[test]
    fn without_package_grants_a_scripts_hint_is_a_flag_only_where_it_shows_a_new_place() {
        let kept = [PathBuf::from("/home/u/.cache/pip"), PathBuf::from("/p")];
        let scope = HintScope {
            grants: false,
            kept: &kept,
        };
        let mut e = Event::new(
            Action::Write,
            Verdict::Blocked,
            "/home/u/.cache/pip/wheels/x.whl",
            Reason::ReadOnlyPath,
        );
        e.package = Some("tool@1.0.0".into());
        e.script = Some("build_wheel".into());
        // Where the package manager writes: a flag would open it to every script.
        let fix = remedy(&e, scope).expect("a remedy");
        assert!(fix.starts_with("nothing narrower"), "{fix}");
        e.target = "/p/dist/x".into();
        assert!(remedy(&e, scope)
            .expect("a remedy")
            .starts_with("nothing narrower"));
        // A place of its own (the private home's, not shown on the host): `--rw` shows it.
        e.target = "/home/u/.cache/tool/x.bin".into();
        assert_eq!(
            remedy(&e, scope).as_deref(),
            Some("--rw /home/u/.cache/tool")
        );
        e.reason = Reason::OutsideView;
        assert_eq!(
            remedy(&e, scope).as_deref(),
            Some("--rw /home/u/.cache/tool")
        );
        e.action = Action::Read;
        e.target = "/srv/data/x".into();
        assert_eq!(remedy(&e, scope).as_deref(), Some("--ro /srv/data/x"));
        e.action = Action::Proxy;
        e.reason = Reason::ScriptOffline;
        e.target = "downloads.example.com:443".into();
        let fix = remedy(&e, scope).expect("a remedy");
        assert!(fix.starts_with("nothing narrower"), "{fix}");
    }

    #[test]
    fn scripts_are_granted_per_package_with_a_complete_entry() {
        let mut e = Event::new(
            Action::Proxy,
            Verdict::Blocked,
            "registry.example.com:443",
            Reason::ScriptOffline,
        );
        e.package = Some("@scope/pkg@1.2.0".into());
        e.script = Some("postinstall".into());
        let fix = remedy(&e, HintScope::GRANTS).expect("a remedy");
        let p = validates(&fix);
        let g = p.scripts.grant("@scope/pkg").expect("the grant");
        assert_eq!(g.value.allow_hosts, vec!["registry.example.com:443"]);
        // With network but a host no rule names: still the package's grant, never
        // --allow-host (which the script's proxy port does not read).
        for reason in [Reason::EgressNotAllowed, Reason::IpLiteral] {
            e.reason = reason;
            let fix = remedy(&e, HintScope::GRANTS).expect("a remedy");
            assert!(!fix.contains("--allow-host"), "{fix}");
            validates(&fix);
        }
        // The package manager's own egress is a flag.
        e.package = None;
        e.script = None;
        e.reason = Reason::EgressNotAllowed;
        assert_eq!(
            remedy(&e, HintScope::GRANTS).as_deref(),
            Some("--allow-host registry.example.com:443")
        );
        // A script's write or read is granted to its package; credentials and .git never.
        e.package = Some("@scope/pkg@1.2.0".into());
        e.script = Some("postinstall".into());
        e.action = Action::Write;
        e.reason = Reason::ReadOnlyPath;
        e.target = "/home/u/.cache/pkg".into();
        let fix = remedy(&e, HintScope::GRANTS).expect("a remedy");
        let p = validates(&fix);
        let g = p.scripts.grant("@scope/pkg").expect("the grant");
        assert_eq!(g.value.allow_write.len(), 1, "{fix}");
        e.target = "/p/.git/hooks/pre-commit".into();
        assert!(remedy(&e, HintScope::GRANTS)
            .expect("a remedy")
            .starts_with("nothing"));
        e.target = "/home/u/.bashrc".into();
        assert!(remedy(&e, HintScope::GRANTS)
            .expect("a remedy")
            .starts_with("nothing"));
        e.reason = Reason::CredentialPath;
        e.target = "/home/u/.ssh/id_rsa".into();
        assert!(remedy(&e, HintScope::GRANTS)
            .expect("a remedy")
            .starts_with("nothing"));
        // Hidden files: no narrowing exists, so none is suggested.
        e.reason = Reason::HiddenFile;
        e.target = "/p/.env".into();
        let fix = remedy(&e, HintScope::GRANTS).expect("a remedy");
        assert!(
            fix.starts_with("nothing") && !fix.contains("[[fs.hide]]"),
            "{fix}"
        );
        // DNS is never answered, whatever --allow-host says.
        e.reason = Reason::DnsQuery;
        assert!(remedy(&e, HintScope::GRANTS)
            .expect("a remedy")
            .starts_with("nothing"));
    }

    #[test]
    fn names_from_the_sandbox_cannot_break_out_of_the_snippet() {
        let mut e = Event::new(
            Action::Read,
            Verdict::Blocked,
            "/opt/x\"]\n[[fs.rw]]\npath = \"/",
            Reason::OutsideView,
        );
        e.package = Some("evil@1.0.0".into());
        e.script = Some("postinstall".into());
        let p = validates(&remedy(&e, HintScope::GRANTS).expect("a remedy"));
        assert!(p.fs.rw.is_empty());
    }

    #[test]
    fn writes_are_granted_a_directory_never_a_file_name() {
        assert_eq!(write_grant_dir("/home/u/.cache/swc"), "/home/u/.cache/swc");
        assert_eq!(
            write_grant_dir("/p/node_modules/.prisma"),
            "/p/node_modules/.prisma"
        );
        assert_eq!(write_grant_dir("/srv/out/core.wasm"), "/srv/out");
        assert_eq!(write_grant_dir("/srv/out/x.json.3121"), "/srv/out");
        assert_eq!(write_grant_dir("/srv/out/tmp-48213-aa"), "/srv/out");
        let mut e = Event::new(
            Action::Write,
            Verdict::Blocked,
            "/srv/out/.npm-4821.tmp",
            Reason::ReadOnlyPath,
        );
        assert_eq!(
            remedy(&e, HintScope::GRANTS).as_deref(),
            Some("--rw /srv/out")
        );
        e.target = "/srv/data".into();
        assert_eq!(
            remedy(&e, HintScope::GRANTS).as_deref(),
            Some("--rw /srv/data")
        );
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
            HintScope::GRANTS,
        )
        .expect("summary");
        assert!(text.contains("blocked 3 attempts"), "{text}");
        assert!(
            text.contains("evil@1.0.0 (postinstall): proxy exfil.example.com:443 ×3"),
            "{text}"
        );
        assert!(
            text.contains("      to allow: add to .safe-install.toml")
                && text.contains("\n        [[package]]\n        name = \"evil\"\n        allow-hosts = [\"exfil.example.com:443\"]\n        reason = "),
            "{text}"
        );
        assert!(text.contains("/tmp/log.jsonl"), "{text}");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn a_wiper_is_summed_up_not_listed() {
        let mut events = Vec::new();
        for i in 0..500 {
            let mut e = Event::new(
                Action::Write,
                Verdict::Blocked,
                format!("/p/file-{i:03}"),
                Reason::ReadOnlyPath,
            );
            e.package = Some("wiper@1.0.0".into());
            e.script = Some("postinstall".into());
            events.push((e, 2));
        }
        let mut other = Event::new(
            Action::Proxy,
            Verdict::Blocked,
            "x.example:443",
            Reason::EgressNotAllowed,
        );
        other.package = Some("other@1.0.0".into());
        events.push((other, 1));
        let text = render(&events, None, false, HintScope::GRANTS).expect("summary");
        assert!(text.contains("blocked 1001 attempts"), "{text}");
        let listed = text
            .lines()
            .filter(|l| l.contains("wiper@1.0.0 (postinstall): write"))
            .count();
        assert_eq!(listed, SHOWN_PER_PACKAGE, "{text}");
        assert!(
            text.contains(&format!(
                "  wiper@1.0.0: {} more attempts on {} more targets (see the event log)",
                2 * (500 - SHOWN_PER_PACKAGE),
                500 - SHOWN_PER_PACKAGE
            )),
            "{text}"
        );
        assert!(text.contains("other@1.0.0: proxy x.example:443"), "{text}");
        assert!(text.lines().count() < 80, "{text}");
    }
}
