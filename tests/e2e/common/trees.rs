//! Installed trees: a snapshot of a directory (files, modes, symlinks, with each world's root
//! path replaced) and the differences between two, for comparing a sandboxed install with a
//! bare one.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of an installed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { content: Vec<u8>, executable: bool },
    Symlink(PathBuf),
}

/// A tree: relative path -> entry, with each world's root path replaced by `<ROOT>` in
/// file contents so that two worlds compare equal.
pub type Tree = BTreeMap<PathBuf, Entry>;

/// Reads the tree under `dir`, skipping paths for which `ignore` returns true.
pub fn snapshot_tree(dir: &Path, root: &Path, ignore: &dyn Fn(&Path) -> bool) -> Tree {
    let root_str = root.display().to_string();
    let mut tree = Tree::new();
    let walker = walkdir::WalkDir::new(dir).sort_by_file_name().into_iter();
    for entry in walker.filter_entry(|e| {
        e.path()
            .strip_prefix(dir)
            .map(|rel| rel.as_os_str().is_empty() || !ignore(rel))
            .unwrap_or(true)
    }) {
        let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", dir.display()));
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("under root")
            .to_path_buf();
        if rel.as_os_str().is_empty() {
            continue;
        }
        let ft = entry.file_type();
        let value = if ft.is_symlink() {
            Entry::Symlink(fs::read_link(entry.path()).expect("read link"))
        } else if ft.is_dir() {
            Entry::Dir
        } else {
            let bytes = fs::read(entry.path()).expect("read installed file");
            let content = match String::from_utf8(bytes) {
                Ok(text) => text.replace(&root_str, "<ROOT>").into_bytes(),
                Err(e) => e.into_bytes(),
            };
            let mode = entry.metadata().expect("metadata").mode();
            Entry::File {
                content,
                executable: mode & 0o111 != 0,
            }
        };
        tree.insert(rel, value);
    }
    tree
}

/// Every difference between two trees, one line each (empty when equal).
pub fn diff_trees(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut diffs = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => diffs.push(format!("missing in sandboxed install: {}", path.display())),
            Some(got) if got != want => diffs.push(format!(
                "differs: {} (bare: {}, sandboxed: {})",
                path.display(),
                summarize(want),
                summarize(got)
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            diffs.push(format!("only in sandboxed install: {}", path.display()));
        }
    }
    diffs
}

fn summarize(e: &Entry) -> String {
    match e {
        Entry::Dir => "directory".into(),
        Entry::Symlink(t) => format!("symlink to {}", t.display()),
        Entry::File {
            content,
            executable,
        } => format!(
            "{} bytes{}: {:?}",
            content.len(),
            if *executable { ", executable" } else { "" },
            String::from_utf8_lossy(&content[..content.len().min(120)])
        ),
    }
}
