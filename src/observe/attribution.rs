//! Who did it: from a process (or a socket of the proxy / DNS stub) to the package and
//! lifecycle script responsible, by process ancestry rather than by anything the process
//! itself could set.
//!
//! The command safe-install started is the package manager (init's only child). A process
//! whose ancestry reaches the package manager belongs to the script whose root is the package
//! manager's direct child: npm spawns each lifecycle script as `sh -c <script>` with
//! `npm_package_name`, `npm_package_version` and `npm_lifecycle_event` in the environment it
//! sets at exec; pip runs `setup.py` or the build backend hook with the build directory as
//! working directory. The root is read once and cached, so a descendant with a forged
//! environment changes nothing. A process whose ancestry reaches init without passing the
//! package manager was orphaned by some script (a double fork): never the package manager.

use super::process;
use crate::net::Attribution;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

/// What a script root says about itself, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Origin {
    package: Option<String>,
    script: Option<String>,
    /// Only from a registration ([`Attributor::identify_script`]).
    package_dir: Option<PathBuf>,
    /// The registered process's start time: a later process with the same pid is not it.
    started: Option<u64>,
}

/// A script root's identity, read but not yet recorded ([`Attributor::identify_script`]).
#[derive(Debug)]
pub struct ScriptIdentity {
    pid: i32,
    origin: Origin,
}

/// Start time of host pid `pid` (field 22 of `/proc/<pid>/stat`), in clock ticks since boot.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

pub struct Attributor {
    /// Host pid of the sandbox's init.
    init: i32,
    /// The sandbox's pid namespace (`pid:[inode]`), read while init is still dumpable.
    pid_ns: Option<PathBuf>,
    /// Script roots already read, by host pid.
    roots: Mutex<HashMap<i32, Origin>>,
    /// Installed packages by directory → `name@version`, from the lockfile before the install.
    lockfile: HashMap<PathBuf, String>,
    /// The package manager's approval list and the project it applies to: a dependency's
    /// script that runs although the list does not approve it is reported.
    approvals: Option<(crate::pm::approvals::Approvals, PathBuf)>,
}

/// A dependency's script the package manager's own approval list says does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApproved {
    /// `name@version` (the lockfile's identity for its directory, else what the package
    /// manager gave it).
    pub package: String,
    pub script: Option<String>,
    /// The package's directory.
    pub dir: PathBuf,
    /// What the list says, and which tool.
    pub why: String,
}

/// Whether `dir` is a dependency's folder of `project`'s install tree (below a
/// `node_modules` of the project; yarn's unplugged folders are too), not the project's own
/// or a workspace's, whose scripts no approval list covers.
pub fn is_dependency_dir(project: &std::path::Path, dir: &std::path::Path) -> bool {
    dir.strip_prefix(project)
        .is_ok_and(|rel| rel.components().any(|c| c.as_os_str() == "node_modules"))
}

const ORPHAN: &str = "(orphaned script process)";
pub use crate::events::UNATTRIBUTED;
/// How far up the process tree attribution walks before it gives up (answering
/// [`UNATTRIBUTED`]).
pub const MAX_DEPTH: usize = 64;

fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn environ(pid: i32) -> HashMap<String, String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// npm's variables, else pip's build directory and hook.
fn read_origin(root: i32) -> Origin {
    let env = environ(root);
    if let (Some(name), Some(event)) = (env.get("npm_package_name"), env.get("npm_lifecycle_event"))
    {
        let package = match env.get("npm_package_version") {
            Some(v) => format!("{name}@{v}"),
            None => name.clone(),
        };
        return Origin {
            package: Some(package),
            script: Some(event.clone()),
            package_dir: None,
            started: None,
        };
    }
    let argv = process::argv(root).unwrap_or_default();
    // Through the magic link: the path names a place in the sandbox's view (pip builds in
    // its private /tmp), not on the host.
    let cwd = PathBuf::from(format!("/proc/{root}/cwd"));
    Origin {
        package: python_package(&cwd),
        script: python_hook(&argv),
        package_dir: None,
        started: None,
    }
}

/// PEP 517 hook names, longest first: `prepare_metadata_for_build_wheel` contains
/// `build_wheel`.
const PEP517_HOOKS: [&str; 8] = [
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "build_editable",
    "build_wheel",
    "build_sdist",
];

