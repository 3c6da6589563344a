//! Replace every registry credential the plan would hand to the sandbox with a placeholder,
//! and record where each may go. Run on the finished plan, so nothing that later reaches the
//! sandbox (npm's private npmrc, pip's private pip.conf and netrc, the environment, the
//! command line) is missed by a code path that built it.
//!
//! What is recognised, as the clients read it:
//! - npm: `//host[:port]/path/:_authToken`, `:_auth` (base64 `user:password`), `:_password`
//!   (base64), their top-level legacy forms (bound to the default registry), `${VAR}`
//!   references to a variable (the variable is sealed with the reference's binding), and the
//!   same keys as `npm_config_…` variables or `--…=` arguments;
//! - URLs with userinfo (`https://user:password@host/…`, `https://token@host/…`) anywhere in
//!   pip's configuration, a variable or an argument: the password (or the lone user name,
//!   which pip sends as one) becomes the placeholder, bound to that scheme, host and port;
//! - netrc `password` tokens, bound to that host on any port (pip looks them up by host);
//! - a tool's own credential settings (`PackageManager::credential_settings`: yarn 2+'s
//!   `npmAuthToken`/`npmAuthIdent`), bound to the registries the tool sends each to: a
//!   literal value is replaced in the copy of its file the sandbox shows (the private home's,
//!   or a read-only cover over the project's), a variable it reads is sealed as the
//!   variable;
//! - git (as npm, pnpm and yarn run it for `git+https://` dependencies): the `store`
//!   helper's entries (each password, bound to that scheme, host and port, and with
//!   `credential.useHttpPath` its path) and `http.<url>.extraheader` values (bound to that
//!   URL as git matches it), in the private copies `plan::trust::git_private_config` made.
//!
//! Last, every real value the vault holds is searched for in what the sandbox would get (its
//! generated files, environment and command line): one found is an error, never a leak.

use super::{new_placeholder, Carrier, Credential, Origin, Scheme, Secret, Vault};
use crate::plan::trust::{
    PRIVATE_GITCONFIG, PRIVATE_GIT_CREDENTIALS, PRIVATE_GLOBAL_NPMRC, PRIVATE_NETRC, PRIVATE_NPMRC,
    PRIVATE_PIP_CONF, PRIVATE_UV_SYSTEM, PRIVATE_UV_USER,
};
use crate::plan::{Mount, MountKind, Plan};
use crate::pm::{CaTrust, CredentialKind, CredentialSettings, CredentialValue};
use crate::policy::Policy;
use base64::Engine as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot draw random bytes for a credential placeholder")]
    Random(#[source] getrandom::Error),
    #[error("{source_name} holds a registry credential written out in {file}, and landlock mode cannot show the sandbox a copy of that file with a placeholder in its place. Fix: reference a variable instead (`${{NPM_TOKEN}}`) and pass it with --secret-env NPM_TOKEN, or run where user namespaces are available")]
    CannotCover { source_name: String, file: PathBuf },
    #[error("the real value of {0} would still reach the sandbox after sealing (written in a form safe-install cannot rewrite); the run is refused. Fix: put the credential on one line of its own, or reference a variable and pass it with --secret-env")]
    Leftover(String),
}

/// Builds the vault while the texts are rewritten.
#[derive(Default)]
pub struct Sealer {
    vault: Vault,
    /// npm's registry URLs (default and scoped): which scheme a nerf-dart key belongs to.
    registries: Vec<url::Url>,
    /// `${VAR}` references in npm's configuration: the variable and the key that uses it.
    references: Vec<(String, String)>,
    /// Variables a tool's own credential settings read: the variable, where it may go, how
    /// it is sent and the setting (for messages).
    tool_references: Vec<(String, Vec<Origin>, CredentialKind, String)>,
    /// Whether HTTPS origins can be intercepted; when not, a credential bound only to HTTPS
    /// keeps its real value (and a note says so), or the install could not authenticate.
    pub https: bool,
    pub notes: Vec<String>,
}

impl Sealer {
    pub fn new(https: bool) -> Self {
        Sealer {
            https,
            ..Sealer::default()
        }
    }

    pub fn into_vault(self) -> (Vault, Vec<String>) {
        (self.vault, self.notes)
    }

    /// The placeholder for `real` (the same one when the value was seen before, its origins
    /// merged), or `None` when the value must stay as it is (HTTPS without interception).
    fn seal(
        &mut self,
        real: &str,
        source: &str,
        origins: Vec<Origin>,
        carrier: Carrier,
    ) -> Result<Option<String>, SealError> {
        if real.is_empty() || real.starts_with(super::PLACEHOLDER_PREFIX) {
            return Ok(None);
        }
        if !self.https && !origins.is_empty() && origins.iter().all(|o| o.scheme == Scheme::Https) {
            self.notes.push(format!(
                "{source}: HTTPS interception is not available, so the real credential stays with the package manager"
            ));
            return Ok(None);
        }
        if let Some(existing) = self
            .vault
            .creds
            .iter_mut()
            .find(|c| c.real.expose() == real)
        {
            for o in origins {
                if !existing.origins.contains(&o) {
                    existing.origins.push(o);
                }
            }
            return Ok(Some(existing.placeholder.clone()));
        }
        let placeholder = new_placeholder().map_err(SealError::Random)?;
        self.vault.push(Credential {
            source: source.to_string(),
            origins,
            carrier,
            real: Secret::new(real.to_string()),
            placeholder: placeholder.clone(),
        });
        Ok(Some(placeholder))
    }

    /// Remember npm's registry URLs from a configuration text (before any rewriting).
    pub fn learn_npm_registries(&mut self, text: &str) {
        for (key, value) in npmrc_pairs(text) {
            if key == "registry" || key.ends_with(":registry") {
                self.add_registry(&value);
            }
        }
    }

    pub fn add_registry(&mut self, value: &str) {
        if let Ok(u) = url::Url::parse(value) {
            if !self.registries.contains(&u) {
                self.registries.push(u);
            }
        }
    }

