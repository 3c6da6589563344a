//! `safe-install explain <COMMAND>`: the effective policy for a command, as a person reads
//! it. Environment variables appear by name only, never with values.

use crate::plan::{DropReason, MountKind, Plan};
use crate::policy::allow::AllowList;
use crate::policy::Policy;
use std::fmt::Write;

pub fn render(
    policy: &Policy,
    plan: &Plan,
    allow: &AllowList,
    vault: &crate::creds::Vault,
) -> String {
    let mut o = String::new();
    let cmd: Vec<String> = plan
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = writeln!(o, "command:   {}", cmd.join(" "));
    let _ = writeln!(
        o,
        "policy:    {} ({})",
        plan.manager.name(),
        policy.layers.join(" < ")
    );
    let _ = writeln!(o, "project:   {} (read-write)", plan.project.display());
    let _ = writeln!(o, "workdir:   {}", plan.cwd.display());
    if let Some(store) = &plan.store {
        let how = match &store.carrier {
            Some(c) => format!(
                "on one mount with {} (one bind of {}): hard links from it work",
                store
                    .into
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                c.display()
            ),
            None => "a mount of its own: the package manager copies from it (see the notes)".into(),
        };
        let _ = writeln!(
            o,
            "store:     {} ({}, read-write; {how})",
            store.dir.display(),
            store.what
        );
    }
    let landlock_mode = match &plan.mode {
        crate::plan::Mode::Full => None,
        crate::plan::Mode::Landlock(host) => Some(host),
    };
    match landlock_mode {
        None => {
            let _ = writeln!(
                o,
                "identity:  uid {} gid {} inside (mapped to {} / {} outside), no capabilities",
                plan.ids.inside_uid,
                plan.ids.inside_gid,
                plan.ids.outside_uid,
                plan.ids.outside_gid
            );
            let _ = writeln!(o, "\nfilesystem view (everything else is invisible):");
        }
        Some(_) => {
            let _ = writeln!(
                o,
                "mode:      landlock (no namespaces: Landlock and seccomp only; `safe-install doctor` lists what it gives up)"
            );
            let _ = writeln!(
                o,
                "identity:  your own uid {} gid {}, no capabilities",
                plan.ids.outside_uid, plan.ids.outside_gid
            );
            let _ = writeln!(
                o,
                "\nfilesystem view, as Landlock rules on the host's own paths (everything else is unreadable; generated files are written, not mounted):"
            );
        }
    }
    if let Some(host) = landlock_mode {
        landlock_view(&mut o, plan, &host.tmp);
    }
    for m in plan.mounts.iter().filter(|_| landlock_mode.is_none()) {
        let (what, src) = match &m.kind {
            MountKind::BindRo(s) => ("read-only ", Some(s)),
            MountKind::BindRw(s) => ("read-write", Some(s)),
            MountKind::Tmpfs => ("empty     ", None),
            MountKind::Symlink(_) => ("link      ", None),
            MountKind::HideFile | MountKind::HideDir => continue,
            MountKind::Proc => ("proc      ", None),
            MountKind::Dev => ("devices   ", None),
            MountKind::File(_) => ("generated ", None),
            MountKind::ShellGate => ("program   ", None),
        };
        let from = match src {
            Some(s) if s != &m.target => format!(" (from {})", s.display()),
            _ => String::new(),
        };
        let link = match &m.kind {
            MountKind::Symlink(to) => format!(" -> {}", to.display()),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  {what}  {}{link}{from}  # {}",
            m.target.display(),
            m.why
        );
    }
    for action in &plan.before_run {
        match action {
            crate::plan::HostAction::CreateDir { path, .. } => {
                let _ = writeln!(
                    o,
                    "  (missing now: {} is created before the run, as the caller)",
                    path.display()
                );
            }
        }
    }

    let _ = writeln!(o, "\nhidden files (replaced by empty read-only files):");
    if plan.hidden.is_empty() {
        let _ = writeln!(o, "  (none found)");
    }
    for h in &plan.hidden {
        let rel = h.path.strip_prefix(&plan.project).unwrap_or(&h.path);
        let _ = writeln!(
            o,
            "  {}{}  # rule {}",
            rel.display(),
            if h.is_dir { "/" } else { "" },
            h.rule
        );
    }

    let _ = writeln!(o, "\nenvironment passed (names only):");
    let mut passed: Vec<String> = plan
        .env
        .pass
        .iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    passed.sort();
    passed.dedup();
    let _ = writeln!(o, "  {}", passed.join(" "));
    let _ = writeln!(o, "\nenvironment dropped (names only):");
    if plan.env.dropped.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for (name, why) in &plan.env.dropped {
        let why = match why {
            DropReason::NotAllowed => "not on the allow-list".to_string(),
            DropReason::SecretName(p) => {
                format!("looks like a secret ({p}); pass with --allow-env {name}")
            }
            DropReason::CredentialUrl => {
                format!("URL with credentials; pass with --allow-env {name}")
            }
            DropReason::Malformed => "malformed name".to_string(),
        };
        let _ = writeln!(o, "  {name}  # {why}");
    }

    let _ = writeln!(o, "\nnetwork:");
    match landlock_mode {
        None => {
            let _ = writeln!(
                o,
                "  own network namespace with only loopback; HTTP(S) through safe-install's proxy at {}, DNS to its stub (every name logged, none answered)",
                crate::plan::addresses::PROXY
            );
        }
        Some(host) => {
            let _ = writeln!(
                o,
                "  no network namespace: HTTP(S) through safe-install's proxy at {} on the host's loopback, each connect made by safe-install on the command's behalf; every other connect, UDP (DNS included) and listening beyond loopback refused",
                host.proxy
            );
        }
    }
    if allow.rules().is_empty() {
        let _ = writeln!(o, "  allowed hosts: none");
    }
    for rule in allow.rules() {
        let _ = writeln!(o, "  allow {rule}  # {}", rule.source);
    }

    credentials(&mut o, vault);
    scripts(&mut o, policy, plan);
    if let Some(a) = &plan.approvals {
        approvals(&mut o, policy, a, &plan.manager.scripted(&plan.project));
    }

    let names: Vec<&str> = plan.seccomp_deny.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(o, "\nsystem calls refused ({}):", names.len());
    let _ = writeln!(o, "  {}", names.join(" "));
    let _ = writeln!(
        o,
        "  plus: clone with namespace flags, clone3 (ENOSYS), ioctl TIOCSTI/TIOCLINUX, raw and packet sockets, socket families other than unix/inet/inet6/netlink-route"
    );
    for n in &plan.notes {
        let _ = writeln!(o, "\nnote: {n}");
    }
    o
}

