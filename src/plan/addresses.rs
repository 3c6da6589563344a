//! The sandbox's fixed network addresses. They are part of the plan (the environment and the
//! Landlock TCP rules name them); `sandbox::egress` binds them inside the network namespace.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Where the HTTP proxy listens inside the sandbox, for the package manager (trust level 1).
pub const PROXY: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3128);
/// Where the proxy listens for lifecycle scripts and build backends (trust level 2). Their
/// nested Landlock domain may connect to this port and the DNS stub's only (TCP rules, ABI 4),
/// so which port a request arrives on says which level made it: the kernel decides, not
/// process-tree attribution.
pub const SCRIPT_PROXY: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3129);
/// Where the DNS stub listens inside the sandbox (UDP and TCP).
pub const DNS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 53);

/// The proxy URL clients inside are given.
pub fn proxy_url() -> String {
    format!("http://{PROXY}")
}

/// The proxy URL lifecycle scripts and build backends are given.
pub fn script_proxy_url() -> String {
    format!("http://{SCRIPT_PROXY}")
}
