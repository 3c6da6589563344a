//! `safe-install shell-init`: the printed functions, sourced by the real bash, zsh and fish,
//! make `npm` (and the other tools) a function that runs an install inside the sandbox
//! exactly once, with no recursion, and the project's own commands (`npm start`, `npm test`,
//! `pip list`, `npx` of an installed binary) as they are, while `command npm` always runs it
//! directly. An unknown shell is a usage error naming the valid ones.

use crate::common::*;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

const TOOLS: &[&str] = &[
    "npm", "npx", "pnpm", "pnpx", "pnx", "yarn", "pip", "pip3", "uv", "uvx",
];

/// What each script runs after sourcing the functions, in order: (the command, the line its
/// fake tool prints, whether it must run inside the sandbox).
const RUNS: &[(&str, &str, bool)] = &[
    ("npm install x", "real-npm args=[install x]", true),
    ("npm ci", "real-npm args=[ci]", true),
    ("npm start", "real-npm args=[start]", false),
    ("npm test", "real-npm args=[test]", false),
    ("pip install x", "real-pip args=[install x]", true),
    ("pip list", "real-pip args=[list]", false),
    ("npx si-local", "real-npx args=[si-local]", false),
    ("npx si-remote", "real-npx args=[si-remote]", true),
    ("yarn", "real-yarn args=[]", true),
    ("yarn dev", "real-yarn args=[dev]", false),
    ("yarn dlx si-remote", "real-yarn args=[dlx si-remote]", true),
    // pnpm's pins come first on its command line.
    ("pnpx si-remote", "real-pnpx", true),
    ("command npm direct", "real-npm args=[direct]", false),
];

/// A directory holding a fake tool for every wrapped name and safe-install itself. Each
/// fake prints one line: its name, its arguments, whether it saw the caller's planted
/// `NPM_TOKEN` (the sandbox drops it), and its pid namespace (the sandbox has its own).
fn fake_bin(world: &World) -> PathBuf {
    let dir = world.root().join("bin");
    fs::create_dir_all(&dir).expect("create the fake bin directory");
    for tool in TOOLS {
        let path = dir.join(tool);
        // pip's fakes are Python, as a real pip is: safe-install refuses a pip whose
        // interpreter it cannot find (its build backends could not be kept at level 2).
        let text = if tool.starts_with("pip") {
            format!(
                "#!/usr/bin/python3\nimport os, sys\nprint(\"real-{tool} args=[%s] token=%s pidns=%s\" % (\" \".join(sys.argv[1:]), os.environ.get(\"NPM_TOKEN\", \"absent\"), os.readlink(\"/proc/self/ns/pid\")))\n"
            )
        } else {
            format!(
                "#!/bin/sh\necho \"real-{tool} args=[$*] token=${{NPM_TOKEN:-absent}} pidns=$(readlink /proc/self/ns/pid)\"\n"
            )
        };
        write_file(&path, &text);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod fake tool");
    }
    symlink(bin(), dir.join("safe-install")).expect("link safe-install into the fake bin");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-shell-init\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    // A binary the project installed: `npx si-local` runs it as it is.
    write_file(
        &world.project.join("node_modules/.bin/si-local"),
        "#!/bin/sh\necho si-local\n",
    );
    dir
}

fn shell_init(world: &World, shell: &str) -> Output {
    run(
        world.safe_install().args(["shell-init", shell]),
        RUN_TIMEOUT,
    )
}

/// Runs `shell ARGS...` with the fake bin first on PATH and the world's environment.
fn in_shell(world: &World, shell: &str, args: &[&str]) -> Output {
    let bin_dir = fake_bin(world);
    let mut cmd = world.command(shell);
    cmd.args(args)
        .env("PATH", format!("{}:{SYSTEM_PATH}", bin_dir.display()))
        // A registry in the configuration, so safe-install does not ask the (fake) npm for
        // its default; nothing connects to it.
        .env("npm_config_registry", "http://127.0.0.1:9/");
    run(&mut cmd, RUN_TIMEOUT)
}

fn own_pid_namespace() -> String {
    fs::read_link("/proc/self/ns/pid")
        .expect("read this test's pid namespace")
        .display()
        .to_string()
}

/// Checks the output of a script that printed `type` for each tool, then ran [`RUNS`].
fn check_wrapped_and_bypassed(world: &World, out: &Output, function_word: &str) {
    let mut problems = Problems::new();
    problems.check(out.code() == 0, || {
        format!("the shell exited {}", out.code())
    });
    for tool in TOOLS {
        problems.check(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{tool} is {function_word}"))),
            || format!("`type {tool}` does not say it is {function_word}"),
        );
    }
    let token = world.env_secret("NPM_TOKEN");
    let host_ns = own_pid_namespace();
    for (what, prefix, inside) in RUNS {
        let runs: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{prefix} ")))
            .collect();
        problems.check(runs.len() == 1, || {
            format!(
                "`{what}` ran the real tool {} times (want once)",
                runs.len()
            )
        });
        let Some(line) = runs.first() else { continue };
        let saw_token = line.contains(&format!("token={token}"));
        let in_host_ns = line.contains(&host_ns);
        if *inside {
            problems.check(!saw_token && !in_host_ns, || {
                format!("`{what}` ran outside the sandbox (the caller's NPM_TOKEN or pid namespace): {line}")
            });
        } else {
            problems.check(saw_token && in_host_ns, || {
                format!("`{what}` did not run as it is: {line}")
            });
        }
    }
    problems.finish(&out.describe());
}

