//! Reports for machines, written once the command has finished: GitHub workflow
//! annotations and the step summary (when run in GitHub Actions), and `--report FORMAT FILE`
//! files (SARIF). All of them show the same groups as the human summary: blocked attempts
//! and what the end-of-run check found left behind ([`summary::reported_groups`]), and tie
//! each group to the project file that brought the package in (the lockfile or
//! requirements file), when there is one.

use super::summary::{self, Group};
use super::{github, sarif};
use crate::events::Event;
use crate::plan::Plan;
use crate::pm::{PackageManager, ProjectFiles};
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Errors in `--report` arguments or while writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--report {given}: unknown format; valid formats: {valid} (for example: --report sarif safe-install.sarif)", valid = Format::names().join(", "))]
    UnknownFormat { given: String },
    #[error("--report {format} {path}: the directory {dir} does not exist; create it first or write the report elsewhere", dir = .dir.display(), path = .path.display())]
    NoDirectory {
        format: &'static str,
        path: PathBuf,
        dir: PathBuf,
    },
    #[error("cannot write the {format} report {path}; check that its directory is writable", path = .path.display())]
    Write {
        format: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the {format} report")]
    Encode {
        format: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot append to the step summary {path} (GITHUB_STEP_SUMMARY)", path = .path.display())]
    StepSummary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A report file format for `--report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
}

impl Format {
    const ALL: &'static [Format] = &[Format::Sarif];

    pub fn name(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
        }
    }

    fn names() -> Vec<&'static str> {
        Format::ALL.iter().map(|f| f.name()).collect()
    }
}

/// One `--report FORMAT FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub format: Format,
    pub path: PathBuf,
}

/// Validate the `--report` values (pairs of FORMAT FILE, as clap collected them) before
/// anything runs, so a typo costs nothing.
pub fn parse_requests(raw: &[OsString]) -> Result<Vec<Request>, ReportError> {
    raw.chunks(2)
        .map(|pair| {
            let given = pair[0].to_string_lossy();
            let format = Format::ALL
                .iter()
                .copied()
                .find(|f| f.name().eq_ignore_ascii_case(&given))
                .ok_or_else(|| ReportError::UnknownFormat {
                    given: given.into_owned(),
                })?;
            let path = PathBuf::from(pair.get(1).cloned().unwrap_or_default());
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                return Err(ReportError::NoDirectory {
                    format: format.name(),
                    path,
                    dir,
                });
            }
            Ok(Request { format, path })
        })
        .collect()
}

/// What the CI runner says about itself, read from the environment once.
#[derive(Debug, Clone, Default)]
pub struct CiEnv {
    /// `GITHUB_ACTIONS=true`: print workflow annotations.
    pub github_actions: bool,
    /// `GITHUB_STEP_SUMMARY`: the Markdown file to append to.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: the repository root that annotation and SARIF paths are relative to.
    pub workspace: Option<PathBuf>,
}

impl CiEnv {
    pub fn from_process() -> CiEnv {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        CiEnv {
            github_actions: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            workspace: path("GITHUB_WORKSPACE")
                .filter(|p| p.is_absolute())
                .map(|p| std::fs::canonicalize(&p).unwrap_or(p)),
        }
    }
}

/// A project file a group is tied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file, absolute.
    pub path: PathBuf,
    /// The same, relative to [`Locator::base`], `/`-separated.
    pub relative: String,
    /// The 1-based line naming the package, when one does.
    pub line: Option<u32>,
}

/// Ties groups to the project files that pulled the acting package in.
#[derive(Debug, Clone)]
pub struct Locator {
    base: PathBuf,
    /// What pins the packages: npm's lockfile, pip's requirements file.
    lock: Option<PathBuf>,
    /// What declares the project: package.json, pyproject.toml, ...
    manifest: Option<PathBuf>,
    /// Whether the package manager binds `[[package]]` grants (`summary::HintScope`).
    grants: bool,
    /// The host places the run shows read-write (`summary::HintScope`).
    kept: Vec<PathBuf>,
}

/// Files larger than this are not searched for a package's line (a lockfile is far smaller).
const MAX_SEARCHED_BYTES: u64 = 32 << 20;

impl Locator {
    /// A locator that ties nothing to any file.
    #[cfg(test)]
    pub fn none() -> Locator {
        Locator {
            base: PathBuf::from("/"),
            lock: None,
            manifest: None,
            grants: true,
            kept: Vec::new(),
        }
    }

    /// The files of `plan`'s project; paths relative to `workspace` when the project lies
    /// inside it (GitHub resolves annotation paths from the repository root), else to the
    /// project.
    pub fn for_plan(plan: &Plan, workspace: Option<&Path>) -> Locator {
        let mut l = Locator::new(
            &plan.project,
            &plan.cwd,
            &plan.argv,
            plan.manager,
            workspace,
        );
        l.kept = crate::reports::summary::HintScope::kept_places(plan);
        l
    }

