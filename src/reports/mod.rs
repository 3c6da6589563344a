//! What people and CI systems read about a run, rendered from the event log: the human
//! summary on stderr (grouped by who did what), GitHub Actions annotations and step
//! summary, and SARIF. The event schema (`events`) knows nothing of these renderers; they
//! read events and, to tie a finding to a project file, the plan's project and package
//! manager.

pub mod github;
pub mod publish;
pub mod sarif;
pub mod summary;
