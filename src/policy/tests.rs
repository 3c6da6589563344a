use super::*;

fn builtin() -> Policy {
    let mut p = Policy::default();
    for (name, text) in [
        builtin::BASE,
        builtin::NPM,
        builtin::PIP,
        builtin::UV,
        builtin::GENERIC,
    ] {
        p.add_layer(&format!("built-in {name}"), text)
            .unwrap_or_else(|e| panic!("{name} must be valid: {e}"));
    }
    p
}

#[test]
fn built_in_policies_are_valid_and_every_entry_has_a_reason() {
    let p = builtin();
    assert!(p.env.pass.iter().all(|e| !e.reason.is_empty()));
    assert!(p.fs.hide.iter().any(|e| e.value.text == ".env"));
    assert!(p.seccomp.deny.iter().any(|e| e.value == "io_uring_setup"));
    assert_eq!(p.layers.len(), 5);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let mut p = Policy::default();
    let text = "[fs]\n\n[[fs.hide]]\nglob = \".env\"\nreasn = \"typo\"\n";
    let err = p
        .add_layer("proj/.safe-install.toml", text)
        .expect_err("typo");
    let msg = err.to_string();
    assert!(msg.starts_with("proj/.safe-install.toml:"), "{msg}");
    assert!(msg.contains("reasn"), "{msg}");
    match err {
        PolicyError::Syntax { line, .. } => assert_eq!(line, 5, "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_value_names_line_and_key() {
    let mut p = Policy::default();
    let text = "[[fs.ro]]\npath = \"relative/dir\"\nreason = \"x\"\n";
    let err = p.add_layer("p.toml", text).expect_err("relative");
    let msg = err.to_string();
    assert!(msg.contains("p.toml:2"), "{msg}");
    assert!(msg.contains("fs.ro[0].path"), "{msg}");
}

#[test]
fn unknown_syscall_is_an_error() {
    let mut p = Policy::default();
    let text = "[[seccomp.deny]]\nsyscall = \"not_a_call\"\nreason = \"x\"\n";
    let msg = p
        .add_layer("p.toml", text)
        .expect_err("unknown")
        .to_string();
    assert!(
        msg.contains("seccomp.deny[0].syscall") && msg.contains("not_a_call"),
        "{msg}"
    );
}

#[test]
fn missing_reason_is_an_error() {
    let mut p = Policy::default();
    let text = "[[env.pass]]\nname = \"FOO\"\nreason = \"  \"\n";
    let msg = p
        .add_layer("p.toml", text)
        .expect_err("empty reason")
        .to_string();
    assert!(msg.contains("env.pass[0].reason"), "{msg}");
}

#[test]
fn wrong_type_is_a_syntax_error_with_line() {
    let mut p = Policy::default();
    let text = "[env]\npass = \"PATH\"\n";
    let msg = p.add_layer("p.toml", text).expect_err("type").to_string();
    assert!(msg.starts_with("p.toml:2:"), "{msg}");
}

#[test]
fn hide_globs_match_names_at_any_depth_and_paths_when_they_have_a_slash() {
    let p = builtin();
    let matcher = HideMatcher::new(&p.fs.hide);
    let hides = |rel: &str| matcher.first_match(Path::new(rel)).is_some();
    assert!(hides(".env"));
    assert!(hides("config/.env.production"));
    assert!(hides("packages/app/.env"));
    assert!(hides(".vault.env"));
    assert!(hides("deploy/id_rsa"));
    assert!(hides("certs/server.key"));
    assert!(!hides("package.json"));
    assert!(
        !hides(".npmrc"),
        "the project .npmrc must stay visible to npm"
    );
    assert!(!hides("environment.ts"));

    let mut q = Policy::default();
    q.add_overrides(&Overrides {
        hide: vec!["secrets/*.json".into()],
        ..Overrides::default()
    })
    .expect("valid");
    let m = HideMatcher::new(&q.fs.hide);
    assert_eq!(m.first_match(Path::new("secrets/a.json")), Some(0));
    assert_eq!(m.first_match(Path::new("other/secrets/a.json")), None);
}

#[test]
fn env_patterns_are_case_insensitive() {
    let p = builtin();
    let secret = |n: &str| p.env.secret.iter().any(|e| e.value.matches(n));
    assert!(secret("NPM_TOKEN"));
    assert!(secret("npm_config__authToken"));
    assert!(secret("npm_config_//registry.example.com/:_authToken"));
    assert!(secret("AWS_SECRET_ACCESS_KEY"));
    assert!(secret("DATABASE_URL"));
    assert!(secret("HTTPS_PROXY") && secret("https_proxy") && secret("NO_PROXY"));
    assert!(!secret("PATH"));
    assert!(!secret("NODE_EXTRA_CA_CERTS"));
    assert!(!secret("npm_config_cafile"));
}

#[test]
fn flags_are_validated() {
    let mut p = Policy::default();
    let err = p
        .add_overrides(&Overrides {
            allow_env: vec!["A=B".into()],
            ..Overrides::default()
        })
        .expect_err("invalid name");
    assert!(err.to_string().contains("--allow-env"));
    let err = p
        .add_overrides(&Overrides {
            rw: vec!["/definitely/not/here".into()],
            ..Overrides::default()
        })
        .expect_err("missing path");
    assert!(err.to_string().contains("--rw"));
}

#[test]
fn star_patterns_match_like_globs_on_names() {
    let m = |p: &str, n: &str| NameMatcher::Pattern { text: p.into() }.matches(n);
    assert!(m("*TOKEN*", "NPM_TOKEN"));
    assert!(m("*TOKEN*", "token"));
    assert!(m("LC_*", "LC_ALL"));
    assert!(!m("LC_*", "XLC_ALL"));
    assert!(m("*_KEY", "STRIPE_KEY"));
    assert!(!m("*_KEY", "STRIPE_KEYS"));
    assert!(m("*_KEY_*", "AWS_ACCESS_KEY_ID"));
    assert!(m("a*b*c", "axxbyyc"));
    assert!(!m("a*b*c", "axxcyyb"));
    assert!(m("*ab*ab", "abab"));
    assert!(!m("*ab*ab", "ab"), "segments may not overlap");
    assert!(m("PATH", "path"));
    assert!(!m("PATH", "PATHX"));
}

#[test]
fn env_patterns_allow_only_star() {
    let mut p = Policy::default();
    let text = "[[env.pass]]\npattern = \"LC_[AB]\"\nreason = \"x\"\n";
    let msg = p.add_layer("p.toml", text).expect_err("class").to_string();
    assert!(msg.contains("env.pass[0].pattern"), "{msg}");
}

#[test]
fn sandbox_mode_is_validated_and_needs_a_reason() {
    let mut p = Policy::default();
    assert!(!p.sandbox.allows_landlock());
    p.add_layer(
        "ci.toml",
        "[sandbox]\nmode = \"landlock\"\nreason = \"our CI container has no user namespaces\"\n",
    )
    .expect("valid mode");
    assert!(p.sandbox.allows_landlock());
    let err = Policy::default()
        .add_layer("bad.toml", "\n[sandbox]\nmode = \"off\"\nreason = \"x\"\n")
        .expect_err("unknown mode");
    let text = err.to_string();
    assert!(
        text.contains("bad.toml:3") && text.contains("sandbox.mode"),
        "{text}"
    );
    let err = Policy::default()
        .add_layer(
            "bad.toml",
            "[sandbox]\nmode = \"landlock\"\nreason = \"\"\n",
        )
        .expect_err("empty reason");
    assert!(err.to_string().contains("reason"), "{err}");
    p.add_layer(
        "later.toml",
        "[sandbox]\nmode = \"full\"\nreason = \"this runner has them\"\n",
    )
    .expect("valid");
    assert!(!p.sandbox.allows_landlock());
}

#[test]
fn trust_level_tables_are_validated() {
    let mut p = Policy::default();
    let text = "[scripts]\nnetwork = \"registry\"\nreason = \"our scripts publish docs\"\n\n[credentials]\nenv = [{ name = \"NPM_TOKEN\", reason = \"CI token\" }]\n\n[[package]]\nname = \"@scope/sharp\"\nallow-hosts = [\"downloads.example.com:443\"]\nintegrity = \"sha512-AAAAAAAAAAAAAAAA\"\nreason = \"prebuilt binary\"\n";
    p.add_layer("ok.toml", text)
        .expect("valid trust-level tables");
    assert_eq!(p.scripts.network, crate::policy::ScriptsNetwork::Registry);
    assert!(p.scripts.grant("@scope/sharp@1.0.0").is_some());
    assert!(p.env.pass.iter().any(|e| e.value.is_exact("NPM_TOKEN")));
    for (bad, key) in [
        (
            "[scripts]\nnetwork = \"all\"\nreason = \"x\"\n",
            "scripts.network",
        ),
        ("[scripts]\nnetwork = \"none\"\n", "scripts.reason"),
        (
            "[[package]]\nname = \"sharp@1.0\"\nreason = \"x\"\n",
            "package[0].name",
        ),
        (
            "[[package]]\nname = \"sharp\"\nintegrity = \"md5-x\"\nreason = \"x\"\n",
            "package[0].integrity",
        ),
        (
            "[[package]]\nname = \"sharp\"\nallow-hosts = [\"a b\"]\nreason = \"x\"\n",
            "package[0].allow-hosts[0]",
        ),
    ] {
        let msg = Policy::default()
            .add_layer("bad.toml", bad)
            .expect_err(bad)
            .to_string();
        assert!(
            msg.contains("bad.toml:") && msg.contains(key),
            "{bad:?}: {msg}"
        );
    }
}

/// Every built-in hide rule is compared as bytes: a run compiles no glob set for them (one
/// costs a quarter of a million instructions at every start).
#[test]
fn the_built_in_hide_rules_need_no_glob_set() {
    let m = HideMatcher::new(&builtin().fs.hide);
    assert!(m.name_rules.is_empty() && m.path_rules.is_empty(), "{m:?}");
}

/// The byte comparisons for literal, suffix, prefix and nested-name globs agree with globset on every
/// built-in rule and on rules that still need globset, whichever comes first.
#[test]
fn simple_hide_globs_match_as_globset_does() {
    let mut p = builtin();
    p.add_overrides(&Overrides {
        hide: vec![
            "*.p?m".into(),
            "[ab].txt".into(),
            "*secret*".into(),
            "conf/*.ini".into(),
            "{x,y}.cfg".into(),
        ],
        ..Overrides::default()
    })
    .expect("valid");
    let matcher = HideMatcher::new(&p.fs.hide);
    let names = [
        ".env",
        ".env.local",
        "a.env",
        ".envrc",
        ".env2",
        "x.pem",
        ".pem",
        "pem",
        "id_rsa",
        "id_rsa.pub",
        "xid_rsa",
        "credentials.json",
        "credentials.json.bak",
        "main.tfvars",
        "a.txt",
        "c.txt",
        "my-secret-file",
        "x.cfg",
        "z.cfg",
        "x.pam",
        "package.json",
        "conf/a.ini",
        "other/conf/a.ini",
        "deep/dir/.netrc",
        "deep/dir/server.key",
        ".npmrc",
        "a/.npmrc",
        "a/b/.npmrc",
        "a/.npmrc.bak",
        "a/x.npmrc",
        ".yarnrc.yml",
        "packages/a/.yarnrc.yml",
        "packages/a/.yarnrc",
    ];
    for rel in names {
        let path = Path::new(rel);
        let expected = p.fs.hide.iter().position(|rule| {
            let m = rule.value.glob.compile_matcher();
            if rule.value.on_path {
                m.is_match(path)
            } else {
                path.file_name().is_some_and(|n| m.is_match(Path::new(n)))
            }
        });
        assert_eq!(matcher.first_match(path), expected, "{rel}");
    }
}

#[test]
fn an_exported_cache_needs_its_variable() {
    let mut p = Policy::default();
    let text = "[[fs.cache]]\npath = \"~/.cache/x\"\nexport = true\nreason = \"x\"\n";
    let msg = p
        .add_layer("p.toml", text)
        .expect_err("export without env")
        .to_string();
    assert!(
        msg.contains("p.toml:3") && msg.contains("fs.cache[0].export"),
        "{msg}"
    );
    let mut p = Policy::default();
    let text =
        "[[fs.cache]]\npath = \"~/.cache/x\"\nenv = \"X_CACHE\"\nexport = true\nreason = \"x\"\n";
    p.add_layer("p.toml", text).expect("valid");
    assert!(p.fs.cache[0].value.export);
}

#[test]
fn star_patterns_match_whole_names_in_either_case() {
    use super::star_match_ignore_case as m;
    for (pattern, name) in [
        ("NPM_TOKEN", "npm_token"),
        (
            "npm_config_//*",
            "NPM_CONFIG_//registry.example.com/:_authToken",
        ),
        ("*token*", "GITHUB_TOKEN_RO"),
        ("*_KEY", "aws_secret_access_key"),
        ("a*b*c", "aXbYbZc"),
        ("*", ""),
        ("**", "x"),
        ("a*", "a"),
    ] {
        assert!(m(pattern, name), "{pattern} should match {name}");
    }
    for (pattern, name) in [
        ("NPM_TOKEN", "NPM_TOKENS"),
        ("npm_config_//*", "npm_config_registry"),
        ("*_KEY", "KEY_ID"),
        ("a*b*c", "aXbYbZ"),
        ("a*", ""),
        ("", "a"),
        ("*token*", "TOKE"),
    ] {
        assert!(!m(pattern, name), "{pattern} should not match {name}");
    }
}
