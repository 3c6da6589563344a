//! The policy file format as serde sees it. Every table refuses unknown keys so a typo is an
//! error, never a silently ignored rule. Values stay `Spanned` so validation errors can name
//! the line.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    pub env: RawEnv,
    #[serde(default)]
    pub fs: RawFs,
    #[serde(default)]
    pub seccomp: RawSeccomp,
    #[serde(default)]
    pub egress: RawEgress,
    #[serde(default)]
    pub credentials: RawCredentials,
    #[serde(default)]
    pub scripts: RawScripts,
    #[serde(default, rename = "package")]
    pub packages: Vec<RawPackage>,
    #[serde(default)]
    pub pth: RawPth,
    pub sandbox: Option<RawSandbox>,
}

/// `[sandbox] mode = "landlock"`: which modes of the ladder the policy accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    pub mode: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    #[serde(default)]
    pub pass: Vec<RawNameRule>,
    #[serde(default)]
    pub secret: Vec<RawNameRule>,
    #[serde(default)]
    pub set: Vec<RawEnvSet>,
}

/// `name = "PATH"` (exact) or `pattern = "LC_*"` (glob), with a reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNameRule {
    pub name: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvSet {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFs {
    #[serde(default)]
    pub ro: Vec<RawPathRule>,
    #[serde(default)]
    pub rw: Vec<RawPathRule>,
    #[serde(default)]
    pub cache: Vec<RawCacheRule>,
    #[serde(default)]
    pub hide: Vec<RawHideRule>,
    #[serde(default)]
    pub mask: Vec<RawPathRule>,
    #[serde(default)]
    pub credential: Vec<RawPathRule>,
    #[serde(default)]
    pub skip: Vec<RawSkipRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPathRule {
    pub path: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCacheRule {
    pub path: Spanned<String>,
    /// An environment variable that, when set, names the cache directory instead.
    pub env: Option<Spanned<String>>,
    /// Set `env` inside to where the cache is, for the package manager's level only (level 2
    /// does not get the variable); the directory is created before the run.
    pub export: Option<Spanned<bool>>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHideRule {
    pub glob: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkipRule {
    pub name: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeccomp {
    #[serde(default)]
    pub deny: Vec<RawSyscallRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyscallRule {
    pub syscall: Spanned<String>,
    pub reason: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEgress {
    #[serde(default)]
    pub allow: Vec<RawHostRule>,
}

/// `[[egress.allow]] host = "registry.example.com:443"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostRule {
    pub host: Spanned<String>,
    pub reason: Spanned<String>,
}

/// `[credentials] env = [...]`: variables the package manager may use but its scripts never see.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    #[serde(default)]
    pub env: Vec<RawNameRule>,
}

/// `[scripts] network = "none" | "registry"`, with a reason.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScripts {
    pub network: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
}

/// `[[package]] name = "sharp"`: what one package's scripts may do beyond the default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPackage {
    pub name: Spanned<String>,
    pub reason: Spanned<String>,
    #[serde(default)]
    pub allow_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_read: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_write: Vec<Spanned<String>>,
    /// The lockfile's `integrity` of the version granted (`sha512-…`): another version does
    /// not inherit the grant.
    pub integrity: Option<Spanned<String>>,
}

/// `[[pth.allow]] package = "setuptools"`: `.pth` files a wheel of this package installs are
/// known and expected (no `pth-installed` finding at the end of the run).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPth {
    #[serde(default)]
    pub allow: Vec<RawPthAllow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPthAllow {
    pub package: Spanned<String>,
    pub reason: Spanned<String>,
}
