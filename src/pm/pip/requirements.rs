//! pip's options on its command line and in requirements files (`-r`/`-c`, recursively,
//! relative to the including file, `${VAR}` expanded), and the direct URL requirements pip
//! fetches whatever its index settings say.

use super::config::*;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use url::Url;

/// Options that take a value, with their canonical name.
const VALUE_OPTIONS: [(&str, &str); 9] = [
    ("-i", "index-url"),
    ("--index-url", "index-url"),
    ("--extra-index-url", "extra-index-url"),
    ("-f", "find-links"),
    ("--find-links", "find-links"),
    ("-r", "requirement"),
    ("--requirement", "requirement"),
    ("-c", "constraint"),
    ("--constraint", "constraint"),
];

/// Walk argv-style tokens (the command line, or a requirements file's options).
pub(super) fn parse_options(
    tokens: &[String],
    origin: &PipOrigin,
    base: &Path,
    src: &PipSources,
    s: &mut Settings,
    visited: &mut BTreeSet<PathBuf>,
    depth: usize,
) -> Result<(), PipConfError> {
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        i += 1;
        if tok == "--" {
            break;
        }
        if tok == "--no-index" {
            s.no_index = Some(true);
            continue;
        }
        let mut found = None;
        for (flag, name) in VALUE_OPTIONS {
            if tok == flag {
                let value = tokens
                    .get(i)
                    .cloned()
                    .ok_or_else(|| PipConfError::MissingValue {
                        origin: origin.clone(),
                        option: flag.to_owned(),
                    })?;
                i += 1;
                found = Some((name, value));
            } else if let Some(v) = tok.strip_prefix(flag).and_then(|rest| {
                if flag.starts_with("--") {
                    rest.strip_prefix('=')
                } else {
                    Some(rest.strip_prefix('=').unwrap_or(rest)).filter(|r| !r.is_empty())
                }
            }) {
                found = Some((name, v.to_owned()));
            }
            if found.is_some() {
                break;
            }
        }
        let Some((name, value)) = found else {
            if tok == "--proxy" {
                i += 1; // its URL is the proxy, not a requirement
            } else {
                s.note_direct_url(tok, origin);
            }
            continue;
        };
        // In a requirements file, a relative find-links path that exists next to the file
        // is taken from there (pip's req_file.handle_option_line).
        let value = match origin {
            PipOrigin::Requirements(_)
                if name == "find-links" && !value.contains("://") && base.join(&value).exists() =>
            {
                base.join(&value).to_string_lossy().into_owned()
            }
            _ => value,
        };
        let raw = Raw {
            value,
            origin: origin.clone(),
        };
        match name {
            "index-url" => s.index = Some(raw),
            "extra-index-url" => s.extra.push(raw),
            "find-links" => s.find_links.push(raw),
            _ => read_requirements(raw, base, src, s, visited, depth + 1)?,
        }
    }
    Ok(())
}

/// Follow a `-r`/`-c` file: its option lines count like command-line options.
pub(super) fn read_requirements(
    raw: Raw,
    base: &Path,
    src: &PipSources,
    s: &mut Settings,
    visited: &mut BTreeSet<PathBuf>,
    depth: usize,
) -> Result<(), PipConfError> {
    if Url::parse(&raw.value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        // pip downloads it: the host is needed, and its options cannot be known here.
        s.remote_requirements.push(raw);
        return Ok(());
    }
    let path = raw.value.strip_prefix("file://").unwrap_or(&raw.value);
    let path = base.join(path);
    if depth > MAX_DEPTH {
        return Err(PipConfError::TooDeep(path));
    }
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if !visited.insert(key) {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|source| PipConfError::Read {
        path: path.clone(),
        source,
    })?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| base.to_path_buf());
    let origin = PipOrigin::Requirements(path.clone());
    for line in requirement_lines(&text) {
        let line = expand_vars(&line, &src.env);
        let tokens: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if tokens.first().is_some_and(|t| t.starts_with('-')) {
            parse_options(&tokens, &origin, &dir, src, s, visited, depth)?;
        } else {
            s.note_direct_url(&line, &origin);
        }
    }
    Ok(())
}

/// The http(s) URL of a direct requirement: `name[extras] @ URL [; markers]`, a bare URL, or
/// a VCS URL (`git+https://…`, whose `vcs+` prefix is dropped). `None` for anything else
/// (names, local paths, `git+ssh`, which cannot go through the proxy anyway).
pub fn direct_url(requirement: &str) -> Option<String> {
    let r = requirement.trim();
    let candidate = match r.split_once('@') {
        // `name @ url`: the part before `@` is a name (no `:` or `/`), not a URL's userinfo.
        Some((name, rest)) if !name.contains([':', '/']) => rest.trim_start(),
        _ => r,
    };
    let token = candidate.split([' ', '\t', ';']).next()?;
    let token = ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .find_map(|p| token.strip_prefix(p))
        .unwrap_or(token);
    let url = Url::parse(token).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| token.to_owned())
}

/// Logical lines of a requirements file: `\`-continuations joined, comments (`#` at the start
/// or after whitespace) removed.
pub(super) fn requirement_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(stripped) = line.strip_suffix('\\') {
            cur.push_str(stripped);
            continue;
        }
        cur.push_str(line);
        let logical = std::mem::take(&mut cur);
        let no_comment = match logical.find(" #").or_else(|| logical.find("\t#")) {
            Some(i) => logical[..i].to_owned(),
            None if logical.trim_start().starts_with('#') => String::new(),
            None => logical,
        };
        let t = no_comment.trim();
        if !t.is_empty() {
            out.push(t.to_owned());
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// pip's `${VAR}` expansion in requirements files (names of `A-Z`, `0-9`, `_`; unset → left as is).
pub(super) fn expand_vars(line: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        match after.find('}') {
            Some(end)
                if !after[..end].is_empty()
                    && after[..end]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                match env.get(&after[..end]) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[pos..pos + end + 3]),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
