//! The command line's failure modes: each is a documented exit code and one paragraph
//! on stderr that says what to fix.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

fn assert_one_paragraph(out: &Output) {
    let text = out.stderr.trim();
    assert!(
        !text.is_empty(),
        "no error message on stderr\n{}",
        out.describe()
    );
    assert!(
        !text.contains("\n\n"),
        "the error is not one paragraph\n{}",
        out.describe()
    );
    assert!(
        !text.contains("panicked"),
        "safe-install panicked\n{}",
        out.describe()
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let world = World::new("unknown-flag");
    let out = run(
        world
            .safe_install()
            .args(["--no-such-flag", "sh", "-c", "true"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.describe());
}

#[test]
fn missing_command_is_127() {
    let _g = shared_run_guard();
    let world = World::new("missing-command");
    write_file(&world.project.join("package.json"), "{}\n");
    let out = run(
        world
            .safe_install()
            .arg("--project")
            .arg(&world.project)
            .arg("si-no-such-command-anywhere"),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 127, "{}", out.describe());
    assert!(
        out.stderr.contains("si-no-such-command-anywhere"),
        "the error does not name the command\n{}",
        out.describe()
    );
    assert_one_paragraph(&out);
}

#[test]
fn non_executable_command_is_126() {
    let _g = shared_run_guard();
    let world = World::new("not-executable");
    write_file(&world.project.join("package.json"), "{}\n");
    let script = world.project.join("not-executable.sh");
    write_file(&script, "#!/bin/sh\necho should not run\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(
        world
            .safe_install()
            .arg("--project")
            .arg(&world.project)
            .arg(&script),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 126, "{}", out.describe());
    assert!(!out.stdout.contains("should not run"), "{}", out.describe());
    assert_one_paragraph(&out);
}

/// An executable without `#!` is a shell script, as execvp and every shell run it (pnpm's
/// launcher before its native binary is in place is one): found on PATH as a package
/// manager's name, and named by its path.
#[test]
fn an_entry_point_without_shebang_runs_with_sh() {
    let _g = shared_run_guard();
    let world = World::new("no-shebang");
    write_file(&world.project.join("package.json"), "{}\n");
    let tools = world.root().join("tools");
    let launcher = tools.join("pnpm");
    // Its last argument: safe-install puts pnpm's pins (store, script shell) before the
    // command's own.
    write_file(
        &launcher,
        "for a in \"$@\"; do last=$a; done\necho \"launched, last argument: $last\"\n",
    );
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for by_path in [false, true] {
        let mut cmd = world.safe_install();
        cmd.env("PATH", format!("{}:{SYSTEM_PATH}", tools.display()))
            .arg("--project")
            .arg(&world.project);
        if by_path {
            cmd.arg(&launcher);
        } else {
            cmd.arg("pnpm");
        }
        let out = run(cmd.arg("--version"), RUN_TIMEOUT);
        assert_eq!(out.code(), 0, "{}", out.describe());
        assert!(
            out.stdout.contains("launched, last argument: --version"),
            "{}",
            out.describe()
        );
    }
}

/// A pip whose Python interpreter safe-install cannot find (a shell-script wrapper) would run
/// its build backends with pip's powers: refused, naming the fix, and nothing runs.
#[test]
fn a_pip_without_a_python_to_hook_is_refused() {
    let _g = shared_run_guard();
    let world = World::new("pip-unhooked");
    let tools = world.root().join("tools");
    let marker = world.project.join("wrapper-ran");
    let pip = tools.join("pip");
    write_file(
        &pip,
        &format!(
            "#!/bin/sh\ntouch '{}'\nexec /usr/bin/python3 -m pip \"$@\"\n",
            marker.display()
        ),
    );
    std::fs::set_permissions(&pip, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(
        world
            .safe_install()
            .env("PATH", format!("{}:{SYSTEM_PATH}", tools.display()))
            .args(["--project"])
            .arg(&world.project)
            .args([
                "pip",
                "install",
                "--index-url",
                "http://127.0.0.1:9/simple/",
                "x",
            ]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(
        out.stderr.contains("trust level 2") && out.stderr.contains("Fix:"),
        "{}",
        out.describe()
    );
    assert!(!marker.exists(), "the wrapper ran");
    assert_one_paragraph(&out);
}

/// Runs `safe-install --policy FILE sh -c true` with a policy file holding `policy`.
fn run_with_policy(name: &str, policy: &str) -> (World, std::path::PathBuf, Output) {
    let world = World::new(name);
    let file = world.root().join(format!("{name}.toml"));
    write_file(&file, policy);
    let flags = [std::ffi::OsStr::new("--policy"), file.as_os_str()];
    let out = run(&mut world.sandboxed_sh_with(&flags, "true"), RUN_TIMEOUT);
    (world, file, out)
}

fn assert_names(out: &Output, file: &std::path::Path, line: usize, key: &str) {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let err = &out.stderr;
    assert!(
        err.contains(name),
        "stderr does not name the file {name}\n{}",
        out.describe()
    );
    assert!(
        err.contains(&format!(":{line}")) || err.contains(&format!("line {line}")),
        "stderr does not name line {line}\n{}",
        out.describe()
    );
    assert!(
        err.contains(key),
        "stderr does not name the key `{key}`\n{}",
        out.describe()
    );
    assert_one_paragraph(out);
}

#[test]
fn policy_with_a_misspelled_key_is_rejected_naming_file_line_and_key() {
    let (_w, file, out) = run_with_policy(
        "policy-typo",
        "# a user's policy\n[[fs.hide]]\nglob = \"*.secret\"\nreson = \"typo of reason\"\n",
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert_names(&out, &file, 4, "reson");
}

#[test]
fn policy_with_a_bad_value_is_rejected_naming_file_line_and_key() {
    let (_w, file, out) = run_with_policy(
        "policy-bad-value",
        "[[fs.hide]]\nglob = \"secrets/[unclosed\"\nreason = \"a glob that does not parse\"\n",
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert_names(&out, &file, 2, "glob");
}

#[test]
fn policy_with_a_wrong_type_is_rejected_naming_file_line_and_key() {
    let (_w, file, out) = run_with_policy(
        "policy-wrong-type",
        "[[env.pass]]\nname = \"MY_SETTING\"\nreason = 42\n",
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert_names(&out, &file, 3, "reason");
}

#[test]
fn missing_policy_file_is_invalid_input() {
    let world = World::new("policy-missing");
    let missing = world.root().join("no-such-policy.toml");
    let out = run(
        world
            .safe_install()
            .arg("--policy")
            .arg(&missing)
            .arg("--project")
            .arg(&world.project)
            .args(["sh", "-c", "true"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(
        out.stderr.contains("no-such-policy.toml"),
        "{}",
        out.describe()
    );
    assert_one_paragraph(&out);
}

#[test]
fn nonexistent_project_is_invalid_input() {
    let world = World::new("bad-project");
    let out = run(
        world
            .safe_install()
            .arg("--project")
            .arg(world.root().join("no-such-dir"))
            .args(["sh", "-c", "true"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(out.stderr.contains("no-such-dir"), "{}", out.describe());
    assert_one_paragraph(&out);
}

#[test]
fn invalid_allow_env_name_is_invalid_input() {
    let world = World::new("bad-allow-env");
    write_file(&world.project.join("package.json"), "{}\n");
    let out = run(
        world
            .safe_install()
            .args(["--allow-env", "NOT A NAME"])
            .arg("--project")
            .arg(&world.project)
            .args(["sh", "-c", "true"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 123, "{}", out.describe());
    assert!(out.stderr.contains("NOT A NAME"), "{}", out.describe());
    assert_one_paragraph(&out);
}

/// Where user namespaces are refused (here: inside safe-install itself, whose seccomp filter
/// refuses `clone(CLONE_NEWUSER)` the way Docker's default profile does), safe-install
/// refuses to run the command, with exit 122 and one paragraph naming the fix.
#[test]
fn no_user_namespaces_is_refused_with_the_fix() {
    let _g = shared_run_guard();
    let world = World::new("no-userns");
    let inner = bin();
    let bin_dir = inner.parent().expect("binary directory");
    let out = run(
        world
            .safe_install()
            .arg("--project")
            .arg(&world.project)
            .arg("--ro")
            .arg(bin_dir)
            .arg(&inner)
            .args(["sh", "-c", "echo SHOULD-NOT-RUN"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 122, "{}", out.describe());
    assert!(
        !out.stdout.contains("SHOULD-NOT-RUN"),
        "the command ran without a sandbox\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("Fix:"),
        "no fix named\n{}",
        out.describe()
    );
    assert_one_paragraph(&out);
}

/// The script shell fails closed: without its configuration (here: started outside any
/// sandbox) the script does not run.
#[test]
fn script_shell_without_its_configuration_runs_nothing() {
    use std::os::unix::process::CommandExt;
    let world = World::new("shim-closed");
    let marker = world.root().join("ran");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg0("/.safe-install/script-shell")
        .arg("-c")
        .arg(format!("touch {}", marker.display()));
    let out = run(&mut cmd, RUN_TIMEOUT);
    assert_eq!(out.code(), 126, "{}", out.describe());
    assert!(
        out.stderr.contains("the script did not run"),
        "{}",
        out.describe()
    );
    assert!(!marker.exists(), "the script ran without its sandbox layer");
}
