//! Where events go: a JSON Lines file (`--log`), and an in-memory list the supervisor turns
//! into the human summary at exit. Producers (proxy, DNS stub, notifier threads) hold a
//! cheap clonable [`EventSink`]; one writer owns the file so lines never interleave.

use super::{Event, Verdict};
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

struct Inner {
    file: Option<(PathBuf, BufWriter<File>)>,
    log_allowed: bool,
    events: Vec<Event>,
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
                write_error: None,
            })),
        })
    }

    pub fn sink(&self) -> EventSink {
        EventSink { log: self.clone() }
    }

    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
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
    pub fn emit(&self, event: Event) {
        tracing::debug!(target: "safe_install::events", ?event, "event");
        let mut inner = self.log.lock();
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
