//! Policy: what the sandbox lets in, as data. Built-in files (`policies/*.toml`) are embedded
//! in the binary and layered: base < package manager < project `.safe-install.toml` <
//! `--policy FILE`... < command-line flags. Later layers only add entries. Files are parsed
//! into `raw` serde types, then validated into the types below, which cannot be invalid.

pub mod addr;
pub mod allow;
mod compiled;
mod raw;
mod validate;

pub(crate) use validate::valid_package_name;
pub use validate::PolicyError;

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// Where an entry came from, for `explain` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `built-in policies/base.toml`, a file path, or a flag such as `--allow-env`.
    pub source: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.source, line),
            None => f.write_str(&self.source),
        }
    }
}

/// One policy entry: a value, why it is there, and where it was written.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub value: T,
    pub reason: String,
    pub origin: Origin,
}

/// Matches environment variable names, case-insensitively (npm lower-cases its settings).
/// A pattern's only wildcard is `*` (any run of characters, `/` included): environment names
/// need no more, and matching them this way costs nothing at start-up, where compiling a
/// regular expression per pattern cost milliseconds.
#[derive(Debug, Clone)]
pub enum NameMatcher {
    Exact(String),
    Pattern { text: String },
}

impl NameMatcher {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::Exact(n) => n.eq_ignore_ascii_case(name),
            NameMatcher::Pattern { text } => star_match_ignore_case(text, name),
        }
    }

    pub fn is_exact(&self, name: &str) -> bool {
        matches!(self, NameMatcher::Exact(n) if n == name)
    }
}

/// `pattern` (only `*` is special) against all of `text`, ASCII letters in either case.
/// Allocates nothing: the script shell matches every variable of a script's environment
/// against every dropped name before the script starts.
pub fn star_match_ignore_case(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in `text` its match ends so far.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more character and retry from after it.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl std::fmt::Display for NameMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameMatcher::Exact(n) => f.write_str(n),
            NameMatcher::Pattern { text } => f.write_str(text),
        }
    }
}

/// A path in a policy: absolute, or relative to the caller's real home (`~/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyPath {
    Absolute(PathBuf),
    Home(PathBuf),
}

impl PolicyPath {
    pub fn resolve(&self, home: &Path) -> PathBuf {
        match self {
            PolicyPath::Absolute(p) => p.clone(),
            PolicyPath::Home(rel) => home.join(rel),
        }
    }
}

impl std::fmt::Display for PolicyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyPath::Absolute(p) => write!(f, "{}", p.display()),
            PolicyPath::Home(rel) => write!(f, "~/{}", rel.display()),
        }
    }
}

/// A package manager cache directory, overridable by an environment variable.
#[derive(Debug, Clone)]
pub struct CacheDir {
    pub path: PolicyPath,
    pub env: Option<String>,
    /// `env` is set inside to the directory (the package manager's level only), which is
    /// created before the run.
    pub export: bool,
}

/// A hide rule: a glob matched against the file name, or against the project-relative path
/// when the pattern contains a `/`. Parsed (validated) here; compiled once for all rules by
/// [`HideMatcher`].
#[derive(Debug, Clone)]
pub struct HideGlob {
    pub text: String,
    pub glob: Glob,
    pub on_path: bool,
}

/// Every hide rule compiled for matching: name globs that are a literal (`.env`), a suffix
/// (`*.pem`) or a prefix (`id_rsa*`), and path globs that are a literal name below the top
/// directory (`*/**/.npmrc`), are compared as bytes; the rest go into two glob sets
/// (by name, by path), one compilation for the whole list. The built-in rules are all of the
/// simple kinds, so a run builds no glob set for them (building one, with its Aho-Corasick
/// automaton for the prefixes, was a quarter of a million instructions at every start).
#[derive(Debug, Clone)]
pub struct HideMatcher {
    /// (rule index, how its file name matches), in rule order.
    simple: Vec<(usize, NameMatch)>,
    names: GlobSet,
    name_rules: Vec<usize>,
    paths: GlobSet,
    path_rules: Vec<usize>,
}

