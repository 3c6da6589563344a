//! What safe-install knows about each package manager, behind one set of methods
//! ([`PackageManager`]): how to recognise it, its built-in policy, the registries its own
//! configuration names (read as data, never by running it on the host), how its package code
//! is put at trust level 2, which lockfile entries grants bind to, which dependencies' scripts
//! its own approval list lets run ([`approvals`]), where its install target is, and which
//! project files tie a finding to a line. The plan, the session, the
//! supervisor and the reports ask through these methods and never branch on the tool: adding
//! a package manager is one new folder here.

pub mod approvals;
mod context;
pub mod generic;
pub mod npm;
pub mod pip;
pub mod pnpm;
pub mod resolve;
#[cfg(test)]
mod test_fixtures;
pub mod uv;
pub mod workspace;
pub mod yarn;

pub use context::Context;

use crate::policy::allow::{Rule, RuleError};
use crate::policy::ScriptsPolicy;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// A place outside the project a command installs into, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub path: PathBuf,
    pub why: String,
    /// A `node_modules` install tree (npm's global one): a script npm starts in a package
    /// folder of it may write that folder, as in the project's tree.
    pub install_tree: bool,
}

/// One package manager's knowledge. Implementations are unit structs with a `static`
/// instance; [`detect`] picks one from the command line.
pub trait PackageManager: Sync + std::fmt::Debug {
    /// The family it belongs to (the log's and `explain`'s name for it).
    fn family(&self) -> Family;

