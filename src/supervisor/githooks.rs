//! The root project's own scripts and git's configuration (issue 15 item 4).
//!
//! `.git` is read-only inside, so `husky` (the root `prepare`) could not run
//! `git config core.hooksPath .husky/_` and hooks were silently not installed. The root
//! project's own scripts (npm starts them in the project root) instead find `GIT_CONFIG`
//! pointing at a scratch copy of the (sanitised) `.git/config` in a directory of their own
//! (`/.safe-install/git`, bound from a private host temp directory); `git config` writes
//! there. No dependency's script may write it (its Landlock layer does not grant it).
//!
//! After the run the supervisor compares the copy with what it wrote, as data (never running
//! anything): exactly one change is carried over to the real `.git/config`, `core.hooksPath`
//! set to a normalised relative path of an existing directory inside the project, outside
//! `.git` and `node_modules`, reached without a symbolic link. Anything else (another key,
//! such as `core.fsmonitor`, `alias.*`, `include.path`; a hooks path elsewhere; a line it
//! cannot read) refuses the whole change: one warning line with the fix per key on stderr and
//! a `git-config-refused` event each; the real file stays byte for byte as it was. An applied
//! change is a line on stderr and a `git-config-applied` finding.

use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::plan::Plan;
use crate::plan::{Mount, MountKind};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The scratch directory inside the sandbox.
pub const INSIDE: &str = "/.safe-install/git";
/// The scratch configuration inside (`GIT_CONFIG` of the root project's scripts).
pub const INSIDE_CONFIG: &str = "/.safe-install/git/config";
/// Larger than any real `.git/config`; a larger copy is not read.
const MAX_CONFIG: u64 = 1 << 20;

/// Whether the project's own `package.json` (read as data) has a lifecycle script npm runs
/// during an install.
fn root_runs_install_scripts(project: &std::path::Path) -> bool {
    const INSTALL_TIME: &[&str] = &[
        "preinstall",
        "install",
        "postinstall",
        "preprepare",
        "prepare",
        "postprepare",
        "prepublish",
    ];
    std::fs::read_to_string(project.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("scripts").and_then(|s| s.as_object()).cloned())
        .is_some_and(|scripts| INSTALL_TIME.iter().any(|k| scripts.contains_key(*k)))
}

/// The scratch copy for one run; removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
    base: String,
    project: PathBuf,
    /// The root project as `name@version` (its lockfile entry, else its `package.json`, read
    /// as data): whose scripts the change is.
    who: Option<String>,
}

/// Give the root project's scripts a writable copy of `.git/config` (full mode, npm with the
/// script shell, a project whose `.git` is a directory holding a regular `config`).
pub fn attach(plan: &mut Plan) -> Option<Scratch> {
    // Only when the root project has a script npm runs at install time: the scratch copy lives
    // in the host's temp until the run ends, and a run killed with SIGKILL cannot remove it.
    if !root_runs_install_scripts(&plan.project) {
        return None;
    }
    let script = plan.script.as_mut()?;
    let git = plan.project.join(".git");
    let is_dir = std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir());
    let config = git.join("config");
    if !is_dir || !std::fs::symlink_metadata(&config).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let text = std::fs::read_to_string(&config).ok()?;
    let base = crate::plan::gitconfig::sanitize(&text).unwrap_or(text);
    let dir = tempfile::Builder::new()
        .prefix(".safe-install-git-")
        .tempdir()
        .ok()?;
    std::fs::write(dir.path().join("config"), &base).ok()?;
    plan.mounts.push(Mount {
        target: INSIDE.into(),
        kind: MountKind::BindRw(dir.path().to_path_buf()),
        why: "git configuration the root project's own scripts may change (core.hooksPath is carried over after the run)".into(),
    });
    plan.landlock.write.push(INSIDE.into());
    script.git_config = Some(INSIDE_CONFIG.into());
    // husky writes `.husky/_` (gitignored) beside the user's committed `.husky/*` hooks.
    let husky = plan.project.join(".husky");
    let underscore = std::fs::symlink_metadata(husky.join("_"));
    if std::fs::symlink_metadata(&husky).is_ok_and(|m| m.is_dir())
        && underscore.as_ref().map_or(true, |m| m.is_dir())
    {
        script.hooks_dirs.push(husky.join("_"));
    }
    // The shim reads its plan from a file of the view: show it the new one.
    let config = crate::plan::trust::config_mount(script);
    for m in plan.mounts.iter_mut().filter(|m| m.target == config.target) {
        m.kind = config.kind.clone();
    }
    let who = plan
        .lockfile
        .iter()
        .find(|(d, _)| d == &plan.project)
        .map(|(_, w)| w.clone())
        .or_else(|| root_package(&plan.project));
    Some(Scratch {
        dir,
        base,
        project: plan.project.clone(),
        who,
    })
}