    /// The origins a nerf-dart key (`//host:port/path/`) covers: the scheme of each configured
    /// registry on that host and port, else both schemes (npm's keys carry none).
    fn nerf_origins(&self, nerf: &str) -> Vec<Origin> {
        let Some(rest) = nerf.strip_prefix("//") else {
            return Vec::new();
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let Some((host, port)) = split_authority(authority) else {
            return Vec::new();
        };
        let mut out: Vec<Origin> = self
            .registries
            .iter()
            .filter_map(|u| {
                let scheme = Scheme::parse(u.scheme())?;
                let h = u.host_str()?.trim_matches(['[', ']']).to_ascii_lowercase();
                let p = u.port_or_known_default()?;
                (h == host && port.unwrap_or(scheme.default_port()) == p).then(|| Origin {
                    scheme,
                    host: host.clone(),
                    port: Some(p),
                    path: path.clone(),
                })
            })
            .collect();
        if out.is_empty() {
            for scheme in [Scheme::Http, Scheme::Https] {
                out.push(Origin {
                    scheme,
                    host: host.clone(),
                    port: Some(port.unwrap_or(scheme.default_port())),
                    path: path.clone(),
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The default registry's origin, for the legacy top-level keys.
    fn default_registry_origins(&self, default: Option<&str>) -> Vec<Origin> {
        let Some(u) = default.and_then(|d| url::Url::parse(d).ok()) else {
            return Vec::new();
        };
        let Some(host) = u.host_str() else {
            return Vec::new();
        };
        let nerf = format!(
            "//{}:{}{}",
            host,
            u.port_or_known_default().unwrap_or(0),
            u.path()
        );
        self.nerf_origins(&nerf)
    }

    /// One npm setting: its sealed value, or `None` when it is not a credential.
    pub fn npm_setting(
        &mut self,
        key: &str,
        value: &str,
        source: &str,
        default_registry: Option<&str>,
    ) -> Result<Option<String>, SealError> {
        if value.contains("${") {
            for var in references(value) {
                self.references.push((var, key.to_string()));
            }
            return Ok(None);
        }
        let (nerf, suffix) = match key.rsplit_once(':') {
            Some((n, s)) if key.starts_with("//") => (Some(n), s),
            _ => (None, key),
        };
        if !matches!(suffix, "_authToken" | "_auth" | "_password") {
            if value.contains("://") && value.contains('@') {
                let sealed = self.urls(value, &format!("{key} in {source}"))?;
                return Ok((sealed != value).then_some(sealed));
            }
            return Ok(None);
        }
        let origins = match nerf {
            Some(n) => self.nerf_origins(n),
            None => self.default_registry_origins(default_registry),
        };
        let what = format!("{key} in {source}");
        self.npm_auth_value(suffix, value, &what, origins)
    }

    /// `_authToken` (the token), `_auth` (base64 `user:password`), `_password` (base64).
    fn npm_auth_value(
        &mut self,
        suffix: &str,
        value: &str,
        what: &str,
        origins: Vec<Origin>,
    ) -> Result<Option<String>, SealError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        match suffix {
            "_auth" => self.basic_b64(value, what, origins),
            "_password" => {
                let decoded = b64
                    .decode(value.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok());
                match decoded {
                    Some(pass) => {
                        let ph = self.seal(&pass, what, origins, Carrier::Basic)?;
                        Ok(ph.map(|ph| b64.encode(ph)))
                    }
                    None => self.seal(value, what, origins, Carrier::Basic),
                }
            }
            _ => self.seal(value, what, origins, Carrier::Bearer),
        }
    }

    /// An npm configuration file, rewritten line by line (comments and layout kept).
    pub fn npmrc(
        &mut self,
        text: &str,
        source: &str,
        default_registry: Option<&str>,
    ) -> Result<String, SealError> {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches(['\n', '\r']);
            let ending = &line[body.len()..];
            match npmrc_pair(body) {
                Some((key, value)) => {
                    match self.npm_setting(&key, &value, source, default_registry)? {
                        Some(sealed) => {
                            out.push_str(&key);
                            out.push('=');
                            out.push_str(&sealed);
                            out.push_str(ending);
                        }
                        None => out.push_str(line),
                    }
                }
                None => out.push_str(line),
            }
        }
        Ok(out)
    }

    /// Every `scheme://userinfo@host` in `text` with the secret part replaced.
    pub fn urls(&mut self, text: &str, source: &str) -> Result<String, SealError> {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let ends = |c: char| "/?#".contains(c) || c.is_whitespace() || c == '"' || c == '\'';
        for url in crate::plan::gitconfig::text_urls(text, ends) {
            let (scheme_text, authority) = (url.scheme, url.authority);
            let scheme = Scheme::parse(scheme_text.rsplit('+').next().unwrap_or(""));
            let (Some(scheme), Some(at_sign)) = (scheme, authority.rfind('@')) else {
                continue;
            };
            let userinfo = &authority[..at_sign];
            let hostport = &authority[at_sign + 1..];
            let origins = split_authority(hostport)
                .map(|(host, port)| {
                    vec![Origin {
                        scheme,
                        host,
                        port: Some(port.unwrap_or(scheme.default_port())),
                        path: "/".into(),
                    }]
                })
                .unwrap_or_default();
            let what = format!("{source} (user info of {scheme_text}://{hostport})");
            let sealed = match userinfo.split_once(':') {
                Some((user, pass)) if !pass.is_empty() => self
                    .seal(&percent_decode(pass), &what, origins, Carrier::Basic)?
                    .map(|ph| format!("{user}:{ph}")),
                Some((user, _)) => self
                    .seal(&percent_decode(user), &what, origins, Carrier::Basic)?
                    .map(|ph| format!("{ph}:")),
                None => self.seal(&percent_decode(userinfo), &what, origins, Carrier::Basic)?,
            };
            // Up to the authority as it was, then the authority with the secret sealed.
            out.push_str(&text[copied..url.end - authority.len()]);
            match sealed {
                Some(s) => out.push_str(&s),
                None => out.push_str(userinfo),
            }
            out.push('@');
            out.push_str(hostport);
            copied = url.end;
        }
        out.push_str(&text[copied..]);
        Ok(out)
    }

    /// A netrc file: each `password` token replaced, bound to its `machine` on any port.
    pub fn netrc(&mut self, text: &str, source: &str) -> Result<String, SealError> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut machine: Option<String> = None;
        let mut expect: Option<&str> = None;
        for (start, token) in tokens(text) {
            match expect.take() {
                Some("machine") => machine = Some(token.to_ascii_lowercase()),
                Some("password") => {
                    let origins = machine
                        .iter()
                        .flat_map(|host| {
                            [Scheme::Http, Scheme::Https].map(|scheme| Origin {
                                scheme,
                                host: host.clone(),
                                port: None,
                                path: "/".into(),
                            })
                        })
                        .collect();
                    let what = match &machine {
                        Some(m) => format!("password for machine {m} in {source}"),
                        None => format!("password of the default entry in {source}"),
                    };
                    if let Some(ph) = self.seal(token, &what, origins, Carrier::Basic)? {
                        out.push_str(&text[last..start]);
                        out.push_str(&ph);
                        last = start + token.len();
                    }
                }
                Some(_) => {}
                None => match token {
                    "machine" | "password" | "login" | "account" | "macdef" => {
                        expect = Some(if token == "machine" {
                            "machine"
                        } else if token == "password" {
                            "password"
                        } else {
                            "other"
                        })
                    }
                    "default" => machine = None,
                    _ => {}
                },
            }
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    /// git's stored credentials (the `store` helper's format, one
    /// `scheme://user:password@host[:port][/path]` a line): each password replaced, bound to
    /// that scheme, host and port, and with `credential.useHttpPath` to that path (git then
    /// matches entries by path; without it any path on the host).
    pub fn git_credentials(
        &mut self,
        text: &str,
        source: &str,
        use_http_path: bool,
    ) -> Result<String, SealError> {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let Some((origin, raw)) = git_store_entry(line.trim(), use_http_path) else {
                out.push_str(line);
                continue;
            };
            let what = format!("password for {origin} in {source}");
            match self.seal(&percent_decode(&raw), &what, vec![origin], Carrier::Basic)? {
                Some(ph) => {
                    out.push_str(&line.replacen(&format!(":{raw}@"), &format!(":{ph}@"), 1))
                }
                None => out.push_str(line),
            }
        }
        Ok(out)
    }

    /// git's private global configuration (`plan::gitconfig::private_config`): each
    /// `http.<url>.extraheader` sealed, bound to that URL as git matches it (scheme, host,
    /// port, path prefix). `Authorization: Basic` keeps its user name (the password
    /// replaced inside the base64); any other header's value is replaced whole.
    pub fn git_config(&mut self, text: &str, source: &str) -> Result<String, SealError> {
        let mut out = String::with_capacity(text.len());
        let mut url: Option<url::Url> = None;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                url = trimmed
                    .strip_prefix("[http \"")
                    .and_then(|r| r.strip_suffix("\"]"))
                    .map(|r| r.replace("\\\"", "\"").replace("\\\\", "\\"))
                    .and_then(|u| url::Url::parse(&u).ok());
                out.push_str(line);
                continue;
            }
            let value = trimmed
                .split_once('=')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("extraheader"))
                .map(|(_, v)| crate::plan::gitconfig::config_value(v));
            let (Some(header), Some(u)) = (value, &url) else {
                out.push_str(line);
                continue;
            };
            let origins: Vec<Origin> = origin_of(u).into_iter().collect();
            let what = format!("http.{u}.extraheader in {source}");
            match self.git_header(&header, &what, origins)? {
                Some(sealed) => out.push_str(&format!(
                    "\textraheader = {}\n",
                    crate::plan::gitconfig::quote(&sealed)
                )),
                None => out.push_str(line),
            }
        }
        Ok(out)
    }

    /// One header git sends (`Name: value`), its secret sealed.
    fn git_header(
        &mut self,
        header: &str,
        what: &str,
        origins: Vec<Origin>,
    ) -> Result<Option<String>, SealError> {
        let Some((name, value)) = header.split_once(':') else {
            return Ok(None);
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("authorization") {
            if let Some((scheme, cred)) = value.split_once(' ') {
                let cred = cred.trim();
                let sealed = if scheme.eq_ignore_ascii_case("basic") {
                    self.basic_b64(cred, what, origins)?
                } else if scheme.eq_ignore_ascii_case("bearer") {
                    self.seal(cred, what, origins, Carrier::Bearer)?
                } else {
                    let carrier = Carrier::Header(format!("{} ({scheme})", name.trim()));
                    self.seal(cred, what, origins, carrier)?
                };
                return Ok(sealed.map(|s| format!("{name}: {scheme} {s}")));
            }
        }
        let carrier = Carrier::Header(name.trim().to_string());
        Ok(self
            .seal(value, what, origins, carrier)?
            .map(|s| format!("{name}: {s}")))
    }

    /// A tool's credential value in the form the tool reads it: a token whole; an ident's
    /// password (`user:password`, or its base64, as yarn's `npmAuthIdent`).
    fn tool_value(
        &mut self,
        kind: CredentialKind,
        value: &str,
        what: &str,
        origins: Vec<Origin>,
    ) -> Result<Option<String>, SealError> {
        match kind {
            CredentialKind::Bearer => self.seal(value, what, origins, Carrier::Bearer),
            CredentialKind::Password => self.seal(value, what, origins, Carrier::Basic),
            CredentialKind::Ident => {
                if let Some((user, pass)) = value.split_once(':') {
                    let user = user.to_string();
                    let ph = self.seal(pass, what, origins, Carrier::Basic)?;
                    return Ok(ph.map(|ph| format!("{user}:{ph}")));
                }
                self.basic_b64(value, what, origins)
            }
        }
    }

    /// A base64 `user:password` (npm's `_auth`, yarn's `npmAuthIdent` in that form): the
    /// password sealed, re-encoded. A value that is not one is sealed whole, so it never
    /// leaves as it is.
    fn basic_b64(
        &mut self,
        value: &str,
        what: &str,
        origins: Vec<Origin>,
    ) -> Result<Option<String>, SealError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let decoded = b64
            .decode(value.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, pass)) => {
                let user = user.to_string();
                let ph = self.seal(pass, what, origins, Carrier::Basic)?;
                Ok(ph.map(|ph| b64.encode(format!("{user}:{ph}"))))
            }
            None => self.seal(value, what, origins, Carrier::Basic),
        }
    }

    /// A tool's own credential settings: variables they read are remembered (sealed with
    /// the environment), literal values sealed in their files' texts. Returns each file that
    /// changed with its sealed text.
    pub fn tool_settings(
        &mut self,
        tool: &CredentialSettings,
        text_of: impl Fn(&Path) -> Option<String>,
    ) -> Result<Vec<(PathBuf, String, String)>, SealError> {
        let mut texts: Vec<(PathBuf, String, String)> = Vec::new();
        for setting in &tool.settings {
            let origins: Vec<Origin> = setting.registries.iter().filter_map(origin_of).collect();
            match &setting.value {
                CredentialValue::Variable(name) => self.tool_references.push((
                    name.clone(),
                    origins,
                    setting.kind,
                    setting.source.clone(),
                )),
                CredentialValue::Literal(real) => {
                    let Some(file) = &setting.file else { continue };
                    let Some(sealed) =
                        self.tool_value(setting.kind, real, &setting.source, origins)?
                    else {
                        continue;
                    };
                    let at = match texts.iter().position(|(f, ..)| f == file) {
                        Some(at) => at,
                        None => {
                            let Some(text) = text_of(file) else { continue };
                            texts.push((file.clone(), setting.source.clone(), text));
                            texts.len() - 1
                        }
                    };
                    let text = &mut texts[at].2;
                    *text = text
                        .split_inclusive('\n')
                        .map(|line| {
                            if line.contains(setting.key) && line.contains(real.as_str()) {
                                line.replace(real.as_str(), &sealed)
                            } else {
                                line.to_string()
                            }
                        })
                        .collect();
                }
            }
        }
        Ok(texts)
    }

    /// A variable's sealed value (`None`: keep it). `secret`: named as a credential by the
    /// policy or `--secret-env`.
    pub fn variable(
        &mut self,
        name: &str,
        value: &str,
        secret: bool,
        default_registry: Option<&str>,
    ) -> Result<Option<String>, SealError> {
        let source = format!("${name}");
        let tool: Vec<_> = self
            .tool_references
            .iter()
            .filter(|(var, ..)| var == name)
            .cloned()
            .collect();
        if let Some((_, _, kind, setting)) = tool.first() {
            let origins = tool.iter().flat_map(|(_, o, ..)| o.clone()).collect();
            let what = format!("{source} (used by {setting})");
            return self.tool_value(*kind, value, &what, origins);
        }
        if let Some(key) = crate::pm::npm::config::env_key(name) {
            if let Some(sealed) = self.npm_setting(&key, value, &source, default_registry)? {
                return Ok(Some(sealed));
            }
        }
        if value.contains("://") && value.contains('@') {
            let sealed = self.urls(value, &source)?;
            if sealed != value {
                return Ok(Some(sealed));
            }
        }
        let uses: Vec<String> = self
            .references
            .iter()
            .filter(|(var, _)| var == name)
            .map(|(_, key)| key.clone())
            .collect();
        if let Some(key) = uses.first() {
            let (nerf, suffix) = match key.rsplit_once(':') {
                Some((n, s)) if key.starts_with("//") => (Some(n.to_string()), s.to_string()),
                _ => (None, key.clone()),
            };
            if matches!(suffix.as_str(), "_authToken" | "_auth" | "_password") {
                let mut origins = Vec::new();
                for k in &uses {
                    let n = k.rsplit_once(':').map(|(n, _)| n).unwrap_or("");
                    origins.extend(self.nerf_origins(n));
                }
                if nerf.is_none() {
                    origins = self.default_registry_origins(default_registry);
                }
                let what = format!("{source} (used by {key} in npm's configuration)");
                return self.npm_auth_value(&suffix, value, &what, origins);
            }
        }
        if secret {
            return self.seal(value, &source, Vec::new(), Carrier::Variable);
        }
        Ok(None)
    }
}