    /// Its name in `explain` and the log (the family's unless the tool is its own).
    fn name(&self) -> &'static str {
        self.family().name()
    }

    /// Whether the command installs packages at all: `false` only for commands safe-install
    /// does not know, which get the base policy, no level 2 and no registries.
    fn is_package_manager(&self) -> bool {
        true
    }

    /// The built-in policy layer: `(name, TOML text)`.
    fn builtin_policy(&self) -> (&'static str, &'static str);

    /// Files whose presence marks a project root.
    fn manifests(&self) -> &'static [&'static str];

    /// The options that tell the tool to work in another directory than the one it starts
    /// in (npm's `--prefix`, pnpm's `--dir`, yarn's `--cwd`), long and short forms: it then
    /// reads that directory's configuration as its project's ([`directory_option`]).
    fn directory_options(&self) -> &'static [&'static str] {
        &[]
    }

    /// The variables that do what [`PackageManager::directory_options`] do (uv's
    /// `UV_WORKING_DIR`, `UV_PROJECT`), read when the command line names none.
    fn directory_variables(&self) -> &'static [&'static str] {
        &[]
    }

    /// The root of the workspace whose member `ctx.project` is (the nearest directory with a
    /// manifest), when the tool, started there, takes that root as its project: it reads the
    /// root's configuration, writes the root's lockfile and install tree ([`workspace`]).
    /// `None`: the project is its own.
    fn workspace_root(&self, _ctx: &Context) -> Option<PathBuf> {
        None
    }

    /// The places in the home this command installs into (pip's user base under `--user`,
    /// uv's tools and executables directories under `uv tool install`, npm's global prefix
    /// under `-g`). Inside, the home is a private tmpfs that would take the install and drop
    /// it at the end, so the view shows each read-write for the package manager only,
    /// created before the run when missing; level 2 writes none of them, but for a package's
    /// own folder of an install tree ([`Destination::install_tree`]).
    fn home_destinations(&self, _ctx: &Context) -> Vec<Destination> {
        Vec::new()
    }

    /// What this command installs where the sandbox does not keep it (pnpm's and yarn's
    /// global packages), in words for the refusal; `None` for every other command.
    fn unkept_install(&self, _ctx: &Context) -> Option<&'static str> {
        None
    }

    /// The real program behind a version manager's shim (pyenv), found by reading files:
    /// `None` when `program` is not such a shim.
    fn follow_shim(
        &self,
        _program: &Path,
        _env: &[(OsString, OsString)],
        _cwd: &Path,
    ) -> Option<PathBuf> {
        None
    }

    /// The directory of the project it installs packages into (npm's `node_modules`), when
    /// it has one.
    fn install_tree(&self, _project: &Path) -> Option<PathBuf> {
        None
    }

    /// The environment it installs into when that is not the project (pip's virtualenv).
    fn install_target(&self, _ctx: &Context) -> Option<PathBuf> {
        None
    }

    /// The registries its configuration names, and local package sources that must be
    /// visible, read the way the tool resolves them.
    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError>;

    /// Whether `[[package]]` grants bind to its packages ([`PackageManager::bind_grants`]
    /// reads its lockfile): without, the summary's hints name what applies to every script.
    fn binds_grants(&self) -> bool {
        false
    }

    /// Bind the policy's per-package grants to what the lockfile says each package is;
    /// grants that cannot be bound are dropped with a note.
    fn bind_grants(
        &self,
        _scripts: &mut ScriptsPolicy,
        _ctx: &Context,
        _from_registry: &dyn Fn(&url::Url) -> bool,
    ) -> Bound {
        Bound::default()
    }

    /// How its package code (lifecycle scripts, build backends) is put at trust level 2.
    fn level2(&self, ctx: &Context) -> Level2;

    /// Under [`Level2::PythonShim`]: the interpreter files (canonical) its build backends
    /// run as, which safe-install stands in for; `venv` is [`PackageManager::install_target`].
    fn interpreters(&self, _ctx: &Context, _venv: Option<&Path>) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Under [`Level2::PythonShim`]: an interpreter the package manager was asked to use that
    /// safe-install cannot stand in for; the run is then refused, since its build backends
    /// would run with the package manager's powers.
    fn unhookable_interpreter(&self, _ctx: &Context) -> Option<UnhookableInterpreter> {
        None
    }

    /// Under [`Level2::PythonShim`]: who starts the interpreter, which tells the python shim
    /// the package manager's own uses of it (level 1) from build backends (level 2).
    fn python_frontend(&self, _ctx: &Context) -> Option<PythonFrontend> {
        None
    }

    /// How [`Level2::ScriptShell`] is pinned: the variables set to the shim's path `shim`
    /// and the arguments put before the rest of the command line, each the tool's way of
    /// naming its script shell with a precedence no project file beats. An error when the
    /// shim cannot be made the last word (the run is refused).
    fn script_shell(
        &self,
        _ctx: &Context,
        _shim: &Path,
    ) -> Result<ScriptShellPins, ScriptShellError> {
        Ok(ScriptShellPins {
            env: vec!["npm_config_script_shell"],
            args: Vec::new(),
            notes: Vec::new(),
            outside: None,
        })
    }

    /// A store the tool hard-links package files from (pnpm's store, uv's cache): shown on
    /// one mount with the places it links into so `link()` works, and the arguments that
    /// pin the tool to it.
    fn linked_store(&self, _ctx: &Context) -> Option<LinkedStore> {
        None
    }

    /// What the entries of the install tree's `node_modules/.bin` are when the tool makes
    /// them: how the end-of-run check tells its own from planted ones.
    fn bin_entries(&self) -> BinEntries {
        BinEntries::Links
    }

    /// For [`Level2::ScriptPlugin`]: the files that load safe-install's plugin, which runs
    /// each script as `<shim> -c <script>`, and the environment that makes the tool refuse to
    /// start without it.
    fn script_plugin(&self, _ctx: &Context, _shim: &Path) -> Result<Option<Plugin>, ConfigError> {
        Ok(None)
    }

    /// Its settings that name programs, pinned so that trust level 1 runs no package code.
    fn program_pins(&self, _ctx: &Context) -> Result<Vec<npm::Pin>, npm::PinError> {
        Ok(Vec::new())
    }

    /// The lockfile (or requirements file) and manifest a finding is tied to.
    fn project_files(&self, _project: &Path, _cwd: &Path, _argv: &[OsString]) -> ProjectFiles {
        ProjectFiles::default()
    }

    /// How its clients are told to trust an extra certificate authority (the run's
    /// interception CA).
    fn ca_trust(&self) -> CaTrust;

    /// Its own approval list for dependency scripts (which packages' scripts it runs at
    /// all), read from its files as data. The default: no list, every package's scripts or
    /// build backends run.
    fn approvals(&self, _ctx: &Context) -> approvals::Approvals {
        approvals::Approvals::all_run(
            self.name(),
            format!(
                "{} has no approval list: every package's install scripts or build backends run",
                self.name()
            ),
        )
    }

    /// Which of `project`'s lockfile packages have install scripts, for `explain` (read
    /// only there: no run pays for it).
    fn scripted(&self, _project: &Path) -> approvals::Scripted {
        approvals::Scripted::AtInstall(
            "which packages build is known only at install time (an sdist builds, a wheel does not)".into(),
        )
    }

    /// Registry credentials kept in the tool's own configuration format (beyond npm's
    /// npmrc, pip's and uv's files, netrc and `--secret-env`, which `creds::seal` reads
    /// itself): each with the registries the tool sends it to, so the seal can put a
    /// placeholder in its place; and the CA file the tool verifies registries with.
    fn credential_settings(&self, _ctx: &Context) -> Result<CredentialSettings, ConfigError> {
        Ok(CredentialSettings::default())
    }

    /// What the first notify filter (the package manager's level) observes when no level-2
    /// hook installs filters of its own.
    fn level1_observes(&self) -> Level1Observes {
        Level1Observes::NetworkAndFiles
    }
}

