//! pip's own default index and file host, read as text from the pip the target interpreter
//! would import: never by running that interpreter (it would run every `.pth` file in its
//! site-packages).

use super::config::{PipConfError, PipDefaults};
use std::path::{Path, PathBuf};
use url::Url;

/// pip's default index and file host, read as text from the pip that `python` would import
/// (`pip/_internal/models/index.py`: `PyPI = PackageIndex("<url>", file_storage_domain=
/// "<host>")`; the index is `<url>` joined with `simple`, as pip's `PackageIndex` does).
///
/// Nothing is executed: starting the interpreter would run every `.pth` file in its
/// site-packages, and any wheel may ship one. The file lies in an environment earlier installs
/// wrote, so what it says is checked like any other untrusted input (an http(s) URL and a
/// plain host name) and only ever names hosts pip itself would use.
pub fn pip_defaults_from_source(python: &Path, home: &Path) -> Result<PipDefaults, PipConfError> {
    let looked = site_dirs(python, home);
    for dir in &looked {
        let file = dir.join("pip/_internal/models/index.py");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PipConfError::Read { path: file, source }),
        };
        return parse_index_source(&text).ok_or(PipConfError::SourceUnrecognised { file });
    }
    Err(PipConfError::SourceNotFound {
        python: python.to_path_buf(),
        looked,
    })
}

/// The site directories `python` imports pip from, in its order (user site, then the prefix's
/// own; a virtualenv's own, then its base's when it includes system site-packages).
fn site_dirs(python: &Path, home: &Path) -> Vec<PathBuf> {
    let venv = python
        .parent()
        .and_then(Path::parent)
        .filter(|v| v.join("pyvenv.cfg").is_file());
    if let Some(venv) = venv {
        let mut dirs: Vec<PathBuf> = versions_in(&venv.join("lib"))
            .into_iter()
            .map(|v| venv.join(format!("lib/python{v}/site-packages")))
            .collect();
        let key = |name: &str| super::pyvenv_value(venv, name);
        if key("include-system-site-packages").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            if let Some(base) = key("home").as_deref().map(Path::new).and_then(Path::parent) {
                dirs.extend(prefix_site_dirs(base, None));
            }
        }
        return dirs;
    }
    let real = std::fs::canonicalize(python).unwrap_or_else(|_| python.to_path_buf());
    let version = real
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("python"))
        .filter(|v| v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(str::to_owned);
    let mut dirs = Vec::new();
    if let Some(v) = &version {
        dirs.push(home.join(format!(".local/lib/python{v}/site-packages")));
    }
    if let Some(prefix) = real.parent().and_then(Path::parent) {
        dirs.extend(prefix_site_dirs(prefix, version));
    }
    dirs
}

/// A prefix's site directories for version `X.Y` (every `lib/pythonX.Y` when unknown),
/// Debian's `dist-packages` layout included.
fn prefix_site_dirs(prefix: &Path, version: Option<String>) -> Vec<PathBuf> {
    let versions = match version {
        Some(v) => vec![v],
        None => versions_in(&prefix.join("lib")),
    };
    let mut dirs = Vec::new();
    for v in versions {
        dirs.push(prefix.join(format!("local/lib/python{v}/dist-packages")));
        dirs.push(prefix.join("lib/python3/dist-packages"));
        dirs.push(prefix.join(format!("lib/python{v}/site-packages")));
        dirs.push(prefix.join(format!("lib/python{v}/dist-packages")));
    }
    dirs.dedup();
    dirs
}

/// The `X.Y` of each `pythonX.Y` directory in `lib`, sorted.
fn versions_in(lib: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let v = name.strip_prefix("python")?;
            (v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .then(|| v.to_string())
        })
        .collect();
    found.sort();
    found
}

/// `PyPI = PackageIndex("<url>", file_storage_domain="<host>")` in pip's source text.
pub(super) fn parse_index_source(text: &str) -> Option<PipDefaults> {
    let start = text
        .lines()
        .position(|l| l.starts_with("PyPI = PackageIndex("))?;
    let call: String = text
        .lines()
        .skip(start)
        .take(4)
        .collect::<Vec<_>>()
        .join(" ");
    let args = call.strip_prefix("PyPI = PackageIndex(")?;
    let args = &args[..args.find(')')?];
    let (url, rest) = string_literal(args)?;
    let rest = &rest[rest.find("file_storage_domain")? + "file_storage_domain".len()..];
    let rest = rest.trim_start().strip_prefix('=')?;
    let (domain, _) = string_literal(rest)?;
    let base = Url::parse(url).ok()?;
    let simple_url = base.join("simple").ok()?;
    checked_defaults(simple_url, domain)
}

