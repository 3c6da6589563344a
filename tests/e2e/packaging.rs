//! The files shipped beside the binary. The AppArmor profile is checked by a real AppArmor 4
//! parser (`scripts/setup.sh` provides one; nothing is loaded into the kernel). `action.yml`
//! is real YAML of a composite action that declares every input it uses and uses every
//! input it declares, hands inputs to its scripts only through the environment (no
//! `${{ }}` spliced into a script), pins every action it calls by commit, and names only
//! files that exist; its bash steps also run for real under a stand-in for the runner
//! (`run_action`), installing a given binary and running a command in the sandbox.
//!
//! The files are embedded at compile time: the tests also run as an unprivileged user who
//! may not be able to read the checkout, and a file that action.yml needs but the
//! repository lacks fails the build.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const PROFILE: &str = include_str!("../../packaging/apparmor/safe-install");
const ACTION: &str = include_str!("../../action.yml");

/// The repository files `action.yml` uses from its own checkout.
const ACTION_FILES: &[(&str, &[u8])] = &[
    (
        "packaging/apparmor/safe-install",
        include_bytes!("../../packaging/apparmor/safe-install"),
    ),
    // `cargo install --locked --path "$GITHUB_ACTION_PATH"` builds the checkout.
    ("Cargo.toml", include_bytes!("../../Cargo.toml")),
    ("Cargo.lock", include_bytes!("../../Cargo.lock")),
    ("src/main.rs", include_bytes!("../../src/main.rs")),
];

/// The profile line that names the binary, which action.yml rewrites for the real path.
const PROFILE_LINE: &str = "profile safe-install /usr/local/bin/safe-install ";

fn apparmor_parser() -> PathBuf {
    let root = std::env::var_os("SAFE_INSTALL_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/safe-install-test"));
    let parser = root.join("apparmor4/apparmor_parser");
    assert!(
        parser.is_file(),
        "{} is missing: the AppArmor profile test needs an AppArmor 4 parser (the `userns` rule). Fix: run scripts/setup.sh as root",
        parser.display()
    );
    parser
}

/// `apparmor_parser -Q -K` (compile, never load, no cache) on `profile`.
fn parse_profile(name: &str, profile: &str) -> Output {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}apparmor-"))
        .tempdir()
        .expect("create a temporary directory");
    let file = dir.path().join(name);
    write_file(&file, profile);
    let mut cmd = Command::new(apparmor_parser());
    cmd.args(["--skip-kernel-load", "--skip-cache", "--quiet"])
        .arg(&file)
        .env_clear()
        .env("PATH", SYSTEM_PATH);
    run(&mut cmd, RUN_TIMEOUT)
}

#[test]
fn the_apparmor_profile_grants_userns_to_the_installed_path_and_parses() {
    for needle in [
        "abi <abi/4.0>,",
        PROFILE_LINE,
        "flags=(unconfined)",
        "  userns,",
        "apparmor_parser -r /etc/apparmor.d/safe-install",
    ] {
        assert!(PROFILE.contains(needle), "the profile lacks `{needle}`");
    }
    let out = parse_profile("safe-install", PROFILE);
    assert_eq!(
        out.code(),
        0,
        "AppArmor 4 rejects packaging/apparmor/safe-install\n{}",
        out.describe()
    );
    // The rewrite action.yml does for a binary elsewhere (here, cargo's default root).
    let moved = PROFILE.replace(
        PROFILE_LINE,
        "profile safe-install /home/runner/.cargo/bin/safe-install ",
    );
    let out = parse_profile("safe-install-moved", &moved);
    assert_eq!(out.code(), 0, "{}", out.describe());
}

/// The parser really checks: the same profile with a misspelt rule is refused.
#[test]
fn the_apparmor_parser_refuses_a_misspelt_rule() {
    let bad = PROFILE.replace("  userns,", "  usernz,");
    assert_ne!(bad, PROFILE);
    let out = parse_profile("safe-install-bad", &bad);
    assert_ne!(
        out.code(),
        0,
        "the parser accepted `usernz,`, so it checks nothing\n{}",
        out.describe()
    );
}

