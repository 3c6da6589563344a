//! The informational subcommands: `explain` shows the effective policy without running
//! anything and names dropped variables without their values; `doctor` checks the host.

use crate::common::*;

#[test]
fn explain_names_dropped_variables_never_their_values_and_runs_nothing() {
    let world = World::new("explain");
    write_file(&world.project.join("package.json"), "{}\n");
    let out = run(
        world
            .safe_install()
            .arg("explain")
            .arg("--project")
            .arg(&world.project)
            .args(["sh", "-c", "touch ran"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    for name in SECRET_ENV {
        assert!(
            text.contains(name),
            "explain does not list the dropped {name}\n{}",
            out.describe()
        );
    }
    assert!(
        !text.contains("SI-ENV-SECRET"),
        "explain printed a secret value\n{}",
        out.describe()
    );
    assert!(
        !text.contains(&world.canary),
        "explain printed a value\n{}",
        out.describe()
    );
    assert!(
        text.contains(".env"),
        "explain does not list the hidden .env\n{}",
        out.describe()
    );
    assert!(
        !world.project.join("ran").exists(),
        "explain ran the command"
    );
}

#[test]
fn doctor_reports_a_working_sandbox_on_the_test_host() {
    let world = World::new("doctor");
    let out = run(world.safe_install().arg("doctor"), RUN_TIMEOUT);
    assert_eq!(
        out.code(),
        0,
        "doctor says this host cannot run the sandbox, so no other test can pass here\n{}",
        out.describe()
    );
    assert!(!out.stdout.trim().is_empty() || !out.stderr.trim().is_empty());
}

#[test]
fn explain_shows_what_npm_scripts_get() {
    require_npm();
    let world = World::new("explain-npm");
    write_file(&world.project.join("package.json"), "{}\n");
    write_file(
        &world.project.join(".safe-install.toml"),
        "[[package]]\nname = \"sharp\"\nallow-hosts = [\"downloads.example.com:443\"]\nreason = \"prebuilt binary\"\n",
    );
    // A grant binds to the lockfile's entry for the package, resolved from a configured
    // registry.
    write_file(
        &world.project.join(".npmrc"),
        "registry=https://registry.example.com/\n",
    );
    write_file(
        &world.project.join("package-lock.json"),
        "{ \"lockfileVersion\": 3, \"packages\": { \"\": { \"name\": \"app\" },\n  \"node_modules/sharp\": { \"version\": \"1.0.0\", \"resolved\": \"https://registry.example.com/sharp/-/sharp-1.0.0.tgz\", \"integrity\": \"sha512-AAAA\" } } }\n",
    );
    let out = run(
        world
            .safe_install()
            .args(["--secret-env", "NPM_TOKEN", "explain", "--project"])
            .arg(&world.project)
            .args(["npm", "ci"]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    for needle in [
        "lifecycle scripts and build backends (trust level 2):",
        "network: none",
        "/.safe-install/script-shell",
        "NPM_TOKEN",
        "grant sharp: hosts [downloads.example.com:443]",
    ] {
        assert!(
            out.stdout.contains(needle),
            "explain lacks {needle:?}\n{}",
            out.describe()
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish_and_a_man_page() {
    let world = World::new("completions");
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef safe-install"),
        ("fish", "complete -c safe-install"),
    ] {
        let out = run(
            world.safe_install().args(["completions", shell]),
            RUN_TIMEOUT,
        );
        assert_eq!(out.code(), 0, "{}", out.describe());
        assert!(
            out.stdout.contains(needle) && out.stdout.contains("allow-host"),
            "{shell}: {}",
            out.describe()
        );
    }
    let out = run(world.safe_install().arg("man"), RUN_TIMEOUT);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH safe-install"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("allow\\-host"), "{}", out.describe());
}
