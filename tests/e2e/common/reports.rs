//! What the reports for people and machines are checked with, shared by `reports.rs`,
//! `attempts_logged.rs` and `package_writes.rs`: the OASIS SARIF 2.1.0 schema validator
//! and the escaping every human-facing report must show.

use super::servers::test_root;
use super::SYSTEM_PATH;
use std::path::Path;
use std::process::Command;

/// Validates `file` against the OASIS SARIF 2.1.0 schema; `Err` holds the validator's
/// complaints. Fails the test when the validator or the schema is not installed.
pub fn validate_sarif(file: &Path) -> Result<(), String> {
    let dir = test_root().join("sarif-validator");
    let python = dir.join("bin/python");
    let schema = dir.join("sarif-schema-2.1.0.json");
    assert!(
        python.is_file() && schema.is_file(),
        "the SARIF validator is not installed ({} and {} are needed). Fix: run scripts/setup.sh as root",
        python.display(),
        schema.display()
    );
    const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
assert schema.get("id", "").endswith("/sarif-schema-2.1.0.json"), schema.get("id")
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
for e in errors:
    print("/".join(map(str, e.absolute_path)) or "(root)", "->", e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(&schema)
        .arg(file)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!(
            "the SARIF validator itself failed (fix: scripts/setup.sh as root):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// How the human reports must show `s`: every control character, DEL and bidi override
/// written out (`\x1b`, `\u{202e}`), everything else as is.
pub fn escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let n = c as u32;
        if n < 0x20 || (0x7f..=0x9f).contains(&n) {
            out.push_str(&format!("\\x{n:02x}"));
        } else if matches!(n, 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069) {
            out.push_str(&format!("\\u{{{n:04x}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A script's own name for a file, made to rewrite the terminal: erase the line, move up,
/// print a forged all-clear in green, set the clipboard (OSC 52), reverse what follows.
pub const HOSTILE: &str =
    "\x1b[2K\x1b[1A\x1b[32msafe-install: all clear\x1b]52;c;ZXZpbA==\x07\u{202e}exe.txt";

/// Characters that must never reach a report people read.
pub const RAW_CONTROLS: [char; 4] = ['\x1b', '\x07', '\u{202e}', '\u{9b}'];