/// Where git's credentials come from, in their sources (which end with these): the proxy
/// verifies their hosts with git's CA settings.
const GIT_STORE_SOURCE: &str = "git's stored credentials";
const GIT_CONFIG_SOURCE: &str = "git's global configuration";

/// Seal the plan in place: its private configuration files, its environment and its command
/// line. Returns the vault the proxy uses and notes for `explain`.
pub fn seal_plan(
    plan: &mut Plan,
    policy: &Policy,
    https: bool,
    tool: &CredentialSettings,
) -> Result<Vault, SealError> {
    let mut sealer = Sealer::new(https);
    let var = |name: &str| {
        plan.env
            .pass
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str())
            .map(str::to_string)
    };
    // Registries first (every source), so each nerf-dart key finds its scheme.
    let npm_files = [PRIVATE_NPMRC, PRIVATE_GLOBAL_NPMRC];
    for m in plan.mounts.iter() {
        if let MountKind::File(text) = &m.kind {
            if npm_files
                .iter()
                .any(|f| m.target == std::path::Path::new(f))
            {
                sealer.learn_npm_registries(text);
            }
        }
    }
    for (_, text) in &tool.npmrc_files {
        sealer.learn_npm_registries(text);
    }
    let mut default_registry = var("npm_config_registry");
    for (k, v) in &plan.env.pass {
        let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
            continue;
        };
        if crate::pm::npm::config::env_key(k)
            .is_some_and(|key| key == "registry" || key.ends_with(":registry"))
        {
            sealer.add_registry(v);
        }
    }
    for a in plan.argv.iter().filter_map(|a| a.to_str()) {
        if let Some(v) = a.strip_prefix("--registry=") {
            sealer.add_registry(v);
            default_registry = Some(v.to_string());
        }
    }
    if default_registry.is_none() {
        default_registry = tool
            .npmrc_files
            .iter()
            .flat_map(|(_, text)| npmrc_pairs(text))
            .filter(|(k, _)| k == "registry")
            .map(|(_, v)| v)
            .next_back();
    }
    if default_registry.is_none() {
        default_registry = plan.mounts.iter().find_map(|m| match &m.kind {
            MountKind::File(text) if m.target == std::path::Path::new(PRIVATE_NPMRC) => {
                npmrc_pairs(text)
                    .into_iter()
                    .filter(|(k, _)| k == "registry")
                    .map(|(_, v)| v)
                    .next_back()
            }
            _ => None,
        });
    }
    let default = default_registry.as_deref();
    let git_use_http_path = plan.mounts.iter().any(|m| match &m.kind {
        MountKind::File(text) if m.target == Path::new(PRIVATE_GITCONFIG) => {
            crate::plan::gitconfig::parse_user(text).use_http_path
        }
        _ => false,
    });
    for m in plan.mounts.iter_mut() {
        let MountKind::File(text) = &m.kind else {
            continue;
        };
        let target = m.target.to_string_lossy().into_owned();
        let sealed = match target.as_str() {
            PRIVATE_NPMRC => sealer.npmrc(text, "npm's configuration", default)?,
            PRIVATE_GLOBAL_NPMRC => sealer.npmrc(text, "npm's global configuration", default)?,
            PRIVATE_PIP_CONF => sealer.urls(text, "pip's configuration")?,
            t if t.starts_with(PRIVATE_UV_USER) || t.starts_with(PRIVATE_UV_SYSTEM) => {
                sealer.urls(text, "uv's configuration")?
            }
            PRIVATE_NETRC => sealer.netrc(text, "the netrc file")?,
            PRIVATE_GIT_CREDENTIALS => {
                sealer.git_credentials(text, GIT_STORE_SOURCE, git_use_http_path)?
            }
            PRIVATE_GITCONFIG => sealer.git_config(text, GIT_CONFIG_SOURCE)?,
            _ => continue,
        };
        m.kind = MountKind::File(sealed);
    }
    // Files the tool reads in npm's format at their own paths (yarn 1's): sealed as npm's
    // private configuration is, and shown there. The home's is shown as it is otherwise
    // absent from the private home; the project's is covered only when sealing changed it.
    for (path, text) in &tool.npmrc_files {
        let source = format!("{} (read by the package manager)", path.display());
        let sealed = sealer.npmrc(text, &source, default)?;
        let in_home = path.starts_with(&plan.home);
        if sealed == *text && !in_home {
            continue;
        }
        if matches!(plan.mode, crate::plan::mode::Mode::Landlock(_)) {
            if sealed != *text {
                return Err(SealError::CannotCover {
                    source_name: source,
                    file: path.clone(),
                });
            }
            continue;
        }
        plan.mounts.retain(|m| m.target != *path);
        plan.mounts.push(Mount {
            target: path.clone(),
            kind: MountKind::File(sealed),
            why: "npm's configuration as the package manager reads it, registry credentials as placeholders (the proxy adds the real ones)".into(),
        });
    }
    // The tool's own settings: a file the view already carries as a generated copy (yarn's
    // private home configuration) is sealed in place; any other is covered by a sealed copy.
    let generated = |plan: &Plan, file: &Path| {
        plan.mounts.iter().find_map(|m| match &m.kind {
            MountKind::File(text) if m.target == file => Some(text.clone()),
            _ => None,
        })
    };
    let texts = sealer.tool_settings(tool, |file| {
        generated(plan, file).or_else(|| {
            tool.files
                .iter()
                .find(|(f, _)| f == file)
                .map(|(_, t)| t.clone())
        })
    })?;
    for (file, source_name, text) in texts {
        if let Some(m) = plan
            .mounts
            .iter_mut()
            .find(|m| m.target == file && matches!(m.kind, MountKind::File(_)))
        {
            m.kind = MountKind::File(text);
            continue;
        }
        if matches!(plan.mode, crate::plan::mode::Mode::Landlock(_)) {
            return Err(SealError::CannotCover { source_name, file });
        }
        plan.mounts.push(Mount {
            target: file,
            kind: MountKind::File(text),
            why: "the tool's configuration with its registry credentials as placeholders (the proxy adds the real ones)".into(),
        });
    }
    let secret = |name: &str| policy.credentials.iter().any(|e| e.value.matches(name));
    let mut pass = std::mem::take(&mut plan.env.pass);
    for (k, v) in pass.iter_mut() {
        let (Some(name), Some(value)) = (k.to_str(), v.to_str()) else {
            continue;
        };
        if let Some(sealed) = sealer.variable(name, value, secret(name), default)? {
            *v = OsString::from(sealed);
        }
    }
    plan.env.pass = pass;
    let mut argv = std::mem::take(&mut plan.argv);
    for a in argv.iter_mut() {
        let Some(text) = a.to_str() else { continue };
        let sealed = match text.strip_prefix("--").and_then(|t| t.split_once('=')) {
            Some((key, value)) if key.starts_with("//") || key.starts_with('_') => sealer
                .npm_setting(key, value, "the command line", default)?
                .map(|s| format!("--{key}={s}")),
            _ => None,
        };
        let sealed = match sealed {
            Some(s) => s,
            None => sealer.urls(text, "the command line")?,
        };
        if sealed != text {
            *a = OsString::from(sealed);
        }
    }
    plan.argv = argv;
    let (vault, notes) = sealer.into_vault();
    leftover(plan, &vault)?;
    plan.notes.extend(notes);
    Ok(vault)
}