/// action.yml as JSON, parsed by PyYAML (a YAML 1.1 loader, as GitHub's is YAML-based).
fn action() -> Value {
    require_program(
        "/usr/bin/python3",
        "apt-get install python3 python3-yaml (scripts/setup.sh as root)",
    );
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3");
    child
        .stdin
        .take()
        .expect("python's stdin")
        .write_all(ACTION.as_bytes())
        .expect("write action.yml to python");
    let out = child.wait_with_output().expect("wait for python");
    assert!(
        out.status.success(),
        "action.yml is not valid YAML, or PyYAML is missing (fix: apt-get install python3-yaml, or scripts/setup.sh as root):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// Names following `prefix` in `text` (`inputs.` -> `command`, `upload-log`, ...).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

fn steps(action: &Value) -> &Vec<Value> {
    action["runs"]["steps"]
        .as_array()
        .expect("runs.steps is a list")
}

#[test]
fn action_yml_is_a_composite_action_with_declared_inputs_and_safe_scripts() {
    let action = action();
    let mut problems = Problems::new();
    problems.check(action["runs"]["using"] == "composite", || {
        format!("runs.using is {}, not composite", action["runs"]["using"])
    });
    for key in ["name", "description"] {
        problems.check(action[key].is_string(), || format!("no top-level {key}"));
    }
    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .expect("inputs is a mapping")
        .keys()
        .cloned()
        .collect();
    let used = names_after(ACTION, "inputs.");
    for name in used.difference(&declared) {
        problems.push(format!("inputs.{name} is used but not declared"));
    }
    for name in declared.difference(&used) {
        problems.push(format!("input {name} is declared but never used"));
    }
    for (name, input) in action["inputs"].as_object().expect("inputs") {
        problems.check(input["description"].is_string(), || {
            format!("input {name} has no description")
        });
    }
    problems.check(action["inputs"]["strict"]["default"] == "true", || {
        "input strict does not default to 'true'".into()
    });
    problems.check(action["inputs"]["command"]["required"] == true, || {
        "input command is not required".into()
    });
    let ids: BTreeSet<String> = steps(&action)
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    for id in names_after(ACTION, "steps.") {
        problems.check(ids.contains(&id), || format!("steps.{id} names no step"));
    }
    for (i, step) in steps(&action).iter().enumerate() {
        let name = step["name"].as_str().unwrap_or("(unnamed)");
        if let Some(script) = step["run"].as_str() {
            problems.check(step["shell"].is_string(), || {
                format!(
                    "step {i} ({name}) has `run` but no `shell` (required in composite actions)"
                )
            });
            // An expression in a script is spliced into its text before the shell parses
            // it: an input with quotes or `$(...)` would run as code.
            problems.check(!script.contains("${{"), || {
                format!(
                    "step {i} ({name}) splices an expression into its script; pass it through env"
                )
            });
        }
        if let Some(uses) = step["uses"].as_str() {
            let pinned = uses.split_once('@').is_some_and(|(_, rev)| {
                rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())
            });
            problems.check(pinned, || {
                format!("step {i} ({name}) uses {uses}, not pinned to a 40-hex commit")
            });
        }
    }
    // `--report sarif FILE` is how the sarif input reaches safe-install.
    problems.check(ACTION.contains("--report sarif \"$SI_SARIF\""), || {
        "the sarif input is not passed as --report sarif FILE".into()
    });
    problems.check(ACTION.contains(&format!("s#^{PROFILE_LINE}#")), || {
        format!("action.yml does not rewrite the profile line `{PROFILE_LINE}`")
    });
    problems.check(ACTION.contains("flags+=(--strict)"), || {
        "strict does not add --strict".into()
    });
    problems.finish(ACTION);
}

#[test]
fn every_file_action_yml_uses_from_its_checkout_exists() {
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for prefix in ["$GITHUB_ACTION_PATH/", "github.action_path }}/"] {
        for path in ACTION.match_indices(prefix).map(|(at, _)| {
            ACTION[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_./".contains(*c))
                .collect::<String>()
        }) {
            referenced.insert(path);
        }
    }
    if ACTION.contains("--path \"$GITHUB_ACTION_PATH\"") {
        for f in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
            referenced.insert(f.to_string());
        }
    }
    let embedded: BTreeSet<String> = ACTION_FILES
        .iter()
        .map(|(p, bytes)| {
            assert!(!bytes.is_empty(), "{p} is empty");
            p.to_string()
        })
        .collect();
    assert!(
        referenced.contains("packaging/apparmor/safe-install"),
        "action.yml no longer loads the AppArmor profile: {referenced:?}"
    );
    assert_eq!(
        referenced, embedded,
        "action.yml's files from its checkout differ from the ones this test embeds (ACTION_FILES): add each new one there, so that a missing file fails the build"
    );
}

/// A stand-in for the runner: runs action.yml's `run` steps in order the way GitHub runs a
/// composite action's bash steps (`bash --noprofile --norc -eo pipefail FILE`), with the
/// step's `env` and `working-directory` expressions filled in from `inputs` (declared
/// defaults for the rest), earlier steps' outputs and a few `github` values. Returns each
/// step's id (or name) and output; `uses` steps are skipped (they need GitHub).
fn run_action(world: &World, inputs: &[(&str, &str)]) -> Vec<(String, Output)> {
    run_action_job(world, inputs, "job", None)
}

/// The commit the stand-in runner says the action was pinned to (`github.action_ref`).
const PINNED: &str = "0123456789abcdef0123456789abcdef01234567";

/// [`run_action`] as one job of a workflow: its own `RUNNER_TEMP` (named after `job`), the
/// world's one cache store shared by every job (`actions/cache/restore` and `save` emulated:
/// a directory per key under `actions-cache/`, restored and saved under the step's `if`), and
/// `extra_path` first on `PATH` (a stand-in toolchain). Each step's outputs are in
/// `<job>-<label>.out` under the world's root.
fn run_action_job(
    world: &World,
    inputs: &[(&str, &str)],
    job: &str,
    extra_path: Option<&std::path::Path>,
) -> Vec<(String, Output)> {
    let action = action();
    let action_path = world.root().join("action");
    for (path, bytes) in ACTION_FILES {
        let file = action_path.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("create action dir");
        std::fs::write(&file, bytes).expect("write an action file");
    }
    let runner_temp = world.root().join(format!("{job}-runner-temp"));
    let store = world.root().join("actions-cache");
    std::fs::create_dir_all(&runner_temp).expect("create RUNNER_TEMP");
    let github_path = world.root().join(format!("{job}-github-path"));
    write_file(&github_path, "");
    let mut values: std::collections::BTreeMap<String, String> = Default::default();
    for (name, input) in action["inputs"].as_object().expect("inputs") {
        let default = input["default"].as_str().unwrap_or_default();
        values.insert(format!("inputs.{name}"), default.to_string());
    }
    for (name, value) in inputs {
        values.insert(format!("inputs.{name}"), value.to_string());
    }
    values.insert("github.server_url".into(), "https://git.example.com".into());
    values.insert("github.action_ref".into(), PINNED.into());
    values.insert(
        "github.action_repository".into(),
        "example-org/safe-install".into(),
    );
    let fill = |text: &str, values: &std::collections::BTreeMap<String, String>| {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find("}}").expect("an expression ends") + at;
            let key = rest[at + 3..end].trim();
            // A step output never written (or a skipped step's) is empty, as on GitHub.
            let value = match values.get(key) {
                Some(v) => v.as_str(),
                None if key.starts_with("steps.") && key.contains(".outputs.") => "",
                None => {
                    panic!("the stand-in runner has no value for `{key}`: add it to run_action")
                }
            };
            out.push_str(value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    };
    let mut done = Vec::new();
    for (i, step) in steps(&action).iter().enumerate() {
        if let Some(uses) = step["uses"].as_str() {
            if let Some(hit) = emulate_cache(step, uses, &values, &store, &fill) {
                let id = step["id"].as_str().expect("the restore step has an id");
                values.insert(format!("steps.{id}.outputs.cache-hit"), hit.to_string());
            }
            continue;
        }
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        assert_eq!(step["shell"], "bash", "step {i} is not a bash step");
        let id = step["id"].as_str().map(str::to_string);
        let label = id.clone().unwrap_or_else(|| format!("step {i}"));
        let script_file = world.root().join(format!("{job}-step-{i}.sh"));
        write_file(&script_file, script);
        let output_file = world.root().join(format!("{job}-{label}.out"));
        write_file(&output_file, "");
        let extra_path_text = std::fs::read_to_string(&github_path).expect("read GITHUB_PATH");
        let tools = extra_path.map(|p| p.display().to_string());
        let path: Vec<&str> = tools
            .as_deref()
            .into_iter()
            .chain(extra_path_lines(&extra_path_text))
            .chain(std::iter::once(SYSTEM_PATH))
            .collect();
        let dir = match step["working-directory"].as_str() {
            Some(d) => world.project.join(fill(d, &values)),
            None => world.project.clone(),
        };
        let mut cmd = world.command("/bin/bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(dir)
            .env("PATH", path.join(":"))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTION_PATH", &action_path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_JOB", "install")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("RUNNER_TEMP", &runner_temp);
        for (name, value) in step["env"].as_object().into_iter().flatten() {
            cmd.env(
                name,
                fill(value.as_str().expect("env values are strings"), &values),
            );
        }
        let out = run(&mut cmd, RUN_TIMEOUT);
        if let Some(id) = &id {
            let written = std::fs::read_to_string(&output_file).expect("read GITHUB_OUTPUT");
            for line in written.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    values.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
                }
            }
        }
        let failed = out.code() != 0;
        done.push((label, out));
        if failed {
            break;
        }
    }
    done
}