    pub fn new(
        project: &Path,
        cwd: &Path,
        argv: &[OsString],
        manager: &dyn PackageManager,
        workspace: Option<&Path>,
    ) -> Locator {
        let ProjectFiles { lock, manifest } = manager.project_files(project, cwd, argv);
        let base = match workspace {
            Some(w) if project.starts_with(w) => w.to_path_buf(),
            _ => project.to_path_buf(),
        };
        Locator {
            base,
            lock,
            manifest,
            grants: manager.binds_grants(),
            kept: Vec::new(),
        }
    }

    /// What the hints of this run depend on (`summary::remedy`).
    pub fn hints(&self) -> crate::reports::summary::HintScope<'_> {
        crate::reports::summary::HintScope {
            grants: self.grants,
            kept: &self.kept,
        }
    }

    /// The directory relative paths start from (SARIF's `%SRCROOT%`).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The file (and line) behind a group: a package's attempt points at the lockfile
    /// entry that brought it in; the package manager's own at the manifest.
    pub fn locate(&self, g: &Group<'_>) -> Option<Located> {
        let path = match g.package {
            Some(_) => self.lock.as_ref().or(self.manifest.as_ref()),
            None => self.manifest.as_ref().or(self.lock.as_ref()),
        }?;
        let relative = path.strip_prefix(&self.base).ok()?.to_str()?.to_string();
        let line = g
            .package
            .map(package_name)
            .and_then(|name| find_line(path, name));
        Some(Located {
            path: path.clone(),
            relative,
            line,
        })
    }
}

/// `name` of `name@version` (npm scopes keep their leading `@`).
fn package_name(package: &str) -> &str {
    let at = if let Some(rest) = package.strip_prefix('@') {
        rest.find('@').map(|i| i + 1)
    } else {
        package.find('@')
    };
    at.map_or(package, |i| &package[..i])
}