/// The last check: no real value the vault holds is in what the sandbox gets.
fn leftover(plan: &Plan, vault: &Vault) -> Result<(), SealError> {
    for cred in vault.credentials() {
        let real = cred.real.expose();
        // A value this short would be found in unrelated text; no registry issues one.
        if real.len() < 6 {
            continue;
        }
        let in_files = plan.mounts.iter().any(|m| match &m.kind {
            MountKind::File(text) => text.contains(real),
            _ => false,
        });
        let in_env = plan
            .env
            .pass
            .iter()
            .any(|(_, v)| v.to_str().is_some_and(|v| v.contains(real)));
        let in_argv = plan
            .argv
            .iter()
            .any(|a| a.to_str().is_some_and(|a| a.contains(real)));
        if in_files || in_env || in_argv {
            return Err(SealError::Leftover(cred.source.clone()));
        }
    }
    Ok(())
}

/// Where a registry URL's credential may go: its scheme, host, port and path prefix.
fn origin_of(url: &url::Url) -> Option<Origin> {
    let scheme = Scheme::parse(url.scheme())?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let mut path = url.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    Some(Origin {
        scheme,
        host: host.to_ascii_lowercase(),
        port: url.port_or_known_default(),
        path,
    })
}

/// One line of git's credential store: where its password may go and the password as
/// written (percent-encoded); `None` for a line without one.
fn git_store_entry(line: &str, use_http_path: bool) -> Option<(Origin, String)> {
    let u = url::Url::parse(line).ok()?;
    let raw = u.password()?.to_string();
    let mut origin = origin_of(&u)?;
    if !use_http_path {
        origin.path = "/".into();
    }
    Some((origin, raw))
}

