//! Plain values describing what happened, and the pure functions that turn them into run
//! reports: what an iteration did, the counts and latencies of a report window, the verdict
//! of a window against the probe's SLOs, and the recovery measured after a burst.
//!
//! This is the "reports" stage of the data flow (runner → reports → metrics/status). It holds
//! no locks, no metric handles and reads no clock: every instant is passed in, so each rule is
//! tested as arithmetic. The recorder (`recorder.rs`) owns the mutable report state of a
//! probe and hands the values it produces to metrics and status.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::outcome::Outcome;

mod counts;
mod recovery;
mod verdict;
mod window;

pub use counts::CountValues;
pub use recovery::{Recovery, RecoveryResult};
pub use verdict::{Objective, RunReport, SloVerdict, StepLatency};
pub use window::{MAX_TRACKED_MICROS, Window, WindowSpan};

/// What one iteration did.
#[derive(Debug, Clone)]
pub struct IterationReport {
    /// When the iteration should have started.
    pub intended_at: Instant,
    /// When its last step finished.
    pub finished_at: Instant,
    /// Index of the scenario it ran (0 without a mix).
    pub scenario: usize,
    /// Steps it would send if none failed.
    pub planned_steps: usize,
    /// The steps that were sent, in order.
    pub steps: Vec<StepReport>,
    /// The iteration's trace, when it was traced and sampled (exemplars of its latencies).
    pub trace_id: Option<opentelemetry::trace::TraceId>,
}

impl IterationReport {
    /// Whether every planned step was sent and succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps.len() == self.planned_steps
            && self.steps.iter().all(|s| s.outcome == Outcome::Success)
    }

    /// From the intended start to the end of the last step.
    pub fn duration(&self) -> Duration {
        self.finished_at.saturating_duration_since(self.intended_at)
    }
}

/// What one step (one request, or one exchange of another protocol) did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Index of the step in the probe.
    pub step: usize,
    /// Success or the failure reason.
    pub outcome: Outcome,
    /// Status code, when a response arrived.
    pub status: Option<u16>,
    /// From the intended start to the last body byte (or to the failure).
    pub latency: Duration,
    /// Why it failed, for logs and the status page (never a label).
    pub detail: Option<String>,
    /// How long a 429 or 503 asked to wait (`Retry-After`), for the guard.
    pub retry_after: Option<Duration>,
    /// The start of the response body when the step failed (for the status page).
    pub snippet: Option<String>,
}

impl StepReport {
    /// The latency in whole microseconds, as the HDR histograms record it: at least 1, and
    /// clamped at [`MAX_TRACKED_MICROS`] (a request that slow has long hit its timeout).
    pub fn latency_micros(&self) -> u64 {
        (self.latency.as_micros() as u64).clamp(1, MAX_TRACKED_MICROS)
    }
}

/// A latency percentile that reports, gauges and SLOs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Percentile {
    /// The median.
    P50,
    /// The 90th percentile.
    P90,
    /// The 95th percentile (an SLO key).
    P95,
    /// The 99th percentile (an SLO key).
    P99,
    /// The 99.9th percentile.
    P999,
}

impl Percentile {
    /// The percentiles of `loadprobe_last_run_latency_seconds`, in gauge order.
    pub const LAST_RUN: [Percentile; 3] = [Percentile::P50, Percentile::P95, Percentile::P99];
    /// The percentiles an SLO may bound (`slo.p95`, `slo.p99`).
    pub const SLO: [Percentile; 2] = [Percentile::P95, Percentile::P99];

    /// The label value and SLO key.
    pub fn as_str(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
            Percentile::P999 => "p999",
        }
    }

    /// The quantile, between 0 and 1.
    pub fn quantile(self) -> f64 {
        match self {
            Percentile::P50 => 0.5,
            Percentile::P90 => 0.9,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
            Percentile::P999 => 0.999,
        }
    }
}

/// Seconds since the Unix epoch (0 for an instant before it).
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
