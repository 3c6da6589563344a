//! Stable kebab-case codes for the `reason` field. Users match on these in CI scripts,
//! so a code is never renamed or reused; add new ones at the end.

use serde::Serialize;

macro_rules! reasons {
    ($($variant:ident => $code:literal : $doc:literal,)*) => {
        /// Why the sandbox decided what it did.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $(#[doc = $doc] $variant,)*
        }

        impl Reason {
            /// Every code, in declaration order (README table, uniqueness test).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The stable code written to the log.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// One sentence for humans.
            pub fn describe(self) -> &'static str {
                match self { $(Reason::$variant => $doc,)* }
            }
        }
    };
}

reasons! {
    SandboxFull => "sandbox-full": "The sandbox started with every layer: namespaces, mounts, Landlock and seccomp.",
    LandlockPartial => "landlock-partial": "The kernel enforces only part of the requested Landlock rules.",
    LandlockUnavailable => "landlock-unavailable": "The kernel does not enforce Landlock; only the mount view protects files.",
    HiddenFile => "hidden-file": "The file matches a hide rule and is replaced by an empty read-only file.",
    CredentialPath => "credential-path": "The path is a credential file of the real home directory.",
    OutsideView => "outside-view": "The path is not part of the sandbox's filesystem view.",
    ReadOnlyPath => "read-only-path": "The path is visible but read-only in the sandbox.",
    EgressNotAllowed => "egress-not-allowed": "The destination is not on the egress allow-list.",
    DirectConnect => "direct-connect": "A direct connection bypassing the proxy; the network namespace has no route out.",
    PrivateAddress => "private-address": "The name resolves to a loopback, private, link-local or metadata address no rule names.",
    SniMismatch => "sni-mismatch": "The TLS server name differs from the CONNECT host (domain fronting).",
    MalformedRequest => "malformed-request": "The proxy request is malformed or smuggles data (NUL, CR/LF, userinfo, Host mismatch, oversize).",
    IpLiteral => "ip-literal": "An IP literal no rule names explicitly.",
    DnsQuery => "dns-query": "A DNS query from inside the sandbox; names are resolved by the proxy, never inside.",
    RegistryRequest => "registry-request": "A request to a registry derived from the package manager's configuration.",
    PolicyAllowHost => "policy-allow-host": "A request allowed by a policy or --allow-host rule.",
    RawSocket => "raw-socket": "Raw and packet sockets are refused.",
    EnvDropped => "env-dropped": "An environment variable that is not on the allow-list was dropped.",
    EnvSecret => "env-secret": "An environment variable whose name looks like a secret was dropped.",
    OtherProcess => "other-process": "Another process's environment or memory (/proc/<pid>/environ, mem); scripts cannot read the package manager's.",
    ScriptOffline => "script-offline": "Lifecycle scripts and build backends have no network unless --scripts-network registry or a [[package]] grant allows it.",
    SandboxDegraded => "sandbox-degraded": "The sandbox runs in landlock mode (no namespaces); the event's detail lists every guarantee that is weaker.",
    UdpSocket => "udp-socket": "A UDP socket (DNS included) was refused: landlock mode has no network namespace and Landlock does not cover UDP.",
    PlantedExecutable => "planted-executable": "The package manager named on the command line resolves to a file where package code can write (node_modules, the project); nothing ran.",
    CredentialMisuse => "credential-misuse": "A registry credential's placeholder was sent somewhere its credential does not belong (another host, port, scheme or registry path, or by a lifecycle script); the request was refused and never forwarded.",
    UpstreamTls => "upstream-tls": "The TLS connection to a registry whose requests carry a credential failed (its certificate does not verify against the system roots or the configured CA); nothing was sent.",
    InboundSocket => "inbound-socket": "A listening socket on a non-loopback address (or an unbound one, which the kernel would bind to the wildcard address) was refused in landlock mode: it would accept connections from outside.",
    UnixSocket => "unix-socket": "A unix socket by path or abstract name that nothing inside the sandbox serves: the host's (ssh-agent, docker, dbus) are out of reach.",
    TerminalInjection => "terminal-injection": "TIOCSTI or TIOCLINUX: typing into a terminal, refused.",
    ControllingTerminal => "controlling-terminal": "/dev/tty, the terminal of whoever runs the install: nothing inside has one, and opening it is refused.",
    DaemonKilled => "daemon-killed": "A process still running when the command ended (a daemon left behind) was killed with the sandbox.",
    Planted => "planted": "Found at the end of the run: package code left something that runs later (a .pth with an import line, sitecustomize/usercustomize, a .bin or console-script entry that is not its package's, a file written outside its own folder and the install tree).",
    PthInstalled => "pth-installed": "The package manager installed a .pth file with an import line from a wheel: it runs at every later start of that Python.",
    GitConfigApplied => "git-config-applied": "Found at the end of the run: the root project's own scripts set core.hooksPath to a directory inside the project, and safe-install wrote it to .git/config (husky).",
    GitConfigRefused => "git-config-refused": "The root project's own scripts changed git's configuration in a way safe-install does not carry over to .git/config (any key but core.hooksPath, or a hooks path outside the project, in .git or node_modules); the real file is unchanged.",
    NotApproved => "not-approved": "A dependency's install script ran although the package manager's own approval list (npm's allowScripts, pnpm's allowBuilds, yarn's dependenciesMeta built) does not approve it, as safe-install read that list; it ran at trust level 2 all the same (verdict degraded).",
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = HashSet::new();
        for r in Reason::ALL {
            let code = r.code();
            assert!(seen.insert(code), "duplicate reason code {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !code.starts_with('-')
                    && !code.ends_with('-')
                    && !code.contains("--"),
                "{code} is not kebab-case"
            );
        }
    }
}
