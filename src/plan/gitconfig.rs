//! The project's `.git/config` without its credentials.
//!
//! CI checkouts leave a credential in the repository's own configuration: actions/checkout
//! (v5 and earlier) writes `http.<url>.extraheader = AUTHORIZATION: basic …`; GitLab runners
//! put `https://gitlab-ci-token:TOKEN@host/…` in the remote URL; actions/checkout v6 keeps the
//! header in a file under `$RUNNER_TEMP` that the configuration pulls in with
//! `[includeIf "gitdir:…"] path = …`. `.git` is visible (read-only) inside, so the sandbox
//! shows a copy of the file with those parts removed: plain `git` operations that need no
//! credential (`rev-parse`, `status`, `log`, `config core.hooksPath`) keep working; neither the
//! package manager nor its scripts push or fetch the project's own repository.
//!
//! Removed, line by line (git's syntax: `[section "sub"]` headers, `key = value` lines,
//! `\` continuations): every `extraheader` key (any section), every key of `[credential]`
//! sections (a `!`-helper may carry the secret inline), every `[include]`/`[includeIf]`
//! entry (the included file may be anywhere, typically the runner's temp), and the user
//! name and password of any URL value (`url`, `pushurl`, `insteadOf` …). Everything else
//! stays byte for byte.

/// The sanitised text, or `None` when nothing needed removing.
pub fn sanitize(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut section = String::new();
    let mut changed = false;
    // A value continued with a trailing backslash belongs to the previous key.
    let mut dropping_continuation = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if dropping_continuation {
            dropping_continuation = body.ends_with('\\');
            continue;
        }
        let trimmed = body.trim_start();
        if trimmed.starts_with('[') {
            section = section_name(trimmed);
            // An inline `[section] key = value` is rare; judge the header alone.
            out.push_str(line);
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            out.push_str(line);
            continue;
        }
        let key = trimmed
            .split(['=', ' ', '\t'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let drop = key == "extraheader"
            || section == "credential"
            || section == "include"
            || section == "includeif";
        if drop {
            changed = true;
            dropping_continuation = body.ends_with('\\');
            continue;
        }
        match strip_userinfo(line) {
            Some(clean) => {
                changed = true;
                out.push_str(&clean);
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

/// `[Section "sub"]` or `[section.sub]` → the lower-case section name.
fn section_name(header: &str) -> String {
    let inner = header.trim_start_matches('[');
    let end = inner
        .find([']', ' ', '\t', '"', '.'])
        .unwrap_or(inner.len());
    inner[..end].to_ascii_lowercase()
}

/// The line with `user[:password]@` removed from every `scheme://…@host` in it, or `None`.
fn strip_userinfo(line: &str) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace, quote or end of line.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '?' || c == '#')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => {
                out.push_str(&authority[i + 1..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// What of the caller's global git configuration (`~/.gitconfig`, `$XDG_CONFIG_HOME/git/config`
/// or `$GIT_CONFIG_GLOBAL`) concerns credentials for HTTP fetches. The private home hides the
/// file; a package manager that fetches a git dependency gets a private configuration made of
/// these parts only (see [`private_config`]), with every secret sealed by `creds::seal`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UserGit {
    /// Files the `store` helper reads: its `--file` arguments as written (`~/` unexpanded), or
    /// `None` for its defaults (`~/.git-credentials`, then `$XDG_CONFIG_HOME/git/credentials`).
    pub store: Vec<Option<String>>,
    /// Helpers other than `store` (`cache`, `manager`, `!program`): programs and sockets the
    /// sandbox does not show, so they are not carried.
    pub other_helpers: Vec<String>,
    /// `credential.useHttpPath`: the store's entries then match by path too.
    pub use_http_path: bool,
    /// `http.<url>.extraheader`: the URL (`None`: every host git talks to) and the header.
    pub extraheaders: Vec<(Option<String>, String)>,
    /// `http.sslCAInfo`: the CA file git verifies servers with instead of the system's.
    pub ssl_ca_info: Option<String>,
}

impl UserGit {
    /// Whether git would use a credential of this configuration.
    pub fn has_credentials(&self) -> bool {
        !self.store.is_empty() || !self.extraheaders.is_empty()
    }
}

/// The credential parts of a global git configuration, in git's syntax (`[section "sub"]`,
/// `key = value`, quotes and backslash escapes; an empty `helper` resets the helper list, as
/// in git).
pub fn parse_user(text: &str) -> UserGit {
    let mut out = UserGit::default();
    let mut section = String::new();
    let mut sub: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            (section, sub) = section_and_sub(trimmed);
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let (key, value) = match trimmed.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), config_value(v)),
            // A bare key is boolean true.
            None => (trimmed.to_ascii_lowercase(), "true".to_string()),
        };
        match (section.as_str(), key.as_str()) {
            ("credential", "helper") => {
                if value.is_empty() {
                    out.store.clear();
                    out.other_helpers.clear();
                } else if let Some(file) = store_file(&value) {
                    out.store.push(file);
                } else {
                    out.other_helpers.push(value);
                }
            }
            ("credential", "usehttppath") if sub.is_none() => {
                out.use_http_path = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "true" | "yes" | "on" | "1"
                );
            }
            ("http", "extraheader") => {
                if value.is_empty() {
                    // An empty value resets the list for that URL.
                    out.extraheaders.retain(|(u, _)| *u != sub);
                } else {
                    out.extraheaders.push((sub.clone(), value));
                }
            }
            ("http", "sslcainfo") if sub.is_none() => out.ssl_ca_info = Some(value),
            _ => {}
        }
    }
    out
}

/// `store`, `store --file=F`, `store --file F`, `git-credential-store …` → `Some(file)`; `None`
/// when the helper is another one.
fn store_file(helper: &str) -> Option<Option<String>> {
    let mut words = helper.split_whitespace();
    let name = words.next()?;
    if name != "store" && name != "git-credential-store" && !name.ends_with("/git-credential-store")
    {
        return None;
    }
    let mut file = None;
    while let Some(w) = words.next() {
        if let Some(f) = w.strip_prefix("--file=") {
            file = Some(f.to_string());
        } else if w == "--file" {
            file = words.next().map(str::to_string);
        }
    }
    Some(file)
}

/// `[Section "sub"]` → (lower-case section, the subsection as written); `[section.sub]` (the
/// old form, lower-cased by git) likewise.
fn section_and_sub(header: &str) -> (String, Option<String>) {
    let inner = header.trim_start_matches('[');
    let inner = inner.rsplit_once(']').map(|(i, _)| i).unwrap_or(inner);
    match inner.split_once([' ', '\t']) {
        Some((name, rest)) => {
            let rest = rest.trim();
            let sub = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .map(|r| r.replace("\\\"", "\"").replace("\\\\", "\\"));
            (name.to_ascii_lowercase(), sub)
        }
        None => match inner.split_once('.') {
            Some((name, sub)) => (name.to_ascii_lowercase(), Some(sub.to_ascii_lowercase())),
            None => (inner.to_ascii_lowercase(), None),
        },
    }
}

/// A value as git reads it: quotes removed, `\"`, `\\`, `\t`, `\n` unescaped, a comment
/// (`#`, `;` outside quotes) cut, surrounding blanks trimmed.
pub fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut pending_space = String::new();
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            '#' | ';' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                pending_space.push(c);
                continue;
            }
            c => {
                out.push_str(&std::mem::take(&mut pending_space));
                out.push(c);
            }
        }
        if quoted {
            out.push_str(&std::mem::take(&mut pending_space));
        }
    }
    out
}

