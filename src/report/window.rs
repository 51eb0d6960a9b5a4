//! One report window of a probe: its counts and exact per-step latencies while it is open,
//! and the judged [`RunReport`] it becomes when it closes.

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::verdict::Measured;
use super::{CountValues, IterationReport, RecoveryResult, RunReport, StepLatency, unix_seconds};
use crate::plan::{Probe, Rate, Slo};

/// Latencies above this are clamped, in microseconds; a request this slow has long hit its
/// timeout.
pub const MAX_TRACKED_MICROS: u64 = 3_600_000_000;

/// The current report window of one probe (a run, or a continuous probe's report interval).
///
/// Memory is fixed: one HDR histogram (three significant digits) per step, reset, never
/// reallocated, when the window closes.
#[derive(Debug)]
pub struct Window {
    /// Step names, in the probe's order (the reports' rows).
    steps: Vec<String>,
    /// What the window is judged against.
    slo: Slo,
    /// Arrivals per second the probe plans, for the report.
    planned_rate: Rate,
    /// When the window opened.
    opened: SystemTime,
    counts: CountValues,
    /// Exact latencies per step, in microseconds.
    latencies: Vec<Histogram<u64>>,
    /// How the latest recovery measurement ended, until the window that saw it closes.
    recovered: Option<RecoveryResult>,
}

/// How long a closing window lasted, for its rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSpan {
    /// A bounded run: its configured length, whatever the clock says.
    Run(Duration),
    /// A continuous probe's window: from its opening until it closes.
    UntilClosed,
}

impl Window {
    /// A window of a probe with `steps`, judged against `slo`, opened at `opened`.
    pub fn new(steps: Vec<String>, slo: Slo, planned_rate: Rate, opened: SystemTime) -> Self {
        let latencies = steps
            .iter()
            .map(|_| {
                Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                    .expect("static bounds are valid")
            })
            .collect();
        Self {
            steps,
            slo,
            planned_rate,
            opened,
            counts: CountValues::default(),
            latencies,
            recovered: None,
        }
    }

    /// The window of `probe`'s steps, judged against its SLOs, opened at `opened`.
    pub fn for_probe(probe: &Probe, opened: SystemTime) -> Self {
        let steps = probe.steps.iter().map(|s| s.name.clone()).collect();
        Self::new(steps, probe.slo.clone(), probe.replica_rate(), opened)
    }

    /// The objectives the window is judged against.
    pub fn slo(&self) -> &Slo {
        &self.slo
    }

    /// Starts the window over at `at` (a run starts).
    pub fn open(&mut self, at: SystemTime) {
        self.counts = CountValues::default();
        for histogram in &mut self.latencies {
            histogram.reset();
        }
        self.opened = at;
    }

    /// `arrivals` came due, of which `dropped` were not started.
    pub fn record_arrivals(&mut self, arrivals: u64, dropped: u64) {
        self.counts.record_arrivals(arrivals, dropped);
    }

    /// An iteration finished (`succeeded`: [`IterationReport::succeeded`]).
    pub fn record_iteration(&mut self, report: &IterationReport, succeeded: bool) {
        self.counts.record_iteration(report, succeeded);
        for step in &report.steps {
            self.latencies[step.step].saturating_record(step.latency_micros());
        }
    }

    /// A recovery measurement ended; the window that closes next reports it.
    pub fn record_recovery(&mut self, result: RecoveryResult) {
        self.recovered = Some(result);
    }

    /// Closes the window at `at`: judges it against the SLOs and opens the next one.
    pub fn close(&mut self, at: SystemTime, span: WindowSpan) -> RunReport {
        let elapsed = match span {
            WindowSpan::Run(length) => length,
            WindowSpan::UntilClosed => at.duration_since(self.opened).unwrap_or(Duration::ZERO),
        };
        let steps = self
            .steps
            .iter()
            .zip(&mut self.latencies)
            .map(|(name, histogram)| {
                let latency = StepLatency::from_histogram(name, histogram);
                histogram.reset();
                latency
            })
            .collect();
        let measured = Measured {
            started: unix_seconds(self.opened),
            elapsed,
            recovered: self.recovered.take(),
            planned_rate: self.planned_rate.per_second(),
            counts: std::mem::take(&mut self.counts),
            steps,
        };
        self.opened = at;
        RunReport::judge(&self.slo, measured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::report::StepReport;

    fn iteration(latency_ms: u64, outcome: Outcome) -> IterationReport {
        let now = std::time::Instant::now();
        IterationReport {
            intended_at: now,
            finished_at: now,
            scenario: 0,
            planned_steps: 1,
            steps: vec![StepReport {
                step: 0,
                outcome,
                status: Some(200),
                latency: Duration::from_millis(latency_ms),
                detail: None,
                retry_after: None,
                snippet: None,
            }],
            trace_id: None,
        }
    }

    #[test]
    fn a_closed_window_reports_its_counts_and_starts_over() {
        let opened = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut window = Window::new(
            vec!["s".into()],
            Slo::default(),
            Rate::new(2.0).expect("a rate"),
            opened,
        );
        window.record_arrivals(4, 1);
        for latency in [10, 20, 30] {
            window.record_iteration(&iteration(latency, Outcome::Success), true);
        }
        let report = window.close(opened + Duration::from_secs(2), WindowSpan::UntilClosed);
        assert_eq!(report.started, 1000.0);
        assert_eq!(report.duration_seconds, 2.0);
        assert_eq!(report.achieved_rate, 1.5);
        assert_eq!(report.counts.requests, 3);
        assert_eq!(report.steps[0].count, 3);
        assert!((report.steps[0].max - 0.030).abs() < 1e-4);
        assert!(report.success, "{:?}", report.violations());
        let next = window.close(
            opened + Duration::from_secs(3),
            WindowSpan::Run(Duration::from_secs(5)),
        );
        assert_eq!(next.started, 1002.0);
        assert_eq!(next.duration_seconds, 5.0);
        assert_eq!(next.counts, CountValues::default());
        assert!(!next.success);
    }
}
