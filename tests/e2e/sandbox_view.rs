//! What a process inside the sandbox sees, checked quickly with a shell: the private
//! home, hidden project files, the scrubbed environment, read-only system and `.git`,
//! private /tmp and /proc, extra paths granted by flags.

use std::fs;

use crate::common::*;

fn sh(world: &World, script: &str) -> Output {
    let _g = shared_run_guard();
    run(&mut world.sandboxed_sh(script), RUN_TIMEOUT)
}

#[test]
fn home_is_private_and_holds_no_credentials() {
    let world = World::new("view-home");
    let out = sh(
        &world,
        "ls -A \"$HOME\"; echo '# si-attack' >> \"$HOME/.bashrc\" && echo APPENDED",
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let listing: Vec<&str> = out.stdout.lines().collect();
    for rel in HOME_SECRETS.iter().chain(HOME_STARTUP_FILES) {
        let top = rel.split('/').next().unwrap_or(rel);
        assert!(
            !listing.contains(&top),
            "{top} of the real home is visible inside\n{}",
            out.describe()
        );
    }
    // The write lands in the throwaway home, never in the real file.
    assert_eq!(
        fs::read_to_string(world.home.join(".bashrc")).expect("read .bashrc"),
        format!("# fake .bashrc of {}\n", world.token)
    );
}

#[test]
fn hidden_project_files_read_empty_and_the_real_files_stay() {
    let world = World::new("view-hidden");
    // Not hidden: inside node_modules (a package's own data) and an ordinary file.
    write_file(
        &world.project.join("node_modules/pkg/.env"),
        "PKG_FIXTURE=1\n",
    );
    write_file(&world.project.join("README.md"), "readme\n");
    let files = PROJECT_SECRETS.join(" ");
    let out = sh(
        &world,
        &format!("for f in {files}; do test -f \"$f\" || echo \"MISSING $f\"; cat \"$f\"; done; cat node_modules/pkg/.env README.md"),
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        !out.stdout.contains("SI-SECRET"),
        "a hidden file was readable\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("MISSING"),
        "a hidden file must exist (empty), not vanish\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("PKG_FIXTURE=1"),
        "files inside node_modules must not be hidden\n{}",
        out.describe()
    );
    assert!(out.stdout.contains("readme"), "{}", out.describe());
    for rel in PROJECT_SECRETS {
        assert_eq!(
            fs::read_to_string(world.project.join(rel)).expect("read secret"),
            format!("{}\n", world.secret(rel))
        );
    }
}

/// The mount flags the kernel holds for what hides a file and for the device nodes, as the
/// sandbox's own mountinfo shows them: a hidden file cannot be written, executed or used
/// as a device or set-uid program; a device node is usable, neither executable nor set-uid.
#[test]
fn hidden_files_and_device_nodes_carry_their_mount_flags() {
    let world = World::new("view-mount-flags");
    let out = sh(
        &world,
        "cat /proc/self/mountinfo; echo ok > /dev/null && echo DEVNULL-WRITABLE; \
         echo leak >> .env && echo HIDDEN-WRITTEN; chmod 0666 .env && echo HIDDEN-CHMODDED; true",
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS ...
    let options = |point: &str| -> Option<Vec<String>> {
        out.stdout.lines().rev().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 5 && f[4] == point).then(|| f[5].split(',').map(String::from).collect())
        })
    };
    for rel in PROJECT_SECRETS {
        let point = world.project.join(rel).display().to_string();
        let opts =
            options(&point).unwrap_or_else(|| panic!("no mount hides {point}\n{}", out.describe()));
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(
                opts.iter().any(|o| o == flag),
                "{point} is mounted {opts:?}, without {flag}\n{}",
                out.describe()
            );
        }
    }
    for node in ["null", "zero", "full", "random", "urandom"] {
        let point = format!("/dev/{node}");
        let opts =
            options(&point).unwrap_or_else(|| panic!("no mount for {point}\n{}", out.describe()));
        for flag in ["nosuid", "noexec"] {
            assert!(
                opts.iter().any(|o| o == flag),
                "{point} is mounted {opts:?}, without {flag}\n{}",
                out.describe()
            );
        }
    }
    assert!(
        out.stdout.contains("DEVNULL-WRITABLE"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("HIDDEN-WRITTEN"), "{}", out.describe());
    assert!(
        !out.stdout.contains("HIDDEN-CHMODDED"),
        "{}",
        out.describe()
    );
}