/// One shell's run: its program and flags, and a script that sources the printed functions
/// (twice, as nested shells and re-read rc files do), prints `type` for each tool, then runs
/// [`RUNS`] (`{runs}`, one per line, or joined by `; or exit 1` for fish). `{init}`,
/// `{tools}` and `{project}` are filled in.
struct ShellCase {
    shell: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    script: &'static str,
    /// How `type` describes a function in this shell.
    function_word: &'static str,
}

fn check_shell(case: &ShellCase) {
    let _guard = shared_run_guard();
    require_program(
        case.program,
        &format!("apt-get install {} (scripts/setup.sh as root)", case.shell),
    );
    let world = World::new(&format!("shell-init-{}", case.shell));
    let init = shell_init(&world, case.shell);
    assert_eq!(init.code(), 0, "{}", init.describe());
    let init_path = world.root().join(format!("init.{}", case.shell));
    write_file(&init_path, &init.stdout);
    let separator = if case.shell == "fish" {
        "; or exit 1\n"
    } else {
        "\n"
    };
    let runs: Vec<&str> = RUNS.iter().map(|(cmd, _, _)| *cmd).collect();
    let runs = format!("{}{separator}", runs.join(separator));
    let script = case
        .script
        .replace("{runs}", &runs)
        .replace("{init}", &init_path.display().to_string())
        .replace("{tools}", &TOOLS.join(" "))
        .replace("{project}", &world.project.display().to_string());
    let mut args = case.args.to_vec();
    args.push(&script);
    let out = in_shell(&world, case.program, &args);
    check_wrapped_and_bypassed(&world, &out, case.function_word);
}

#[test]
fn bash_functions_run_the_tool_in_the_sandbox_and_command_bypasses() {
    // With an alias of the same name defined first, as users of `alias npm='safe-install
    // npm'` have, and `set -eu`, which an rc file must survive.
    check_shell(&ShellCase {
        shell: "bash",
        program: "/bin/bash",
        args: &["--noprofile", "--norc", "-c"],
        script: "set -eu\nshopt -s expand_aliases\nalias npm='echo from-the-alias'\n\
                 . {init}\n. {init}\nfor t in {tools}; do type \"$t\" | head -n1; done\n\
                 cd {project}\n{runs}",
        function_word: "a function",
    });
}

#[test]
fn zsh_functions_run_the_tool_in_the_sandbox_and_command_bypasses() {
    check_shell(&ShellCase {
        shell: "zsh",
        program: "/usr/bin/zsh",
        args: &["-f", "-c"],
        script: "set -eu\nalias npm='echo from-the-alias'\n. {init}\n. {init}\n\
                 for t in {tools}; do type \"$t\"; done\n\
                 cd {project}\n{runs}",
        function_word: "a shell function",
    });
}

#[test]
fn fish_functions_run_the_tool_in_the_sandbox_and_command_bypasses() {
    check_shell(&ShellCase {
        shell: "fish",
        program: "/usr/bin/fish",
        args: &["--no-config", "-c"],
        script: "source {init}; or exit 1\nsource {init}; or exit 1\n\
                 for t in {tools}; type $t | head -n1; end\n\
                 cd {project}; or exit 1\n{runs}",
        function_word: "a function",
    });
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_valid_ones() {
    let world = World::new("shell-init-unknown");
    let out = shell_init(&world, "tcsh");
    assert_eq!(out.code(), 125, "{}", out.describe());
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            out.stderr.contains(shell),
            "the error does not name {shell}\n{}",
            out.describe()
        );
    }
    assert!(out.stdout.is_empty(), "{}", out.describe());
}

/// The printed script names no path of this machine: the same text works in any rc file.
#[test]
fn the_script_calls_safe_install_by_name() {
    let world = World::new("shell-init-portable");
    for shell in ["bash", "zsh", "fish"] {
        let out = shell_init(&world, shell);
        assert_eq!(out.code(), 0, "{}", out.describe());
        let bin = bin();
        let dir = bin.parent().unwrap_or(Path::new("/"));
        assert!(
            !out.stdout.contains(&dir.display().to_string()),
            "{shell}: the script names the binary's directory\n{}",
            out.stdout
        );
        assert!(out.stdout.starts_with("# safe-install shell integration"));
    }
}