/// `GITHUB_PATH`'s entries, the last added first (as the runner prepends them).
fn extra_path_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().rev()
}

/// `actions/cache/restore` and `save` for the stand-in runner: a directory per key in
/// `store`. Only the conditions action.yml uses are understood; any other `if` fails.
/// Returns the restore's `cache-hit` (`None` for a save, a skipped step or another action).
fn emulate_cache(
    step: &Value,
    uses: &str,
    values: &std::collections::BTreeMap<String, String>,
    store: &std::path::Path,
    fill: &dyn Fn(&str, &std::collections::BTreeMap<String, String>) -> String,
) -> Option<bool> {
    let get = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
    let condition = step["if"].as_str().unwrap_or_default();
    let wanted = match uses.split_once('@').map(|(a, _)| a) {
        Some("actions/cache/restore") => {
            assert_eq!(condition, "${{ steps.key.outputs.cache == 'true' }}");
            get("steps.key.outputs.cache") == "true"
        }
        Some("actions/cache/save") => {
            assert_eq!(
                condition,
                "${{ steps.key.outputs.cache == 'true' && steps.install.outputs.built == 'true' }}"
            );
            get("steps.key.outputs.cache") == "true" && get("steps.install.outputs.built") == "true"
        }
        // Other actions (the artefact upload) need GitHub.
        _ => return None,
    };
    if !wanted {
        return None;
    }
    let path = std::path::PathBuf::from(fill(
        step["with"]["path"].as_str().expect("with.path"),
        values,
    ));
    let key = fill(step["with"]["key"].as_str().expect("with.key"), values);
    assert!(!key.is_empty() && !key.contains('/'), "cache key {key:?}");
    let entry = store.join(&key);
    if uses.starts_with("actions/cache/restore@") {
        let hit = entry.is_dir();
        if hit {
            copy_dir(&entry, &path);
        }
        return Some(hit);
    }
    // Like the real cache, an existing key is never overwritten.
    if !entry.exists() {
        copy_dir(&path, &entry);
    }
    None
}

