//! The lock that lets a leak check run alone in the one test process.
//!
//! `lifecycle`'s checks that a killed safe-install leaves nothing behind compare the host's
//! temporary directories and mount table before and after. Every other test changes those
//! too while it runs: safe-install's own runs, bare npm and pip (`/tmp/pip-*`), a test host's
//! network namespace (a mount under `/run/netns`). So a leak check holds the exclusive side
//! and every test world holds the shared side for as long as it lives ([`World::new`]);
//! tests also take the shared side around their safe-install runs ([`shared_run_guard`]).
//!
//! Unlike `std::sync::RwLock`, the shared side is re-entrant per thread: a test that holds a
//! world and then takes the guard around a run, or the leak check that makes a world while
//! holding the exclusive side, must not wait for itself. A waiting leak check keeps new
//! threads out, so it runs as soon as the tests in flight finish.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

struct State {
    /// Shared holds per thread (no entry when zero).
    shared: Vec<(ThreadId, usize)>,
    /// The thread holding the exclusive side.
    exclusive: Option<ThreadId>,
    /// Threads waiting for the exclusive side.
    waiting: usize,
}

impl State {
    fn holds_shared(&self, thread: ThreadId) -> bool {
        self.shared.iter().any(|(t, _)| *t == thread)
    }
}

/// A shared/exclusive lock whose shared side is re-entrant per thread and whose waiting
/// exclusive side keeps new threads out.
pub struct RunLock {
    state: Mutex<State>,
    changed: Condvar,
}

static SANDBOX_RUNS: RunLock = RunLock::new();

impl RunLock {
    pub const fn new() -> RunLock {
        RunLock {
            state: Mutex::new(State {
                shared: Vec::new(),
                exclusive: None,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// The shared side: at once when this thread holds either side already, otherwise once
    /// no thread holds or waits for the exclusive side.
    pub fn shared(&self) -> RunGuard<'_> {
        let me = thread::current().id();
        let mut s = self.lock();
        while !(s.holds_shared(me)
            || s.exclusive == Some(me)
            || (s.exclusive.is_none() && s.waiting == 0))
        {
            s = self.wait(s);
        }
        match s.shared.iter_mut().find(|(t, _)| *t == me) {
            Some((_, n)) => *n += 1,
            None => s.shared.push((me, 1)),
        }
        RunGuard {
            lock: self,
            owner: me,
            exclusive: false,
        }
    }

    /// The exclusive side: once no other thread holds either side.
    pub fn exclusive(&self) -> RunGuard<'_> {
        let me = thread::current().id();
        let mut s = self.lock();
        assert!(
            !s.holds_shared(me),
            "the exclusive run guard taken while this thread holds a shared one (a test world \
             made before it): it would wait for itself; take the exclusive guard first"
        );
        s.waiting += 1;
        while !(s.exclusive.is_none() && s.shared.is_empty()) {
            s = self.wait(s);
        }
        s.waiting -= 1;
        s.exclusive = Some(me);
        RunGuard {
            lock: self,
            owner: me,
            exclusive: true,
        }
    }

    /// Threads waiting for the exclusive side (for the lock's own test).
    fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

/// One hold of a [`RunLock`], released when dropped (on whichever thread drops it).
#[must_use = "the lock is released when the guard is dropped"]
pub struct RunGuard<'a> {
    lock: &'a RunLock,
    owner: ThreadId,
    exclusive: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.lock.lock();
        if self.exclusive {
            s.exclusive = None;
        } else if let Some(i) = s.shared.iter().position(|(t, _)| *t == self.owner) {
            s.shared[i].1 -= 1;
            if s.shared[i].1 == 0 {
                s.shared.swap_remove(i);
            }
        }
        self.lock.changed.notify_all();
    }
}

/// Held by every test world and around every run of the binary under test, so that a test
/// checking for leftovers in /tmp (which holds [`exclusive_run_guard`]) sees only its own
/// run's.
pub fn shared_run_guard() -> RunGuard<'static> {
    SANDBOX_RUNS.shared()
}

/// Held by a test that checks that nothing is left behind in /tmp or the mount table: waits
/// until no other thread holds the shared side, and keeps new ones out meanwhile.
pub fn exclusive_run_guard() -> RunGuard<'static> {
    SANDBOX_RUNS.exclusive()
}

/// The lock itself, on an instance of its own (the suite's is shared by every test): a
/// thread re-enters its shared side, a waiting exclusive side keeps new threads out and gets
/// the lock once the last shared hold is dropped, and the exclusive holder re-enters too.
#[test]
fn the_run_lock_is_reentrant_and_a_waiting_leak_check_keeps_new_holders_out() {
    use std::sync::mpsc;
    use std::time::Duration;

    let lock = &RunLock::new();
    let held = lock.shared();
    drop(lock.shared());
    thread::scope(|scope| {
        let (got_exclusive, exclusive_rx) = mpsc::channel();
        scope.spawn(move || {
            let g = lock.exclusive();
            // Re-entering the shared side while exclusive must not wait.
            drop(lock.shared());
            got_exclusive.send(()).expect("send");
            thread::sleep(Duration::from_millis(100));
            drop(g);
        });
        assert!(
            super::wait_until(Duration::from_secs(10), || lock.waiting() == 1),
            "the exclusive side never started waiting"
        );
        let (got_shared, shared_rx) = mpsc::channel();
        scope.spawn(move || {
            let _g = lock.shared();
            got_shared.send(()).expect("send");
        });
        assert!(
            shared_rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a new thread got the shared side while the exclusive side was waiting"
        );
        assert!(
            exclusive_rx.try_recv().is_err(),
            "the exclusive side was granted while a shared hold was alive"
        );
        // The holding thread still re-enters (a std RwLock would deadlock here).
        drop(lock.shared());
        drop(held);
        exclusive_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the exclusive side once the last shared hold is gone");
        shared_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the new thread's shared side once the exclusive one is dropped");
    });
}