/// The first Python string literal in `s` (plain, no escapes) and what follows it.
fn string_literal(s: &str) -> Option<(&str, &str)> {
    let open = s.find(['"', '\''])?;
    let quote = s[open..].chars().next()?;
    let body = &s[open + 1..];
    let close = body.find(quote)?;
    let value = &body[..close];
    (!value.contains('\\')).then_some((value, &body[close + 1..]))
}

/// What pip's source says, if it is an http(s) index URL and a plain host name.
fn checked_defaults(simple_url: Url, domain: &str) -> Option<PipDefaults> {
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (matches!(simple_url.scheme(), "http" | "https")
        && simple_url.host_str().is_some()
        && domain_ok)
        .then(|| PipDefaults {
            simple_url,
            file_storage_domain: domain.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::test_fixtures::write_files;

    #[test]
    fn pip_source_is_read_as_checked_data() {
        let ok = |text: &str| {
            parse_index_source(text).map(|d| (d.simple_url.to_string(), d.file_storage_domain))
        };
        let expected = Some((
            "https://registry.example.com/simple".to_string(),
            "files.example.com".to_string(),
        ));
        assert_eq!(
            ok("import x\n\nPyPI = PackageIndex(\"https://registry.example.com/\", file_storage_domain=\"files.example.com\")\n"),
            expected
        );
        // Black's long-line layout, single quotes.
        assert_eq!(
            ok("PyPI = PackageIndex(\n    'https://registry.example.com/',\n    file_storage_domain='files.example.com',\n)\n"),
            expected
        );
        for bad in [
            "",
            "# PyPI = PackageIndex(\"https://registry.example.com/\", file_storage_domain=\"f.example\")",
            "PyPI = PackageIndex(\"ftp://registry.example.com/\", file_storage_domain=\"f.example\")",
            "PyPI = PackageIndex(\"https://registry.example.com/\", file_storage_domain=\"f example\")",
            "PyPI = PackageIndex(\"https://registry.example.com/\", file_storage_domain=\"a\\x2eb\")",
            "PyPI = PackageIndex(URL, file_storage_domain=DOMAIN)",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn pip_source_is_found_where_the_interpreter_imports_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let index = |site: &Path, host: &str| {
            write_files(
                site,
                &[(
                    "pip/_internal/models/index.py",
                    &format!("PyPI = PackageIndex(\"https://{host}/\", file_storage_domain=\"files.{host}\")\n"),
                )],
            )
        };
        // A base installation: prefix/bin/python3.11 → prefix/lib/python3.11/site-packages.
        let prefix = root.join("prefix");
        write_files(&prefix, &[("bin/python3.11", "")]);
        std::os::unix::fs::symlink("python3.11", prefix.join("bin/python3")).expect("symlink");
        index(&prefix.join("lib/python3.11/site-packages"), "base.example");
        let home = root.join("home");
        let found = pip_defaults_from_source(&prefix.join("bin/python3"), &home).expect("base");
        assert_eq!(found.file_storage_domain, "files.base.example");
        // The user site comes first.
        index(
            &home.join(".local/lib/python3.11/site-packages"),
            "user.example",
        );
        let found = pip_defaults_from_source(&prefix.join("bin/python3"), &home).expect("user");
        assert_eq!(found.file_storage_domain, "files.user.example");
        // A virtualenv reads its own site-packages only, unless it includes the system's.
        let venv = root.join("venv");
        write_files(
            &venv,
            &[(
                "pyvenv.cfg",
                &format!("home = {}\n", prefix.join("bin").display()),
            )],
        );
        std::fs::create_dir_all(venv.join("lib/python3.11/site-packages")).expect("mkdir");
        let err = pip_defaults_from_source(&venv.join("bin/python"), &home).expect_err("no pip");
        assert!(err.to_string().contains("Fix: pass --index-url"), "{err}");
        write_files(
            &venv,
            &[(
                "pyvenv.cfg",
                &format!(
                    "home = {}\ninclude-system-site-packages = true\n",
                    prefix.join("bin").display()
                ),
            )],
        );
        let found = pip_defaults_from_source(&venv.join("bin/python"), &home).expect("system");
        assert_eq!(found.file_storage_domain, "files.base.example");
        index(&venv.join("lib/python3.11/site-packages"), "venv.example");
        let found = pip_defaults_from_source(&venv.join("bin/python"), &home).expect("venv");
        assert_eq!(found.simple_url.as_str(), "https://venv.example/simple");
    }
}
