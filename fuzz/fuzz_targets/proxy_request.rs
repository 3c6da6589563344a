//! The proxy's request-head parser and decision on arbitrary bytes: no panic, and a request
//! the parser accepts is internally consistent (its head fits in the input, its target is
//! one the allow-list can print and re-parse).
#![no_main]

use libfuzzer_sys::fuzz_target;
use safe_install::net::addr::HostKind;
use safe_install::net::allow::{AllowList, Decision, RuleSource};
use safe_install::net::request::{evaluate, Evaluation, RequestKind, MAX_HEAD};
use std::sync::OnceLock;

fn allow() -> &'static AllowList {
    static ALLOW: OnceLock<AllowList> = OnceLock::new();
    ALLOW.get_or_init(|| {
        let mut l = AllowList::new();
        for r in [
            "registry.example.com:443",
            "*.cdn.example.net",
            "127.0.0.1:4873",
            "[::1]:4873",
            "localhost",
        ] {
            l.add(r, RuleSource::AllowHostFlag)
                .expect("fuzz allow rule");
        }
        l
    })
}

fuzz_target!(|data: &[u8]| {
    let allow = allow();
    if let Evaluation::Decided { head, decision } = evaluate(data, allow) {
        assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD);
        assert!(!data[..head.head_len].contains(&0));
        // The normal form round-trips: what the proxy logs and dials is what it checked.
        let shown = head.target.host.to_string();
        assert_eq!(
            HostKind::parse(&shown).as_ref(),
            Ok(&head.target.host),
            "{shown}"
        );
        if let RequestKind::Forward { upstream_head, .. } = &head.kind {
            assert!(!upstream_head.contains(&0));
            assert!(upstream_head.ends_with(b"Connection: close\r\n\r\n"));
        }
        if let Decision::Allow(rule) = decision {
            assert!(rule.matches(&head.target.host, head.target.port));
        }
    }
});
