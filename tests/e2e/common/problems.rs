//! Collecting every problem of a check and failing once with all of them, so that one run
//! reports every broken boundary at once.

/// Collects problems and fails once with all of them, so that one run reports every
/// escape at once.
#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Problems {
        Problems(Vec::new())
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    pub fn push(&mut self, what: String) {
        self.0.push(what);
    }

    /// Fails the test listing every problem, followed by `context`.
    pub fn finish(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n  - {}\n\n{context}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}