/// How package code gets trust level 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level2 {
    /// The tool runs each lifecycle script through a shell its configuration names
    /// (`script-shell`): safe-install's shim is that shell and starts each script in a nested,
    /// stricter domain.
    ScriptShell,
    /// The tool runs each script through an executor that a plugin it loads can replace
    /// (yarn 2+'s `wrapScriptExecution`): safe-install's plugin ([`PackageManager::script_plugin`])
    /// runs each through the shim, as [`Level2::ScriptShell`] does.
    ScriptPlugin,
    /// The tool runs build backends with the interpreter it runs as: safe-install stands in
    /// for that interpreter and starts backends at level 2.
    PythonShim,
    /// The tool runs each script with the system shell (`/bin/sh -c <script>`) and reads no
    /// setting that names another (yarn 1): safe-install stands in for the file `/bin/sh`
    /// resolves to, the real shell bound at a private path, and starts every shell the
    /// package manager's process tree runs at level 2, the command itself only excepted
    /// (`shim::system_shell`).
    SystemShell,
    /// No hook this tool offers: its package code runs at the package manager's level, which
    /// `explain` and the run say.
    Unhooked(&'static str),
}

/// Who starts the interpreter the python shim stands in for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PythonFrontend {
    /// uv: its own build frontend. Level 1 only for uv's interpreter query and bytecode
    /// compiler, started by `executable` (`None` when it could not be found: then nothing
    /// is level 1); every other python is a build step at level 2, writing only its own
    /// build directories in `cache` (`<cache>/builds-v0/<dir>`, its source tree in
    /// `<cache>/sdists-v*/…`).
    Uv {
        executable: Option<PathBuf>,
        cache: PathBuf,
    },
}

/// What a package manager puts in `node_modules/.bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinEntries {
    /// Symbolic links to the file a package declares (npm).
    Links,
    /// Shell scripts that exec node on the declared file (pnpm's `cmd-shim`), named in an
    /// `exec` line (`"$basedir/../<pkg>/<file>"`, pnpm 10) or a final
    /// `# cmd-shim-target=<path>` comment (pnpm 12); links are accepted too.
    ShellShims,
}

/// How a tool is told to run its scripts through the shim.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScriptShellPins {
    /// Variables that name the script shell, each set to the shim's path.
    pub env: Vec<&'static str>,
    /// Arguments put right after the program name (`--config.script-shell=<shim>`).
    pub args: Vec<OsString>,
    /// What was overridden, for `explain` and `-v`.
    pub notes: Vec<String>,
    /// Package code this command runs that the script shell does not reach (a runner's
    /// program): said at the start of the run and in `explain`.
    pub outside: Option<String>,
}

/// The shim cannot be made the tool's script shell.
#[derive(Debug, thiserror::Error)]
pub enum ScriptShellError {
    #[error(
        "the command line names a script shell ({flag}); lifecycle scripts would not run through safe-install's shell at trust level 2, so the run is refused. Fix: {fix}"
    )]
    NamedOnCommandLine { flag: String, fix: String },
}

/// A store the package manager hard-links from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedStore {
    /// What it is, for `explain` ("pnpm's store", "uv's cache").
    pub what: &'static str,
    /// The store's root (absolute; it may not exist yet).
    pub dir: PathBuf,
    /// The places it links into (absolute; the project, a virtualenv), shown on the store's
    /// mount.
    pub into: Vec<PathBuf>,
    /// Arguments put right after the program name that pin the tool to `dir`.
    pub args: Vec<OsString>,
    pub why: String,
    /// What was overridden, for `explain` and `-v`.
    pub notes: Vec<String>,
}

/// safe-install's plugin for a tool: files made inside the sandbox and the environment that
/// requires the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plugin {
    /// `(path inside, text, why)`.
    pub files: Vec<(PathBuf, String, String)>,
    pub env: Vec<(&'static str, OsString)>,
    /// What the run should know (settings of the user's left out).
    pub notes: Vec<String>,
}

