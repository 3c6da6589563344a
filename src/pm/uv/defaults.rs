//! uv's own default index, read as data from uv's executable: never by running uv (on the
//! host it would read the caller's configuration and could reach the network).
//!
//! uv's help text for `--default-index` and for `--index-url` says what the default is:
//! `… (by default: <URL>)`, generated from the same settings documentation as the code that
//! uses it. Both sentences must be present and name the same URL; what they say is checked
//! like any untrusted input (an http(s) URL with a plain host name, no user information,
//! query or fragment). Anything else is an error the caller turns into "pass
//! `--default-index`".
//!
//! The host the default index serves its files from is not in uv (uv follows the links the
//! index returns); pip's source names it for the same index ([`crate::pm::pip::defaults`]),
//! and it is used only when pip's default index is the very URL uv's is.

use super::config::{UvConfError, UvDefaults};
use memchr::memmem;
use std::io::Read;
use std::path::{Path, PathBuf};
use url::Url;

/// The two help sentences that name the default, as uv prints them.
const MARKERS: [&str; 2] = [
    "The default package index (by default: <",
    "The URL of the Python package index (by default: <",
];

/// The largest executable taken for uv (uv 0.13 is about 40 MB).
const MAX_SIZE: u64 = 512 << 20;

/// How far past a sentence [`parse_default_index`] looks for the end of its URL.
const URL_ROOM: usize = 512;

/// Read size. The help text lies a few megabytes into uv's executable (3 MB of 38 in uv 0.9):
/// reading only that far, through one buffer, spares tens of milliseconds of every sandboxed
/// uv command.
const CHUNK: usize = 256 << 10;

/// uv's default index from its executable `uv`, with the file host from the pip source the
/// first of `pythons` imports whose default index is the same URL.
pub fn uv_defaults(uv: &Path, pythons: &[PathBuf], home: &Path) -> Result<UvDefaults, UvConfError> {
    let index = default_index_of(uv)?;
    let file_host = pythons
        .iter()
        .filter_map(|py| crate::pm::pip::defaults::pip_defaults_from_source(py, home).ok())
        .find(|pip| same_index(&pip.simple_url, &index))
        .map(|pip| pip.file_storage_domain);
    if file_host.is_none() {
        tracing::warn!(
            "uv's default index {index} is allowed, but no pip source names the host its files live on: downloads from there are refused (add it with --allow-host)"
        );
    }
    Ok(UvDefaults {
        index,
        executable: uv.to_path_buf(),
        file_host,
    })
}