/// A value written for git: in quotes, with `"` and `\` escaped.
pub fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The host of an `http.<url>` key, when git would match it by name (no `*` wildcard).
fn exact_url(url: &str) -> Option<url::Url> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    (matches!(u.scheme(), "http" | "https") && !host.contains('*')).then_some(u)
}

/// The private configuration git gets inside (`GIT_CONFIG_GLOBAL`): the store helper reading
/// `credentials_file` (read only: `get`, never `store` or `erase`), `useHttpPath`, every
/// `http.<url>.extraheader` whose URL names one host, and `sslCAInfo`. Returns the text and
/// notes on what was not carried (headers for every host or a wildcard host, other helpers).
pub fn private_config(user: &UserGit, credentials_file: Option<&str>) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut text = String::from(
        "# written by safe-install for the package manager's git only (trust level 1): the\n# credential parts of your global git configuration, secrets as placeholders\n",
    );
    if let Some(file) = credentials_file {
        // `get` only: git asks the helper to `store` a credential that worked, which would
        // write the read-only private file.
        let helper = format!(
            "!f() {{ test \"$1\" != get || exec git credential-store --file={file} get; }}; f"
        );
        text.push_str(&format!("[credential]\n\thelper = {}\n", quote(&helper)));
        if user.use_http_path {
            text.push_str("\tuseHttpPath = true\n");
        }
    }
    for (url, header) in &user.extraheaders {
        match url.as_deref().map(|u| (u, exact_url(u))) {
            Some((u, Some(_))) => {
                text.push_str(&format!(
                    "[http {}]\n\textraheader = {}\n",
                    quote(u),
                    quote(header)
                ));
            }
            Some((u, None)) => notes.push(format!(
                "git: http.{u}.extraheader is not carried into the sandbox (safe-install binds a credential to one named http or https host; a wildcard or another scheme cannot be bound)"
            )),
            None => notes.push(
                "git: http.extraheader without a URL is not carried into the sandbox (git would send it to every host); scope it to your server: `git config --global http.https://HOST/.extraheader …`".into(),
            ),
        }
    }
    for helper in &user.other_helpers {
        notes.push(format!(
            "git: the credential helper `{helper}` is not carried into the sandbox (a program or socket the sandbox does not show); `store` (~/.git-credentials) and http.<url>.extraheader are"
        ));
    }
    if let Some(ca) = &user.ssl_ca_info {
        text.push_str(&format!("[http]\n\tsslCAInfo = {}\n", quote(ca)));
    }
    (text, notes)
}

