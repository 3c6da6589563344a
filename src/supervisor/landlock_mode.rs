//! Starting landlock mode: the proxy listens on the host's loopback, the child is forked
//! (no namespaces) and runs `sandbox::pipeline::landlock_mode`, restricting itself with the
//! plan's view as Landlock rules and a notify filter whose listener the supervisor serves
//! with `observe::connect` (every permitted connect is made on the sandbox's behalf).

use super::{Pipes, SupervisorError};
use crate::events::{Action, Event, EventSink, Reason, Verdict};
use crate::plan::{HostPlaces, Plan};
use crate::sandbox::pipeline::landlock_mode::{child_main, Setup};
use crate::sandbox::report::Stage;
use crate::sandbox::seccomp;
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, ForkResult, Pid};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// What landlock mode uses on the host, made before the plan is built (the plan names these
/// places) and kept until the run is over.
pub struct Host {
    proxy: Option<TcpListener>,
    port: u16,
    tmp: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Host {
    /// Bind the proxy's listener on the host's loopback (an ephemeral port) and make the
    /// private TMPDIR and configuration directories.
    pub fn new() -> std::io::Result<Host> {
        let proxy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        // Clients reach this listener over the host's loopback: a hop that, like the
        // sandbox's, never leaves the machine, so it gains nothing from pacing either.
        crate::sandbox::egress::unpaced(&proxy);
        let port = proxy.local_addr()?.port();
        let tmp = tempfile::Builder::new()
            .prefix("safe-install-tmp-")
            .tempdir()?;
        let config = tempfile::Builder::new()
            .prefix("safe-install-config-")
            .tempdir()?;
        Ok(Host {
            proxy: Some(proxy),
            port,
            tmp,
            config,
        })
    }

    /// The places, for the plan.
    pub fn places(&self) -> HostPlaces {
        HostPlaces {
            proxy: SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port),
            tmp: self.tmp.path().to_path_buf(),
            config: self.config.path().to_path_buf(),
        }
    }
}

/// The forked child, seen from the supervisor.
pub struct Child {
    pub(super) pid: Pid,
    host: Host,
    who: Arc<crate::observe::attribution::Attributor>,
    proxy: Option<crate::net::proxy::ProxyHandle>,
    notifier_done: Option<std::sync::mpsc::Receiver<()>>,
}

