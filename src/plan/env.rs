//! The scrubbed environment: an allow-list by name, minus anything that looks like a secret
//! (by name, or a URL value carrying credentials) unless it was named exactly.

use crate::policy::EnvPolicy;
use std::ffi::{OsStr, OsString};

/// Why a variable stayed outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// No pass rule names it.
    NotAllowed,
    /// A secret pattern matched (the pattern's text).
    SecretName(String),
    /// Its value is a URL with a user name or password in it.
    CredentialUrl,
    /// Not valid UTF-8, or the name contains `=`.
    Malformed,
}

#[derive(Debug, Clone, Default)]
pub struct EnvPlan {
    /// What the command starts with, in the caller's order.
    pub pass: Vec<(OsString, OsString)>,
    /// Names only, never values.
    pub dropped: Vec<(String, DropReason)>,
}

/// Filter the caller's environment through the policy, then add `set` entries and `fixed`
/// values that safe-install itself decides (HOME, TMPDIR, proxy settings), which win.
pub fn scrub(
    policy: &EnvPolicy,
    caller: &[(OsString, OsString)],
    fixed: &[(&str, OsString)],
) -> EnvPlan {
    let mut plan = EnvPlan::default();
    for (name, value) in caller {
        let Some(name_str) = name.to_str().filter(|n| !n.contains('=') && !n.is_empty()) else {
            plan.dropped
                .push((name.to_string_lossy().into_owned(), DropReason::Malformed));
            continue;
        };
        if overridden(name_str, fixed) || policy.set.iter().any(|e| e.value.0 == name_str) {
            continue;
        }
        match decide(policy, name_str, value) {
            Ok(()) => plan.pass.push((name.clone(), value.clone())),
            Err(reason) => plan.dropped.push((name_str.to_string(), reason)),
        }
    }
    for entry in &policy.set {
        plan.pass
            .push((entry.value.0.clone().into(), entry.value.1.clone().into()));
    }
    for (name, value) in fixed {
        plan.pass.push((OsString::from(name), value.clone()));
    }
    plan.dropped.sort_by(|a, b| a.0.cmp(&b.0));
    plan
}

/// Whether safe-install sets this variable itself: the same name, or another spelling of the
/// same npm setting (`NPM_CONFIG_GIT` for `npm_config_git`). npm reads every spelling and the
/// last one it meets wins, so the caller's must not pass beside safe-install's.
fn overridden(name: &str, fixed: &[(&str, OsString)]) -> bool {
    if fixed.iter().any(|(n, _)| *n == name) {
        return true;
    }
    let Some(key) = crate::pm::npm::config::env_key(name) else {
        return false;
    };
    fixed
        .iter()
        .any(|(n, _)| crate::pm::npm::config::env_key(n).as_deref() == Some(key.as_str()))
}

fn decide(policy: &EnvPolicy, name: &str, value: &OsStr) -> Result<(), DropReason> {
    let exact = policy.pass.iter().any(|e| e.value.is_exact(name));
    if exact {
        return Ok(());
    }
    if !policy.pass.iter().any(|e| e.value.matches(name)) {
        return Err(DropReason::NotAllowed);
    }
    if let Some(secret) = policy.secret.iter().find(|e| e.value.matches(name)) {
        return Err(DropReason::SecretName(secret.value.to_string()));
    }
    if value.to_str().is_some_and(url_has_credentials) {
        return Err(DropReason::CredentialUrl);
    }
    Ok(())
}

