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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_config_without_credentials_is_left_alone() {
        let text = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.com/o/r\n";
        assert_eq!(sanitize(text), None);
    }
}
