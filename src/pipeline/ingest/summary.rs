//! What an ingest pass is told ([`IngestOptions`]) and what it tells back
//! ([`IngestSummary`]: the counts of the run log, one [`FileOutcome`] per
//! file, and where the storing thread spent its time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::findings::Finding;
use crate::store::{RunCounts, Status, Trigger};

/// How an ingest pass is run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Check and report, store and move nothing.
    pub dry_run: bool,
    /// What started the pass.
    pub trigger: Trigger,
    /// Show a progress bar (a terminal and many files).
    pub progress: bool,
    /// Override of the stability delay (tests, the daemon's own timing).
    pub stable_seconds: Option<u64>,
    /// "Today" for the not-in-the-future rule (tests pin it).
    pub today: Option<NaiveDate>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            dry_run: false,
            trigger: Trigger::Command,
            progress: false,
            stable_seconds: None,
            today: None,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOutcome {
    pub file: String,
    pub status: Option<Status>,
    pub duplicate: bool,
    pub superseded: bool,
    pub unit: Option<String>,
    pub period: Option<String>,
    pub findings: Vec<Finding>,
    pub filed_to: Option<PathBuf>,
}

/// The summary of a pass.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    pub counts: RunCounts,
    /// Files left for later: still being written.
    pub waiting: usize,
    /// Files healed: stored by an earlier pass that stopped before filing them.
    pub healed: usize,
    /// Files left in place by `keep_originals` that were stored before.
    pub already_stored: usize,
    pub files: Vec<FileOutcome>,
    pub elapsed: Duration,
    pub run_id: Option<i64>,
    /// Where the storing thread spent the pass (for the log).
    pub phases: Phases,
}

/// Time the storing thread of a pass spent in each phase.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    /// Waiting for the reader thread.
    pub waiting: Duration,
    /// Sorting a chunk into known and new content, loading the history.
    pub sort: Duration,
    /// Waiting for the checks of a chunk (on the pool) once the chunk
    /// before is stored.
    pub check: Duration,
    /// Storing, one transaction per chunk (with the repeats judged after it).
    pub record: Duration,
    /// Waiting to hand a stored chunk to the feedback thread (feedback
    /// workbooks; the filing thread behind it moves the files).
    pub handover: Duration,
    /// Recording that the files have moved.
    pub filing: Duration,
}

impl IngestSummary {
    /// Whether any file was rejected (exit code 1).
    pub fn any_rejected(&self) -> bool {
        self.counts.rejected > 0
    }

    /// One paragraph for the terminal.
    pub fn report(&self) -> String {
        let c = &self.counts;
        format!(
            "files seen: {}, accepted: {}, accepted with warnings: {}, rejected: {}, duplicates: {}, superseded: {}{}{}{} — {:.2} s",
            c.seen,
            c.accepted,
            c.warnings,
            c.rejected,
            c.duplicates,
            c.superseded,
            if self.waiting > 0 { format!(", still being written: {}", self.waiting) } else { String::new() },
            if self.healed > 0 { format!(", filed after an interrupted pass: {}", self.healed) } else { String::new() },
            if self.already_stored > 0 { format!(", already stored (kept in place): {}", self.already_stored) } else { String::new() },
            self.elapsed.as_secs_f64()
        )
    }
}

/// Measures the phases of storing a chunk, for the log.
pub(super) struct PhaseClock(Instant);

impl PhaseClock {
    pub(super) fn start() -> PhaseClock {
        PhaseClock(Instant::now())
    }

    /// Adds the time since the last lap to `total`.
    pub(super) fn lap(&mut self, total: &mut Duration) {
        let now = Instant::now();
        *total += now - self.0;
        self.0 = now;
    }
}