/// What a non-hooked package manager's own level observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level1Observes {
    /// Network attempts only: the tool's bulk file work would cost too much to observe.
    Network,
    /// Network and file attempts.
    NetworkAndFiles,
}

/// The registries a package manager's configuration names.
#[derive(Debug, Default)]
pub struct Registries {
    pub rules: Vec<Rule>,
    /// Local package sources (pip's `find-links` directories) and why they are shown.
    pub local_paths: Vec<(PathBuf, String)>,
}

/// Grants bound to the lockfile.
#[derive(Debug, Default)]
pub struct Bound {
    /// Installed packages by directory (absolute) → `name@version`, from the lockfile as it
    /// was before the install: how scripts are attributed in the log.
    pub lockfile: Vec<(PathBuf, String)>,
    /// Grants not applied, and why.
    pub notes: Vec<String>,
}

/// The project files a finding can point at.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProjectFiles {
    /// What pins the packages: a lockfile, pip's requirements file.
    pub lock: Option<PathBuf>,
    /// What declares the project: package.json, pyproject.toml, ...
    pub manifest: Option<PathBuf>,
}

/// How a tool's clients trust an extra certificate authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaTrust {
    /// Node.js clients: npm's `cafile` when the user set one (replaced by it plus ours), else
    /// `NODE_EXTRA_CA_CERTS`.
    Node,
    /// Python clients: one bundle (the user's `cert` or the system's, plus ours) named by
    /// `PIP_CERT`, `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE`.
    Python,
    /// uv: as [`CaTrust::Python`], with the user's bundle from `SSL_CERT_FILE` (uv reads no
    /// pip configuration).
    Uv,
    /// yarn 2+: its `httpsCaFilePath` when the user set one (replaced by it plus ours,
    /// through `YARN_HTTPS_CA_FILE_PATH`), else `NODE_EXTRA_CA_CERTS`.
    Yarn,
}

/// How the client sends a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// The value is a token: `Authorization: Bearer <value>`.
    Bearer,
    /// The value is `user:password`, or its base64: `Authorization: Basic`.
    Ident,
    /// The value is a password, sent inside `Authorization: Basic` with a user name the
    /// tool has from elsewhere.
    Password,
}

/// Where a credential setting's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialValue {
    /// Written in the file itself.
    Literal(String),
    /// Read from this environment variable (`${NAME}` in the file, or the variable is the
    /// setting).
    Variable(String),
}

/// One credential setting of a tool's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSetting {
    /// `npmAuthToken in /home/u/.yarnrc.yml`: for `explain` and the log, never the value.
    pub source: String,
    /// The file holding it (`None`: the environment).
    pub file: Option<PathBuf>,
    /// The setting's own name, which the file's line holding the value also holds.
    pub key: &'static str,
    pub kind: CredentialKind,
    pub value: CredentialValue,
    /// The registries the tool sends it to (scheme, host, port and path prefix).
    pub registries: Vec<url::Url>,
}

/// [`PackageManager::credential_settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialSettings {
    pub settings: Vec<CredentialSetting>,
    /// The text of each file that holds a literal value (the sandbox shows a sealed copy).
    pub files: Vec<(PathBuf, String)>,
    /// The CA file the tool verifies registries with (replacing the system's), if any.
    pub ca_file: Option<PathBuf>,
    /// Files in npm's format the tool reads itself at their own paths (yarn 1's `~/.npmrc`
    /// and project `.npmrc`), with their text: the sandbox shows each as a copy sealed the
    /// way npm's private configuration is.
    pub npmrc_files: Vec<(PathBuf, String)>,
}

/// Reading a package manager's configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading npm's configuration to find the registry")]
    Npm(#[from] npm::config::NpmrcError),
    #[error("reading yarn's configuration to find the registry")]
    Yarn(#[from] yarn::config::YarnConfigError),
    #[error("reading pip's configuration to find the index")]
    Pip(#[from] pip::config::PipConfError),
    #[error("reading uv's configuration to find the index")]
    Uv(#[from] uv::config::UvConfError),
    #[error("the egress rule `{rule}` from {source_name} is invalid")]
    Rule {
        rule: String,
        source_name: String,
        #[source]
        source: RuleError,
    },
}

/// The family of package manager a command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// npm, npx, pnpm: Node.js packages with lifecycle scripts.
    Npm,
    /// yarn 1 and 2+: Node.js packages, scripts run by yarn itself.
    Yarn,
    /// pip, `python -m pip`, uv: Python packages with build backends.
    Pip,
    /// Anything else: the base policy only.
    Generic,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Npm => "npm",
            Family::Yarn => "yarn",
            Family::Pip => "pip",
            Family::Generic => "generic",
        }
    }
}

