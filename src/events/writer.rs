//! Where events go: a JSON Lines file (`--log`), and an in-memory list the supervisor turns
//! into the human summary at exit. Producers (proxy, DNS stub, notifier threads) hold a
//! cheap clonable [`EventSink`]; one writer owns the file so lines never interleave.

use super::{Action, Event, Reason, Verdict};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Errors opening or writing the log file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the event log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the event log {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What makes two events "the same attempt": a repeat (npm retrying, a resolver asking for A
/// and AAAA) is counted, not logged again.
type AttemptKey = (Action, Verdict, String, Option<i32>, Reason);

struct Inner {
    file: Option<(PathBuf, BufWriter<File>)>,
    log_allowed: bool,
    events: Vec<Event>,
    /// Index into `events` and repeat count of each distinct attempt.
    seen: HashMap<AttemptKey, (usize, u64)>,
    write_error: Option<LogError>,
}

/// The event log: owns the output file and remembers every event for the summary.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
}

/// A handle producers use to record events.
#[derive(Clone)]
pub struct EventSink {
    log: EventLog,
}

impl EventLog {
    /// A log that writes to `path` (truncating it) when given, else only keeps events in memory.
    /// `log_allowed` also writes `allowed` events (registry requests); blocked and degraded
    /// events are always written.
    pub fn open(path: Option<&Path>, log_allowed: bool) -> Result<Self, LogError> {
        let file = match path {
            Some(p) => {
                let f = File::create(p).map_err(|source| LogError::Open {
                    path: p.to_path_buf(),
                    source,
                })?;
                Some((p.to_path_buf(), BufWriter::new(f)))
            }
            None => None,
        };
        Ok(EventLog {
            inner: Arc::new(Mutex::new(Inner {
                file,
                log_allowed,
                events: Vec::new(),
                seen: HashMap::new(),
                write_error: None,
            })),
        })
    }

    pub fn sink(&self) -> EventSink {
        EventSink { log: self.clone() }
    }

    /// Every distinct event recorded so far, in order.
    #[cfg(test)]
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Every distinct event with how many times it happened.
    pub fn counted(&self) -> Vec<(Event, u64)> {
        let inner = self.lock();
        let mut counts = vec![1u64; inner.events.len()];
        for (index, count) in inner.seen.values() {
            counts[*index] = *count;
        }
        inner.events.iter().cloned().zip(counts).collect()
    }

    /// Flush the file; report the first write error, if any happened.
    pub fn finish(&self) -> Result<(), LogError> {
        let mut inner = self.lock();
        if let Some(err) = inner.write_error.take() {
            return Err(err);
        }
        if let Some((path, w)) = inner.file.as_mut() {
            w.flush().map_err(|source| LogError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.lock().file.as_ref().map(|(p, _)| p.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A producer thread that panicked while holding the lock must not silence the log.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl EventSink {
    /// Record an event; a repeat of an attempt already recorded is only counted.
    pub fn emit(&self, event: Event) {
        tracing::debug!(target: "safe_install::events", ?event, "event");
        let mut inner = self.log.lock();
        let key = (
            event.action,
            event.verdict,
            event.target.clone(),
            event.pid.as_ref().map(|p| p.host),
            event.reason,
        );
        if let Some((_, count)) = inner.seen.get_mut(&key) {
            *count += 1;
            return;
        }
        let index = inner.events.len();
        inner.seen.insert(key, (index, 1));
        let write = event.verdict != Verdict::Allowed || inner.log_allowed;
        if write {
            let line = serde_json::to_string(&event);
            if let (Some((path, w)), Ok(line)) = (inner.file.as_mut(), line) {
                let res = w
                    .write_all(line.as_bytes())
                    .and_then(|()| w.write_all(b"\n"));
                if let Err(source) = res {
                    let path = path.clone();
                    inner
                        .write_error
                        .get_or_insert(LogError::Write { path, source });
                }
            }
        }
        inner.events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_not_logged_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.jsonl");
        let log = EventLog::open(Some(&path), false).expect("open");
        let sink = log.sink();
        let dns = |name: &str| Event::new(Action::Dns, Verdict::Blocked, name, Reason::DnsQuery);
        sink.emit(dns("exfil.example.com"));
        sink.emit(dns("exfil.example.com"));
        sink.emit(dns("other.example.com"));
        sink.emit(Event::new(
            Action::Proxy,
            Verdict::Allowed,
            "registry.example.com:443",
            Reason::RegistryRequest,
        ));
        log.finish().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
        let counted = log.counted();
        assert_eq!(counted.len(), 3);
        assert_eq!(counted[0].1, 2);
        assert_eq!(counted[1].1, 1);
    }
}