/// `name@version` from the project's `package.json`, read as data.
fn root_package(project: &Path) -> Option<String> {
    let text = read_regular(&project.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(format!(
        "{}@{}",
        printable(v["name"].as_str()?),
        printable(v["version"].as_str().unwrap_or("0.0.0"))
    ))
}

/// One key the scripts added, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `section[.subsection].key` as written.
    pub key: String,
    /// The value as written (`None`: removed, or unreadable).
    pub value: Option<String>,
    pub removed: bool,
}

/// What the run asked for, decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Unchanged,
    Apply(String),
    Refuse(Vec<(Change, String)>),
}

/// Compare the scratch copy with what it started as: lines added and removed (as multisets),
/// each judged within the section it lies in.
pub fn decide(base: &str, new: &str, project: &Path) -> Decision {
    let added = changed_lines(new, base);
    let removed = changed_lines(base, new);
    let mut changes: Vec<Change> = added
        .into_iter()
        .map(|(section, line)| change(&section, &line, false))
        .chain(
            removed
                .into_iter()
                .map(|(section, line)| change(&section, &line, true)),
        )
        .collect();
    changes.retain(|c| !c.key.is_empty());
    if changes.is_empty() {
        return Decision::Unchanged;
    }
    let is_hooks = |c: &Change| c.key.eq_ignore_ascii_case("core.hookspath");
    let set: Vec<&Change> = changes.iter().filter(|c| !c.removed).collect();
    let only_hooks = changes.iter().all(is_hooks) && set.len() == 1;
    if only_hooks {
        if let Some(v) = set[0].value.as_deref() {
            match hooks_path(v, project) {
                Ok(v) => return Decision::Apply(v),
                Err(why) => return Decision::Refuse(vec![(set[0].clone(), why)]),
            }
        }
    }
    let why_other =
        "only core.hooksPath, set alone to a directory inside the project, is carried over";
    Decision::Refuse(
        changes
            .into_iter()
            .map(|c| {
                let why = if is_hooks(&c) && !c.removed {
                    match c.value.as_deref().map(|v| hooks_path(v, project)) {
                        Some(Ok(_)) => {
                            "set together with other keys: nothing is carried over".into()
                        }
                        Some(Err(why)) => why,
                        None => why_other.into(),
                    }
                } else {
                    why_other.into()
                };
                (c, why)
            })
            .collect(),
    )
}

/// Lines of `a` that `b` does not have (counted), with the section header in force.
fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
    let mut left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in b.lines() {
        *left.entry(l).or_default() += 1;
    }
    let mut section = String::new();
    let mut out = Vec::new();
    for l in a.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            section = t.to_string();
        }
        match left.get_mut(l) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push((section.clone(), l.to_string())),
        }
    }
    out
}

/// A changed line as a key. Headers, blank lines and comments alone change nothing; a line
/// this reader does not understand is a change of an unreadable key (refused).
fn change(section: &str, line: &str, removed: bool) -> Change {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return Change {
            key: String::new(),
            value: None,
            removed,
        };
    }
    if t.starts_with('[') {
        // A header alone: `[core]` added with its key, or left empty after an unset. A header
        // followed by a key on the same line is not understood.
        let ok = t.ends_with(']') && t.matches(']').count() == 1;
        return Change {
            key: if ok { String::new() } else { printable(t) },
            value: None,
            removed,
        };
    }
    let (name, value) = match t.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (t, None),
    };
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let Some(section) = section_key(section).filter(|_| name_ok) else {
        return Change {
            key: printable(t),
            value: None,
            removed,
        };
    };
    Change {
        key: format!("{section}.{name}"),
        value: value.map(str::to_string),
        removed,
    }
}