/// `scheme://user:secret@host/...` or `scheme://token@host/...` anywhere in the value.
fn url_has_credentials(value: &str) -> bool {
    value.split_whitespace().any(|word| {
        word.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && {
                    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                    authority.contains('@')
                }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{builtin, Overrides, Policy};

    fn policy(extra_allow: &[&str]) -> Policy {
        let mut p = Policy::default();
        p.add_layer("base", builtin::BASE.1).expect("base");
        p.add_layer("npm", builtin::NPM.1).expect("npm");
        p.add_layer("pip", builtin::PIP.1).expect("pip");
        p.add_overrides(&Overrides {
            allow_env: extra_allow.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        })
        .expect("flags");
        p
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn passed(plan: &EnvPlan) -> Vec<String> {
        plan.pass
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn secrets_never_enter_and_names_are_reported() {
        let caller = env(&[
            ("PATH", "/usr/bin"),
            ("NPM_TOKEN", "t"),
            ("GITHUB_TOKEN", "t"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("DATABASE_URL", "postgres://u:p@db/x"),
            ("npm_config_loglevel", "warn"),
            ("npm_config__authToken", "t"),
            ("npm_config_registry", "https://registry.example.com/"),
            (
                "PIP_INDEX_URL",
                "https://user:tok@registry.example.com/simple",
            ),
            ("HTTPS_PROXY", "http://proxy.example.com:3128"),
            ("no_proxy", "localhost"),
            ("SSL_CERT_FILE", "/etc/ssl/certs/ca.pem"),
            ("NODE_EXTRA_CA_CERTS", "/etc/ssl/corp.pem"),
            ("LC_ALL", "C.UTF-8"),
            ("RANDOM_THING", "x"),
        ]);
        let plan = scrub(&policy(&[]).env, &caller, &[("HOME", "/home/u".into())]);
        let names = passed(&plan);
        for allowed in [
            "PATH",
            "npm_config_loglevel",
            "npm_config_registry",
            "SSL_CERT_FILE",
            "NODE_EXTRA_CA_CERTS",
            "LC_ALL",
            "HOME",
        ] {
            assert!(
                names.iter().any(|n| n == allowed),
                "{allowed} missing: {names:?}"
            );
        }
        for secret in [
            "NPM_TOKEN",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DATABASE_URL",
            "npm_config__authToken",
            "PIP_INDEX_URL",
            "HTTPS_PROXY",
            "no_proxy",
            "RANDOM_THING",
        ] {
            assert!(!names.iter().any(|n| n == secret), "{secret} leaked");
            assert!(
                plan.dropped.iter().any(|(n, _)| n == secret),
                "{secret} not reported"
            );
        }
        let why = |n: &str| {
            plan.dropped
                .iter()
                .find(|(d, _)| d == n)
                .map(|(_, r)| r.clone())
        };
        assert_eq!(why("PIP_INDEX_URL"), Some(DropReason::CredentialUrl));
        assert_eq!(why("RANDOM_THING"), Some(DropReason::NotAllowed));
        assert!(matches!(why("NPM_TOKEN"), Some(DropReason::NotAllowed)));
        assert!(matches!(
            why("npm_config__authToken"),
            Some(DropReason::SecretName(_))
        ));
    }

    #[test]
    fn an_exact_allow_admits_a_secret_looking_name() {
        let caller = env(&[("NODE_AUTH_TOKEN", "t"), ("OTHER_TOKEN", "t")]);
        let plan = scrub(&policy(&["NODE_AUTH_TOKEN"]).env, &caller, &[]);
        let names = passed(&plan);
        assert!(names.contains(&"NODE_AUTH_TOKEN".to_string()));
        assert!(!names.contains(&"OTHER_TOKEN".to_string()));
    }

    #[test]
    fn fixed_values_replace_the_callers() {
        let caller = env(&[("HOME", "/root"), ("PYTHONNOUSERSITE", "")]);
        let plan = scrub(&policy(&[]).env, &caller, &[("HOME", "/home/u".into())]);
        let home: Vec<_> = plan.pass.iter().filter(|(k, _)| k == "HOME").collect();
        assert_eq!(home.len(), 1);
        assert_eq!(home[0].1, "/home/u");
        assert!(plan
            .pass
            .iter()
            .any(|(k, v)| k == "PYTHONNOUSERSITE" && v == "1"));
    }

    #[test]
    fn credential_urls_are_recognised() {
        assert!(url_has_credentials(
            "https://u:p@registry.example.com/simple"
        ));
        assert!(url_has_credentials("https://tok@registry.example.com/"));
        assert!(!url_has_credentials("https://registry.example.com/a@b"));
        assert!(!url_has_credentials("user@example.com"));
    }

    #[test]
    fn other_spellings_of_a_setting_safe_install_pins_do_not_pass() {
        let caller = env(&[
            ("NPM_CONFIG_GIT", "./evil.sh"),
            ("npm_config_script-shell", "/bin/sh"),
            ("npm_config_registry", "http://127.0.0.1:1/"),
        ]);
        let fixed = [
            ("npm_config_git", OsString::from("/usr/bin/git")),
            ("npm_config_script_shell", OsString::from("/shim")),
        ];
        let plan = scrub(&policy(&[]).env, &caller, &fixed);
        let npm: Vec<String> = passed(&plan)
            .into_iter()
            .filter(|n| n.to_ascii_lowercase().starts_with("npm_config_"))
            .collect();
        assert_eq!(
            npm,
            [
                "npm_config_registry",
                "npm_config_git",
                "npm_config_script_shell"
            ]
        );
    }
}