/// The hook a uv build step calls: uv runs each as `python -c <script>`, whose script calls
/// `backend.<hook>(…)` or looks it up with `getattr(backend, "<hook>", None)`. uv (level 1)
/// wrote the script; the earliest call in it names the step.
fn uv_hook(script: &str) -> Option<String> {
    PEP517_HOOKS
        .iter()
        .filter_map(|hook| {
            let call = script.find(&format!("backend.{hook}("));
            let lookup = script.find(&format!("getattr(backend, \"{hook}\""));
            call.into_iter().chain(lookup).min().map(|at| (at, *hook))
        })
        .min_by_key(|(at, hook)| (*at, std::cmp::Reverse(hook.len())))
        .map(|(_, hook)| hook.to_string())
}

/// `setup.py` (and its command) or the PEP 517 hook pip's in-process helper or uv's build
/// script runs.
fn python_hook(argv: &[String]) -> Option<String> {
    if let [_, c, script, ..] = argv {
        if c == "-c" && script.contains(" as backend") {
            if let Some(hook) = uv_hook(script) {
                return Some(hook);
            }
        }
    }
    let hooks = [
        "build_wheel",
        "build_sdist",
        "prepare_metadata_for_build_wheel",
        "get_requires_for_build_wheel",
        "build_editable",
        "prepare_metadata_for_build_editable",
        "get_requires_for_build_editable",
        "get_requires_for_build_sdist",
    ];
    if let Some(hook) = argv.iter().find(|a| hooks.contains(&a.as_str())) {
        return Some(hook.clone());
    }
    // `python setup.py install`, or pip's setuptools caller: `python -c "<code that runs
    // setup.py>" egg_info --egg-base ...`.
    let at = argv.iter().position(|a| a.contains("setup.py"))?;
    let command = argv[at + 1..].iter().find(|a| !a.starts_with('-'));
    Some(match command {
        Some(c) => format!("setup.py {c}"),
        None => "setup.py".into(),
    })
}