/// Per credential: where it came from, the origins it is bound to, how the client carries it.
/// Never a value, real or placeholder.
fn credentials(o: &mut String, vault: &crate::creds::Vault) {
    let _ = writeln!(
        o,
        "\nregistry credentials (a random placeholder inside; the proxy adds the real value on the way out):"
    );
    if vault.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for c in vault.credentials() {
        let bound = if c.origins.is_empty() {
            "no host: refused wherever it is sent".to_string()
        } else {
            c.origins
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            o,
            "  {}\n    bound to: {bound}\n    carried as: {}",
            c.source, c.carrier
        );
    }
}

/// How trust level 2 is kept off the package manager's proxy port, on a kernel with Landlock
/// ABI `abi` (`doctor` and `explain`).
pub fn level2_egress(abi: i32) -> String {
    let need = crate::sandbox::landlock::ABI_NET;
    let port = crate::plan::addresses::SCRIPT_PROXY;
    if abi >= need {
        format!(
            "scripts and build backends connect only to their own proxy port {port} and the DNS stub; the package manager's port is closed to them by Landlock TCP rules (ABI {need}+: enforced by the kernel)"
        )
    } else {
        format!(
            "NOT enforced by the kernel: Landlock TCP rules need ABI {need} (Linux 6.7), this kernel has {abi}; the proxy tells scripts apart by process attribution and treats any process it cannot place as a script"
        )
    }
}

