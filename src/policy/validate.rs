//! Raw policy text to validated entries. Every error names the file, the line and the key.

use super::raw::{RawNameRule, RawPolicy};
use super::{
    CacheDir, Entry, HideGlob, Mode, NameMatcher, Origin, Overrides, PackageGrant, Policy,
    PolicyPath, ScriptsNetwork,
};
use globset::GlobBuilder;
use std::ops::Range;
use std::path::{Component, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: key `{key}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{flag} {value}: {message}")]
    Flag {
        flag: &'static str,
        value: String,
        message: String,
    },
}

struct Ctx<'a> {
    file: &'a str,
    /// Byte offsets at which each line after the first starts.
    line_starts: Vec<usize>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, text: &str) -> Self {
        let line_starts = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Ctx { file, line_starts }
    }

    /// The 1-based line holding the start of `span`.
    fn line(&self, span: Range<usize>) -> usize {
        self.line_starts
            .partition_point(|&start| start <= span.start)
            + 1
    }

    fn origin<T>(&self, at: &Spanned<T>) -> Origin {
        Origin {
            source: self.file.to_string(),
            line: Some(self.line(at.span())),
        }
    }

    fn invalid<T>(&self, at: &Spanned<T>, key: String, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_string(),
            line: self.line(at.span()),
            key,
            message: message.into(),
        }
    }

    /// `key` is formatted only for the error: a valid file allocates no key names.
    fn reason(
        &self,
        reason: &Spanned<String>,
        key: impl FnOnce() -> String,
    ) -> Result<String, PolicyError> {
        let text = reason.get_ref().trim();
        if text.is_empty() {
            return Err(self.invalid(reason, key(), "every entry needs a non-empty reason"));
        }
        Ok(text.to_string())
    }
}

/// An entry's key (`env.pass[3]`), written out only when an error names it.
struct Key<'a>(&'a str, usize);

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// Parse one policy file and add its entries to `policy`, section by section; the first
/// invalid entry is the error, named by file, line and key.
pub(super) fn merge_file(policy: &mut Policy, file: &str, text: &str) -> Result<(), PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| Ctx::new(file, text).line(s)).unwrap_or(1);
        let message = e.message().trim().to_string();
        let message = match key_at(text, line) {
            Some(key) if !message.contains(&key) => format!("key `{key}`: {message}"),
            _ => message,
        };
        PolicyError::Syntax {
            file: file.to_string(),
            line,
            message,
        }
    })?;
    merge_raw(policy, &raw, &Ctx::new(file, text))
}

/// Add a built-in file as build.rs compiled it (`tree`; `text` for the lines its spans fall
/// on): the same validation as [`merge_file`], without parsing.
pub(super) fn merge_tree(
    policy: &mut Policy,
    file: &str,
    text: &str,
    tree: &'static super::compiled::Node,
) -> Result<(), PolicyError> {
    use serde::Deserialize as _;
    let raw = RawPolicy::deserialize(tree).map_err(|e| PolicyError::Syntax {
        file: file.to_string(),
        line: 1,
        message: e.to_string(),
    })?;
    merge_raw(policy, &raw, &Ctx::new(file, text))
}

/// Every section of one file, in order; the first invalid entry is the error.
fn merge_raw(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    merge_env(policy, raw, cx)?;
    merge_fs(policy, raw, cx)?;
    merge_seccomp(policy, raw, cx)?;
    merge_sandbox(policy, raw, cx)?;
    merge_egress(policy, raw, cx)?;
    merge_pth(policy, raw, cx)?;
    merge_credentials(policy, raw, cx)?;
    merge_scripts(policy, raw, cx)?;
    merge_packages(policy, raw, cx)?;
    Ok(())
}

/// `[[env.pass]]`, `[[env.secret]]`, `[[env.set]]`.
fn merge_env(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (i, rule) in raw.env.pass.iter().enumerate() {
        let key = Key("env.pass", i);
        let value = name_matcher(cx, rule, &key)?;
        policy.env.pass.push(Entry {
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.reason),
            value,
        });
    }
    for (i, rule) in raw.env.secret.iter().enumerate() {
        let key = Key("env.secret", i);
        let value = name_matcher(cx, rule, &key)?;
        policy.env.secret.push(Entry {
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.reason),
            value,
        });
    }
    for (i, rule) in raw.env.set.iter().enumerate() {
        let key = Key("env.set", i);
        let name = rule.name.get_ref();
        if !valid_env_name(name) {
            return Err(cx.invalid(
                &rule.name,
                format!("{key}.name"),
                "not a valid variable name",
            ));
        }
        if rule.value.get_ref().contains('\0') {
            return Err(cx.invalid(&rule.value, format!("{key}.value"), "contains a NUL byte"));
        }
        policy.env.set.push(Entry {
            value: (name.clone(), rule.value.get_ref().clone()),
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.name),
        });
    }
    Ok(())
}

/// `[[fs.ro]]`, `[[fs.rw]]`, `[[fs.mask]]`, `[[fs.credential]]`, `[[fs.cache]]`, `[[fs.hide]]`, `[[fs.skip]]`.
fn merge_fs(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (list, rules, section) in [
        (&mut policy.fs.ro, &raw.fs.ro, "fs.ro"),
        (&mut policy.fs.rw, &raw.fs.rw, "fs.rw"),
        (&mut policy.fs.mask, &raw.fs.mask, "fs.mask"),
        (
            &mut policy.fs.credential,
            &raw.fs.credential,
            "fs.credential",
        ),
    ] {
        for (i, rule) in rules.iter().enumerate() {
            let key = Key(section, i);
            let path = policy_path(rule.path.get_ref())
                .map_err(|m| cx.invalid(&rule.path, format!("{key}.path"), m))?;
            list.push(Entry {
                value: path,
                reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
                origin: cx.origin(&rule.path),
            });
        }
    }
    for (i, rule) in raw.fs.cache.iter().enumerate() {
        let key = Key("fs.cache", i);
        let path = policy_path(rule.path.get_ref())
            .map_err(|m| cx.invalid(&rule.path, format!("{key}.path"), m))?;
        if let Some(env) = &rule.env {
            if !valid_env_name(env.get_ref()) {
                return Err(cx.invalid(env, format!("{key}.env"), "not a valid variable name"));
            }
        }
        let export = rule.export.as_ref().is_some_and(|e| *e.get_ref());
        if let (true, None, Some(e)) = (export, &rule.env, &rule.export) {
            return Err(cx.invalid(
                e,
                format!("{key}.export"),
                "export sets the variable named by `env`, and this rule names none",
            ));
        }
        policy.fs.cache.push(Entry {
            value: CacheDir {
                path,
                env: rule.env.as_ref().map(|e| e.get_ref().clone()),
                export,
            },
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.path),
        });
    }
    for (i, rule) in raw.fs.hide.iter().enumerate() {
        let key = Key("fs.hide", i);
        let glob = hide_glob(rule.glob.get_ref())
            .map_err(|m| cx.invalid(&rule.glob, format!("{key}.glob"), m))?;
        policy.fs.hide.push(Entry {
            value: glob,
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.glob),
        });
    }
    for (i, rule) in raw.fs.skip.iter().enumerate() {
        let key = Key("fs.skip", i);
        let name = rule.name.get_ref();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(cx.invalid(
                &rule.name,
                format!("{key}.name"),
                "must be a single directory name such as \"node_modules\"",
            ));
        }
        policy.fs.skip.push(Entry {
            value: name.clone(),
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.name),
        });
    }
    Ok(())
}

/// `[[seccomp.deny]]`: system calls known to this build only.
fn merge_seccomp(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (i, rule) in raw.seccomp.deny.iter().enumerate() {
        let key = Key("seccomp.deny", i);
        let name = rule.syscall.get_ref();
        if crate::sys::syscalls::number(name).is_none() {
            return Err(cx.invalid(
                &rule.syscall,
                format!("{key}.syscall"),
                format!(
                    "unknown system call `{name}` (see `safe-install explain` for the known names)"
                ),
            ));
        }
        policy.seccomp.deny.push(Entry {
            value: name.clone(),
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.syscall),
        });
    }
    Ok(())
}

/// `[sandbox] mode`.
fn merge_sandbox(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    if let Some(sandbox) = &raw.sandbox {
        let mode = match sandbox.mode.get_ref().as_str() {
            "full" => Mode::Full,
            "landlock" => Mode::Landlock,
            other => {
                return Err(cx.invalid(
                    &sandbox.mode,
                    "sandbox.mode".into(),
                    format!("unknown mode `{other}`: use \"full\" (namespaces required) or \"landlock\" (fall back to Landlock + seccomp only where user namespaces are unavailable)"),
                ))
            }
        };
        policy.sandbox.mode = Some(Entry {
            value: mode,
            reason: cx.reason(&sandbox.reason, || "sandbox.reason".into())?,
            origin: cx.origin(&sandbox.mode),
        });
    }
    Ok(())
}

/// `[[egress.allow]]`.
fn merge_egress(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (i, rule) in raw.egress.allow.iter().enumerate() {
        let key = Key("egress.allow", i);
        let host = rule.host.get_ref().trim();
        host_rule(host).map_err(|m| cx.invalid(&rule.host, format!("{key}.host"), m))?;
        policy.egress.allow.push(Entry {
            value: host.to_string(),
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.host),
        });
    }
    Ok(())
}

/// `[[pth.allow]]`: Python projects whose `.pth` files are expected.
fn merge_pth(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (i, rule) in raw.pth.allow.iter().enumerate() {
        let key = Key("pth.allow", i);
        let name = rule.package.get_ref().trim();
        if !valid_package_name(name) || name.starts_with('@') {
            return Err(cx.invalid(
                &rule.package,
                format!("{key}.package"),
                "must be a Python project name such as \"setuptools\", without a version",
            ));
        }
        policy.pth_allow.push(Entry {
            value: super::normalise_dist(name),
            reason: cx.reason(&rule.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&rule.package),
        });
    }
    Ok(())
}

/// `[[credentials.env]]`: a credential named exactly also passes the scrub, for the package manager only.
fn merge_credentials(
    policy: &mut Policy,
    raw: &RawPolicy,
    cx: &Ctx<'_>,
) -> Result<(), PolicyError> {
    for (i, rule) in raw.credentials.env.iter().enumerate() {
        let key = Key("credentials.env", i);
        let value = name_matcher(cx, rule, &key)?;
        let reason = cx.reason(&rule.reason, || format!("{key}.reason"))?;
        let origin = cx.origin(&rule.reason);
        // A credential named exactly must reach the package manager: it passes the scrub.
        if let NameMatcher::Exact(_) = value {
            policy.env.pass.push(Entry {
                value: value.clone(),
                reason: format!("credential for the package manager only: {reason}"),
                origin: origin.clone(),
            });
        }
        policy.credentials.push(Entry {
            value,
            reason,
            origin,
        });
    }
    Ok(())
}

/// `[scripts] network`, with its required reason.
fn merge_scripts(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    if let Some(network) = &raw.scripts.network {
        let Some(value) = ScriptsNetwork::parse(network.get_ref()) else {
            return Err(cx.invalid(
                network,
                "scripts.network".into(),
                "must be \"none\" (scripts get no network) or \"registry\" (the package manager's registries)",
            ));
        };
        let Some(reason) = &raw.scripts.reason else {
            return Err(cx.invalid(
                network,
                "scripts.reason".into(),
                "a `reason` is required next to `network`",
            ));
        };
        cx.reason(reason, || "scripts.reason".into())?;
        policy.scripts.network = value;
        policy.scripts.network_origin = Some(cx.origin(network));
    }
    Ok(())
}

/// `[[package]]` grants: name, integrity, allow-hosts, allow-read, allow-write.
fn merge_packages(policy: &mut Policy, raw: &RawPolicy, cx: &Ctx<'_>) -> Result<(), PolicyError> {
    for (i, pkg) in raw.packages.iter().enumerate() {
        let key = Key("package", i);
        let name = pkg.name.get_ref().trim();
        if !valid_package_name(name) {
            return Err(cx.invalid(
                &pkg.name,
                format!("{key}.name"),
                "must be a package name such as \"sharp\" or \"@scope/name\", without a version",
            ));
        }
        let integrity = match &pkg.integrity {
            Some(i) => {
                let text = i.get_ref().trim();
                let known = ["sha512-", "sha384-", "sha256-", "sha1-"];
                if !known.iter().any(|p| text.starts_with(p)) || text.len() < 12 {
                    return Err(cx.invalid(
                        i,
                        format!("{key}.integrity"),
                        "must be a lockfile integrity such as \"sha512-…\" (package-lock.json, `integrity` of the package's entry)",
                    ));
                }
                Some(text.to_string())
            }
            None => None,
        };
        let mut grant = PackageGrant {
            name: name.to_string(),
            allow_hosts: Vec::new(),
            allow_read: Vec::new(),
            allow_write: Vec::new(),
            integrity,
            installed: Vec::new(),
        };
        for (j, host) in pkg.allow_hosts.iter().enumerate() {
            let h = host.get_ref().trim();
            host_rule(h).map_err(|m| cx.invalid(host, format!("{key}.allow-hosts[{j}]"), m))?;
            grant.allow_hosts.push(h.to_string());
        }
        for (list, paths, field) in [
            (&mut grant.allow_read, &pkg.allow_read, "allow-read"),
            (&mut grant.allow_write, &pkg.allow_write, "allow-write"),
        ] {
            for (j, path) in paths.iter().enumerate() {
                let p = policy_path(path.get_ref())
                    .map_err(|m| cx.invalid(path, format!("{key}.{field}[{j}]"), m))?;
                list.push(p);
            }
        }
        policy.scripts.packages.push(Entry {
            value: grant,
            reason: cx.reason(&pkg.reason, || format!("{key}.reason"))?,
            origin: cx.origin(&pkg.name),
        });
    }
    Ok(())
}

/// npm and Python package names: letters, digits, `-._~`, an optional `@scope/` prefix.
pub(crate) fn valid_package_name(name: &str) -> bool {
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) if !scope.is_empty() => {
                if !scope.chars().all(package_char) {
                    return false;
                }
                rest
            }
            _ => return false,
        },
        None => name,
    };
    !bare.is_empty() && bare.len() <= 214 && bare.chars().all(package_char)
}

fn package_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

pub(super) fn merge_overrides(policy: &mut Policy, o: &Overrides) -> Result<(), PolicyError> {
    let flag_origin = |flag: &str| Origin {
        source: flag.to_string(),
        line: None,
    };
    for name in &o.allow_env {
        if !valid_env_name(name) {
            return Err(PolicyError::Flag {
                flag: "--allow-env",
                value: name.clone(),
                message: "not a valid variable name (letters, digits and '_'; no '=')".into(),
            });
        }
        policy.env.pass.push(Entry {
            value: NameMatcher::Exact(name.clone()),
            reason: "named on the command line".into(),
            origin: flag_origin("--allow-env"),
        });
    }
    for (flag, paths, list) in [
        ("--rw", &o.rw, &mut policy.fs.rw),
        ("--ro", &o.ro, &mut policy.fs.ro),
    ] {
        for p in paths {
            let abs = std::path::absolute(p).map_err(|e| PolicyError::Flag {
                flag,
                value: p.display().to_string(),
                message: e.to_string(),
            })?;
            if !abs.exists() {
                return Err(PolicyError::Flag {
                    flag,
                    value: p.display().to_string(),
                    message: "no such file or directory".into(),
                });
            }
            list.push(Entry {
                value: PolicyPath::Absolute(abs),
                reason: "named on the command line".into(),
                origin: flag_origin(flag),
            });
        }
    }
    for g in &o.hide {
        let glob = hide_glob(g).map_err(|message| PolicyError::Flag {
            flag: "--hide",
            value: g.clone(),
            message,
        })?;
        policy.fs.hide.push(Entry {
            value: glob,
            reason: "named on the command line".into(),
            origin: flag_origin("--hide"),
        });
    }
    for name in &o.secret_env {
        if !valid_env_name(name) {
            return Err(PolicyError::Flag {
                flag: "--secret-env",
                value: name.clone(),
                message: "not a valid variable name (letters, digits and '_'; no '=')".into(),
            });
        }
        let entry = Entry {
            value: NameMatcher::Exact(name.clone()),
            reason: "named with --secret-env: for the package manager only".into(),
            origin: flag_origin("--secret-env"),
        };
        policy.env.pass.push(entry.clone());
        policy.credentials.push(entry);
    }
    if let Some(network) = &o.scripts_network {
        policy.scripts.network =
            ScriptsNetwork::parse(network).ok_or_else(|| PolicyError::Flag {
                flag: "--scripts-network",
                value: network.clone(),
                message: "must be `none` (scripts get no network) or `registry` (the package manager's registries)".into(),
            })?;
        policy.scripts.network_origin = Some(flag_origin("--scripts-network"));
    }
    for h in &o.allow_host {
        host_rule(h).map_err(|message| PolicyError::Flag {
            flag: "--allow-host",
            value: h.clone(),
            message,
        })?;
        policy.egress.allow.push(Entry {
            value: h.trim().to_string(),
            reason: "named on the command line".into(),
            origin: flag_origin("--allow-host"),
        });
    }
    Ok(())
}

/// The dotted key written on `line` (1-based), qualified by the table header above it:
/// `fs.hide.reason` for `reason = 42` under `[[fs.hide]]`.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let (key, _) = here.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

fn name_matcher(
    cx: &Ctx<'_>,
    rule: &RawNameRule,
    key: &Key<'_>,
) -> Result<NameMatcher, PolicyError> {
    match (&rule.name, &rule.pattern) {
        (Some(name), None) => {
            if !valid_env_name(name.get_ref()) {
                return Err(cx.invalid(name, format!("{key}.name"), "not a valid variable name"));
            }
            Ok(NameMatcher::Exact(name.get_ref().clone()))
        }
        (None, Some(pattern)) => {
            let text = pattern.get_ref();
            if text.is_empty() || !valid_env_name(&text.replace('*', "X")) {
                return Err(cx.invalid(
                    pattern,
                    format!("{key}.pattern"),
                    "a pattern is a variable name in which `*` matches any run of characters",
                ));
            }
            Ok(NameMatcher::Pattern { text: text.clone() })
        }
        (Some(name), Some(_)) => Err(cx.invalid(
            name,
            key.to_string(),
            "give either `name` (exact) or `pattern` (glob), not both",
        )),
        (None, None) => Err(cx.invalid(
            &rule.reason,
            key.to_string(),
            "needs `name` (exact) or `pattern` (glob)",
        )),
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || c == '-'
                || c == '.'
                || c == '@'
                || c == ':'
                || c == '/'
        })
}

fn policy_path(text: &str) -> Result<PolicyPath, String> {
    let (kind, rest): (fn(PathBuf) -> PolicyPath, &str) =
        if let Some(rest) = text.strip_prefix("~/") {
            (PolicyPath::Home, rest)
        } else if text.starts_with('/') {
            (PolicyPath::Absolute, text)
        } else {
            return Err(format!(
                "`{text}` must be absolute (\"/opt/tool\") or start with \"~/\""
            ));
        };
    let path = PathBuf::from(rest);
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("`{text}` must not contain `.` or `..` components"));
    }
    if text.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    Ok(kind(path))
}

fn hide_glob(text: &str) -> Result<HideGlob, String> {
    if text.is_empty() {
        return Err("empty glob".into());
    }
    if text.starts_with('/') {
        return Err(
            "hide globs are relative to the project (\"config/*.pem\"), not absolute".into(),
        );
    }
    let on_path = text.contains('/');
    // `*` must not cross a `/` of a project-relative path. A name glob has no `/` and is
    // matched against a file name, which has none either, so the option changes nothing
    // there; without it globset matches `*.pem` by its extension and `id_rsa*` by its
    // prefix instead of compiling a regular expression (2.7 million instructions, a third
    // of start-up's own work before the sandbox starts, for the built-in rules).
    let glob = GlobBuilder::new(text)
        .literal_separator(on_path)
        .build()
        .map_err(|e| e.kind().to_string())?;
    Ok(HideGlob {
        text: text.to_string(),
        glob,
        on_path,
    })
}

/// A syntactic check of `HOST[:PORT]` / `*.suffix[:PORT]`; the egress allow-list does the rest.
fn host_rule(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty host".into());
    }
    if text.contains("://") || text.contains('/') || text.contains('@') {
        return Err(format!(
            "`{text}` must be HOST[:PORT] or *.SUFFIX[:PORT], such as \"registry.example.com:443\""
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".into());
    }
    Ok(())
}