#[test]
fn extra_hide_glob_from_the_command_line() {
    let world = World::new("view-hide-flag");
    write_file(&world.project.join("secrets/db.txt"), "SI-SECRET[db]\n");
    let _g = shared_run_guard();
    let out = run(
        &mut world.sandboxed_sh_with(&["--hide", "secrets/*.txt"], "cat secrets/db.txt"),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(!out.stdout.contains("SI-SECRET"), "{}", out.describe());
}

#[test]
fn environment_is_scrubbed_and_allow_env_passes_one_name() {
    let world = World::new("view-env");
    let out = sh(&world, "env");
    assert_eq!(out.code(), 0, "{}", out.describe());
    let env: Vec<(String, String)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let leaks = env_leaks(&world, &env);
    assert!(leaks.is_empty(), "{}\n{}", leaks.join("\n"), out.describe());
    for kept in ["PATH", "LANG", "TZ", "TERM"] {
        assert!(
            env.iter().any(|(n, _)| n == kept),
            "{kept} was dropped\n{}",
            out.describe()
        );
    }
    assert!(!out.stdout.contains("SI-ENV-SECRET"), "{}", out.describe());

    let _g = shared_run_guard();
    let out = run(
        world
            .safe_install()
            .args(["--allow-env", "STRIPE_API_KEY", "--project"])
            .arg(&world.project)
            .args(["sh", "-c", "echo \"key=$STRIPE_API_KEY token=$NPM_TOKEN\""]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout.contains(&format!(
            "key={} token=\n",
            world.env_secret("STRIPE_API_KEY")
        )),
        "--allow-env STRIPE_API_KEY must pass exactly that variable\n{}",
        out.describe()
    );
}

#[test]
fn proc_run_and_tmp_are_the_sandbox_own() {
    let world = World::new("view-proc");
    let outside = world.outside.join("secret.txt");
    let out = sh(
        &world,
        &format!(
            "echo pids=$(ls /proc | grep -c '^[0-9]'); \
             test -e /run && echo RUN-VISIBLE; test -e /var/run/docker.sock && echo DOCKER; \
             cat {} 2>/dev/null; echo inside > /tmp/si-inside && echo TMP-WRITABLE; \
             echo uid=$(id -u)",
            outside.display()
        ),
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let pids: u32 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pids="))
        .and_then(|n| n.trim().parse().ok())
        .expect("pids line");
    assert!(
        pids < 10,
        "{pids} processes visible: host processes leak into /proc\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("RUN-VISIBLE"),
        "/run is visible\n{}",
        out.describe()
    );
    assert!(!out.stdout.contains("DOCKER"), "{}", out.describe());
    assert!(
        !out.stdout.contains("SI-SECRET"),
        "the host's /tmp is visible\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("TMP-WRITABLE"),
        "/tmp must be a writable tmpfs\n{}",
        out.describe()
    );
    assert!(
        !std::path::Path::new("/tmp/si-inside").exists(),
        "a write to /tmp inside reached the host"
    );
    assert!(
        !out.stdout.contains("uid=0\n"),
        "the command runs as root inside\n{}",
        out.describe()
    );
}

#[test]
fn system_dirs_and_git_are_read_only_the_project_is_writable() {
    let world = World::new("view-ro");
    let name = format!("si-test-{}", world.token);
    let out = sh(
        &world,
        &format!(
            "for d in /usr /etc /bin /opt .git .git/hooks; do touch \"$d/{name}\" 2>/dev/null && echo \"WROTE $d\"; done; \
             echo built > artefact.txt && echo PROJECT-WRITABLE"
        ),
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        !out.stdout.contains("WROTE"),
        "a read-only directory was writable\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("PROJECT-WRITABLE"),
        "{}",
        out.describe()
    );
    assert_eq!(
        fs::read_to_string(world.project.join("artefact.txt"))
            .ok()
            .as_deref(),
        Some("built\n"),
        "a write to the project must reach the host"
    );
    for d in ["/usr", "/etc", "/bin", "/opt"] {
        let p = std::path::Path::new(d).join(&name);
        let existed = p.exists();
        let _ = fs::remove_file(&p);
        assert!(!existed, "{} was created on the host", p.display());
    }
    assert!(!world.project.join(".git").join(&name).exists());
}

#[test]
fn ro_and_rw_flags_grant_extra_paths() {
    let world = World::new("view-flags");
    let ro = world.root().join("extra-ro");
    let rw = world.root().join("extra-rw");
    write_file(&ro.join("data.txt"), "ro-data\n");
    fs::create_dir_all(&rw).expect("mkdir rw");
    write_file(&world.project.join("package.json"), "{}\n");
    let _g = shared_run_guard();
    let out = run(
        world
            .safe_install()
            .arg("--ro")
            .arg(&ro)
            .arg("--rw")
            .arg(&rw)
            .arg("--project")
            .arg(&world.project)
            .args([
                "sh",
                "-c",
                &format!(
                    "cat {ro}/data.txt; touch {ro}/x 2>/dev/null && echo RO-WRITABLE; echo out > {rw}/out.txt && echo RW-OK",
                    ro = ro.display(),
                    rw = rw.display()
                ),
            ]),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout.contains("ro-data"),
        "--ro path not visible\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("RO-WRITABLE"),
        "--ro path writable\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("RW-OK"),
        "--rw path not writable\n{}",
        out.describe()
    );
    assert!(rw.join("out.txt").is_file());
}

#[test]
fn strict_exits_120_when_something_was_blocked() {
    let world = World::new("view-strict");
    let _g = shared_run_guard();
    // A name lookup is an attempt the sandbox blocks and logs (the DNS stub refuses it).
    let out = run(
        &mut world.sandboxed_sh_with(
            &["--strict"],
            "getent hosts exfil.example.com >/dev/null; exit 0",
        ),
        RUN_TIMEOUT,
    );
    assert_eq!(
        out.code(),
        120,
        "--strict must turn a blocked attempt (here a DNS query) into 120\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("exfil.example.com"),
        "the summary names the blocked target\n{}",
        out.describe()
    );
}

#[test]
fn strict_passes_when_nothing_was_blocked() {
    let world = World::new("view-strict-clean");
    let _g = shared_run_guard();
    let out = run(
        &mut world.sandboxed_sh_with(&["--strict"], "cat package.json >/dev/null; exit 0"),
        RUN_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        !out.stderr.contains("blocked"),
        "no summary when nothing was blocked\n{}",
        out.describe()
    );
}

#[test]
fn secret_system_files_are_masked() {
    // A root caller's sandbox keeps root's file ownership outside, so owner-only files in
    // /etc would be readable without the masks; for everyone they read as empty.
    let world = World::new("view-masks");
    let out = sh(
        &world,
        "for f in /etc/shadow /etc/gshadow; do test -e $f && printf '%s=%s\\n' $f $(wc -c < $f); done; ls -A /etc/ssh 2>/dev/null | wc -l",
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    for line in out.stdout.lines().filter(|l| l.contains('=')) {
        assert!(
            line.ends_with("=0"),
            "not masked: {line}\n{}",
            out.describe()
        );
    }
    assert!(
        out.stdout.contains("/etc/shadow=0"),
        "/etc/shadow should exist (masked) in the view\n{}",
        out.describe()
    );
    assert_eq!(
        out.stdout.lines().last(),
        Some("0"),
        "/etc/ssh should be an empty directory\n{}",
        out.describe()
    );
}