/// A name glob with a single `*` at one end, or none; no other glob syntax. Or the path
/// glob `*/**/NAME` with NAME a literal: that name in any directory below the top one.
#[derive(Debug, Clone)]
enum NameMatch {
    Literal(Vec<u8>),
    Suffix(Vec<u8>),
    Prefix(Vec<u8>),
    Nested(Vec<u8>),
}

impl NameMatch {
    /// `None` for a glob that needs globset: any other path glob, or any of `?[]{}\\` or a
    /// `*` in the middle or at both ends.
    fn of(glob: &HideGlob) -> Option<Self> {
        let special = |b: &u8| matches!(b, b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b'\\' | b'/');
        if glob.on_path {
            return match glob.text.as_bytes() {
                [b'*', b'/', b'*', b'*', b'/', name @ ..]
                    if !name.is_empty() && !name.iter().any(special) =>
                {
                    Some(Self::Nested(name.to_vec()))
                }
                _ => None,
            };
        }
        let text = glob.text.as_bytes();
        match text {
            [b'*', rest @ ..] if !rest.iter().any(special) => Some(Self::Suffix(rest.to_vec())),
            [rest @ .., b'*'] if !rest.iter().any(special) => Some(Self::Prefix(rest.to_vec())),
            _ if !text.iter().any(special) => Some(Self::Literal(text.to_vec())),
            _ => None,
        }
    }

    /// `depth`: the number of components of the relative path whose file name is `name`.
    fn matches(&self, name: &[u8], depth: usize) -> bool {
        match self {
            Self::Literal(l) => name == l.as_slice(),
            Self::Suffix(s) => name.ends_with(s),
            Self::Prefix(p) => name.starts_with(p),
            Self::Nested(l) => depth >= 2 && name == l.as_slice(),
        }
    }
}

impl HideMatcher {
    pub fn new(rules: &[Entry<HideGlob>]) -> Self {
        let mut simple = Vec::new();
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut name_rules, mut path_rules) = (Vec::new(), Vec::new());
        for (i, rule) in rules.iter().enumerate() {
            if let Some(m) = NameMatch::of(&rule.value) {
                simple.push((i, m));
            } else if rule.value.on_path {
                paths.add(rule.value.glob.clone());
                path_rules.push(i);
            } else {
                names.add(rule.value.glob.clone());
                name_rules.push(i);
            }
        }
        // Every glob was validated on its own; a set of valid globs always builds.
        let build = |b: GlobSetBuilder, rules: &[usize]| {
            if rules.is_empty() {
                GlobSet::empty()
            } else {
                b.build().unwrap_or_else(|_| GlobSet::empty())
            }
        };
        HideMatcher {
            simple,
            names: build(names, &name_rules),
            name_rules,
            paths: build(paths, &path_rules),
            path_rules,
        }
    }

    /// The index (into the rules given to `new`) of the first rule hiding `rel_path`.
    pub fn first_match(&self, rel_path: &Path) -> Option<usize> {
        use std::os::unix::ffi::OsStrExt;
        let name = rel_path.file_name();
        let by_simple = name.and_then(|name| {
            let name = name.as_bytes();
            let depth = rel_path.components().count();
            self.simple
                .iter()
                .find(|(_, m)| m.matches(name, depth))
                .map(|(i, _)| *i)
        });
        let by_name = name
            .filter(|_| !self.name_rules.is_empty())
            .and_then(|name| {
                let hits = self.names.matches(Path::new(name));
                hits.first().map(|&i| self.name_rules[i])
            });
        let by_path = (!self.path_rules.is_empty())
            .then(|| {
                self.paths
                    .matches(rel_path)
                    .first()
                    .map(|&i| self.path_rules[i])
            })
            .flatten();
        [by_simple, by_name, by_path].into_iter().flatten().min()
    }
}