/// Trust level 2: what lifecycle scripts get.
fn scripts(o: &mut String, policy: &Policy, plan: &Plan) {
    let _ = writeln!(o, "\nlifecycle scripts and build backends (trust level 2):");
    let network = match policy.scripts.network {
        crate::policy::ScriptsNetwork::None => {
            "none (--scripts-network registry lets them reach the registries)"
        }
        crate::policy::ScriptsNetwork::Registry => "the package manager's registries",
    };
    let _ = writeln!(o, "  network: {network}");
    if plan.script.is_some() || plan.python.is_some() {
        let _ = writeln!(
            o,
            "  egress path: {}",
            level2_egress(crate::sandbox::landlock::kernel_abi())
        );
    }
    if let Some(script) = &plan.script {
        match &script.stands_in_for {
            Some(sh) => {
                let _ = writeln!(
                    o,
                    "  every shell the package manager starts (`/bin/sh -c <script>`: {} is safe-install, the real shell at {}) starts at level 2: credentials removed, a nested Landlock layer; only the command itself runs the real shell unchanged",
                    sh.display(),
                    crate::plan::trust::SYSTEM_SHELL_REAL
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "  run through {}: credentials removed, a nested Landlock layer",
                    crate::plan::trust::SHIM
                );
            }
        }
    }
    match &plan.script {
        Some(script) => {
            if !plan.hook.is_empty() {
                let _ = writeln!(
                    o,
                    "  the package manager is pointed at it by: {}",
                    plan.hook.join(" ")
                );
            }
            let paths = |v: &[std::path::PathBuf]| {
                v.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                o,
                "  write: their package's directory, {}",
                paths(&script.write)
            );
            let _ = writeln!(o, "  variables removed: {}", script.drop_env.join(" "));
        }
        None if plan.python.is_some() => {
            match plan.python.as_ref().and_then(|p| p.frontend.as_ref()) {
                Some(crate::pm::PythonFrontend::Uv { executable, cache }) => {
                    let _ = writeln!(
                    o,
                    "  uv's build steps (each PEP 517 hook: `<build venv>/bin/python -c …`, build_wheel, get_requires_for_build_wheel, …) start through safe-install mounted over the base interpreter: credentials removed, a nested Landlock layer; they write only their own build directories in {} (their source tree in sdists-v*, their build venv and output in builds-v0) and temp",
                    cache.display()
                );
                    let _ = writeln!(
                    o,
                    "  level 1 (uv's): only uv's interpreter query and bytecode compiler, started by {}",
                    executable
                        .as_ref()
                        .map(|e| e.display().to_string())
                        .unwrap_or_else(|| "(uv's executable was not found: nothing)".into())
                );
                }
                None => {
                    let _ = writeln!(
                    o,
                    "  pip's build steps (setup.py, PEP 517 hooks) start through safe-install mounted over the interpreter: credentials removed, a nested Landlock layer"
                );
                }
            }
        }
        None => {
            let _ = writeln!(
                o,
                "  this command has no script hook: its scripts share the command's filesystem view and environment (network as above, by process ancestry)"
            );
        }
    }
    for g in &policy.scripts.packages {
        let _ = writeln!(
            o,
            "  grant {}: hosts [{}] read [{}] write [{}]  # {}",
            g.value.name,
            g.value.allow_hosts.join(", "),
            g.value
                .allow_read
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            g.value
                .allow_write
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            g.reason
        );
    }
}

