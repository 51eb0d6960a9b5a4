//! Counters of one probe, since start-up or within a report window, read as plain values.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::outcome::{Outcome, Reason};

/// Monotonic counts of one probe (since start, or within the current window).
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) arrivals: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) iterations: AtomicU64,
    pub(super) failed_iterations: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) throttled: AtomicU64,
    /// Failures indexed like [`Reason::ALL`].
    pub(super) reasons: [AtomicU64; Reason::ALL.len()],
    /// Responses by status code (few distinct codes, so a small locked map).
    pub(super) codes: Mutex<BTreeMap<u16, u64>>,
}

/// A plain copy of [`Counts`].
#[derive(Debug, Clone, Default, Serialize)]
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

impl Counts {
    pub(super) fn read(&self, take: bool) -> CountValues {
        let get = |c: &AtomicU64| {
            if take {
                c.swap(0, Ordering::Relaxed)
            } else {
                c.load(Ordering::Relaxed)
            }
        };
        let failures_by_reason = Reason::ALL
            .iter()
            .zip(&self.reasons)
            .map(|(reason, count)| (reason.as_str(), get(count)))
            .filter(|(_, count)| *count > 0)
            .collect();
        let mut codes = self.codes.lock().expect("codes lock is never poisoned");
        let responses_by_code = if take {
            std::mem::take(&mut *codes)
        } else {
            codes.clone()
        };
        CountValues {
            arrivals: get(&self.arrivals),
            dropped: get(&self.dropped),
            iterations: get(&self.iterations),
            failed_iterations: get(&self.failed_iterations),
            requests: get(&self.requests),
            errors: get(&self.errors),
            throttled: get(&self.throttled),
            failures_by_reason,
            responses_by_code,
        }
    }

    pub(super) fn record_step(&self, outcome: Outcome, status: Option<u16>) {
        if let Some(code) = status {
            *self
                .codes
                .lock()
                .expect("codes lock is never poisoned")
                .entry(code)
                .or_default() += 1;
        }
        if let Outcome::Failure(reason) = outcome {
            let counter = if reason == Reason::Throttled {
                &self.throttled
            } else {
                &self.errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
            self.reasons[reason as usize].fetch_add(1, Ordering::Relaxed);
        }
    }
}