/// What safe-install recognised in the command line.
#[derive(Debug, Clone, Copy)]
pub struct Detected {
    pub manager: &'static dyn PackageManager,
}

impl Detected {
    pub fn family(&self) -> Family {
        self.manager.family()
    }
}

/// An interpreter asked for ([`PackageManager::unhookable_interpreter`]): the request as
/// written, where it was read, and the file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnhookableInterpreter {
    pub asked: String,
    pub by: String,
    pub file: PathBuf,
}

/// Recognise the package manager from the command line.
pub fn detect(argv: &[OsString]) -> Detected {
    let program = argv.first().map(|a| base_name(a)).unwrap_or_default();
    let args = argv.get(1..).unwrap_or_default();
    let manager: &'static dyn PackageManager = if pnpm::recognise(&program) {
        &pnpm::PNPM
    } else if npm::recognise(&program) {
        &npm::NPM
    } else if uv::recognise(&program) {
        &uv::UV
    } else if yarn::recognise(&program) {
        &yarn::YARN
    } else if pip::recognise(&program, args) {
        &pip::PIP
    } else {
        &generic::GENERIC
    };
    Detected { manager }
}

fn base_name(arg: &OsStr) -> String {
    Path::new(arg)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Find `program` the way execvp would, in the caller's PATH.
pub fn which(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return std::path::absolute(p).ok().filter(|p| is_executable(p));
    }
    std::env::split_paths(path_var?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|cand| is_executable(cand))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The directory the command line tells `manager` to work in
/// ([`PackageManager::directory_options`]): the option as written and its value, from
/// `--opt DIR`, `--opt=DIR` or `-C DIR` before `--`; the last one wins, as in the tools.
/// npm and pnpm parse with nopt, which takes an unambiguous abbreviation of a long option
/// (`--prefi`), so any abbreviation of four characters or more counts: stricter than nopt.
pub fn directory_option(
    manager: &dyn PackageManager,
    argv: &[OsString],
    env: &[(OsString, OsString)],
) -> Option<(String, String)> {
    let options = manager.directory_options();
    let is_option = |name: &str| {
        options
            .iter()
            .any(|o| *o == name || (o.starts_with("--") && name.len() >= 4 && o.starts_with(name)))
    };
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy());
    let mut found = None;
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if let Some((name, value)) = a.split_once('=').filter(|(n, _)| is_option(n)) {
            found = Some((name.to_string(), value.to_string()));
        } else if is_option(&a) {
            found = args.next().map(|v| (a.to_string(), v.into_owned()));
        }
    }
    found.or_else(|| {
        manager.directory_variables().iter().find_map(|name| {
            let (_, v) = env.iter().find(|(k, v)| k == name && !v.is_empty())?;
            Some((name.to_string(), v.to_string_lossy().into_owned()))
        })
    })
}

/// The words of a command line after the program, up to `--`: what the tool reads as its
/// own subcommand and options (what follows `--` is a script's or a program's).
pub fn command_words(argv: &[OsString]) -> Vec<String> {
    argv.iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect()
}