/// Prepare the host side (the generated files, npm's install tree, the rules and filters)
/// and fork the child.
pub(crate) fn start(plan: &Plan, host: Host) -> Result<(Child, Pipes), SupervisorError> {
    let places = host.places();
    for (path, text) in crate::plan::mode::host_files(plan, &places) {
        std::fs::write(path, text)?;
    }
    if let Some(tree) = plan.manager.install_tree(&plan.project) {
        // The project root usually holds a hidden .env and so accepts no new entries: the
        // install's output directory must exist before the rules are taken.
        if !tree.exists() {
            std::fs::create_dir(&tree)?;
        }
    }
    let layer = crate::sandbox::landlock::host_view::layer(plan, &places.tmp);
    let setup_error = |e: &dyn std::fmt::Display| SupervisorError::Setup {
        stage: Stage::SeccompCompile,
        errno: None,
        detail: e.to_string(),
    };
    let deny = seccomp::compile(&plan.seccomp_deny, seccomp::TtyIoctls::Refuse)
        .map_err(|e| setup_error(&e))?;
    let notify =
        seccomp::compile_notify(seccomp::Observe::ConnectOnBehalf).map_err(|e| setup_error(&e))?;
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let (alive_r, alive_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;

    // No thread has been started yet (callers guarantee it, as for the full sandbox's
    // clone; `fork` checks it).
    let pid = match crate::sys::process::fork().map_err(std::io::Error::from)? {
        ForkResult::Child => {
            drop(report_r);
            drop(alive_w);
            // The proxy's listening socket is the supervisor's alone.
            if let Some(proxy) = &host.proxy {
                crate::sys::fd::close_inherited(proxy.as_raw_fd());
            }
            let setup = Setup {
                plan,
                layer: &layer,
                deny: &deny,
                notify: &notify,
                report: report_w,
                alive: alive_r,
            };
            child_main(&setup)
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_w);
    drop(alive_r);
    let pipes = Pipes {
        reports: report_r,
        alive: alive_w,
    };
    let child = Child {
        pid,
        host,
        who: Arc::new(crate::observe::attribution::Attributor::new(pid.as_raw())),
        proxy: None,
        notifier_done: None,
    };
    Ok((child, pipes))
}

impl Child {
    /// Serve the proxy on the host's loopback. No shim registers scripts here: every request
    /// is attributed (`active` stays None).
    pub(super) fn serve(
        &mut self,
        allow: crate::policy::allow::AllowList,
        scripts: Option<crate::net::proxy::ScriptEgress>,
        vault: Arc<crate::creds::Vault>,
        sink: &EventSink,
    ) -> Result<(), SupervisorError> {
        let Some(listener) = self.host.proxy.take() else {
            return Ok(());
        };
        let lookup_who = Arc::clone(&self.who);
        let mut cfg = crate::net::proxy::ProxyConfig::new(allow);
        cfg.vault = vault;
        cfg.peer_lookup = Some(Arc::new(move |peer| lookup_who.of_peer(peer, false)));
        cfg.scripts = scripts.map(|mut s| {
            s.active = None;
            s
        });
        self.proxy = Some(crate::net::proxy::spawn_proxy(
            listener,
            Arc::new(cfg),
            sink.clone(),
        )?);
        Ok(())
    }

    /// Copy the notify listener out of the child (pidfd_getfd: sending it over a socket
    /// would itself be a notified syscall in the child) and answer it.
    pub(super) fn copy_handles(
        &self,
        listener: Option<i32>,
    ) -> Result<Option<OwnedFd>, SupervisorError> {
        Ok(listener
            .map(|fd| crate::sys::fd::copy_fd(self.pid, fd))
            .transpose()?)
    }

    /// Serve the copied listener (connect on behalf of the command).
    pub(super) fn observe(
        &mut self,
        listener: Option<OwnedFd>,
        sink: &EventSink,
    ) -> Result<(), SupervisorError> {
        let Some(listener) = listener else {
            return Ok(());
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let proxy = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.host.port);
        let handle = crate::observe::connect::spawn(
            listener.into(),
            proxy,
            sink.clone(),
            Arc::clone(&self.who),
        )?;
        std::thread::spawn(move || {
            let _ = handle.join();
            let _ = tx.send(());
        });
        self.notifier_done = Some(rx);
        Ok(())
    }

    /// Landlock is in place: say what this mode gives up.
    pub(super) fn landlock_applied(&self, sink: &EventSink, abi: i32) {
        record_degraded(sink, abi, self.host.port);
    }

    /// Once the command has exited. The listener hangs up once every process under the
    /// filter is gone; a survivor (possible only if the reaper itself was killed) must not
    /// hold up the exit.
    pub(super) fn finish(self) {
        if let Some(done) = &self.notifier_done {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
        drop(self.proxy);
        drop(self.host);
    }
}

/// The `degraded` event and its stderr form.
fn record_degraded(sink: &EventSink, abi: i32, proxy_port: u16) {
    let list = crate::plan::mode::weaker(abi, nix::unistd::geteuid().is_root());
    // The full list is in the event, which the summary prints at exit; say it up front too,
    // before the command's own output.
    eprintln!(
        "safe-install: landlock mode: no namespaces (proxy on 127.0.0.1:{proxy_port}); {} guarantees are weaker than the full sandbox's, listed in the summary and by `safe-install doctor`",
        list.len()
    );
    sink.emit(
        Event::new(
            Action::Sandbox,
            Verdict::Degraded,
            "mode: landlock",
            Reason::SandboxDegraded,
        )
        .with_detail(list.join("; ")),
    );
}