#[derive(Debug, Clone, Default)]
pub struct EnvPolicy {
    pub pass: Vec<Entry<NameMatcher>>,
    pub secret: Vec<Entry<NameMatcher>>,
    pub set: Vec<Entry<(String, String)>>,
}

#[derive(Debug, Clone, Default)]
pub struct FsPolicy {
    pub ro: Vec<Entry<PolicyPath>>,
    pub rw: Vec<Entry<PolicyPath>>,
    pub cache: Vec<Entry<CacheDir>>,
    pub hide: Vec<Entry<HideGlob>>,
    /// Paths in otherwise visible places (system directories) replaced by empty ones.
    pub mask: Vec<Entry<PolicyPath>>,
    /// Credential files and directories (mostly of the real home): never in the view, and an
    /// attempt to open one is logged as `credential-path` even where nothing exists.
    pub credential: Vec<Entry<PolicyPath>>,
    pub skip: Vec<Entry<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct SeccompPolicy {
    /// Syscall names, each known to the syscall table of this architecture.
    pub deny: Vec<Entry<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// `HOST[:PORT]` or `*.suffix[:PORT]`; checked by the egress allow-list.
    pub allow: Vec<Entry<String>>,
}

/// Whether lifecycle scripts and build backends may use the network (trust level 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptsNetwork {
    /// No network at all: the registry itself is an exfiltration channel.
    #[default]
    None,
    /// The package manager's registries (not policy or `--allow-host` hosts).
    Registry,
}

impl ScriptsNetwork {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(ScriptsNetwork::None),
            "registry" => Some(ScriptsNetwork::Registry),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScriptsNetwork::None => "none",
            ScriptsNetwork::Registry => "registry",
        }
    }
}

/// What one package's scripts may do beyond the trust-level-2 default.
#[derive(Debug, Clone)]
pub struct PackageGrant {
    /// The package name as in package.json / the project name on the index (no version).
    pub name: String,
    /// `HOST[:PORT]` rules, as for `[egress] allow`.
    pub allow_hosts: Vec<String>,
    pub allow_read: Vec<PolicyPath>,
    pub allow_write: Vec<PolicyPath>,
    /// The lockfile integrity the grant is pinned to, if any.
    pub integrity: Option<String>,
    /// Where it applies: the package directories (absolute) of the lockfile entries that are
    /// this package ([`ScriptsPolicy::bind_to_lockfile`]). A script gets the grant only when
    /// npm started it in one of them; the name a package gives itself counts for nothing.
    pub installed: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct ScriptsPolicy {
    pub network: ScriptsNetwork,
    /// Where the setting came from (`None`: the default).
    pub network_origin: Option<Origin>,
    pub packages: Vec<Entry<PackageGrant>>,
}

impl ScriptsPolicy {
    /// The grant for package `name` (`name@version` or a bare name), if any; later layers win.
    pub fn grant(&self, name: &str) -> Option<&Entry<PackageGrant>> {
        let bare = package_name(name);
        self.packages.iter().rev().find(|g| g.value.name == bare)
    }
}

/// Python's normalised project name (PEP 503), as dist-info directory names and policies
/// compare.
pub fn normalise_dist(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// `name` of `name@version` (scoped names keep their leading `@`).
pub fn package_name(spec: &str) -> &str {
    match spec.rfind('@') {
        Some(at) if at > 0 => &spec[..at],
        _ => spec,
    }
}

/// The sandbox modes a policy accepts (the mode ladder: full, then landlock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Namespaces required; refuse where they are unavailable.
    #[default]
    Full,
    /// Fall back to Landlock + seccomp only where namespaces are unavailable.
    Landlock,
}

#[derive(Debug, Clone, Default)]
pub struct SandboxPolicy {
    /// The last layer that set `[sandbox] mode` wins.
    pub mode: Option<Entry<Mode>>,
}

impl SandboxPolicy {
    /// Whether the landlock rung may be used when the full one is unavailable.
    pub fn allows_landlock(&self) -> bool {
        self.mode
            .as_ref()
            .is_some_and(|m| m.value == Mode::Landlock)
    }
}

/// The effective policy: every layer merged and validated.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub env: EnvPolicy,
    pub fs: FsPolicy,
    pub seccomp: SeccompPolicy,
    pub egress: EgressPolicy,
    /// Variables only the package manager (trust level 1) receives; matched names are removed
    /// before any lifecycle script or build backend starts.
    pub credentials: Vec<Entry<NameMatcher>>,
    pub scripts: ScriptsPolicy,
    pub sandbox: SandboxPolicy,
    /// Python packages whose wheels' `.pth` files are expected (normalised project names,
    /// `setuptools`): the end-of-run check reports no `pth-installed` for them.
    pub pth_allow: Vec<Entry<String>>,
    /// The layers that were loaded, lowest first.
    pub layers: Vec<String>,
}

