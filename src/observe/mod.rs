//! Observation: the supervisor sees what the kernel refuses. The seccomp notifier receives the
//! sandbox's connect/send/raw-socket calls, logs every attempt that would leave the sandbox,
//! and answers those early with an errno; the network namespace is what enforces. In
//! landlock mode, with no network namespace, [`connect`] answers the sandbox's socket calls
//! itself: it connects to the proxy on the sandbox's behalf and refuses the rest.

pub mod attribution;
pub mod connect;
pub mod control;
pub mod files;
pub mod notifier;
pub mod planted;
pub mod process;
pub mod sockaddr;
