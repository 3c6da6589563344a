//! ClientHello SNI extraction on arbitrary bytes: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safe_install::net::addr::HostKind;
use safe_install::net::sni::{parse_client_hello, sni_matches, Hello};

fuzz_target!(|data: &[u8]| {
    if let Hello::ClientHello { sni } = parse_client_hello(data) {
        let host = HostKind::Name("registry.example.com".into());
        let _ = sni_matches(sni.as_deref(), &host);
    }
});