/// `[core]` → `core`; `[remote "origin"]` → `remote.origin`; anything else: `None`.
fn section_key(header: &str) -> Option<String> {
    let inner = header.strip_prefix('[')?.strip_suffix(']')?.trim();
    let (name, sub) = match inner.split_once(char::is_whitespace) {
        Some((n, s)) => (n, Some(s.trim().trim_matches('"'))),
        None => (inner, None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return None;
    }
    Some(match sub {
        Some(s) => format!("{}.{}", name.to_ascii_lowercase(), printable(s)),
        None => name.to_ascii_lowercase(),
    })
}

/// A hooks path the supervisor may write: relative, plain characters, normalised, inside the
/// project, outside `.git` and `node_modules`, an existing directory reached without a
/// symbolic link. Returns the normalised path.
pub fn hooks_path(value: &str, project: &Path) -> Result<String, String> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !plain {
        return Err("not a plain relative path (letters, digits, . _ - /)".into());
    }
    if value.starts_with('/') {
        return Err("an absolute path: hooks must live inside the project".into());
    }
    let mut parts = Vec::new();
    for c in Path::new(value).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().to_string()),
            Component::CurDir => {}
            _ => return Err("leaves the project (`..`)".into()),
        }
    }
    if parts.is_empty() {
        return Err("the project root itself".into());
    }
    if parts.iter().any(|p| p == ".git" || p == "node_modules") {
        return Err("inside .git or node_modules".into());
    }
    let mut at = project.to_path_buf();
    for p in &parts {
        at.push(p);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", at.display())),
            Err(_) => return Err(format!("{} does not exist", at.display())),
        }
    }
    Ok(parts.join("/"))
}

/// `text` with `core.hooksPath` set to `value` (replacing every existing one in `[core]`).
pub fn with_hooks_path(text: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut in_core = false;
    let mut done = false;
    let mut saw_core = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            in_core = section_key(t).as_deref() == Some("core");
            out.push_str(line);
            if in_core && !saw_core {
                saw_core = true;
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("\thooksPath = {value}\n"));
                done = true;
            }
            continue;
        }
        let key = t.split(['=', ' ', '\t']).next().unwrap_or_default();
        if in_core && key.eq_ignore_ascii_case("hookspath") {
            continue;
        }
        out.push_str(line);
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("[core]\n\thooksPath = {value}\n"));
    }
    out
}

/// After the run: carry over the one change the root project's scripts may make, or refuse
/// and say so. Never silent.
pub fn finish(scratch: Scratch, sink: &EventSink) {
    let who = scratch.who.as_deref();
    let real = scratch.project.join(".git/config");
    let target = |key: &str| format!("{} [{key}]", real.display());
    let new = match read_regular(&scratch.dir.path().join("config")) {
        Ok(t) => t,
        Err(e) => {
            warn_refused(
                sink,
                who,
                &target("(the scratch copy)"),
                &format!("the scratch copy of .git/config was replaced or is unreadable ({e})"),
            );
            return;
        }
    };
    match decide(&scratch.base, &new, &scratch.project) {
        Decision::Unchanged => {}
        Decision::Apply(value) => match apply(&real, &value) {
            Ok(()) => {
                eprintln!(
                    "safe-install: set core.hooksPath = {value} in .git/config, as the project's own scripts asked (git runs the hooks in {value} at your next commit)."
                );
                let mut ev = Event::new(
                    Action::Write,
                    Verdict::Found,
                    target("core.hooksPath"),
                    Reason::GitConfigApplied,
                )
                .with_detail(format!("core.hooksPath = {value}"));
                ev.package = who.map(str::to_string);
                sink.emit(ev);
            }
            Err(e) => warn_refused(
                sink,
                who,
                &target("core.hooksPath"),
                &format!("core.hooksPath = {value} could not be written ({e}); not applied. Fix: git config core.hooksPath {value}"),
            ),
        },
        Decision::Refuse(list) => {
            for (c, why) in list {
                let what = match (&c.value, c.removed) {
                    (_, true) => format!("removed {}", c.key),
                    (Some(v), false) => format!("set {} = {}", c.key, printable(v)),
                    (None, false) => format!("set {}", c.key),
                };
                let valid = c
                    .value
                    .as_deref()
                    .filter(|_| !c.removed && c.key.eq_ignore_ascii_case("core.hookspath"))
                    .and_then(|v| hooks_path(v, &scratch.project).ok());
                let fix = if let Some(v) = valid {
                    // Validated: plain characters, safe to paste.
                    format!("Fix: remove the other changes from the project's scripts, or set it yourself: git config core.hooksPath {v}")
                } else if c.key.eq_ignore_ascii_case("core.hookspath") {
                    "Fix: point it at a directory inside the project that exists after the install (husky: `git config core.hooksPath .husky/_`), or run the command yourself if you mean it".to_string()
                } else {
                    "Fix: remove it from the project's scripts; if you do want it, set it yourself with `git config`".to_string()
                };
                warn_refused(
                    sink,
                    who,
                    &target(&c.key),
                    &format!("the project's own scripts {what} in git's configuration; not applied: {why}. {fix}"),
                );
            }
        }
    }
}