/// `name@version` from the build directory's PKG-INFO, or `name` from its pyproject.toml or
/// setup.py, or the directory's name.
fn python_package(dir: &std::path::Path) -> Option<String> {
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    for info in
        [dir.join("PKG-INFO")]
            .into_iter()
            .chain(std::fs::read_dir(dir).ok()?.flatten().filter_map(|e| {
                let p = e.path();
                p.extension()
                    .is_some_and(|x| x == "egg-info")
                    .then(|| p.join("PKG-INFO"))
            }))
    {
        if let Ok(text) = std::fs::read_to_string(&info) {
            if let (Some(n), Some(v)) = (field(&text, "Name:"), field(&text, "Version:")) {
                return Some(format!("{n}@{v}"));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("pyproject.toml")) {
        if let Ok(doc) = text.parse::<toml::Table>() {
            let project = doc.get("project").and_then(|p| p.as_table());
            if let Some(name) = project.and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
                let version = project
                    .and_then(|p| p.get("version"))
                    .and_then(|v| v.as_str());
                return Some(match version {
                    Some(v) => format!("{name}@{v}"),
                    None => name.to_string(),
                });
            }
        }
    }
    // A legacy project names itself in setup.py (`name="x", version="1.0"`); the same text
    // pip is about to build, read without running it.
    let setup = std::fs::read_to_string(dir.join("setup.py")).ok()?;
    let literal = |key: &str| {
        let at = setup.find(&format!("{key}="))? + key.len() + 1;
        let rest = setup[at..].trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value: String = rest[1..].chars().take_while(|c| *c != quote).collect();
        (!value.is_empty() && value.len() < 200).then_some(value)
    };
    let name = literal("name").or_else(|| {
        let real = std::fs::read_link(dir).unwrap_or_else(|_| dir.to_path_buf());
        real.file_name().map(|n| n.to_string_lossy().into_owned())
    })?;
    Some(match literal("version") {
        Some(v) => format!("{name}@{v}"),
        None => name,
    })
}

impl Attributor {
    /// Call right after the clone: init turns non-dumpable once set up, and an unprivileged
    /// supervisor can then no longer read its namespace links.
    pub fn new(init_host_pid: i32) -> Self {
        Attributor {
            init: init_host_pid,
            pid_ns: std::fs::read_link(format!("/proc/{init_host_pid}/ns/pid")).ok(),
            roots: Mutex::new(HashMap::new()),
            lockfile: HashMap::new(),
            approvals: None,
        }
    }

    /// Check each registered script against the package manager's approval list for
    /// `project`.
    pub fn with_approvals(
        mut self,
        approvals: Option<&crate::pm::approvals::Approvals>,
        project: &std::path::Path,
    ) -> Self {
        self.approvals = approvals.map(|a| (a.clone(), project.to_path_buf()));
        self
    }

    /// The script registered as `pid`, when it is a dependency's that the package manager's
    /// approval list says does not run.
    pub fn not_approved(&self, pid: i32) -> Option<NotApproved> {
        let (approvals, project) = self.approvals.as_ref()?;
        let roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        let origin = roots.get(&pid)?;
        let dir = origin.package_dir.as_ref()?;
        if !is_dependency_dir(project, dir) {
            return None;
        }
        let package = origin.package.clone()?;
        match approvals.decide_identity(&package) {
            crate::pm::approvals::Decision::Skipped(why)
            | crate::pm::approvals::Decision::Fails(why) => Some(NotApproved {
                package,
                script: origin.script.clone(),
                dir: dir.clone(),
                why: format!("{}: {why}", approvals.tool),
            }),
            _ => None,
        }
    }

    /// Name scripts by the lockfile: package directory → `name@version`.
    pub fn with_lockfile(mut self, installed: &[(PathBuf, String)]) -> Self {
        self.lockfile = installed.iter().cloned().collect();
        self
    }

    /// [`Attributor::identify_script`] and [`Attributor::record_script`] at once.
    #[cfg(test)]
    pub fn register_script(&self, pid: i32, package_dir: Option<PathBuf>) {
        let identity = self.identify_script(pid, package_dir);
        self.record_script(identity);
    }

    /// Who a lifecycle script's shim (host pid `pid`, npm's child, the script root) is, read
    /// before anything of the script runs; `package_dir` is its working directory as npm set
    /// it. The environment is still npm's: the package is the lockfile's entry for that
    /// directory (the name the package gives itself only when the lockfile has none), and the
    /// directory keys its grants. The control socket reads this while the shim still builds
    /// its confinement, and records it ([`Attributor::record_script`]) once the registration
    /// proved to be one.
    pub fn identify_script(&self, pid: i32, package_dir: Option<PathBuf>) -> ScriptIdentity {
        let mut origin = read_origin(pid);
        if let Some(locked) = package_dir.as_ref().and_then(|d| self.lockfile.get(d)) {
            origin.package = Some(locked.clone());
        }
        origin.package_dir = package_dir;
        origin.started = start_time(pid);
        ScriptIdentity { pid, origin }
    }

    /// Record a script identified by [`Attributor::identify_script`].
    pub fn record_script(&self, identity: ScriptIdentity) {
        // A pid reused by a new script replaces the old entry.
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        roots.insert(identity.pid, identity.origin);
    }

    /// `(name@version, lifecycle event)` recorded by [`Attributor::record_script`] for
    /// `pid`.
    pub fn registered(&self, pid: i32) -> Option<(Option<String>, Option<String>)> {
        let roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        roots
            .get(&pid)
            .map(|o| (o.package.clone(), o.script.clone()))
    }

    /// The host pid of the package manager: init's child (the first, if it forked more).
    fn package_manager(&self) -> Option<i32> {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.init)).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .min()
    }

    /// Attribution of host pid `pid`.
    pub fn of_pid(&self, pid: i32) -> Attribution {
        // A worker thread is its process: its process's place in the tree decides.
        let pid = process::thread_group(pid).unwrap_or(pid);
        let mut who = Attribution {
            pid: Some(process::ids(pid)),
            argv: process::argv(pid),
            ..Attribution::default()
        };
        let pm = self.package_manager();
        if Some(pid) == pm {
            return who;
        }
        // Walk up to the child of the package manager (the script root), or to init,
        // remembering the way (nearest first).
        let mut chain = vec![pid];
        let mut current = pid;
        for _ in 0..MAX_DEPTH {
            let Some(up) = parent(current) else { break };
            if Some(up) == pm {
                let origin = self.origin_below(&chain);
                who.package = origin.package;
                who.script = origin.script;
                who.package_dir = origin.package_dir;
                return who;
            }
            if up == self.init || up <= 1 {
                who.script = Some(ORPHAN.into());
                return who;
            }
            chain.push(up);
            current = up;
        }
        // Too deep, or the process vanished on the way: a script, unattributed.
        who.script = Some(UNATTRIBUTED.into());
        who
    }

    /// The origin of a process whose ancestry `chain` (nearest first) ends at the package
    /// manager's direct child. That child is the script root when it names a script; a helper
    /// of the package manager (no script) is level 1 itself, and below it the topmost process
    /// that names a script is the root, or else the process is an unattributed script.
    fn origin_below(&self, chain: &[i32]) -> Origin {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        let mut origin_of = |pid: i32| {
            // A registration of an earlier process with the same pid is not this one.
            let stale = roots
                .get(&pid)
                .is_some_and(|o| o.started.is_some() && o.started != start_time(pid));
            if stale {
                roots.remove(&pid);
            }
            roots.entry(pid).or_insert_with(|| read_origin(pid)).clone()
        };
        let Some((&top, below)) = chain.split_last() else {
            return Origin {
                script: Some(UNATTRIBUTED.into()),
                ..Origin::default()
            };
        };
        let root = origin_of(top);
        if root.script.is_some() || below.is_empty() {
            return root;
        }
        for &pid in below.iter().rev() {
            let o = origin_of(pid);
            if o.script.is_some() {
                return o;
            }
        }
        Origin {
            package: root.package,
            script: Some(UNATTRIBUTED.into()),
            ..Origin::default()
        }
    }

    /// Attribution of the sandboxed process that owns the socket whose address, as seen
    /// inside the sandbox, is `peer` (a client of the proxy or DNS stub).
    pub fn of_peer(&self, peer: SocketAddr, udp: bool) -> Option<Attribution> {
        // The package manager shares init's network namespace and stays readable.
        let reader = self.package_manager().unwrap_or(self.init);
        let inode =
            socket_inode(reader, peer, udp).or_else(|| socket_inode(self.init, peer, udp))?;
        let owner = self
            .sandbox_pids()
            .into_iter()
            .find(|pid| owns_socket(*pid, inode))?;
        Some(self.of_pid(owner))
    }

    /// Host pids of the processes in the sandbox other than init that still run (a zombie
    /// has exited; it waits only for its status to be collected), lowest first: once the
    /// command has exited, what it left behind.
    pub fn leftovers(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .sandbox_pids()
            .into_iter()
            .filter(|p| *p != self.init && crate::sandbox::init::running(*p))
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Host pids of the processes in the sandbox's pid namespace.
    fn sandbox_pids(&self) -> Vec<i32> {
        let Some(ns) = &self.pid_ns else {
            return Vec::new();
        };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| &n == ns))
            .collect()
    }
}