/// `host[:port]` (IPv6 in brackets) → lowercase host and port.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host.to_ascii_lowercase(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), Some(p.parse().ok()?))),
        None => Some((authority.to_ascii_lowercase(), None)),
    }
}

/// `key = value` of an npmrc line (quotes removed), `None` for comments and sections.
fn npmrc_pair(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with(';') || t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    Some((k.trim().to_string(), v.to_string()))
}

fn npmrc_pairs(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(npmrc_pair).collect()
}

/// The variable names of `${NAME}` references.
fn references(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].trim_end_matches('?');
        out.push(name.to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn npm_tokens_become_placeholders_bound_to_their_registry_path() {
        let mut s = Sealer::new(true);
        let text = "registry=http://127.0.0.1:4873/\n@si:registry=http://127.0.0.1:4873/private/\n//127.0.0.1:4873/private/:_authToken=npm_SECRET1\n; comment\n//127.0.0.1:4873/:_auth=\"".to_string()
            + &b64("alice:pa55")
            + "\"\n//127.0.0.1:4873/:username=alice\n//127.0.0.1:4873/:_password="
            + &b64("pa55")
            + "\n";
        s.learn_npm_registries(&text);
        let out = s.npmrc(&text, "npmrc", None).expect("seal");
        assert!(
            !out.contains("npm_SECRET1") && !out.contains(&b64("alice:pa55")),
            "{out}"
        );
        assert!(out.contains("; comment\n") && out.contains("username=alice"));
        let (vault, _) = s.into_vault();
        let creds = vault.credentials();
        assert_eq!(creds.len(), 2, "{creds:?}");
        let token = &creds[0];
        assert_eq!(token.real.expose(), "npm_SECRET1");
        assert_eq!(
            token
                .origins
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>(),
            ["http://127.0.0.1:4873/private/"]
        );
        assert!(out.contains(&format!("_authToken={}", token.placeholder)));
        // `_auth` and `_password` hold the same password: one placeholder, in both shapes.
        let pass = &creds[1];
        assert_eq!(pass.real.expose(), "pa55");
        assert!(out.contains(&format!(
            "_auth={}",
            b64(&format!("alice:{}", pass.placeholder))
        )));
        assert!(out.contains(&format!("_password={}", b64(&pass.placeholder))));
    }

    #[test]
    fn a_referenced_variable_takes_the_binding_of_its_key() {
        let mut s = Sealer::new(true);
        let text = "//127.0.0.1:4873/:_authToken=${NPM_TOKEN}\n";
        let out = s.npmrc(text, "npmrc", None).expect("seal");
        assert_eq!(out, text);
        let sealed = s
            .variable("NPM_TOKEN", "npm_REAL", true, None)
            .expect("seal")
            .expect("sealed");
        assert!(sealed.starts_with(super::super::PLACEHOLDER_PREFIX));
        // Unused secret variables are bound nowhere; other variables are untouched.
        let other = s
            .variable("GITHUB_TOKEN", "ghp_x", true, None)
            .expect("seal")
            .expect("sealed");
        assert!(s
            .variable("LANG", "C", false, None)
            .expect("seal")
            .is_none());
        let (vault, _) = s.into_vault();
        let c = &vault.credentials()[0];
        assert_eq!(c.real.expose(), "npm_REAL");
        assert_eq!(c.origins.len(), 2, "no registry known: both schemes");
        assert_eq!(vault.credentials()[1].placeholder, other);
        assert!(vault.credentials()[1].origins.is_empty());
    }

    #[test]
    fn a_tools_own_settings_are_sealed_where_they_are_and_bound_to_their_registry() {
        use crate::pm::CredentialSetting;
        let home = PathBuf::from("/home/u/.yarnrc.yml");
        let text = "npmScopes:\n  corp:\n    npmAuthToken: tok-1234567\n    npmAuthIdent: \"me:pw-7654321\"\nnpmRegistryServer: https://registry.example.com\n";
        let setting = |key, kind, value, registry: &str| CredentialSetting {
            source: format!("npmScopes.corp.{key} in /home/u/.yarnrc.yml"),
            file: Some(home.clone()),
            key,
            kind,
            value,
            registries: vec![url::Url::parse(registry).expect("url")],
        };
        let tool = CredentialSettings {
            settings: vec![
                setting(
                    "npmAuthToken",
                    CredentialKind::Bearer,
                    CredentialValue::Literal("tok-1234567".into()),
                    "https://corp.example.com:8443/npm",
                ),
                setting(
                    "npmAuthIdent",
                    CredentialKind::Ident,
                    CredentialValue::Literal("me:pw-7654321".into()),
                    "https://corp.example.com:8443/npm",
                ),
                CredentialSetting {
                    source: "$YARN_NPM_AUTH_TOKEN (yarn's npmAuthToken)".into(),
                    file: None,
                    key: "npmAuthToken",
                    kind: CredentialKind::Bearer,
                    value: CredentialValue::Variable("YARN_NPM_AUTH_TOKEN".into()),
                    registries: vec![url::Url::parse("http://127.0.0.1:4873/").expect("url")],
                },
            ],
            files: vec![(home.clone(), text.into())],
            ca_file: None,
            npmrc_files: Vec::new(),
        };
        let mut s = Sealer::new(true);
        let texts = s
            .tool_settings(&tool, |f| (f == home).then(|| text.to_string()))
            .expect("seal");
        assert_eq!(texts.len(), 1);
        let sealed = &texts[0].2;
        assert!(
            !sealed.contains("tok-1234567") && !sealed.contains("pw-7654321"),
            "{sealed}"
        );
        assert!(
            sealed.contains("npmAuthIdent: \"me:si-placeholder-"),
            "{sealed}"
        );
        assert!(sealed.ends_with("npmRegistryServer: https://registry.example.com\n"));
        let env = s
            .variable("YARN_NPM_AUTH_TOKEN", "env-token-99", false, None)
            .expect("seal")
            .expect("sealed");
        assert!(env.starts_with(crate::creds::PLACEHOLDER_PREFIX));
        let (vault, _) = s.into_vault();
        let token_ph = vault
            .credentials()
            .iter()
            .find(|c| c.real.expose() == "tok-1234567")
            .map(|c| c.placeholder.clone())
            .expect("token sealed");
        let head =
            format!("GET /npm/@corp%2fx HTTP/1.1\r\nauthorization: Bearer {token_ph}\r\n\r\n");
        let out = vault
            .rewrite_request(
                Scheme::Https,
                "corp.example.com",
                8443,
                head.as_bytes(),
                true,
            )
            .expect("inside its origin");
        assert!(String::from_utf8_lossy(&out.head).contains("Bearer tok-1234567"));
        // Another path prefix, host or the variable's registry: refused.
        let elsewhere = head.replace("/npm/", "/other/");
        assert!(vault
            .rewrite_request(
                Scheme::Https,
                "corp.example.com",
                8443,
                elsewhere.as_bytes(),
                true
            )
            .is_err());
        assert!(vault
            .rewrite_request(Scheme::Http, "127.0.0.1", 4873, head.as_bytes(), true)
            .is_err());
        let env_head = format!("GET /x HTTP/1.1\r\nauthorization: Bearer {env}\r\n\r\n");
        assert!(vault
            .rewrite_request(Scheme::Http, "127.0.0.1", 4873, env_head.as_bytes(), true)
            .is_ok());
    }

    #[test]
    fn git_stored_credentials_are_sealed_and_bound_as_git_matches_them() {
        let mut s = Sealer::new(true);
        let text = "https://bob:ghp_REAL%2Fx@git.example.com\nhttp://ann:pw-123456@127.0.0.1:8080/org/repo.git\nhttps://only-user@git.example.com\n";
        let out = s
            .git_credentials(text, "git's stored credentials", false)
            .expect("seal");
        assert!(
            !out.contains("ghp_REAL") && !out.contains("pw-123456"),
            "{out}"
        );
        assert!(out.starts_with("https://bob:si-placeholder-"), "{out}");
        assert!(
            out.ends_with("https://only-user@git.example.com\n"),
            "{out}"
        );
        let (vault, _) = s.into_vault();
        let creds = vault.credentials();
        assert_eq!(
            creds[0].real.expose(),
            "ghp_REAL/x",
            "percent-decoded, as git sends it"
        );
        assert_eq!(
            creds[0].origins[0].to_string(),
            "https://git.example.com:443/"
        );
        assert_eq!(creds[1].origins[0].to_string(), "http://127.0.0.1:8080/");
        assert!(creds[0].source.contains("https://git.example.com:443/"));
        // With useHttpPath the entry's path binds it.
        let mut s = Sealer::new(true);
        s.git_credentials(text, "x", true).expect("seal");
        let (vault, _) = s.into_vault();
        let o = &vault.credentials()[1].origins[0];
        assert_eq!(o.to_string(), "http://127.0.0.1:8080/org/repo.git/");
        assert!(o.contains(
            Scheme::Http,
            "127.0.0.1",
            8080,
            "/org/repo.git/info/refs?service=git-upload-pack"
        ));
        assert!(!o.contains(Scheme::Http, "127.0.0.1", 8080, "/org/other.git/info/refs"));
    }

    #[test]
    fn git_extraheaders_are_sealed_in_their_shape_and_bound_to_their_url() {
        let user = crate::plan::gitconfig::parse_user(&format!(
            "[http \"https://git.example.com:8443/org/\"]\n\textraheader = AUTHORIZATION: basic {}\n[http \"http://127.0.0.1:9000/\"]\n\textraheader = PRIVATE-TOKEN: glpat-REAL123\n[http \"https://bearer.example.com/\"]\n\textraheader = Authorization: Bearer tok-REAL456\n",
            b64("x-access-token:ghs_REAL789")
        ));
        let (text, _) = crate::plan::gitconfig::private_config(&user, None);
        let mut s = Sealer::new(true);
        let out = s
            .git_config(&text, "git's global configuration")
            .expect("seal");
        for real in [
            "ghs_REAL789",
            "glpat-REAL123",
            "tok-REAL456",
            &b64("x-access-token:ghs_REAL789"),
        ] {
            assert!(!out.contains(real), "{real} in {out}");
        }
        let back = crate::plan::gitconfig::parse_user(&out);
        let header = |i: usize| back.extraheaders[i].1.clone();
        let basic = header(0);
        let encoded = basic
            .strip_prefix("AUTHORIZATION: basic ")
            .expect("shape kept");
        let decoded = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("base64"),
        )
        .expect("utf8");
        assert!(
            decoded.starts_with("x-access-token:si-placeholder-"),
            "{decoded}"
        );
        assert!(header(1).starts_with("PRIVATE-TOKEN: si-placeholder-"));
        assert!(header(2).starts_with("Authorization: Bearer si-placeholder-"));
        let (vault, _) = s.into_vault();
        let creds = vault.credentials();
        assert_eq!(
            creds[0].origins[0].to_string(),
            "https://git.example.com:8443/org/"
        );
        assert_eq!(creds[1].carrier, Carrier::Header("PRIVATE-TOKEN".into()));
        // The token header goes to its URL only.
        let ph = &creds[1].placeholder;
        let head = format!("GET /o/r.git/info/refs HTTP/1.1\r\nPRIVATE-TOKEN: {ph}\r\n\r\n");
        let r = vault
            .rewrite_request(Scheme::Http, "127.0.0.1", 9000, head.as_bytes(), true)
            .expect("inside");
        assert!(String::from_utf8_lossy(&r.head).contains("PRIVATE-TOKEN: glpat-REAL123\r\n"));
        assert!(vault
            .rewrite_request(Scheme::Http, "127.0.0.1", 9001, head.as_bytes(), true)
            .is_err());
        // The Basic one only below its path.
        let basic_ph = &creds[0].placeholder;
        let auth = b64(&format!("x-access-token:{basic_ph}"));
        let head =
            format!("GET /other/r.git/info/refs HTTP/1.1\r\nAuthorization: Basic {auth}\r\n\r\n");
        assert!(vault
            .rewrite_request(
                Scheme::Https,
                "git.example.com",
                8443,
                head.as_bytes(),
                true
            )
            .is_err());
    }

    #[test]
    fn url_userinfo_and_netrc_passwords_are_sealed() {
        let mut s = Sealer::new(true);
        let conf = "[global]\nindex-url = http://bob:p%40ss@127.0.0.1:8080/simple\nextra-index-url =\n    https://tok@registry.example.com/simple http://plain.example.com/\n";
        let out = s.urls(conf, "pip.conf").expect("seal");
        assert!(!out.contains("p%40ss") && !out.contains("tok@"), "{out}");
        assert!(out.contains("http://bob:si-placeholder-"));
        assert!(out.contains("http://plain.example.com/"));
        let netrc = "machine 127.0.0.1\n  login bob\n  password hunter2\n";
        let out = s.netrc(netrc, "netrc").expect("seal");
        assert!(
            !out.contains("hunter2") && out.contains("login bob"),
            "{out}"
        );
        let (vault, _) = s.into_vault();
        let reals: Vec<&str> = vault
            .credentials()
            .iter()
            .map(|c| c.real.expose())
            .collect();
        assert_eq!(reals, ["p@ss", "tok", "hunter2"]);
        assert_eq!(
            vault.credentials()[0].origins[0].to_string(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            vault.credentials()[2].origins[0].to_string(),
            "http://127.0.0.1:*/"
        );
        assert!(vault.intercepts("registry.example.com", 443));
        assert!(!vault.intercepts("plain.example.com", 443));
    }

    #[test]
    fn without_interception_https_only_credentials_stay_and_are_noted() {
        let mut s = Sealer::new(false);
        let out = s
            .urls("https://u:p@registry.example.com/simple", "x")
            .expect("seal");
        assert_eq!(out, "https://u:p@registry.example.com/simple");
        let (vault, notes) = s.into_vault();
        assert!(vault.is_empty());
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn authorities_split() {
        assert_eq!(
            split_authority("[::1]:8080"),
            Some(("::1".into(), Some(8080)))
        );
        assert_eq!(
            split_authority("Host.Example.com"),
            Some(("host.example.com".into(), None))
        );
        assert_eq!(split_authority("h:x"), None);
        assert_eq!(references("a${X}b${Y?}"), ["X", "Y"]);
    }
}

/// The interception CA's certificate inside (public; the key stays in the supervisor).
pub const CA_CERT: &str = "/.safe-install/ca.pem";
/// The CA bundle a client whose own CA setting replaces its roots is pointed at: what it
/// trusted before (the user's CA file, or the system's bundle) plus the run's CA.
pub const CA_BUNDLE: &str = "/.safe-install/ca-bundle.pem";
/// The CA bundle the package manager's git verifies servers with (`http.sslCAInfo` of its
/// private configuration): the caller's git CA file, or the system's bundle, plus the run's CA.
pub const GIT_CA_BUNDLE: &str = "/.safe-install/git-ca-bundle.pem";
/// The system bundle, for pip when the user configured no CA of its own.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    #[error("reading the CA file {path} the package manager is configured with")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// When an HTTPS origin carries a credential: the run's CA, trusted inside through the
/// client's own settings, and the upstream verified as the client itself would (its
/// configured CA file, else the system roots). npm: `NODE_EXTRA_CA_CERTS` (added to node's
/// roots), or with a `cafile` of the user's, `npm_config_cafile` pointing at that file plus
/// the run's CA. pip and uv: `PIP_CERT`, `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` at the user's
/// CA bundle (pip's `cert`; uv's `SSL_CERT_FILE`; else the system bundle) plus the run's CA.
/// yarn 2+: `YARN_HTTPS_CA_FILE_PATH` at its CA file (`tool_ca`, which replaces node's roots)
/// plus the run's CA, else `NODE_EXTRA_CA_CERTS` as for npm. git, when it fetches with a
/// credential: `http.sslCAInfo` of its private configuration (and `GIT_SSL_CAINFO` when set)
/// at its CA file (else the system bundle) plus the run's CA; its hosts verified with that
/// CA file.
pub fn trust_inside(
    plan: &mut Plan,
    vault: &mut Vault,
    tool_ca: Option<&Path>,
) -> Result<(), TrustError> {
    if vault.https_origins().is_empty() {
        return Ok(());
    }
    let var = |plan: &Plan, names: &[&str]| {
        plan.env.pass.iter().rev().find_map(|(k, v)| {
            let k = k.to_str()?;
            names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(k))
                .then(|| std::path::PathBuf::from(v))
        })
    };
    let file_text = |plan: &Plan, target: &str| {
        plan.mounts.iter().find_map(|m| match &m.kind {
            MountKind::File(t) if m.target == std::path::Path::new(target) => Some(t.clone()),
            _ => None,
        })
    };
    let trust = plan.manager.ca_trust();
    let mut env: Vec<(&str, String)> = Vec::new();
    let user_ca = match trust {
        CaTrust::Python => var(plan, &["PIP_CERT"]).or_else(|| {
            let text = file_text(plan, PRIVATE_PIP_CONF)?;
            let conf = crate::pm::pip::config::parse_pip_conf(&text);
            ["install", "global"]
                .iter()
                .find_map(|s| conf.get(*s).and_then(|k| k.get("cert")).cloned())
                .map(std::path::PathBuf::from)
        }),
        // uv reads no pip configuration: its CA bundle is `SSL_CERT_FILE`.
        CaTrust::Uv => var(plan, &["SSL_CERT_FILE"]),
        CaTrust::Yarn => tool_ca.map(Path::to_path_buf),
        CaTrust::Node => var(plan, &["npm_config_cafile"]).or_else(|| {
            // Global first: the user's and the project's settings win (the last one counts).
            [PRIVATE_GLOBAL_NPMRC, PRIVATE_NPMRC]
                .iter()
                .filter_map(|f| file_text(plan, f))
                .flat_map(|t| npmrc_pairs(&t))
                .filter(|(k, _)| k == "cafile")
                .map(|(_, v)| std::path::PathBuf::from(v))
                .next_back()
        }),
    };
    let user_ca = user_ca.filter(|p| p.is_absolute());
    // The package manager's git, when it fetches with a credential (a private gitconfig):
    // its own CA setting (`GIT_SSL_CAINFO`, else `http.sslCAInfo`) replaces the system's.
    let git_config = file_text(plan, PRIVATE_GITCONFIG);
    let git_ca = git_config.as_ref().and_then(|text| {
        var(plan, &["GIT_SSL_CAINFO"])
            .or_else(|| {
                crate::plan::gitconfig::parse_user(text)
                    .ssl_ca_info
                    .map(Into::into)
            })
            .filter(|p| p.is_absolute())
    });
    // CA files node adds to its roots (a corporate proxy's CA): kept, with the run's CA added.
    let node_extra = match trust {
        CaTrust::Python | CaTrust::Uv => None,
        CaTrust::Node | CaTrust::Yarn => {
            var(plan, &["NODE_EXTRA_CA_CERTS"]).filter(|p| p.is_absolute() && p.is_file())
        }
    };
    let roots = match &user_ca {
        Some(p) => super::tls::Roots {
            system: false,
            files: vec![p.clone()],
        },
        None => super::tls::Roots {
            system: true,
            files: node_extra.iter().cloned().collect(),
        },
    };
    let mut interceptor = super::tls::Interceptor::new(roots.clone())?;
    let mut git_note = String::new();
    // git's hosts are verified as git would verify them; a host the package manager also
    // reaches with a credential of its own trusts both clients' roots.
    if git_config.is_some() {
        let git_roots = match &git_ca {
            Some(p) => super::tls::Roots {
                system: false,
                files: vec![p.clone()],
            },
            None => super::tls::Roots::system(),
        };
        let is_git = |c: &Credential| {
            c.source.ends_with(GIT_STORE_SOURCE) || c.source.ends_with(GIT_CONFIG_SOURCE)
        };
        let https_hosts = |git: bool| -> Vec<String> {
            vault
                .credentials()
                .iter()
                .filter(|c| is_git(c) == git)
                .flat_map(|c| &c.origins)
                .filter(|o| o.scheme == Scheme::Https)
                .map(|o| o.host.clone())
                .collect()
        };
        let others = https_hosts(false);
        let git_hosts = https_hosts(true);
        if !git_hosts.is_empty() {
            git_note = format!("; git's hosts against {git_roots}");
        }
        for host in git_hosts {
            let host_roots = if others.contains(&host) {
                roots.union(&git_roots)
            } else {
                git_roots.clone()
            };
            interceptor.set_host_roots(&host, host_roots)?;
        }
    }
    let tls = std::sync::Arc::new(interceptor);
    let ca = tls.ca_pem().to_string();
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|source| TrustError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let mut files = vec![(CA_CERT, ca.clone())];
    match (trust, &user_ca, &node_extra) {
        (CaTrust::Python | CaTrust::Uv, _, _) => {
            let base = match &user_ca {
                Some(p) => read(p)?,
                None => read(std::path::Path::new(SYSTEM_BUNDLE))?,
            };
            files.push((CA_BUNDLE, format!("{base}\n{ca}")));
            for name in ["PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"] {
                env.push((name, CA_BUNDLE.to_string()));
            }
        }
        (CaTrust::Yarn, Some(p), _) => {
            files.push((CA_BUNDLE, format!("{}\n{ca}", read(p)?)));
            env.push(("YARN_HTTPS_CA_FILE_PATH", CA_BUNDLE.to_string()));
        }
        (_, Some(p), _) => {
            files.push((CA_BUNDLE, format!("{}\n{ca}", read(p)?)));
            env.push(("npm_config_cafile", CA_BUNDLE.to_string()));
            // pnpm 12 reads no `npm_config_*` variable: its `cafile` comes from the npmrc
            // itself, so the private copies name the bundle too.
            for m in plan.mounts.iter_mut() {
                let is_npmrc = [PRIVATE_NPMRC, PRIVATE_GLOBAL_NPMRC]
                    .iter()
                    .any(|f| m.target == Path::new(f));
                if let (true, MountKind::File(text)) = (is_npmrc, &mut m.kind) {
                    *text = with_cafile(text, CA_BUNDLE);
                }
            }
        }
        (_, None, Some(extra)) => {
            files.push((CA_BUNDLE, format!("{}\n{ca}", read(extra)?)));
            env.push(("NODE_EXTRA_CA_CERTS", CA_BUNDLE.to_string()));
        }
        (_, None, None) => env.push(("NODE_EXTRA_CA_CERTS", CA_CERT.to_string())),
    }
    if let Some(text) = &git_config {
        let base = match &git_ca {
            Some(p) => read(p)?,
            None => read(std::path::Path::new(SYSTEM_BUNDLE))?,
        };
        files.push((GIT_CA_BUNDLE, format!("{base}\n{ca}")));
        // The last value wins: git trusts the bundle, whatever the caller's file said.
        let text = format!(
            "{text}[http]\n\tsslCAInfo = {}\n",
            crate::plan::gitconfig::quote(GIT_CA_BUNDLE)
        );
        replace_file(
            plan,
            crate::plan::Mount {
                target: PRIVATE_GITCONFIG.into(),
                kind: MountKind::File(text),
                why: "the credential parts of git's global configuration, trusting the run's CA, for the package manager's git only".into(),
            },
        );
        if var(plan, &["GIT_SSL_CAINFO"]).is_some() {
            env.push(("GIT_SSL_CAINFO", GIT_CA_BUNDLE.to_string()));
        }
    }
    for (target, text) in files {
        plan.mounts.push(crate::plan::Mount {
            target: target.into(),
            kind: MountKind::File(text),
            why: "the run's interception CA (certificate only), trusted inside this sandbox".into(),
        });
        plan.landlock.read.push(target.into());
        if let Some(s) = plan.script.as_mut() {
            s.read.push(target.into());
        }
        if let Some(p) = plan.python.as_mut() {
            p.level2.read.push(target.into());
        }
    }
    // The level-2 plans were written into the view before these files existed.
    if let Some(s) = &plan.script {
        let m = crate::plan::trust::config_mount(s);
        replace_file(plan, m);
    }
    if let Some(p) = &plan.python {
        let m = crate::plan::trust::python_config_mount(p);
        replace_file(plan, m);
    }
    for (name, value) in env {
        plan.env
            .pass
            .retain(|(k, _)| !k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)));
        plan.env.pass.push((name.into(), value.into()));
    }
    plan.notes.push(format!(
        "HTTPS registries that carry a credential are intercepted with a CA made for this run (its key never leaves safe-install); the upstream is verified against {}{git_note}",
        tls.roots()
    ));
    vault.set_tls(tls);
    Ok(())
}

/// An npm configuration text with every `cafile` naming `bundle`.
fn with_cafile(text: &str, bundle: &str) -> String {
    text.split_inclusive('\n')
        .map(
            |line| match npmrc_pair(line.trim_end_matches(['\n', '\r'])) {
                Some((key, _)) if key == "cafile" => format!("cafile={bundle}\n"),
                _ => line.to_string(),
            },
        )
        .collect()
}

fn replace_file(plan: &mut Plan, m: crate::plan::Mount) {
    if let Some(old) = plan.mounts.iter_mut().find(|o| o.target == m.target) {
        *old = m;
    }
}
