//! Counts of one probe since start-up or within a report window, as plain values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::IterationReport;
use crate::outcome::{Outcome, Reason};

/// Monotonic counts of one probe (since start, or within a window).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CountValues {
    /// Arrivals that came due.
    pub arrivals: u64,
    /// Arrivals dropped at `max_in_flight`.
    pub dropped: u64,
    /// Iterations finished.
    pub iterations: u64,
    /// Iterations with a failed step.
    pub failed_iterations: u64,
    /// Requests sent.
    pub requests: u64,
    /// Failed requests other than throttled.
    pub errors: u64,
    /// Throttled (429) requests.
    pub throttled: u64,
    /// Failed requests by reason (reasons with none are left out).
    pub failures_by_reason: BTreeMap<&'static str, u64>,
    /// Responses by status code.
    pub responses_by_code: BTreeMap<u16, u64>,
}

impl CountValues {
    /// `arrivals` came due, of which `dropped` were not started.
    pub fn record_arrivals(&mut self, arrivals: u64, dropped: u64) {
        self.arrivals += arrivals;
        self.dropped += dropped;
    }

    /// An iteration finished with `report` (`succeeded`: [`IterationReport::succeeded`],
    /// worked out once by the caller for everything it records).
    pub fn record_iteration(&mut self, report: &IterationReport, succeeded: bool) {
        self.iterations += 1;
        self.failed_iterations += u64::from(!succeeded);
        self.requests += report.steps.len() as u64;
        for step in &report.steps {
            if let Some(code) = step.status {
                *self.responses_by_code.entry(code).or_default() += 1;
            }
            if let Outcome::Failure(reason) = step.outcome {
                if reason == Reason::Throttled {
                    self.throttled += 1;
                } else {
                    self.errors += 1;
                }
                *self.failures_by_reason.entry(reason.as_str()).or_default() += 1;
            }
        }
    }

    /// Iterations started: arrivals that were not dropped.
    pub fn started(&self) -> u64 {
        self.arrivals.saturating_sub(self.dropped)
    }
}
