//! What the scheduler records: the arrivals of one wake-up, counted once, and each
//! finished iteration's report, recorded in the task that ran it.

use std::sync::Arc;

use tokio::time::Instant;

use crate::guard::Guard;
use crate::metrics::{DropReason, ProbeMetrics};
use crate::runner::IterationReport;
use crate::status::ProbeBoard;

/// What one wake-up of the scheduler did with the arrivals that were due, recorded once
/// per wake-up rather than once per arrival.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) arrivals: u64,
    pub(super) dropped: [u64; DropReason::ALL.len()],
}

impl Tally {
    /// Counts the wake-up's arrivals and drops in the metrics and on the status board.
    pub(super) fn record(&self, metrics: &ProbeMetrics, status: &ProbeBoard) {
        if self.arrivals == 0 {
            return;
        }
        metrics.record_arrivals(self.arrivals);
        for (reason, &count) in DropReason::ALL.iter().zip(&self.dropped) {
            if count > 0 {
                metrics.record_dropped_arrivals(*reason, count);
            }
        }
        status.record_arrivals(self.arrivals, self.dropped.iter().sum());
    }
}

/// Where a finished iteration's report goes.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) metrics: Arc<ProbeMetrics>,
    pub(super) status: ProbeBoard,
    pub(super) guard: Option<Arc<Guard>>,
}

impl Finished {
    /// Records `report` in the metrics, the status board and the guard.
    pub(super) fn record(&self, report: &IterationReport) {
        let succeeded = report.succeeded();
        self.metrics.record_iteration(report, succeeded);
        self.status.record_iteration(report, succeeded);
        if let Some(recovery) = self.status.record_recovery_report(report) {
            self.metrics.record_recovery(recovery.seconds());
        }
        if let Some(guard) = &self.guard
            && let Some(reason) = guard.record(report, Instant::now())
        {
            let probe = self.status.name();
            tracing::warn!(probe, reason = reason.as_str(), "guard paused the probe");
            self.metrics.record_guard_trip(reason);
            self.metrics.record_guard_paused(true);
            self.status.set_guard_phase(guard.phase().as_str());
        }
    }
}
