//! Starting the full sandbox: `clone` into new user and pid namespaces before planning and
//! before any thread exists, so the child may run ordinary code ([`Early`]); the child,
//! running `sandbox::pipeline::full`, creates its other namespaces and then waits for its
//! part of the plan (`Early::send`). Then serving it: the egress sockets it hands out, the
//! seccomp listener and control socket it reports, the processes it leaves.

use super::{egress, leftovers, userns_fix, Pipes, SupervisorError};
use crate::events::EventSink;
use crate::observe::files::FileRules;
use crate::observe::notifier::{self, Observer, Scope};
use crate::plan::{IdMap, Plan};
use crate::sandbox::pipeline::full::{child_main, ChildFds, CLONE_NAMESPACES};
use nix::fcntl::OFlag;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::{pipe2, Pid};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

const CHILD_STACK: usize = 1 << 20;

/// The cloned sandbox, seen from the supervisor.
pub struct Child {
    pub(super) pid: Pid,
    egress: OwnedFd,
    leftovers: Option<OwnedFd>,
    /// Where the child built its root, when that is a temporary directory of ours.
    staging: Option<tempfile::TempDir>,
    observer: Option<Arc<Observer>>,
    servers: Option<egress::Servers>,
    notifier: Option<std::thread::JoinHandle<()>>,
    /// Closed to stop the notifier of init's filter once init has said that nothing else
    /// is left (its listener would only hang up once init is reaped).
    notifier_stop: Option<OwnedFd>,
    /// Init reported its exit status once everything else was gone and may still be tearing
    /// its namespaces down: not waited for (see [`Child::wait_exit`]).
    unreaped: bool,
}

fn unix_pair() -> Result<(OwnedFd, OwnedFd), SupervisorError> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?)
}

/// The sandbox's child, cloned before the plan exists: it creates its namespaces while the
/// supervisor plans (`sandbox::pipeline::full`), then waits for `Early::send`. Dropped
/// unsent (planning failed, or another mode was chosen), it is killed and reaped.
pub struct Early {
    started: Option<Started>,
}

struct Started {
    pid: Pid,
    ids: IdMap,
    plan: OwnedFd,
    pipes: Pipes,
    egress: OwnedFd,
    leftovers: OwnedFd,
}