fn same_index(a: &Url, b: &Url) -> bool {
    a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

/// The default index named by uv's help text in the executable `uv`.
pub fn default_index_of(uv: &Path) -> Result<Url, UvConfError> {
    let unknown = |detail: String| UvConfError::DefaultUnknown { detail };
    let meta = std::fs::metadata(uv).map_err(|e| unknown(format!("{}: {e}", uv.display())))?;
    if !meta.is_file() || meta.len() > MAX_SIZE {
        return Err(unknown(format!(
            "{} is not a regular file of at most {} MiB",
            uv.display(),
            MAX_SIZE >> 20
        )));
    }
    let after = std::fs::File::open(uv)
        .and_then(|mut f| text_after_sentences(&mut f, CHUNK))
        .map_err(|e| unknown(format!("{}: {e}", uv.display())))?;
    default_index_in(&after).ok_or_else(|| {
        unknown(format!(
            "{} does not say `(by default: <URL>)` for --default-index and --index-url, or they differ",
            uv.display()
        ))
    })
}

/// For each of [`MARKERS`], the [`URL_ROOM`] bytes that follow its first occurrence in
/// `source` (fewer at the end of the file; `None` when it does not occur). Read `chunk` bytes
/// at a time into one buffer, and no further than needed: the help text lies a few megabytes
/// into a 40 MB executable.
fn text_after_sentences(
    source: &mut impl Read,
    chunk: usize,
) -> std::io::Result<[Option<Vec<u8>>; MARKERS.len()]> {
    let finders = MARKERS.map(|m| memmem::Finder::new(m.as_bytes()));
    // What a sentence straddling two reads may have left in the previous one.
    let carry = MARKERS.iter().map(|m| m.len()).max().unwrap_or(1) - 1;
    let mut after: [Option<Vec<u8>>; MARKERS.len()] = Default::default();
    let mut window = vec![0u8; carry + chunk.max(1)];
    let mut kept = 0;
    loop {
        let n = loop {
            match source.read(&mut window[kept..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(after);
        }
        let len = kept + n;
        for (text, finder) in after.iter_mut().zip(&finders) {
            match text {
                // Found in an earlier read: take what follows from this one's new bytes.
                Some(t) if t.len() < URL_ROOM => {
                    let more = (URL_ROOM - t.len()).min(n);
                    t.extend_from_slice(&window[kept..kept + more]);
                }
                Some(_) => {}
                None => {
                    if let Some(at) = finder.find(&window[..len]) {
                        let from = at + finder.needle().len();
                        let to = len.min(from + URL_ROOM);
                        *text = Some(window[from..to].to_vec());
                    }
                }
            }
        }
        if after
            .iter()
            .all(|t| t.as_ref().is_some_and(|t| t.len() >= URL_ROOM))
        {
            return Ok(after);
        }
        let keep = carry.min(len);
        window.copy_within(len - keep..len, 0);
        kept = keep;
    }
}

/// The URL both help sentences name, checked, in the whole of `bytes`.
#[cfg(test)]
fn parse_default_index(bytes: &[u8]) -> Option<Url> {
    default_index_in(&text_after_sentences(&mut &bytes[..], bytes.len()).ok()?)
}

/// The URL named by both sentences' following text ([`text_after_sentences`]), checked.
fn default_index_in(after: &[Option<Vec<u8>>]) -> Option<Url> {
    let mut found: Option<&str> = None;
    for text in after {
        let text = text.as_deref()?;
        let end = text.iter().position(|b| *b == b'>')?;
        let url = std::str::from_utf8(&text[..end]).ok()?;
        match found {
            Some(f) if f != url => return None,
            _ => found = Some(url),
        }
    }
    let url = Url::parse(found?).ok()?;
    let host_ok = url.host_str().is_some_and(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    });
    (matches!(url.scheme(), "http" | "https")
        && host_ok
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none())
    .then_some(url)
}

/// The real uv executable behind `program`: `program` itself when it is an ELF file; for a
/// short `#!` wrapper script (a toolchain's or a version manager's), the first absolute path
/// it names whose file is called `uv` (or `uvx`) and is an ELF file; for `uvx`, the `uv`
/// beside it. Read, never run.
pub fn real_executable(program: &Path) -> Option<PathBuf> {
    let found = elf_behind(program)?;
    if found.file_name().is_some_and(|n| n == "uvx") {
        // uvx execs the `uv` beside it (`uv tool uvx …`): that is the executable that runs.
        let uv = found.with_file_name("uv");
        return read_head(&uv, 4)
            .is_some_and(|h| h.starts_with(b"\x7fELF"))
            .then(|| std::fs::canonicalize(&uv).ok())
            .flatten();
    }
    Some(found)
}

/// The ELF `program` is, or the one named `uv` or `uvx` that its `#!` wrapper names.
fn elf_behind(program: &Path) -> Option<PathBuf> {
    let head = read_head(program, 4096)?;
    if head.starts_with(b"\x7fELF") {
        return std::fs::canonicalize(program).ok();
    }
    if !head.starts_with(b"#!") {
        return None;
    }
    let text = std::str::from_utf8(&head).ok()?;
    text.split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .map(Path::new)
        .filter(|p| p.is_absolute() && p.file_name().is_some_and(|n| n == "uv" || n == "uvx"))
        .find(|p| read_head(p, 4).is_some_and(|h| h.starts_with(b"\x7fELF")))
        .and_then(|p| std::fs::canonicalize(p).ok())
}

fn read_head(path: &Path, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut f = std::fs::File::open(path).ok()?;
    let got = f.read(&mut buf).ok()?;
    buf.truncate(got);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(a: &str, b: &str) -> Vec<u8> {
        let mut v = b"\x7fELF\0\0junk".to_vec();
        v.extend_from_slice(
            format!("DEFAULT_INDEXThe default package index (by default: <{a}>)The default")
                .as_bytes(),
        );
        v.extend_from_slice(b"\0more\0");
        v.extend_from_slice(
            format!("(Deprecated) The URL of the Python package index (by default: <{b}>).")
                .as_bytes(),
        );
        v
    }

    #[test]
    fn the_default_is_what_both_help_sentences_say() {
        let u = "https://registry.example.com/simple";
        assert_eq!(
            parse_default_index(&binary(u, u)).map(|u| u.to_string()),
            Some(u.to_string())
        );
        for (a, b) in [
            (u, "https://other.example.com/simple"),
            (
                "https://u:p@registry.example.com/simple",
                "https://u:p@registry.example.com/simple",
            ),
            ("file:///etc/passwd", "file:///etc/passwd"),
            (
                "https://registry.example.com/simple?x=1",
                "https://registry.example.com/simple?x=1",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(parse_default_index(&binary(a, b)), None, "{a} {b}");
        }
        assert_eq!(parse_default_index(b"\x7fELF nothing here"), None);
    }

    /// Read in chunks of every size, a binary whose sentences straddle chunk boundaries (and
    /// whose second sentence comes first) gives what the whole file gives; reading stops
    /// once both sentences and what may follow them are in.
    #[test]
    fn reading_stops_after_both_sentences_whatever_the_chunks() {
        let u = "https://registry.example.com/simple";
        let mut bytes = b"\x7fELF".to_vec();
        bytes.extend_from_slice(b"(Deprecated) The URL of the Python package index (by default: <");
        bytes.extend_from_slice(format!("{u}>).").as_bytes());
        bytes.extend_from_slice(&[b'x'; 700]);
        bytes
            .extend_from_slice(format!("The default package index (by default: <{u}>)").as_bytes());
        let sentences_end = bytes.len();
        bytes.extend_from_slice(&[0u8; 5000]);
        for chunk in [1, 2, 7, 64, 100, 513, 4096, 1 << 20] {
            let mut rest = &bytes[..];
            let after = text_after_sentences(&mut rest, chunk).expect("read");
            assert_eq!(
                default_index_in(&after).map(|u| u.to_string()),
                Some(u.to_string()),
                "chunk {chunk}"
            );
            let read = bytes.len() - rest.len();
            if chunk <= 4096 {
                assert!(read < bytes.len(), "chunk {chunk}: read to the end");
            }
            assert!(read >= sentences_end, "chunk {chunk}");
        }
        // Without both sentences, everything is read and nothing is found.
        let half = &bytes[..800];
        for chunk in [3, 4096] {
            let mut rest = half;
            let after = text_after_sentences(&mut rest, chunk).expect("read");
            assert!(rest.is_empty());
            assert_eq!(default_index_in(&after), None);
        }
    }

    #[test]
    fn a_wrapper_script_leads_to_the_elf_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elf = dir.path().join("venv/bin/uv");
        std::fs::create_dir_all(elf.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &elf,
            binary(
                "https://r.example.com/simple",
                "https://r.example.com/simple",
            ),
        )
        .expect("write");
        let wrapper = dir.path().join("bin-uv");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\n# uv\nexec '{}' \"$@\"\n", elf.display()),
        )
        .expect("write");
        let real = std::fs::canonicalize(&elf).expect("canonical");
        assert_eq!(real_executable(&wrapper), Some(real.clone()));
        assert_eq!(real_executable(&elf), Some(real.clone()));
        assert_eq!(
            default_index_of(&real).map(|u| u.to_string()).ok(),
            Some("https://r.example.com/simple".to_string())
        );
        // uvx, directly or through its wrapper, leads to the uv beside it.
        let uvx = dir.path().join("venv/bin/uvx");
        std::fs::write(&uvx, b"\x7fELF\0\0uvx").expect("write");
        let uvx_wrapper = dir.path().join("bin-uvx");
        std::fs::write(
            &uvx_wrapper,
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", uvx.display()),
        )
        .expect("write");
        assert_eq!(real_executable(&uvx), Some(real.clone()));
        assert_eq!(real_executable(&uvx_wrapper), Some(real.clone()));
        std::fs::remove_file(&elf).expect("rm uv");
        assert_eq!(real_executable(&uvx), None, "a uvx with no uv beside it");
        let not_uv = dir.path().join("other");
        std::fs::write(&not_uv, "#!/bin/sh\nexec /bin/true\n").expect("write");
        assert_eq!(real_executable(&not_uv), None);
        assert!(default_index_of(&not_uv).is_err());
    }
}