fn step<'a>(done: &'a [(String, Output)], label: &str) -> &'a Output {
    &done
        .iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| {
            panic!(
                "step {label} did not run: {:?}",
                done.iter().map(|(l, _)| l).collect::<Vec<_>>()
            )
        })
        .1
}

/// The action's scripts, run for real: the given binary is installed, the AppArmor step
/// leaves a host without the restriction alone, and the command (split like a shell line)
/// runs in the sandbox with --strict and --log, so a DNS lookup fails the step with 120
/// and lands in the log, and `strict: false` lets it pass.
#[test]
fn the_action_scripts_run_the_command_in_the_sandbox_with_strict_and_a_log() {
    let _guard = shared_run_guard();
    let knob = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
    let restricted = std::fs::read_to_string(knob).is_ok_and(|v| v.trim() == "1");
    assert!(
        !restricted,
        "{knob} is 1 here: this test would load a real AppArmor profile. Fix: run the suite where user namespaces are unrestricted (docs/ci.md)"
    );
    let bin = bin();
    let bin = bin.to_str().expect("a UTF-8 binary path");
    let command = "sh -c 'getent hosts blocked.example.com; exit 0'";
    for (strict, want) in [("true", 120), ("false", 0)] {
        let world = World::new(&format!("action-strict-{strict}"));
        let done = run_action(
            &world,
            &[("binary", bin), ("command", command), ("strict", strict)],
        );
        for (label, says) in [("install", "safe-install "), ("step 4", "nothing to do")] {
            let out = step(&done, label);
            assert!(
                out.code() == 0 && out.stdout.contains(says),
                "{label} did not succeed saying {says:?}\n{}",
                out.describe()
            );
        }
        let ran = step(&done, "run");
        assert_eq!(ran.code(), want, "strict={strict}\n{}", ran.describe());
        let outputs = std::fs::read_to_string(world.root().join("job-run.out"))
            .expect("the run step's outputs");
        assert!(
            outputs.contains(&format!("exit-code={want}")),
            "outputs: {outputs}"
        );
        let log = outputs
            .lines()
            .find_map(|l| l.strip_prefix("log="))
            .expect("the run step names its log");
        assert!(log.starts_with('/'), "the log path is not absolute: {log}");
        let events = read_log(std::path::Path::new(log));
        assert!(
            has_event(&events, "dns", "blocked", "blocked.example.com"),
            "the log lacks the blocked lookup: {events:?}"
        );
    }
    let world = World::new("action-strict-bad");
    let done = run_action(
        &world,
        &[("binary", bin), ("command", command), ("strict", "yes")],
    );
    let ran = step(&done, "run");
    assert_eq!(ran.code(), 1, "{}", ran.describe());
    assert!(
        ran.stdout.contains("input 'strict' must be true or false"),
        "{}",
        ran.describe()
    );
}

