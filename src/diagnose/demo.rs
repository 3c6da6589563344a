//! `safe-install demo`: a throwaway project whose dependency has a malicious postinstall,
//! installed with the real `npm install` inside the sandbox. Shows what the attack got
//! (nothing) and the summary. Needs only npm; touches nothing outside a temp directory.

use crate::cli::SandboxArgs;
use std::path::Path;
use std::process::Command;

const STEAL_JS: &str = include_str!("demo_project/steal.js");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo needs npm (Node.js) on PATH; install it (Debian/Ubuntu: `sudo apt-get install nodejs npm`) and run `safe-install demo` again")]
    NoNpm,
    #[error("cannot prepare the demo project in {dir}")]
    Prepare {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

fn write(dir: &Path, rel: &str, text: &str) -> Result<(), DemoError> {
    let path = dir.join(rel);
    let res = path
        .parent()
        .map(std::fs::create_dir_all)
        .unwrap_or(Ok(()))
        .and_then(|()| std::fs::write(&path, text));
    res.map_err(|source| DemoError::Prepare {
        dir: dir.display().to_string(),
        source,
    })
}

pub fn run(args: &SandboxArgs) -> Result<i32, DemoError> {
    if crate::pm::which("npm".as_ref(), std::env::var_os("PATH").as_deref()).is_none() {
        return Err(DemoError::NoNpm);
    }
    let tmp = tempfile::Builder::new()
        .prefix("safe-install-demo-")
        .tempdir()
        .map_err(|source| DemoError::Prepare {
            dir: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let project = tmp.path().join("demo-app");
    write(
        &project,
        "package.json",
        r#"{ "name": "demo-app", "version": "1.0.0", "private": true,
  "dependencies": { "innocent-looking": "file:vendor/innocent-looking" } }
"#,
    )?;
    write(&project, ".env", "DEPLOY_KEY=demo-secret-not-real\n")?;
    write(&project, ".git/hooks/.keep", "")?;
    write(
        &project,
        "vendor/innocent-looking/package.json",
        r#"{ "name": "innocent-looking", "version": "6.6.6",
  "scripts": { "postinstall": "node steal.js" } }
"#,
    )?;
    write(&project, "vendor/innocent-looking/steal.js", STEAL_JS)?;
    let log = tmp.path().join("events.jsonl");

    eprintln!(
        "safe-install demo: a throwaway project in {}",
        project.display()
    );
    eprintln!("  its dependency `innocent-looking` has a postinstall that tries to steal secrets.");
    eprintln!("  running: safe-install npm install   (with NPM_TOKEN set in the environment)\n");
    let exe = std::env::current_exe().map_err(|source| DemoError::Prepare {
        dir: "current executable".into(),
        source,
    })?;
    let mut cmd = Command::new(exe);
    cmd.current_dir(&project)
        .arg("--log")
        .arg(&log)
        .args(args.verbose.gt(&0).then_some("-v"))
        .args([
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--foreground-scripts",
        ])
        .env("NPM_TOKEN", "demo-token-not-real")
        .env("npm_config_update_notifier", "false");
    let status = cmd.status().map_err(|source| DemoError::Prepare {
        dir: project.display().to_string(),
        source,
    })?;
    let code = status.code().unwrap_or(crate::exit::SETUP_FAILED);
    eprintln!(
        "\nsafe-install demo: npm exited with {code}; the event log was {} (removed with the demo project).",
        log.display()
    );
    eprintln!(
        "  Try it on your own project: safe-install npm ci   |   safe-install explain npm ci"
    );
    Ok(code)
}
