//! Observation: how the supervisor learns what happened inside, so that every attempt the
//! kernel refuses (or a grant allows) becomes an event naming who tried it. The kernel
//! enforces (mounts, namespaces, Landlock, seccomp); nothing here turns a denial into an
//! allow.
//!
//! - [`notifier`]: the seccomp user-notification loop (file, network, socket and terminal
//!   calls of the package manager and of each script's nested filter via [`control`]);
//! - [`connect`]: landlock mode, with no network namespace, answers the sandbox's socket
//!   calls itself: it connects to the proxy on the sandbox's behalf and refuses the rest;
//! - [`files`], [`sockaddr`], [`process`]: what a notified call was about, read from the
//!   process;
//! - [`attribution`]: which package and lifecycle script a process belongs to, failing
//!   closed;
//! - [`planted`]: the end-of-run check of what the install left behind to run later.

pub mod attribution;
pub mod connect;
pub mod control;
pub mod files;
pub mod notifier;
pub mod planted;
pub mod process;
pub mod sockaddr;