/// The package manager's own approval list: which dependency scripts run at all (its
/// decision), and what each that runs may do (safe-install's policy).
fn approvals(
    o: &mut String,
    policy: &Policy,
    a: &crate::pm::approvals::Approvals,
    scripted: &crate::pm::approvals::Scripted,
) {
    use crate::pm::approvals::{Decision, Scripted, Unlisted};
    let _ = writeln!(
        o,
        "\nwhich dependency scripts run (the package manager's own approval list decides; the policy above decides what they may do):"
    );
    let _ = writeln!(o, "  decided by: {}", a.tool);
    let unlisted = match &a.unlisted {
        Unlisted::Run(why) => format!("run ({why})"),
        Unlisted::Skipped => "skipped: their scripts do not run".into(),
        Unlisted::Fail => "the install fails on them".into(),
        Unlisted::NoneRun(why) => format!("nothing runs, listed or not ({why})"),
        Unlisted::Unknown(why) => format!("unknown: {why}"),
    };
    match &a.source {
        Some(source) => {
            let _ = writeln!(o, "  approval list: {source}");
            let _ = writeln!(o, "  packages the list does not name: {unlisted}");
        }
        None => {
            let _ = writeln!(
                o,
                "  approval list: none; every package's scripts: {unlisted}"
            );
        }
    }
    let listed = |approved: bool| {
        a.entries
            .iter()
            .filter(|e| e.approved == approved)
            .map(|e| {
                if e.versions.is_empty() {
                    format!("{} (every version)", e.name)
                } else {
                    format!("{}@{}", e.name, e.versions.join(" || "))
                }
            })
            .collect::<Vec<_>>()
    };
    for (what, names) in [("approved", listed(true)), ("denied", listed(false))] {
        if !names.is_empty() {
            let _ = writeln!(o, "  {what}: {}", names.join(", "));
        }
    }
    let may = |name: &str| match policy.scripts.grant(name) {
        Some(g) => format!(
            "its [[package]] grant: hosts [{}] read [{}] write [{}] besides its own folder",
            g.value.allow_hosts.join(", "),
            g.value
                .allow_read
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            g.value
                .allow_write
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => match policy.scripts.network {
            crate::policy::ScriptsNetwork::None => {
                "no network, no credentials, writes only its own folder and temp".into()
            }
            crate::policy::ScriptsNetwork::Registry => {
                "the registries only, no credentials, writes only its own folder and temp".into()
            }
        },
    };
    match scripted {
        Scripted::Known(packages) if packages.is_empty() => {
            let _ = writeln!(
                o,
                "  packages with install scripts: none (per the lockfile)"
            );
        }
        Scripted::Known(packages) => {
            let _ = writeln!(o, "  packages with install scripts (per the lockfile):");
            for id in packages {
                let (name, _) = crate::pm::approvals::split_identity(id);
                let line = match a.decide_identity(id) {
                    Decision::Runs(why) => format!("runs ({why}); may: {}", may(name)),
                    Decision::Skipped(why) => format!("does not run ({why})"),
                    Decision::Fails(why) => format!("does not run: {why}"),
                    Decision::Unknown(why) => {
                        format!("may run ({why}); if it does, may: {}", may(name))
                    }
                };
                let _ = writeln!(o, "    {id}: {line}");
            }
        }
        Scripted::AtInstall(why) => {
            let _ = writeln!(o, "  packages with install scripts: {why}");
            for e in a.entries.iter().filter(|e| e.approved) {
                let _ = writeln!(o, "    {} (approved): may: {}", e.name, may(&e.name));
            }
        }
    }
    for n in &a.notes {
        let _ = writeln!(o, "  note: {n}");
    }
}

/// Landlock mode's view as the Landlock rules it applies on the host's own paths: each place
/// with its right and why (hidden and private places are carved out, unreadable), then the
/// files safe-install writes for the command.
fn landlock_view(o: &mut String, plan: &Plan, tmp: &std::path::Path) {
    use crate::sandbox::landlock::Grant;
    for (path, grant) in crate::sandbox::landlock::host_view::roots(plan, tmp) {
        let what = match grant {
            Grant::None => "unreadable",
            Grant::List => "list only ",
            Grant::Read => "read-only ",
            Grant::Write => "read-write",
            Grant::Device => "device    ",
        };
        let why = plan
            .mounts
            .iter()
            .find(|m| m.target == path)
            .map(|m| m.why.as_str())
            .unwrap_or(if path == tmp {
                "private TMPDIR for this run"
            } else {
                "a usable device"
            });
        let _ = writeln!(o, "  {what}  {}  # {why}", path.display());
    }
    for m in &plan.mounts {
        if let MountKind::File(_) = m.kind {
            let _ = writeln!(o, "  generated   {}  # {}", m.target.display(), m.why);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::creds::{Carrier, Credential, Origin, Scheme, Secret, Vault};

    #[test]
    fn credentials_show_binding_and_carrier_never_a_value() {
        let mut v = Vault::default();
        v.push(Credential {
            source: "//registry.example.com/npm/:_authToken in npm's configuration".into(),
            origins: vec![Origin {
                scheme: Scheme::Https,
                host: "registry.example.com".into(),
                port: Some(443),
                path: "/npm/".into(),
            }],
            carrier: Carrier::Bearer,
            real: Secret::new("npm_REALVALUE".into()),
            placeholder: "si-placeholder-abcd".into(),
        });
        v.push(Credential {
            source: "$UNUSED_TOKEN".into(),
            origins: vec![],
            carrier: Carrier::Variable,
            real: Secret::new("unused-real".into()),
            placeholder: "si-placeholder-ef01".into(),
        });
        let mut o = String::new();
        super::credentials(&mut o, &v);
        assert!(
            o.contains("bound to: https://registry.example.com:443/npm/"),
            "{o}"
        );
        assert!(o.contains("Authorization: Bearer"), "{o}");
        assert!(o.contains("no host: refused wherever it is sent"), "{o}");
        for secret in ["npm_REALVALUE", "unused-real", "si-placeholder-"] {
            assert!(!o.contains(secret), "{o}");
        }
    }

    #[test]
    fn approvals_say_who_runs_and_what_each_may_do() {
        use crate::pm::approvals::{parse_entry, Approvals, Scripted, Unlisted};
        let mut policy = crate::policy::Policy::default();
        policy
            .add_layer(
                "p.toml",
                "[[package]]\nname = \"sharp\"\nallow-hosts = [\"downloads.example.com:443\"]\nreason = \"binary\"\n",
            )
            .expect("policy");
        let a = Approvals {
            tool: "npm 12.2.3".into(),
            source: Some("allowScripts in /p/package.json".into()),
            entries: vec![
                parse_entry("sharp@0.33.5", true).expect("entry"),
                parse_entry("esbuild", true).expect("entry"),
                parse_entry("evil", false).expect("entry"),
            ],
            unlisted: Unlisted::Skipped,
            notes: vec!["a note".into()],
        };
        let scripted = Scripted::Known(vec![
            "esbuild@0.25.0".into(),
            "evil@1.0.0".into(),
            "other@2.0.0".into(),
            "sharp@0.33.5".into(),
        ]);
        let mut o = String::new();
        super::approvals(&mut o, &policy, &a, &scripted);
        for line in [
            "  decided by: npm 12.2.3\n",
            "  approval list: allowScripts in /p/package.json\n",
            "  packages the list does not name: skipped: their scripts do not run\n",
            "  approved: sharp@0.33.5, esbuild (every version)\n",
            "  denied: evil (every version)\n",
            "    esbuild@0.25.0: runs (approved by allowScripts in /p/package.json); may: no network, no credentials, writes only its own folder and temp\n",
            "    evil@1.0.0: does not run (denied by allowScripts in /p/package.json)\n",
            "    other@2.0.0: does not run (not approved by allowScripts in /p/package.json)\n",
            "    sharp@0.33.5: runs (approved by allowScripts in /p/package.json); may: its [[package]] grant: hosts [downloads.example.com:443] read [] write [] besides its own folder\n",
            "  note: a note\n",
        ] {
            assert!(o.contains(line), "missing {line:?} in\n{o}");
        }
        // No list: said once, with what happens to every package.
        let mut o = String::new();
        super::approvals(
            &mut o,
            &policy,
            &Approvals::all_run("pip", "pip has no approval list"),
            &Scripted::AtInstall("known at install time".into()),
        );
        assert!(
            o.contains(
                "  approval list: none; every package's scripts: run (pip has no approval list)\n"
            ),
            "{o}"
        );
        assert!(
            o.contains("  packages with install scripts: known at install time\n"),
            "{o}"
        );
    }
}
