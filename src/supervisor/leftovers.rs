//! Processes still running when the command ended (a daemon a script left behind): init
//! stops them, asks here, and kills them once each is logged (`exec` `blocked`
//! `daemon-killed`) with who started it. A double-forked daemon's parent is init by then, so
//! ancestry says only "orphaned"; the listener its filter notified earlier says which
//! script's process tree it came from (see `Observer::remember`).

use crate::events::{Action, Event, Reason, Verdict};
use crate::observe::notifier::Observer;
use std::os::fd::OwnedFd;

/// Longest command line used as the event's target (the whole one is in `argv`).
const MAX_TARGET_CHARS: usize = 200;

/// Answer init's question (`init::LEFTOVERS`, read by the caller): log every process left,
/// then let init go on.
pub fn answer(channel: &OwnedFd, observer: &Observer) {
    for pid in observer.who.leftovers() {
        observer.sink.emit(event(observer, pid));
    }
    let _ = nix::unistd::write(channel, b"k");
}

/// The event for host pid `pid`, attributed by ancestry, else by the listener that saw it.
fn event(observer: &Observer, pid: i32) -> Event {
    let mut who = observer.who.of_pid(pid);
    if who.package.is_none() {
        if let Some((package, script)) = observer.remembered(pid) {
            who.package = package;
            who.script = script.or(who.script);
        }
    }
    let command = who
        .argv
        .as_ref()
        .map(|a| a.join(" "))
        .unwrap_or_else(|| format!("pid {pid}"));
    let target: String = command.chars().take(MAX_TARGET_CHARS).collect();
    let mut ev = Event::new(Action::Exec, Verdict::Blocked, target, Reason::DaemonKilled)
        .with_detail(
            "still running when the command ended (a daemon left behind): killed with the sandbox",
        );
    who.apply(&mut ev);
    ev
}
