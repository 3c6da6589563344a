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

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

#[derive(Default)]
struct State {
    /// Shared holds per thread (absent when zero).
    shared: HashMap<ThreadId, usize>,
    /// The thread holding the exclusive side.
    exclusive: Option<ThreadId>,
    /// Threads waiting for the exclusive side.
    waiting: usize,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static CHANGED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait(guard: MutexGuard<'static, Option<State>>) -> MutexGuard<'static, Option<State>> {
    CHANGED.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// One hold of the lock, released when dropped (on whichever thread drops it).
#[must_use = "the lock is released when the guard is dropped"]
pub struct RunGuard {
    owner: ThreadId,
    exclusive: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let mut state = lock();
        let s = state.get_or_insert_with(State::default);
        if self.exclusive {
            s.exclusive = None;
        } else if let Some(n) = s.shared.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                s.shared.remove(&self.owner);
            }
        }
        CHANGED.notify_all();
    }
}

/// Held by every test world and around every run of the binary under test, so that a test
/// checking for leftovers in /tmp (which holds [`exclusive_run_guard`]) sees only its own
/// run's.
pub fn shared_run_guard() -> RunGuard {
    let me = thread::current().id();
    let mut state = lock();
    loop {
        let s = state.get_or_insert_with(State::default);
        let reentrant = s.shared.contains_key(&me) || s.exclusive == Some(me);
        if reentrant || (s.exclusive.is_none() && s.waiting == 0) {
            *s.shared.entry(me).or_insert(0) += 1;
            return RunGuard {
                owner: me,
                exclusive: false,
            };
        }
        state = wait(state);
    }
}

/// Held by a test that checks that nothing is left behind in /tmp or the mount table: waits
/// until no other thread holds the shared side.
pub fn exclusive_run_guard() -> RunGuard {
    let me = thread::current().id();
    let mut state = lock();
    let s = state.get_or_insert_with(State::default);
    assert!(
        !s.shared.contains_key(&me),
        "exclusive_run_guard taken while this thread holds a shared one (a test world made \
         before it): it would wait for itself; take the exclusive guard first"
    );
    s.waiting += 1;
    loop {
        let s = state.get_or_insert_with(State::default);
        if s.exclusive.is_none() && s.shared.is_empty() {
            s.waiting -= 1;
            s.exclusive = Some(me);
            return RunGuard {
                owner: me,
                exclusive: true,
            };
        }
        state = wait(state);
    }
}