/// The line of `path` that names package `name`, by the file's kind.
fn find_line(path: &Path, name: &str) -> Option<u32> {
    let file_name = path.file_name().and_then(OsStr::to_str)?;
    let size = std::fs::metadata(path).ok()?.len();
    if size > MAX_SEARCHED_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let matches: Box<dyn Fn(&str) -> bool> = match file_name {
        "package-lock.json" | "npm-shrinkwrap.json" => {
            let key = format!("node_modules/{name}\":");
            Box::new(move |l: &str| l.contains(&key))
        }
        "package.json" => {
            let key = format!("\"{name}\":");
            Box::new(move |l: &str| l.trim_start().starts_with(&key))
        }
        "yarn.lock" => {
            let key = format!("{name}@");
            Box::new(move |l: &str| {
                !l.starts_with(char::is_whitespace) && l.trim_start_matches('"').starts_with(&key)
            })
        }
        n if n.ends_with(".txt") || n.ends_with(".in") => {
            let want = crate::policy::normalise_dist(name);
            Box::new(move |l: &str| {
                let token: String = l
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                !token.is_empty() && crate::policy::normalise_dist(&token) == want
            })
        }
        _ => return None,
    };
    text.lines()
        .position(matches)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A short name for the command in report headings: the program and its first plain words
/// (`npm ci`, `pip install -r requirements.txt`), never an argument that could carry a
/// credential (URLs, `user@host`, `key=value`).
pub fn command_label(argv: &[OsString]) -> String {
    let mut words = Vec::new();
    if let Some(program) = argv.first() {
        let program = Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy();
        words.push(program.into_owned());
    }
    for arg in argv.iter().skip(1).take(4) {
        let s = arg.to_string_lossy();
        let plain = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain {
            break;
        }
        words.push(s.into_owned());
    }
    words.join(" ")
}

/// Everything a finished run reports for machines. Annotations go to stderr (stdout stays
/// the command's own); the step summary is appended; `--report` files are replaced
/// atomically. The first report file that cannot be written is the error returned.
pub fn publish(
    requests: &[Request],
    plan: &Plan,
    events: &[(Event, u64)],
    strict: bool,
    exit_code: i32,
) -> Result<(), ReportError> {
    let ci = CiEnv::from_process();
    let locator = Locator::for_plan(plan, ci.workspace.as_deref());
    let command = command_label(&plan.argv);
    publish_with(&ci, requests, &locator, &command, events, strict, exit_code)
}

/// [`publish`] with the environment and files given.
pub fn publish_with(
    ci: &CiEnv,
    requests: &[Request],
    locator: &Locator,
    command: &str,
    events: &[(Event, u64)],
    strict: bool,
    exit_code: i32,
) -> Result<(), ReportError> {
    let groups = summary::reported_groups(events);
    if ci.github_actions && !groups.is_empty() {
        eprint!("{}", github::annotations(&groups, locator, strict));
    }
    if let Some(path) = &ci.step_summary {
        let text = github::step_summary(events, command, locator, strict);
        if let Err(e) = append(path, &text) {
            // The install itself is done; a runner without a writable summary file loses
            // only the summary, which must not fail the job on its own.
            tracing::warn!("{}", chain(&e));
        }
    }
    for r in requests {
        match r.format {
            Format::Sarif => {
                sarif::write(&r.path, &groups, locator, strict, exit_code)?;
            }
        }
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| ReportError::StepSummary {
            path: path.to_path_buf(),
            source,
        })
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Action, Reason, Verdict};

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn unknown_formats_name_the_valid_ones() {
        let err = parse_requests(&os(&["sarif2", "x.sarif"])).expect_err("unknown format");
        let text = err.to_string();
        assert!(
            text.contains("--report sarif2") && text.contains("valid formats: sarif"),
            "{text}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.sarif");
        let ok = parse_requests(&[OsString::from("SARIF"), out.clone().into_os_string()])
            .expect("valid");
        assert_eq!(
            ok,
            vec![Request {
                format: Format::Sarif,
                path: out
            }]
        );
        let missing = dir.path().join("no/such/dir/out.sarif");
        let err = parse_requests(&[OsString::from("sarif"), missing.into_os_string()])
            .expect_err("missing directory");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn package_names_and_requirement_files() {
        assert_eq!(package_name("si-evil@1.0.0"), "si-evil");
        assert_eq!(package_name("@scope/pkg@2.0.0"), "@scope/pkg");
        assert_eq!(package_name("plain"), "plain");
        assert_eq!(crate::policy::normalise_dist("Foo__Bar.baz"), "foo-bar-baz");
        for argv in [
            &["pip", "install", "-r", "req.txt"][..],
            &["pip", "install", "-rreq.txt"][..],
            &["pip", "install", "--requirement=req.txt"][..],
        ] {
            assert_eq!(
                crate::pm::pip::requirements_file(&os(argv)),
                Some(PathBuf::from("req.txt"))
            );
        }
        assert_eq!(
            crate::pm::pip::requirements_file(&os(&["pip", "install", "x"])),
            None
        );
    }

    #[test]
    fn groups_point_at_the_lockfile_line_of_their_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("app");
        std::fs::create_dir(&project).expect("mkdir");
        std::fs::write(
            project.join("package.json"),
            "{\n  \"dependencies\": {\n    \"si-evil\": \"1.0.0\"\n  }\n}\n",
        )
        .expect("write");
        std::fs::write(
            project.join("package-lock.json"),
            "{\n  \"packages\": {\n    \"\": {},\n    \"node_modules/si-evil\": {\n      \"version\": \"1.0.0\"\n    }\n  }\n}\n",
        )
        .expect("write");
        let loc = Locator::new(
            &project,
            &project,
            &os(&["npm", "ci"]),
            &crate::pm::npm::NPM,
            Some(dir.path()),
        );
        let mut e = Event::new(
            Action::Connect,
            Verdict::Blocked,
            "127.0.0.1:1",
            Reason::DirectConnect,
        );
        e.package = Some("si-evil@1.0.0".into());
        let pm = Event::new(
            Action::Dns,
            Verdict::Blocked,
            "x.example.com",
            Reason::DnsQuery,
        );
        let events = vec![(e, 1), (pm, 1)];
        let groups = summary::blocked_groups(&events);
        // Sorted by who: "(package manager)" before "si-evil@1.0.0".
        assert_eq!(
            loc.locate(&groups[1]),
            Some(Located {
                path: project.join("package-lock.json"),
                relative: "app/package-lock.json".into(),
                line: Some(4),
            })
        );
        assert_eq!(
            loc.locate(&groups[0]).map(|l| (l.relative, l.line)),
            Some(("app/package.json".to_string(), None))
        );
        // A workspace that does not hold the project: paths start at the project.
        let elsewhere = Locator::new(
            &project,
            &project,
            &os(&["npm", "ci"]),
            &crate::pm::npm::NPM,
            Some(Path::new("/nonexistent")),
        );
        assert_eq!(
            elsewhere.locate(&groups[1]).map(|l| l.relative),
            Some("package-lock.json".into())
        );
    }

    #[test]
    fn command_labels_leave_out_what_could_be_a_credential() {
        assert_eq!(
            command_label(&os(&["/usr/bin/npm", "ci", "--no-audit"])),
            "npm ci --no-audit"
        );
        assert_eq!(
            command_label(&os(&[
                "pip",
                "install",
                "--index-url",
                "https://u:token@registry.example.com/simple",
                "x"
            ])),
            "pip install --index-url"
        );
    }
}
