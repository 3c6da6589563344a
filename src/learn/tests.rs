use super::file::backup_path;
use super::*;
use crate::events::ProcessId;
use crate::policy::builtin;
use std::path::PathBuf;

const HOME: &str = "/home/u";
const PROJECT: &str = "/home/u/proj";

fn base_policy() -> Policy {
    let mut p = Policy::default();
    p.add_layer(builtin::BASE.0, builtin::BASE.1)
        .expect("base policy");
    p.add_layer(builtin::NPM.0, builtin::NPM.1)
        .expect("npm policy");
    p
}

fn ev(action: Action, verdict: Verdict, target: &str, reason: Reason, pkg: Option<&str>) -> Event {
    let mut e = Event::new(action, verdict, target, reason);
    e.pid = Some(ProcessId {
        sandbox: 7,
        host: 4242,
    });
    e.package = pkg.map(String::from);
    e.script = pkg.map(|_| "postinstall".to_string());
    e
}

fn blocked(action: Action, target: &str, reason: Reason, pkg: Option<&str>) -> Event {
    ev(action, Verdict::Blocked, target, reason, pkg)
}

/// Where the package manager may write in these tests.
fn level1_write() -> Vec<PathBuf> {
    vec![PathBuf::from(PROJECT), PathBuf::from("/tmp")]
}

/// The built-in policies plus a project grant for package `b`.
fn policy_with_grant() -> Policy {
    let mut p = base_policy();
    p.add_layer(
        "/home/u/proj/.safe-install.toml",
        "[[package]]\nname = \"b\"\nallow-hosts = [\"b.example.com:443\"]\nallow-read = [\"/opt/b-sdk\"]\nreason = \"b's SDK\"\n",
    )
    .expect("project policy");
    p
}