fn warn_refused(sink: &EventSink, who: Option<&str>, target: &str, text: &str) {
    eprintln!("safe-install: warning: {text}");
    let mut ev = Event::new(
        Action::Write,
        Verdict::Blocked,
        target,
        Reason::GitConfigRefused,
    )
    .with_detail(text.to_string());
    ev.package = who.map(str::to_string);
    sink.emit(ev);
}

/// A regular file (no symbolic link followed), at most [`MAX_CONFIG`] bytes, as UTF-8.
fn read_regular(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() > MAX_CONFIG {
        return Err(std::io::Error::other(
            "not a regular file of reasonable size",
        ));
    }
    let mut s = String::new();
    f.take(MAX_CONFIG).read_to_string(&mut s)?;
    Ok(s)
}

/// Edit the real `.git/config` as git does: `config.lock` created exclusively, then renamed.
fn apply(real: &Path, value: &str) -> std::io::Result<()> {
    let text = read_regular(real)?;
    let mode = std::fs::symlink_metadata(real)?.permissions().mode() & 0o7777;
    let lock = real.with_file_name("config.lock");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&lock)?;
    let written = f
        .write_all(with_hooks_path(&text, value).as_bytes())
        .and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&lock, real)) {
        let _ = std::fs::remove_file(&lock);
        return Err(e);
    }
    Ok(())
}

/// Control characters escaped: a value comes from package code and goes to a terminal.
fn printable(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    s.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[core]\n\trepositoryformatversion = 0\n\tbare = false\n";

    fn project() -> tempfile::TempDir {
        let p = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(p.path().join(".husky/_")).expect("mkdir");
        std::fs::create_dir_all(p.path().join("node_modules/h")).expect("mkdir");
        p
    }

    #[test]
    fn husky_is_applied_and_nothing_else() {
        let p = project();
        let new = format!("{BASE}\thooksPath = .husky/_\n");
        assert_eq!(
            decide(BASE, &new, p.path()),
            Decision::Apply(".husky/_".into())
        );
        assert_eq!(decide(BASE, BASE, p.path()), Decision::Unchanged);
        let replaced = "[core]\n\thooksPath = old\n";
        assert_eq!(
            decide(replaced, "[core]\n\thooksPath = ./.husky//_\n", p.path()),
            Decision::Apply(".husky/_".into())
        );
    }

    #[test]
    fn other_keys_and_paths_are_refused() {
        let p = project();
        for new in [
            format!("{BASE}\thooksPath = /tmp/x\n"),
            format!("{BASE}\thooksPath = .git/hooks\n"),
            format!("{BASE}\thooksPath = node_modules/h\n"),
            format!("{BASE}\thooksPath = .husky/../../x\n"),
            format!("{BASE}\thooksPath = missing\n"),
            format!("{BASE}\thooksPath = \".husky/_\"\n"),
            format!("{BASE}\tfsmonitor = ./evil.sh\n"),
            format!("{BASE}[alias]\n\tst = !sh evil.sh\n"),
            format!("{BASE}[include]\n\tpath = /tmp/evil\n"),
            format!("{BASE}\thooksPath = .husky/_\n\tfsmonitor = x\n"),
            format!("{BASE}\thooksPath = .husky/_ \\\n"),
            format!("{BASE}[core] fsmonitor = x\n"),
            "[core]\n\trepositoryformatversion = 0\n".to_string(),
        ] {
            assert!(
                matches!(decide(BASE, &new, p.path()), Decision::Refuse(ref l) if !l.is_empty()),
                "{new}"
            );
        }
        let Decision::Refuse(l) = decide(BASE, &format!("{BASE}[alias]\n\tst = x\n"), p.path())
        else {
            panic!("refused")
        };
        assert_eq!(l[0].0.key, "alias.st");
    }

    #[test]
    fn the_edit_keeps_every_other_line() {
        let text = "[core]\n\tbare = false\n\thooksPath = old\n[remote \"origin\"]\n\turl = x\n";
        assert_eq!(
            with_hooks_path(text, ".husky/_"),
            "[core]\n\thooksPath = .husky/_\n\tbare = false\n[remote \"origin\"]\n\turl = x\n"
        );
        assert_eq!(
            with_hooks_path("[user]\n\tname = a", "h"),
            "[user]\n\tname = a\n[core]\n\thooksPath = h\n"
        );
    }
}
