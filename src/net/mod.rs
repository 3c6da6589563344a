//! Egress: the proxy and DNS stub the supervisor serves inside the sandbox's network namespace.
//!
//! The sandbox's network namespace has only `lo`. Its package manager reaches the registries
//! through [`proxy`], an HTTP/1.1 proxy whose listening socket lives inside the namespace while
//! the supervisor dials out from the host namespace, and only to destinations on the
//! allow-list (`policy::allow`, its host forms in `policy::addr`). Names are resolved by the
//! supervisor, never inside: [`dns`] answers every query at once with a refusal and logs the
//! name.
//!
//! - [`request`]: the pure request-head parser and decision (no I/O; fuzzed);
//! - [`sni`]: TLS ClientHello server-name extraction (pure);
//! - [`proxy`]: the accept loop, tunnels and forwarding;
//! - [`intercept`]: TLS termination for credentialed registries, the credential added;
//! - [`dns`]: the DNS stub.

pub mod dns;
pub mod intercept;
pub mod proxy;
pub mod request;
pub mod sni;

use crate::events::{Event, EventSink, ProcessId};
use std::net::SocketAddr;
use std::sync::Arc;

/// Who is behind a connection or datagram from inside the sandbox, as far as the supervisor
/// can tell (filled in by the caller's [`PeerLookup`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub pid: Option<ProcessId>,
    /// `name@version` of the package whose script made the request.
    pub package: Option<String>,
    /// The lifecycle script or build hook.
    pub script: Option<String>,
    pub argv: Option<Vec<String>>,
    /// The script's package directory, read by the supervisor when the script's shim
    /// registered (before any of the script ran); `None` when it did not. Per-package grants
    /// are keyed on it, never on a name.
    pub package_dir: Option<std::path::PathBuf>,
}

impl Attribution {
    /// Copy the attribution into an event.
    pub fn apply(self, event: &mut Event) {
        event.pid = self.pid;
        event.package = self.package;
        event.script = self.script;
        event.argv = self.argv;
    }
}

/// Maps the peer address of a connection (as seen inside the sandbox) to the process behind
/// it. Called once per event, on the thread serving the connection.
pub type PeerLookup = Arc<dyn Fn(SocketAddr) -> Option<Attribution> + Send + Sync>;

/// Emits events for one server, attributing them when a lookup is configured.
#[derive(Clone)]
pub(crate) struct Emitter {
    pub sink: EventSink,
    pub lookup: Option<PeerLookup>,
}

impl Emitter {
    /// Record an event; refusals are attributed (the lookup scans /proc, too costly for
    /// every allowed registry request).
    pub fn emit(&self, peer: SocketAddr, mut event: Event) {
        let attribute = event.verdict != crate::events::Verdict::Allowed;
        if let Some(who) = self
            .lookup
            .as_ref()
            .filter(|_| attribute)
            .and_then(|l| l(peer))
        {
            who.apply(&mut event);
        }
        self.sink.emit(event);
    }

    /// [`Emitter::emit`] for a request a script made by construction (the scripts' proxy
    /// port) or by the fail-closed rule: where attribution finds no script, the event says
    /// so rather than naming the package manager.
    pub fn emit_as_script(&self, peer: SocketAddr, mut event: Event) {
        let who = self.lookup.as_ref().and_then(|l| l(peer));
        match who {
            Some(who) if who.script.is_some() => who.apply(&mut event),
            other => {
                if let Some(who) = other {
                    event.pid = who.pid;
                    event.argv = who.argv;
                }
                event.package = None;
                event.script = Some(crate::events::UNATTRIBUTED.into());
            }
        }
        self.sink.emit(event);
    }
}