/// One install's worth of events: some learnable, some never.
fn sample() -> Vec<(Event, u64)> {
    let b = Some("b@2.0.0");
    vec![
        (
            blocked(
                Action::Proxy,
                "127.0.0.1:41000",
                Reason::IpLiteral,
                Some("a@1.0.0"),
            ),
            2,
        ),
        (
            blocked(
                Action::Proxy,
                "downloads.example.com:443",
                Reason::EgressNotAllowed,
                None,
            ),
            1,
        ),
        (
            blocked(Action::Proxy, "127.0.0.1:4873", Reason::ScriptOffline, b),
            1,
        ),
        (
            blocked(Action::Read, "/opt/sdk/include/x.h", Reason::OutsideView, b),
            3,
        ),
        (
            blocked(
                Action::Write,
                "/home/u/work/out.bin",
                Reason::OutsideView,
                None,
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/home/u/work/out.bin",
                Reason::OutsideView,
                Some("a@1.0.0"),
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/home/u/proj/build/gen.c",
                Reason::ReadOnlyPath,
                b,
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/usr/local/lib/b.so",
                Reason::ReadOnlyPath,
                b,
            ),
            1,
        ),
        // Never learned:
        (
            blocked(
                Action::Read,
                "/home/u/proj/.env",
                Reason::HiddenFile,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/home/u/.ssh/id_rsa",
                Reason::OutsideView,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/home/u/proj/.git/hooks/pre-commit",
                Reason::ReadOnlyPath,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/home/u/proj/config/server.pem",
                Reason::OutsideView,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/proc/1/environ",
                Reason::OtherProcess,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Connect,
                "10.0.0.1:443",
                Reason::DirectConnect,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Dns,
                "data.exfil.example.com",
                Reason::DnsQuery,
                Some("evil@6.6.6"),
            ),
            4,
        ),
        (
            blocked(
                Action::Proxy,
                "internal.example.com:443",
                Reason::PrivateAddress,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            blocked(
                Action::Proxy,
                "front.example.com:443",
                Reason::SniMismatch,
                Some("evil@6.6.6"),
            ),
            1,
        ),
        (
            {
                let mut e = blocked(
                    Action::Proxy,
                    "orphan.example.com:443",
                    Reason::EgressNotAllowed,
                    None,
                );
                e.script = Some("postinstall".into());
                e
            },
            1,
        ),
        (
            ev(
                Action::Proxy,
                Verdict::Allowed,
                "127.0.0.1:4873",
                Reason::RegistryRequest,
                None,
            ),
            12,
        ),
        (
            ev(
                Action::Sandbox,
                Verdict::Allowed,
                "sandbox",
                Reason::SandboxFull,
                None,
            ),
            1,
        ),
    ]
}

fn learn_sample() -> Learned {
    let policy = policy_with_grant();
    let w = level1_write();
    learn(
        &sample(),
        &Scope::new(&policy, Path::new(HOME), Path::new(PROJECT), &w),
    )
}

fn learn_with(policy: &Policy, events: &[(Event, u64)], home: &str, project: &str) -> Learned {
    let w = level1_write();
    learn(
        events,
        &Scope::new(policy, Path::new(home), Path::new(project), &w),
    )
}

fn header<'a>(argv: &'a [OsString], layers: &'a [String]) -> Header<'a> {
    Header {
        learned_at: "2026-11-22T10:58:22.123Z",
        argv,
        project: Path::new(PROJECT),
        file: Path::new("/home/u/proj/.safe-install.learned.toml"),
        layers,
    }
}

fn rendered(learned: &Learned) -> String {
    let argv = vec![OsString::from("npm"), OsString::from("ci")];
    let layers = vec!["built-in policies/base.toml".to_string()];
    render(learned, &header(&argv, &layers))
}

#[test]
fn only_exact_observed_targets_are_granted() {
    let l = learn_sample();
    let got: Vec<(Section, Option<&str>, &str)> = l
        .grants
        .iter()
        .map(|g| (g.section, g.package.as_deref(), g.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            // The package manager's own egress: the global allow-list.
            (Section::EgressAllow, None, "downloads.example.com:443"),
            (Section::FsRo, None, "/opt/sdk/include/x.h"),
            // Read and written: only the read-write entry, below the home as `~/`.
            // Writes get the directory, never a file name (which may change between runs).
            (Section::FsRw, None, "/usr/local/lib"),
            (Section::FsRw, None, "~/work"),
            // Scripts' egress: their own package only.
            (Section::PackageHosts, Some("a"), "127.0.0.1:41000"),
            (Section::PackageHosts, Some("b"), "127.0.0.1:4873"),
            // A script's write where the package manager may write: its package only.
            (Section::PackageWrite, Some("b"), "~/proj/build"),
        ]
    );
    assert_eq!(l.grants[3].needed_by.values().sum::<u64>(), 2);
    assert_eq!(
        l.grants[4].reason(),
        "learned: allow-hosts 127.0.0.1:41000 needed for connections through the proxy by a@1.0.0 (postinstall), 2 times"
    );
    assert_eq!(l.kept.keys().collect::<Vec<_>>(), vec!["b"]);
}

#[test]
fn secrets_and_unallowable_attempts_are_reported_not_granted() {
    let l = learn_sample();
    let why = |target: &str| {
        l.not_learned
            .iter()
            .find(|n| n.target == target)
            .map(|n| n.why)
            .unwrap_or_else(|| panic!("{target} missing from not_learned: {l:#?}"))
    };
    assert_eq!(why("/home/u/proj/.env"), NotLearnedWhy::Secret);
    assert_eq!(why("/home/u/.ssh/id_rsa"), NotLearnedWhy::Secret);
    assert_eq!(
        why("/home/u/proj/.git/hooks/pre-commit"),
        NotLearnedWhy::Secret
    );
    // `*.pem` is a hide glob of the base policy: a secret even when logged as outside-view.
    assert_eq!(why("/home/u/proj/config/server.pem"), NotLearnedWhy::Secret);
    assert_eq!(why("/proc/1/environ"), NotLearnedWhy::Attack);
    assert_eq!(why("10.0.0.1:443"), NotLearnedWhy::DirectConnect);
    assert_eq!(why("data.exfil.example.com"), NotLearnedWhy::Dns);
    assert_eq!(
        why("internal.example.com:443"),
        NotLearnedWhy::PrivateAddress
    );
    assert_eq!(why("front.example.com:443"), NotLearnedWhy::Attack);
    assert_eq!(why("orphan.example.com:443"), NotLearnedWhy::Unattributed);
    assert_eq!(l.not_learned.len(), 10, "{l:#?}");
    assert!(
        l.grants.iter().all(|g| !g.value.contains(".ssh")
            && !g.value.contains(".env")
            && !g.value.contains(".git")
            && !g.value.contains(".pem")
            && !g.value.contains("orphan")),
        "{l:#?}"
    );
    assert_eq!(
        l.used,
        vec![Used {
            target: "127.0.0.1:4873".into(),
            reason: Reason::RegistryRequest,
            count: 12
        }]
    );
}

#[test]
fn learned_policy_round_trips_through_the_validator() {
    let l = learn_sample();
    let text = rendered(&l);
    assert!(text.starts_with(render::MARKER), "{text}");
    let mut p = Policy::default();
    p.add_layer("learned.toml", &text)
        .unwrap_or_else(|e| panic!("the learned policy does not validate: {e}\n{text}"));
    let hosts: Vec<(&str, &str)> = p
        .egress
        .allow
        .iter()
        .map(|e| (e.value.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        hosts,
        vec![(
            "downloads.example.com:443",
            "learned: needed for connections through the proxy by the package manager, 1 time"
        )]
    );
    let ro: Vec<String> = p.fs.ro.iter().map(|e| e.value.to_string()).collect();
    assert_eq!(ro, vec!["/opt/sdk/include/x.h"]);
    let rw: Vec<String> = p.fs.rw.iter().map(|e| e.value.to_string()).collect();
    assert_eq!(rw, vec!["/usr/local/lib", "~/work"]);
    assert_eq!(
        p.fs.rw[1].reason,
        "learned: needed for writing by the package manager, 1 time; a@1.0.0 (postinstall), 1 time"
    );
    // One [[package]] per package; b's grant in force is carried over, not lost.
    let a = p.scripts.grant("a").expect("a's grant");
    assert_eq!(a.value.allow_hosts, vec!["127.0.0.1:41000"]);
    assert!(a.value.allow_read.is_empty() && a.value.allow_write.is_empty());
    let b = p.scripts.grant("b@2.0.0").expect("b's grant");
    assert_eq!(
        b.value.allow_hosts,
        vec!["b.example.com:443", "127.0.0.1:4873"]
    );
    let paths =
        |v: &[crate::policy::PolicyPath]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(paths(&b.value.allow_read), vec!["/opt/b-sdk"]);
    assert_eq!(paths(&b.value.allow_write), vec!["~/proj/build"]);
    assert!(
        b.reason.contains(
            "kept from /home/u/proj/.safe-install.toml:2 (this entry replaces it): b's SDK"
        ),
        "{}",
        b.reason
    );
    assert_eq!(p.scripts.packages.len(), 2);
    assert!(p.env.pass.is_empty() && p.fs.hide.is_empty() && p.fs.mask.is_empty());
    // The refusals are in the header, for the reviewer.
    assert!(text.contains("read /home/u/proj/.env by evil@6.6.6 (postinstall), 1 time: not learned: this is a secret"), "{text}");
    assert!(
        text.contains("127.0.0.1:4873 (registry-request), 12 times"),
        "{text}"
    );
}

#[test]
fn an_empty_run_still_renders_a_valid_policy() {
    let text = rendered(&Learned::default());
    let mut p = Policy::default();
    p.add_layer("learned.toml", &text).expect("validates");
    assert!(text.contains("Nothing was needed beyond the policy in force."));
    assert!(p.egress.allow.is_empty() && p.fs.ro.is_empty() && p.fs.rw.is_empty());
}

#[test]
fn hostile_targets_cannot_inject_entries() {
    let policy = base_policy();
    let events = vec![
        (
            blocked(
                Action::Read,
                "/opt/x\n[[fs.rw]]\npath = \"/\"\nreason = \"pwn\"",
                Reason::OutsideView,
                Some("evil@1.0.0\n[[fs.rw]]"),
            ),
            1,
        ),
        (
            blocked(
                Action::Proxy,
                "*.example.com:443",
                Reason::EgressNotAllowed,
                None,
            ),
            1,
        ),
        (
            blocked(
                Action::Proxy,
                "registry.example.com",
                Reason::EgressNotAllowed,
                None,
            ),
            1,
        ),
        (
            blocked(Action::Read, "relative/path", Reason::OutsideView, None),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/opt/../etc/shadow",
                Reason::OutsideView,
                None,
            ),
            1,
        ),
    ];
    let l = learn_with(&policy, &events, HOME, PROJECT);
    assert!(l.grants.is_empty(), "{l:#?}");
    assert!(l
        .not_learned
        .iter()
        .all(|n| n.why == NotLearnedWhy::NotExact));
    let text = rendered(&l);
    let mut p = Policy::default();
    p.add_layer("learned.toml", &text).expect("validates");
    assert!(
        p.fs.rw.is_empty() && p.fs.ro.is_empty() && p.egress.allow.is_empty(),
        "{text}"
    );
    assert!(!text.contains("\n[[fs.rw]]"), "{text}");
}

#[test]
fn a_project_below_a_dot_directory_is_not_all_secret() {
    let policy = base_policy();
    let (home, project) = ("/home/u", "/home/u/.local/src/proj");
    let events = vec![
        (
            blocked(
                Action::Write,
                "/home/u/.local/src/proj/node_modules/x/out",
                Reason::ReadOnlyPath,
                None,
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/home/u/.local/src/proj/.env.local",
                Reason::OutsideView,
                None,
            ),
            1,
        ),
        (
            blocked(
                Action::Read,
                "/home/u/.local/share/tool/lib.so",
                Reason::OutsideView,
                None,
            ),
            1,
        ),
    ];
    let l = learn_with(&policy, &events, home, project);
    let granted: Vec<&str> = l.grants.iter().map(|g| g.value.as_str()).collect();
    assert_eq!(
        granted,
        vec!["~/.local/src/proj/node_modules/x/out"],
        "{l:#?}"
    );
    assert!(l.not_learned.iter().all(|n| n.why == NotLearnedWhy::Secret));
    assert_eq!(l.not_learned.len(), 2);
}

#[test]
fn unknown_reasons_are_not_learned() {
    let policy = base_policy();
    let events = vec![(
        blocked(Action::Env, "NPM_TOKEN", Reason::EnvSecret, None),
        1,
    )];
    let l = learn_with(&policy, &events, HOME, PROJECT);
    assert!(l.grants.is_empty());
    assert_eq!(
        l.not_learned[0].why,
        NotLearnedWhy::NoEntry(Reason::EnvSecret)
    );
}

#[test]
fn default_target_and_a_file_name_written_with_a_space() {
    let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
    let project = Path::new(PROJECT);
    assert_eq!(
        target(None, project, &argv(&["npm", "ci"])).expect("default"),
        project.join(DEFAULT_FILE)
    );
    assert_eq!(
        target(Some(Path::new("l.toml")), project, &argv(&["npm", "ci"])).expect("given"),
        Path::new("l.toml")
    );
    let err = target(Some(Path::new("")), project, &argv(&["npm", "ci"])).expect_err("empty");
    assert_eq!(err.exit_code(), crate::exit::USAGE);
    let err = target(None, project, &argv(&["l.toml", "npm", "ci"])).expect_err("refused");
    assert_eq!(err.exit_code(), crate::exit::USAGE);
    assert!(err.to_string().contains("--learn=l.toml npm ci"), "{err}");
}

#[test]
fn writing_never_loses_a_users_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("learned.toml");
    let text = rendered(&learn_sample());

    assert_eq!(write(&path, &text).expect("create"), Written::Created);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);

    // A previous learn output is replaced and kept.
    let second = rendered(&Learned::default());
    let backup = backup_path(&path);
    assert_eq!(
        write(&path, &second).expect("replace"),
        Written::Replaced {
            backup: backup.clone()
        }
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), second);
    assert_eq!(std::fs::read_to_string(&backup).expect("read backup"), text);

    // The user's own file is never replaced.
    let mine = dir.path().join("mine.toml");
    std::fs::write(&mine, "# my policy\n").expect("write");
    let err = write(&mine, &text).expect_err("refused");
    assert!(matches!(err, LearnError::NotLearnOutput { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&mine).expect("read"),
        "# my policy\n"
    );

    // Nor is a user's file sitting at the backup path.
    std::fs::write(&backup, "# my notes\n").expect("write");
    let err = write(&path, &text).expect_err("refused");
    assert!(matches!(err, LearnError::NotLearnOutput { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&backup).expect("read"),
        "# my notes\n"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), second);

    // A symbolic link is refused, not written through.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let err = write(&link, &text).expect_err("refused");
    assert!(matches!(err, LearnError::NotRegular { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );

    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("readdir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cache_directory_is_learned_but_not_the_whole_cache_or_dotted_names_in_it() {
    let policy = base_policy();
    let swc = Some("@swc/core@1.7.0");
    let write = |target: &str| (blocked(Action::Write, target, Reason::ReadOnlyPath, swc), 1);
    let events = vec![
        write("/home/u/.cache/swc"),
        write("/home/u/.cache"),
        write("/home/u/.cache/swc/.token"),
    ];
    // The home tmpfs is where the package manager may write.
    let w = vec![PathBuf::from(HOME)];
    let l = learn(
        &events,
        &Scope::new(&policy, Path::new(HOME), Path::new(PROJECT), &w),
    );
    let granted: Vec<(Section, Option<&str>, &str)> = l
        .grants
        .iter()
        .map(|g| (g.section, g.package.as_deref(), g.value.as_str()))
        .collect();
    assert_eq!(
        granted,
        vec![(Section::PackageWrite, Some("@swc/core"), "~/.cache/swc")],
        "{l:#?}"
    );
    assert_eq!(l.not_learned.len(), 2, "{l:#?}");
    assert!(l.not_learned.iter().all(|n| n.why == NotLearnedWhy::Secret));
}

#[test]
fn grants_are_proposed_for_approved_packages_only() {
    use crate::pm::approvals::{parse_entry, Approvals, Unlisted};
    let approvals = Approvals {
        tool: "npm 12.2.3".into(),
        source: Some("allowScripts in /home/u/proj/package.json".into()),
        entries: vec![parse_entry("ok@1.0.0", true).expect("entry")],
        unlisted: Unlisted::Skipped,
        notes: Vec::new(),
    };
    let events = vec![
        (
            blocked(
                Action::Proxy,
                "downloads.example.com:443",
                Reason::ScriptOffline,
                Some("ok@1.0.0"),
            ),
            1,
        ),
        (
            blocked(
                Action::Proxy,
                "c2.example.com:443",
                Reason::ScriptOffline,
                Some("sneaky@1.0.0"),
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/home/u/proj/node_modules/.cache/x",
                Reason::ReadOnlyPath,
                Some("sneaky@1.0.0"),
            ),
            1,
        ),
    ];
    let policy = base_policy();
    let w = level1_write();
    let scope = Scope::new(&policy, Path::new(HOME), Path::new(PROJECT), &w)
        .with_approvals(Some(&approvals));
    let learned = learn(&events, &scope);
    let packages: Vec<_> = learned
        .grants
        .iter()
        .map(|g| (g.package.as_deref(), g.value.as_str()))
        .collect();
    assert_eq!(packages, [(Some("ok"), "downloads.example.com:443")]);
    assert!(learned
        .not_learned
        .iter()
        .any(|n| n.target == "c2.example.com:443" && n.why == NotLearnedWhy::NotApproved));
    // Without a list (npm 11: every script runs) the same events are learned.
    let scope = Scope::new(&policy, Path::new(HOME), Path::new(PROJECT), &w);
    let learned = learn(&events, &scope);
    assert!(learned
        .grants
        .iter()
        .any(|g| g.package.as_deref() == Some("sneaky")));
}

/// Under a package manager that binds no grants (pip, uv, yarn), a script's attempt that only
/// a `[[package]]` entry narrows is not learned: the entry would apply to nothing. What a
/// general entry allows (a place not shown at all) still is.
#[test]
fn no_package_grant_is_proposed_where_the_package_manager_binds_none() {
    let events = vec![
        (
            blocked(
                Action::Proxy,
                "downloads.example.com:443",
                Reason::ScriptOffline,
                Some("tool@1.0.0"),
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/home/u/proj/build/x.o",
                Reason::ReadOnlyPath,
                Some("tool@1.0.0"),
            ),
            1,
        ),
        (
            blocked(
                Action::Write,
                "/srv/out/x.bin",
                Reason::OutsideView,
                Some("tool@1.0.0"),
            ),
            1,
        ),
    ];
    let policy = base_policy();
    let w = level1_write();
    let scope = Scope::new(&policy, Path::new(HOME), Path::new(PROJECT), &w).with_grants(false);
    let learned = learn(&events, &scope);
    assert!(
        learned.grants.iter().all(|g| g.package.is_none()),
        "{:?}",
        learned.grants
    );
    assert!(learned.grants.iter().any(|g| g.value == "/srv/out"));
    let no_grants = learned
        .not_learned
        .iter()
        .filter(|n| n.why == NotLearnedWhy::NoGrants)
        .count();
    assert_eq!(no_grants, 2, "{:?}", learned.not_learned);
}
