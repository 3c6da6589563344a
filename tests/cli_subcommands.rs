//! The informational subcommands: `explain` shows the effective policy without running
//! anything and names dropped variables without their values; `doctor` checks the host.

mod common;

use common::*;

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