impl Early {
    /// Clone the child into a new user and pid namespace, with the ids the plan will hold.
    /// Callers guarantee no thread exists yet (`clone` checks it): the child runs ordinary
    /// code, allocation included, on a copy of this process.
    pub fn clone(ids: IdMap) -> Result<Early, SupervisorError> {
        let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let (alive_r, alive_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let (plan_r, plan_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let (egress_parent, egress_child) = unix_pair()?;
        let (leftovers_parent, leftovers_child) = unix_pair()?;
        let child_fds = ChildFds {
            report: report_w,
            alive: alive_r,
            egress: egress_child,
            leftovers: leftovers_child,
            plan: plan_r,
        };
        let parent_only = [
            report_r.as_raw_fd(),
            alive_w.as_raw_fd(),
            plan_w.as_raw_fd(),
            egress_parent.as_raw_fd(),
            leftovers_parent.as_raw_fd(),
        ];
        let cpus = nix::sched::sched_getaffinity(Pid::from_raw(0)).ok();
        let mut stack = vec![0u8; CHILD_STACK];
        let callback = Box::new(|| -> isize {
            for fd in parent_only {
                // The child's copies of descriptors only the supervisor uses.
                crate::sys::fd::close_inherited(fd);
            }
            child_main(&ids, cpus.as_ref(), &child_fds)
        });
        let pid = crate::sys::process::clone(callback, &mut stack, CLONE_NAMESPACES);
        drop(child_fds);
        if let (Ok(pid), Some(cpus)) = (&pid, &cpus) {
            keep_off_this_cpu(*pid, cpus);
        }
        let pid = match pid {
            Ok(pid) => pid,
            Err(crate::sys::process::SpawnError::Sys(e)) => {
                return Err(SupervisorError::Unsupported {
                    detail: format!("clone with new namespaces failed: {}", e.desc()),
                    fix: userns_fix(),
                })
            }
            Err(e) => return Err(std::io::Error::from(e).into()),
        };
        Ok(Early {
            started: Some(Started {
                pid,
                ids,
                plan: plan_w,
                pipes: Pipes {
                    reports: report_r,
                    alive: alive_w,
                },
                egress: egress_parent,
                leftovers: leftovers_parent,
            }),
        })
    }

    /// Send the child its part of `plan` and return it as the started sandbox. On an error
    /// the child is killed and reaped (as `self` drops).
    pub(crate) fn send(mut self, plan: &Plan) -> Result<(Child, Pipes), SupervisorError> {
        if self.started.as_ref().is_some_and(|s| s.ids != plan.ids) {
            // Both come from the caller's uid and gid; a difference is a bug, and the child
            // has already written its maps.
            return Err(SupervisorError::Setup {
                stage: crate::sandbox::report::Stage::IdMap,
                errno: None,
                detail: "the plan's ids differ from the ones the sandbox was started with".into(),
            });
        }
        // Where the child builds the new root: an existing directory it may cover in its own
        // mount namespace (nothing on the host changes, so a SIGKILL at any moment leaves
        // nothing behind); a temporary directory only when every candidate holds a bind
        // source.
        let (staging_path, staging) = match crate::sandbox::mounts::staging_in_place(plan) {
            Some(dir) => (dir, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix(".safe-install-root-")
                    .tempdir()?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let Some(started) = self.started.take() else {
            return Err(
                std::io::Error::other("the sandbox's child was already sent its plan").into(),
            );
        };
        let message = crate::sandbox::child_plan::encode(plan, &staging_path);
        // A child that failed before reading has closed its end (EPIPE): its report says why.
        let _ = std::fs::File::from(started.plan).write_all(&message);
        let child = Child {
            pid: started.pid,
            egress: started.egress,
            leftovers: Some(started.leftovers),
            staging,
            observer: None,
            servers: None,
            notifier: None,
            notifier_stop: None,
            unreaped: false,
        };
        Ok((child, started.pipes))
    }
}

impl Drop for Early {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            kill_and_reap(started.pid);
        }
    }
}

/// Fill `buf` from `fd`; false at EOF or on an error.
fn read_exact(fd: &OwnedFd, buf: &mut [u8]) -> bool {
    let mut at = 0;
    while at < buf.len() {
        match nix::unistd::read(fd, &mut buf[at..]) {
            Ok(0) => return false,
            Ok(n) => at += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Move the just-cloned `child` to the caller's other CPUs while this process plans. The
/// kernel leaves a new task on its parent's CPU (on this project's 2-CPU test VM it then
/// waited about a millisecond, the whole planning, while the other CPU idled); the child's
/// setup and the planning are meant to run side by side. The child takes `allowed` back once
/// it has the plan (step `cpus`). Nothing to do with a single allowed CPU; a refusal only
/// costs the overlap.
fn keep_off_this_cpu(child: Pid, allowed: &nix::sched::CpuSet) {
    let Ok(here) = nix::sched::sched_getcpu() else {
        return;
    };
    let mut others = *allowed;
    if others.unset(here).is_err() {
        return;
    }
    let any = (0..nix::sched::CpuSet::count()).any(|c| others.is_set(c).unwrap_or(false));
    if any {
        let _ = nix::sched::sched_setaffinity(child, &others);
    }
}

fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Init's listener and control socket, copied into the supervisor.
#[derive(Default)]
pub(super) struct Handles {
    listener: Option<OwnedFd>,
    control: Option<OwnedFd>,
}

impl Child {
    /// Serve egress before anything inside can need it (if setup failed before the sockets
    /// were sent, the report says why), and the processes left at the end.
    pub(super) fn serve(
        &mut self,
        plan: &Plan,
        allow: crate::policy::allow::AllowList,
        scripts: Option<crate::net::proxy::ScriptEgress>,
        vault: Arc<crate::creds::Vault>,
        sink: &EventSink,
        planted: &Arc<crate::observe::planted::Observed>,
    ) -> Result<(), SupervisorError> {
        let who = Arc::new(
            crate::observe::attribution::Attributor::new(self.pid.as_raw())
                .with_lockfile(&plan.lockfile)
                .with_approvals(plan.approvals.as_ref(), &plan.project),
        );
        let observer = Arc::new(Observer {
            sink: sink.clone(),
            who: Arc::clone(&who),
            files: Arc::new(FileRules::from_plan(plan)),
            generic: !plan.manager.is_package_manager(),
            scripts_alive: Arc::default(),
            seen: std::sync::Mutex::default(),
            planted: Arc::clone(planted),
        });
        // With a shim (script shell, python shim), every script or build backend registers
        // before it runs: until one has, every proxy request is the package manager's and
        // needs no attribution.
        let scripts = scripts.map(|mut s| {
            if plan.script.is_some() || plan.python.is_some() {
                s.active = Some(Arc::clone(&observer.scripts_alive));
            }
            s
        });
        self.servers = match egress::receive(&self.egress)? {
            Some(sockets) => Some(egress::serve(
                sockets,
                allow,
                scripts,
                vault,
                egress::scripts_kept_out(),
                sink,
                who,
            )?),
            None => None,
        };
        self.observer = Some(observer);
        Ok(())
    }

    /// The view is built; the staging directory is no longer a mount point anywhere. Remove
    /// it now so a later SIGKILL leaves nothing.
    pub(super) fn ready(&mut self) {
        if let Some(dir) = self.staging.take() {
            let _ = dir.close();
        }
    }

    /// Copy init's listener and control socket (pidfd_getfd). Init waits until this is done
    /// (the copy needs it dumpable); serving them ([`Child::observe`]) comes after its ack,
    /// off the sandbox's start-up path: notifications wait in the kernel until then.
    pub(super) fn copy_handles(
        &self,
        listener: Option<i32>,
        control: Option<i32>,
    ) -> Result<Handles, SupervisorError> {
        use crate::sys::fd::copy_fd;
        if self.observer.is_none() {
            return Ok(Handles::default());
        }
        Ok(Handles {
            control: control.map(|fd| copy_fd(self.pid, fd)).transpose()?,
            listener: listener.map(|fd| copy_fd(self.pid, fd)).transpose()?,
        })
    }

    /// Serve the copied listener and control socket.
    pub(super) fn observe(&mut self, handles: Handles) -> Result<(), SupervisorError> {
        let Some(observer) = &self.observer else {
            return Ok(());
        };
        if let Some(control) = handles.control {
            crate::observe::control::spawn(control, Arc::clone(observer))?;
        }
        let Some(listener) = handles.listener else {
            return Ok(());
        };
        let scope = Scope::Sandbox {
            generic: observer.generic,
        };
        let (stop_r, stop_w) = pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        self.notifier = Some(notifier::spawn(
            listener.into(),
            Arc::clone(observer),
            scope,
            Some(stop_r),
        )?);
        self.notifier_stop = Some(stop_w);
        Ok(())
    }

    /// Wait until init has ended the sandbox, answering its question about processes left
    /// behind (`leftovers`) meanwhile, and return its status. On this thread: a thread of its
    /// own cost more than the question, asked in few runs.
    ///
    /// Init ends by saying that every other process is killed and reaped, with the status it
    /// exits with ([`init::all_gone`](crate::sandbox::init::all_gone)). Nothing in the
    /// sandbox runs code after that, so its exit, which tears the namespaces down (about half
    /// a millisecond), is not waited for: the egress servers stop meanwhile, and init is
    /// reaped at [`Child::finish`] if it is gone by then (else by the system's reaper once
    /// safe-install exits). Without that message (init killed, a channel error), the status
    /// is the kernel's, from the wait.
    pub(super) fn wait_exit(&mut self) -> Result<i32, SupervisorError> {
        use crate::sandbox::init::{ALL_GONE, LEFTOVERS};
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let channel = self.leftovers.take();
        if let (Some(channel), Some(observer)) = (channel, &self.observer) {
            let init = crate::sys::fd::PidFd::open(self.pid)?;
            loop {
                let mut fds = [
                    PollFd::new(init.as_fd(), PollFlags::POLLIN),
                    PollFd::new(channel.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(std::io::Error::from(e).into()),
                }
                if fds[0].any().unwrap_or(true) || !fds[1].any().unwrap_or(false) {
                    break;
                }
                let mut said = [0u8; 1];
                match nix::unistd::read(&channel, &mut said) {
                    Ok(1) if said[0] == LEFTOVERS => leftovers::answer(&channel, observer),
                    Ok(1) if said[0] == ALL_GONE => {
                        if let Some(servers) = &self.servers {
                            servers.begin_stop();
                        }
                        // Nothing can notify any more: the notifier ends once it has
                        // answered what is pending, while the rest of the run goes on.
                        drop(self.notifier_stop.take());
                        let mut status = [0u8; 4];
                        if read_exact(&channel, &mut status) {
                            self.unreaped = true;
                            return Ok(i32::from_le_bytes(status));
                        }
                        break;
                    }
                    // EOF (init gone), an error, or a byte init never sends.
                    _ => break,
                }
            }
        }
        super::wait_exit_status(self.pid)
    }

    /// Once the sandbox has ended: the staging directory goes, the notifier ends once it has
    /// answered what is pending, and init is reaped if it has exited.
    pub(super) fn finish(mut self) {
        drop(self.staging.take());
        // The egress servers end while the notifier drains (nothing inside can connect any
        // more: the sandbox is gone).
        if let Some(servers) = &self.servers {
            servers.begin_stop();
        }
        drop(self.notifier_stop.take());
        if let Some(handle) = self.notifier.take() {
            let _ = handle.join();
        }
        drop(self.servers);
        if self.unreaped {
            let _ = nix::sys::wait::waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}