/// The built-in policy files, embedded at build time.
pub mod builtin {
    pub const BASE: (&str, &str) = (
        "policies/base.toml",
        include_str!("../../policies/base.toml"),
    );
    pub const NPM: (&str, &str) = ("policies/npm.toml", include_str!("../../policies/npm.toml"));
    pub const YARN: (&str, &str) = (
        "policies/yarn.toml",
        include_str!("../../policies/yarn.toml"),
    );
    pub const PIP: (&str, &str) = ("policies/pip.toml", include_str!("../../policies/pip.toml"));
    pub const UV: (&str, &str) = ("policies/uv.toml", include_str!("../../policies/uv.toml"));
    pub const GENERIC: (&str, &str) = (
        "policies/generic.toml",
        include_str!("../../policies/generic.toml"),
    );
}

/// Command-line additions, the top layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub allow_env: Vec<String>,
    pub rw: Vec<PathBuf>,
    pub ro: Vec<PathBuf>,
    pub hide: Vec<String>,
    pub allow_host: Vec<String>,
    /// `--secret-env NAME`: passed to the package manager, never to its scripts.
    pub secret_env: Vec<String>,
    /// `--scripts-network none|registry`.
    pub scripts_network: Option<String>,
}

impl Policy {
    /// Merge one policy file's text into this policy. `source` names it in errors.
    pub fn add_layer(&mut self, source: &str, text: &str) -> Result<(), PolicyError> {
        validate::merge_file(self, source, text)?;
        self.layers.push(source.to_string());
        Ok(())
    }

    /// Merge a built-in file (`builtin::BASE`, a package manager's), named `built-in NAME`:
    /// from the tree build.rs compiled, parsing the text only if there is none (then a
    /// syntax error is reported as for any file).
    pub fn add_builtin(&mut self, (name, text): (&str, &str)) -> Result<(), PolicyError> {
        let source = format!("built-in {name}");
        match compiled::tree(name) {
            Some(tree) => {
                validate::merge_tree(self, &source, text, tree)?;
                self.layers.push(source);
                Ok(())
            }
            None => self.add_layer(&source, text),
        }
    }

    /// Merge a policy file from disk.
    pub fn add_file(&mut self, path: &Path) -> Result<(), PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_layer(&path.display().to_string(), &text)
    }

    /// Merge the command-line flags.
    pub fn add_overrides(&mut self, o: &Overrides) -> Result<(), PolicyError> {
        validate::merge_overrides(self, o)?;
        if !(o.allow_env.is_empty()
            && o.rw.is_empty()
            && o.ro.is_empty()
            && o.hide.is_empty()
            && o.allow_host.is_empty()
            && o.secret_env.is_empty()
            && o.scripts_network.is_none())
        {
            self.layers.push("command-line flags".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
