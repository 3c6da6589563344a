//! The DNS stub's answer to arbitrary packets: no panic, and every answer is a REFUSED
//! response echoing the query id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safe_install::net::dns::answer;

fuzz_target!(|data: &[u8]| {
    if let Some(a) = answer(data) {
        assert!(a.response.len() >= 12);
        assert_eq!(a.response[..2], data[..2]);
        assert_eq!(a.response[3] & 0x0f, 5, "rcode REFUSED");
    }
});