/// A stand-in Rust toolchain: `rustc -vV` names a host and version; `cargo install --root R`
/// "builds" by copying the real safe-install binary to R/bin and logs each build to
/// `builds.log` in `dir`.
fn fake_toolchain(dir: &std::path::Path, version: &str) {
    std::fs::create_dir_all(dir).expect("mkdir toolchain");
    let rustc = format!(
        "#!/bin/sh\necho 'rustc {version} (stand-in)'\necho 'host: x86_64-unknown-linux-gnu'\n"
    );
    let cargo = format!(
        "#!/bin/sh\nset -e\nwhile [ \"$1\" != --root ]; do shift; done\nmkdir -p \"$2/bin\"\ncp '{bin}' \"$2/bin/safe-install\"\necho built >>'{log}'\n",
        bin = bin().display(),
        log = dir.join("builds.log").display()
    );
    for (name, text) in [("rustc", rustc), ("cargo", cargo)] {
        let f = dir.join(name);
        write_file(&f, &text);
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
}

fn builds(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("builds.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Only the first job of a commit compiles: it saves the binary with its sha256 and key, the
/// next job restores and checks it and compiles nothing; an altered cached binary is never
/// run (rebuilt instead, with a warning); another toolchain is another key.
#[test]
fn the_action_compiles_once_per_commit_and_later_jobs_use_the_checked_cached_binary() {
    let _guard = shared_run_guard();
    let knob = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
    let restricted = std::fs::read_to_string(knob).is_ok_and(|v| v.trim() == "1");
    assert!(
        !restricted,
        "{knob} is 1 here: this test would load a real AppArmor profile. Fix: run the suite where user namespaces are unrestricted (docs/ci.md)"
    );
    let world = World::new("action-cache");
    let tools = world.root().join("toolchain");
    fake_toolchain(&tools, "1.85.0");
    let inputs = [("command", "true")];
    let job = |name: &str| {
        let done = run_action_job(&world, &inputs, name, Some(&tools));
        let install = step(&done, "install");
        assert_eq!(install.code(), 0, "{name}: {}", install.describe());
        assert_eq!(step(&done, "run").code(), 0, "{name}");
        let key = std::fs::read_to_string(world.root().join(format!("{name}-key.out")))
            .expect("the key step's outputs");
        (install.stdout.clone(), install.describe(), key)
    };

    // 1. The first job compiles and saves: binary, sha256 and key.
    let (_, first, key_out) = job("first");
    assert_eq!(builds(&tools), 1, "{first}");
    assert!(
        key_out.contains(&format!(
            "key=safe-install-v1-{PINNED}-x86_64-unknown-linux-gnu-"
        )),
        "{key_out}"
    );
    let entries: Vec<_> = std::fs::read_dir(world.root().join("actions-cache"))
        .expect("the cache was saved")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = entries[0].path();
    for f in ["safe-install", "safe-install.sha256", "key"] {
        assert!(entry.join(f).is_file(), "the cache entry lacks {f}");
    }

    // 2. The next job restores it, checks it, compiles nothing.
    let (stdout, second, _) = job("second");
    assert_eq!(builds(&tools), 1, "the second job compiled\n{second}");
    assert!(stdout.contains("sha256 checked"), "{second}");

    // 3. An altered cached binary is never run: rebuilt, with a warning.
    let mut altered = std::fs::read(entry.join("safe-install")).expect("read cached binary");
    altered.extend_from_slice(b"tampered");
    std::fs::write(entry.join("safe-install"), altered).expect("alter the cached binary");
    let (stdout, third, _) = job("third");
    assert_eq!(builds(&tools), 2, "{third}");
    assert!(
        stdout.contains("does not match its recorded key or sha256"),
        "{third}"
    );

    // 4. Another toolchain is another key: compiled again.
    fake_toolchain(&tools, "1.86.0");
    let (_, _, key4) = job("fourth");
    assert_ne!(key4, key_out);
    assert_eq!(builds(&tools), 3);
}