/// The project root: walk up from `start` to the nearest directory holding one of the
/// manifests; `start` itself when none does.
pub fn find_project(start: &Path, manager: &dyn PackageManager) -> PathBuf {
    let manifests = manager.manifests();
    if !manifests.is_empty() {
        for dir in start.ancestors() {
            if manifests.iter().any(|m| dir.join(m).exists()) {
                return dir.to_path_buf();
            }
        }
    }
    start.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_directory_a_tool_is_told_to_work_in_is_read_from_its_options() {
        let dir = |words: &[&str]| {
            let a = argv(words);
            directory_option(detect(&a).manager, &a, &[])
        };
        let found = |o: &str, v: &str| Some((o.to_string(), v.to_string()));
        assert_eq!(
            dir(&["npm", "--prefix", "sub", "ci"]),
            found("--prefix", "sub")
        );
        assert_eq!(
            dir(&["npm", "ci", "-C", "a", "--prefix=b"]),
            found("--prefix", "b")
        );
        assert_eq!(dir(&["npm", "run", "x", "--", "--prefix", "c"]), None);
        // nopt's abbreviations; other options that merely share a start do not count.
        assert_eq!(dir(&["npm", "--prefi", "s", "ci"]), found("--prefi", "s"));
        assert_eq!(dir(&["npm", "ci", "--prefer-offline", "--pro"]), None);
        assert_eq!(dir(&["pnpm", "--dir", "d", "install"]), found("--dir", "d"));
        assert_eq!(dir(&["pnpm", "-C", "e", "install"]), found("-C", "e"));
        assert_eq!(dir(&["yarn", "--cwd=f", "install"]), found("--cwd", "f"));
        // pip has no such option; npm's `--cwd` is no option of npm.
        assert_eq!(dir(&["pip", "install", "-C", "x"]), None);
        assert_eq!(dir(&["npm", "install", "--cwd", "g"]), None);
        assert_eq!(
            dir(&["uv", "--directory", "h", "sync"]),
            found("--directory", "h")
        );
        assert_eq!(dir(&["uv", "sync", "--project=i"]), found("--project", "i"));
        // uv's variables, when the command line names no directory.
        let with_env = |words: &[&str], env: &[(&str, &str)]| {
            let a = argv(words);
            let env: Vec<(OsString, OsString)> =
                env.iter().map(|(k, v)| (k.into(), v.into())).collect();
            directory_option(detect(&a).manager, &a, &env)
        };
        assert_eq!(
            with_env(&["uv", "sync"], &[("UV_PROJECT", "j")]),
            found("UV_PROJECT", "j")
        );
        assert_eq!(
            with_env(
                &["uv", "--project", "k", "sync"],
                &[("UV_WORKING_DIR", "l")]
            ),
            found("--project", "k")
        );
        assert_eq!(with_env(&["uv", "sync"], &[("UV_PROJECT", "")]), None);
        assert_eq!(with_env(&["npm", "ci"], &[("UV_PROJECT", "m")]), None);
    }

    #[test]
    fn recognises_the_package_managers() {
        for (cmd, family) in [
            (&["npm", "ci"][..], Family::Npm),
            (&["/usr/bin/npx", "x"][..], Family::Npm),
            (&["pnpm", "install"][..], Family::Npm),
            (&["pnx", "cowsay"][..], Family::Npm),
            (&["yarn", "install"][..], Family::Yarn),
            (&["/opt/bin/yarnpkg", "add", "x"][..], Family::Yarn),
            (&["pip", "install", "-r", "r.txt"][..], Family::Pip),
            (&["pip3.11", "install", "."][..], Family::Pip),
            (&["python3", "-m", "pip", "install", "."][..], Family::Pip),
            (
                &["/venv/bin/python", "-m", "pip", "install", "."][..],
                Family::Pip,
            ),
            (&["uv", "pip", "install", "x"][..], Family::Pip),
            (&["/opt/uv/bin/uv", "sync"][..], Family::Pip),
            (&["uvx", "ruff"][..], Family::Pip),
            (&["python3", "setup.py", "install"][..], Family::Generic),
            (&["/bin/true"][..], Family::Generic),
        ] {
            assert_eq!(detect(&argv(cmd)).family(), family, "{cmd:?}");
        }
        // uv is its own package manager; pip's knowledge is pip's only.
        for cmd in [
            &["uv", "pip", "install", "x"][..],
            &["/opt/uv/bin/uv", "sync"][..],
            &["/opt/uv/bin/uvx", "--from", "x", "y"][..],
        ] {
            assert_eq!(detect(&argv(cmd)).manager.name(), "uv", "{cmd:?}");
            assert_eq!(
                detect(&argv(cmd)).manager.builtin_policy().0,
                crate::policy::builtin::UV.0,
                "{cmd:?}"
            );
        }
        assert_eq!(
            detect(&argv(&["pip", "install", "x"])).manager.name(),
            "pip"
        );
    }

    #[test]
    fn pnpm_and_its_runners_are_pnpm_not_npm() {
        for cmd in ["pnpm", "/opt/x/bin/pnpm", "pnpx", "pnx"] {
            let d = detect(&argv(&[cmd, "install"]));
            assert_eq!(d.manager.builtin_policy().0, "policies/pnpm.toml", "{cmd}");
        }
        for cmd in ["npm", "npx"] {
            let d = detect(&argv(&[cmd, "install"]));
            assert_eq!(d.manager.builtin_policy().0, "policies/npm.toml", "{cmd}");
        }
    }

    #[test]
    fn project_is_the_nearest_manifest_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("package.json"), "{}").expect("write");
        let sub = root.join("src/deep");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert_eq!(find_project(&sub, &npm::NPM), root);
        assert_eq!(find_project(&sub, &generic::GENERIC), sub);
    }
}