/// A `scheme://authority` found in free text (a configuration line, a manifest value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextUrl<'a> {
    /// As written (`git+https`).
    pub scheme: &'a str,
    /// Up to the first character `ends_authority` stops at.
    pub authority: &'a str,
    /// Where `scheme://` starts in the text.
    pub start: usize,
    /// Where the authority ends in the text.
    pub end: usize,
}

/// Every `scheme://authority` in `text`, in order; the authority ends at the first character
/// for which `ends_authority` holds (or the end of the text).
pub fn text_urls<'a>(
    text: &'a str,
    ends_authority: impl Fn(char) -> bool + 'a,
) -> impl Iterator<Item = TextUrl<'a>> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + text[from..].find("://")?;
        let start = text[from..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map(|i| from + i + 1)
            .unwrap_or(from);
        let authority_at = at + 3;
        let end = text[authority_at..]
            .find(&ends_authority)
            .map(|i| authority_at + i)
            .unwrap_or(text.len());
        from = end;
        Some(TextUrl {
            scheme: &text[start..at],
            authority: &text[authority_at..end],
            start,
            end,
        })
    })
}

/// Every `http(s)://` or `git+http(s)://` URL with user information in `text` (a manifest's
/// dependency value, a lockfile), shown without it. Placeholders are not credentials.
pub fn url_credentials(text: &str) -> Vec<String> {
    let ends = |c: char| "/?#".contains(c) || c.is_whitespace() || "\"'`,".contains(c);
    text_urls(text, ends)
        .filter_map(|u| {
            let scheme = u.scheme.to_ascii_lowercase();
            let is_http = matches!(scheme.as_str(), "http" | "https" | "git+http" | "git+https");
            let i = u.authority.rfind('@').filter(|_| is_http)?;
            let userinfo = &u.authority[..i];
            if userinfo.is_empty() || userinfo.contains("si-placeholder-") {
                return None;
            }
            let rest = &text[u.end..];
            let path = &rest[..rest
                .find(|c: char| c.is_whitespace() || "\"'`,#".contains(c))
                .unwrap_or(rest.len())];
            Some(format!("{scheme}://***@{}{path}", &u.authority[i + 1..]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_with_their_places() {
        let text = "a git+https://u:p@h.example/x b=http://h2:8080/y,https://z";
        let ends = |c: char| "/?#,".contains(c) || c.is_whitespace();
        let found: Vec<_> = text_urls(text, ends).collect();
        assert_eq!(
            found
                .iter()
                .map(|u| (u.scheme, u.authority))
                .collect::<Vec<_>>(),
            vec![
                ("git+https", "u:p@h.example"),
                ("http", "h2:8080"),
                ("https", "z")
            ]
        );
        for u in &found {
            assert_eq!(
                &text[u.start..u.end],
                format!("{}://{}", u.scheme, u.authority)
            );
        }
        assert_eq!(
            url_credentials(text),
            vec!["git+https://***@h.example/x".to_string()]
        );
    }

    #[test]
    fn actions_checkout_header_is_removed() {
        let text = "[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = https://github.example.com/o/r\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[http \"https://github.example.com/\"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0\n";
        let clean = sanitize(text).expect("changed");
        assert!(!clean.contains("AUTHORIZATION"), "{clean}");
        assert!(clean.contains("url = https://github.example.com/o/r"));
        assert!(clean.contains("bare = false"));
    }

    #[test]
    fn gitlab_remote_userinfo_is_removed() {
        let text = "[remote \"origin\"]\n\turl = https://gitlab-ci-token:glcbt-SECRET@gitlab.example.com/g/p.git\n\tpushurl = ssh://git@gitlab.example.com/g/p.git\n";
        let clean = sanitize(text).expect("changed");
        assert!(!clean.contains("SECRET") && !clean.contains("gitlab-ci-token"));
        assert!(clean.contains("url = https://gitlab.example.com/g/p.git\n"));
        assert!(clean.contains("pushurl = ssh://gitlab.example.com/g/p.git\n"));
    }

    #[test]
    fn includes_and_credential_helpers_are_removed() {
        let text = "[includeIf \"gitdir:/home/runner/work/r/r/.git\"]\n\tpath = /home/runner/work/_temp/git-credentials-1.config\n[credential]\n\thelper = \"!f() { echo password=SECRET; }; f\"\n[Include]\n\tpath = x \\\n  y\n[user]\n\tname = CI\n";
        let clean = sanitize(text).expect("changed");
        assert!(!clean.contains("SECRET") && !clean.contains("_temp") && !clean.contains("y\n  "));
        assert!(clean.contains("name = CI"));
    }

    #[test]
    fn the_credential_parts_of_a_global_config_are_found() {
        let text = "[user]\n\tname = me\n[credential]\n\thelper = cache\n\thelper =\n\thelper = store --file ~/.my-creds\n\thelper = store\n\tuseHttpPath = true\n[credential \"https://other.example.com\"]\n\thelper = \"!f() { echo password=x; }; f\"\n[http \"https://git.example.com/org/\"]\n\textraheader = \"AUTHORIZATION: basic eDp5\" ; comment\n[http]\n\textraheader = X-Everywhere: 1\n\tsslCAInfo = /etc/corp-ca.pem\n[http \"https://*.example.com/\"]\n\textraheader = PRIVATE-TOKEN: t\n";
        let user = parse_user(text);
        // The empty helper reset `cache`.
        assert_eq!(user.store, [Some("~/.my-creds".to_string()), None]);
        assert_eq!(user.other_helpers, ["!f() { echo password=x; }; f"]);
        assert!(user.use_http_path);
        assert_eq!(
            user.extraheaders,
            [
                (
                    Some("https://git.example.com/org/".to_string()),
                    "AUTHORIZATION: basic eDp5".to_string()
                ),
                (None, "X-Everywhere: 1".to_string()),
                (
                    Some("https://*.example.com/".to_string()),
                    "PRIVATE-TOKEN: t".to_string()
                ),
            ]
        );
        assert_eq!(user.ssl_ca_info.as_deref(), Some("/etc/corp-ca.pem"));
        assert!(!parse_user("[user]\n\tname = me\n").has_credentials());
    }

    #[test]
    fn the_private_config_carries_only_what_binds_to_one_host() {
        let user = parse_user("[credential]\n\thelper = store\n[http \"https://git.example.com/\"]\n\textraheader = Authorization: Bearer tok\n[http]\n\textraheader = X-All: 1\n[http \"https://*.example.com/\"]\n\textraheader = X-Wild: 1\n");
        let (text, notes) = private_config(&user, Some("/private/creds"));
        let back = parse_user(&text);
        assert!(
            back.store.is_empty(),
            "the helper reads only: not `store`: {text}"
        );
        assert_eq!(back.other_helpers.len(), 1);
        assert!(
            back.other_helpers[0].contains("--file=/private/creds get"),
            "{text}"
        );
        assert!(
            back.other_helpers[0].starts_with("!f() { test \"$1\" != get"),
            "{text}"
        );
        assert_eq!(
            back.extraheaders,
            [(
                Some("https://git.example.com/".to_string()),
                "Authorization: Bearer tok".to_string()
            )]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(!text.contains("X-All") && !text.contains("X-Wild"));
    }

    #[test]
    fn credentials_in_dependency_urls_are_found_and_shown_without_them() {
        assert_eq!(
            url_credentials("git+https://user:ghp_TOKEN@git.example.com/o/r.git#abc"),
            ["git+https://***@git.example.com/o/r.git"]
        );
        assert_eq!(
            url_credentials("  resolved \"https://tok@git.example.com/o/r.git#deadbeef\""),
            ["https://***@git.example.com/o/r.git"]
        );
        for clean in [
            "git+https://git.example.com/o/r.git",
            "git+ssh://git@git.example.com/o/r.git",
            "github:o/r",
            "https://si-placeholder-00ff@git.example.com/x",
            "^1.2.3",
        ] {
            assert!(url_credentials(clean).is_empty(), "{clean}");
        }
    }

    #[test]
    fn a_config_without_credentials_is_left_alone() {
        let text = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.com/o/r\n";
        assert_eq!(sanitize(text), None);
    }
}
