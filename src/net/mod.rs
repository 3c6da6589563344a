//! Egress: the proxy and DNS stub the supervisor serves inside the sandbox's network namespace.
//!
//! The sandbox's network namespace has only `lo`. Its package manager reaches the registries
//! through [`proxy`], an HTTP/1.1 proxy whose listening socket lives inside the namespace while
//! the supervisor dials out from the host namespace, and only to destinations on the
//! [`allow`] list. Names are resolved by the supervisor, never inside: [`dns`] answers every
//! query at once with a refusal and logs the name.
//!
//! - [`addr`]: one normal form for hosts (every IP notation), address classification;
//! - [`allow`]: the allow-list, its rules and their sources, decisions with hints;
//! - [`request`]: the pure request-head parser and decision (no I/O; fuzzed);
//! - [`sni`]: TLS ClientHello server-name extraction (pure);
//! - [`proxy`]: the accept loop, tunnels and forwarding;
//! - [`dns`]: the DNS stub.

pub mod addr;
pub mod allow;
pub mod request;
pub mod sni;