/// The inode of the socket bound to `local` in the sandbox's network namespace, from
/// `/proc/<pid>/net/{tcp,tcp6,udp,udp6}` of a process in it.
fn socket_inode(pid: i32, local: SocketAddr, udp: bool) -> Option<u64> {
    let proto = if udp { "udp" } else { "tcp" };
    let want_port = format!("{:04X}", local.port());
    for file in [proto.to_string(), format!("{proto}6")] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(addr), Some(inode)) = (cols.get(1), cols.get(9)) else {
                continue;
            };
            if addr
                .rsplit_once(':')
                .is_some_and(|(_, port)| port == want_port)
            {
                if let Ok(inode) = inode.parse() {
                    if inode != 0 {
                        return Some(inode);
                    }
                }
            }
        }
    }
    None
}

fn owns_socket(pid: i32, inode: u64) -> bool {
    let want = PathBuf::from(format!("socket:[{inode}]"));
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == want))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dependencies_folders_are_checked_against_approvals() {
        let p = std::path::Path::new("/p");
        assert!(is_dependency_dir(
            p,
            std::path::Path::new("/p/node_modules/a")
        ));
        assert!(is_dependency_dir(
            p,
            std::path::Path::new("/p/node_modules/.pnpm/a@1.0.0/node_modules/a")
        ));
        assert!(is_dependency_dir(
            p,
            std::path::Path::new("/p/.yarn/unplugged/a-npm-1.0.0-x/node_modules/a")
        ));
        for own in ["/p", "/p/packages/w", "/q/node_modules/a", "/tmp/clone"] {
            assert!(!is_dependency_dir(p, std::path::Path::new(own)), "{own}");
        }
    }

    #[test]
    fn a_registered_script_the_list_does_not_approve_is_named() {
        use crate::pm::approvals::{parse_entry, Approvals, Unlisted};
        let project = PathBuf::from("/p");
        let approvals = Approvals {
            tool: "npm 12.2.3".into(),
            source: Some("allowScripts in /p/package.json".into()),
            entries: vec![parse_entry("ok@1.0.0", true).expect("entry")],
            unlisted: Unlisted::Skipped,
            notes: Vec::new(),
        };
        let ok = project.join("node_modules/ok");
        let evil = project.join("node_modules/evil");
        let who = Attributor::new(1)
            .with_lockfile(&[
                (ok.clone(), "ok@1.0.0".into()),
                (evil.clone(), "evil@2.0.0".into()),
            ])
            .with_approvals(Some(&approvals), &project);
        // This test process stands in for a script's shim: its registration is read from
        // /proc, the identity from the lockfile by its directory.
        let pid = std::process::id() as i32;
        who.register_script(pid, Some(ok));
        assert_eq!(who.not_approved(pid), None);
        who.register_script(pid, Some(evil.clone()));
        let n = who.not_approved(pid).expect("not approved");
        assert_eq!(n.package, "evil@2.0.0");
        assert_eq!(n.dir, evil);
        assert!(
            n.why
                .starts_with("npm 12.2.3: not approved by allowScripts"),
            "{}",
            n.why
        );
        // The project's own scripts are no dependency's.
        who.register_script(pid, Some(project.clone()));
        assert_eq!(who.not_approved(pid), None);
        // Without a list (npm 11, yarn 1, pip) nothing is reported.
        let open = Attributor::new(1)
            .with_lockfile(&[(evil.clone(), "evil@2.0.0".into())])
            .with_approvals(Some(&Approvals::all_run("npm 11.6.0", "no list")), &project);
        open.register_script(pid, Some(evil));
        assert_eq!(open.not_approved(pid), None);
    }

    #[test]
    fn python_hooks_are_named() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            python_hook(&argv(&[
                "python",
                "_in_process.py",
                "build_wheel",
                "/tmp/x"
            ])),
            Some("build_wheel".into())
        );
        assert_eq!(
            python_hook(&argv(&["python", "-c", "x", "setup.py", "-q", "install"])),
            Some("setup.py install".into())
        );
        assert_eq!(
            python_hook(&argv(&[
                "python",
                "-c",
                "exec(compile(open('setup.py')))",
                "egg_info",
                "--egg-base",
                "/tmp/e"
            ])),
            Some("setup.py egg_info".into())
        );
        assert_eq!(python_hook(&argv(&["node", "x.js"])), None);
        // uv: `python -c <script>`, as uv 0.13 writes them.
        let uv = |body: &str| {
            argv(&[
                "/c/builds-v0/.tmpA/bin/python",
                "-c",
                &format!("import sys\nsys.path = [\".\"] + sys.path\nimport setuptools.build_meta as backend\n{body}"),
            ])
        };
        for (body, hook) in [
            ("get_requires_for_build = getattr(backend, \"get_requires_for_build_wheel\", None)\nopen(b\"/c/builds-v0/.tmpA/get_requires_for_build_wheel.txt\")", "get_requires_for_build_wheel"),
            ("prepare_metadata_for_build_wheel = getattr(backend, \"prepare_metadata_for_build_wheel\", None)\nbuild_wheel", "prepare_metadata_for_build_wheel"),
            ("wheel_filename = backend.build_wheel(\"/c/builds-v0/.tmpB\", {}, None)\nopen(b\"/c/builds-v0/.tmpA/build_wheel.txt\")", "build_wheel"),
            ("wheel_filename = backend.build_editable(\"/c/builds-v0/.tmpB\", {}, None)", "build_editable"),
        ] {
            assert_eq!(python_hook(&uv(body)), Some(hook.to_string()), "{body}");
        }
        // uv's interpreter query is no hook.
        assert_eq!(
            python_hook(&argv(&[
                "/v/bin/python",
                "-I",
                "-B",
                "-c",
                "import sys; from python.get_interpreter_info import main; main()"
            ])),
            None
        );
    }

    #[test]
    fn python_package_from_pkg_info_or_pyproject() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"demo\"\nversion = \"1.2\"\n",
        )
        .expect("write");
        assert_eq!(python_package(dir.path()), Some("demo@1.2".into()));
        std::fs::write(
            dir.path().join("PKG-INFO"),
            "Metadata-Version: 2.1\nName: demo\nVersion: 1.3\n",
        )
        .expect("write");
        assert_eq!(python_package(dir.path()), Some("demo@1.3".into()));
        let legacy = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            legacy.path().join("setup.py"),
            "from setuptools import setup\nsetup(\n    name=\"si-legacy\",\n    version='2.0',\n)\n",
        )
        .expect("write");
        assert_eq!(python_package(legacy.path()), Some("si-legacy@2.0".into()));
    }
}
