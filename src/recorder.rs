//! One probe's recorder: receives every event of the probe (arrivals and drops, iteration
//! starts and reports, report windows, runs starting and ending) and is the only place that
//! fans each one out to metrics, status and the guard.
//!
//! The scheduler and the iterations it spawns call it once per event. It owns the probe's
//! report state (the open window and any recovery measurement after a burst) behind one
//! lock, feeds it through the pure functions of `report`, and hands the values they produce
//! to [`ProbeMetrics`] and [`ProbeBoard`], which never see each other.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::guard::{Guard, GuardState};
use crate::metrics::{DropReason, Metrics, ProbeMetrics};
use crate::plan::{Probe, Rate};
use crate::report::{IterationReport, Recovery, RunReport, Window, WindowSpan, unix_seconds};
use crate::status::{ProbeBoard, RunState, StatusBoard};

mod target;

pub use target::TargetRecorder;

/// What one wake-up of the scheduler did with the arrivals that were due, recorded once
/// per wake-up rather than once per arrival.
#[derive(Debug, Default)]
pub struct ArrivalTally {
    /// Arrivals that came due.
    pub arrivals: u64,
    /// Of those, the ones not started, indexed like [`DropReason::ALL`].
    pub dropped: [u64; DropReason::ALL.len()],
}

impl ArrivalTally {
    /// An arrival that was not started, for `reason`.
    pub fn drop(&mut self, reason: DropReason) {
        self.dropped[reason as usize] += 1;
    }
}

/// Where every event of one probe is recorded.
#[derive(Debug)]
pub struct Recorder {
    /// The probe's name, for logs.
    probe: String,
    metrics: Arc<ProbeMetrics>,
    status: ProbeBoard,
    guard: Option<Arc<Guard>>,
    /// Recovery is measured only after bursts; without any, no lock is taken for it.
    measures_recovery: bool,
    reports: Mutex<ReportState>,
}

/// The probe's report state: the open window, and the measurement after the latest burst.
#[derive(Debug)]
struct ReportState {
    window: Window,
    recovery: Option<Recovery>,
}

impl Recorder {
    /// The recorder of `probe`, which is starting: resolves its series in `metrics` and
    /// makes its entry for `status` (listed once the engine lists it).
    pub fn new(probe: &Probe, metrics: &Metrics, status: &Arc<StatusBoard>) -> Self {
        let window = Window::for_probe(probe, SystemTime::now());
        Self {
            probe: probe.name.clone(),
            metrics: metrics.resolve_probe(probe),
            status: status.fresh_probe(probe),
            guard: Guard::for_probe(probe),
            measures_recovery: probe.load.model.burst().is_some(),
            reports: Mutex::new(ReportState {
                window,
                recovery: None,
            }),
        }
    }

    /// The probe's entry on the status board (listed, watched by `once`'s progress line).
    pub fn status(&self) -> &ProbeBoard {
        &self.status
    }

    /// The probe's metric handles (for tests and summaries).
    pub fn metrics(&self) -> &ProbeMetrics {
        &self.metrics
    }

    /// Removes every series the probe created: a reload stopped it.
    pub fn retire(&self) {
        self.metrics.retire();
    }

    fn reports(&self) -> std::sync::MutexGuard<'_, ReportState> {
        self.reports.lock().expect("report lock is never poisoned")
    }

    /// A run begins now, planning `rate` arrivals, for `run_for` (or forever).
    pub fn run_started(&self, rate: Rate, run_for: Option<Duration>) {
        tracing::info!(probe = %self.probe, rate = rate.per_second(), run_for = ?run_for, "run started");
        let now = SystemTime::now();
        self.metrics.record_run_start(rate);
        self.reports().window.open(now);
        self.status.set_state(RunState::Running {
            since: unix_seconds(now),
        });
    }

    /// The schedule plans `rate` arrivals now (stages and ramps change it in a run).
    pub fn planned_rate(&self, rate: Rate) {
        self.metrics.record_planned_rate(rate);
    }

    /// A wake-up's arrivals came due and were started or dropped.
    pub fn arrivals(&self, tally: &ArrivalTally) {
        if tally.arrivals == 0 {
            return;
        }
        self.metrics.record_arrivals(tally.arrivals);
        for (reason, &count) in DropReason::ALL.iter().zip(&tally.dropped) {
            if count > 0 {
                self.metrics.record_dropped_arrivals(*reason, count);
            }
        }
        let dropped = tally.dropped.iter().sum();
        self.status.record_arrivals(tally.arrivals, dropped);
        self.reports()
            .window
            .record_arrivals(tally.arrivals, dropped);
    }

    /// A burst came due at `at`: recovery is measured from it (a burst during a
    /// measurement starts it over).
    pub fn burst(&self, at: Instant) {
        let mut reports = self.reports();
        // Judged against the same objectives as the window it ends in.
        let recovery = Recovery::new(at.into_std(), reports.window.slo());
        reports.recovery = Some(recovery);
    }

    /// Whether the guard lets an arrival at `now` start (always, without a guard); its
    /// state goes to the metrics and the status page.
    pub fn guard_admits(&self, now: Instant) -> bool {
        let Some(guard) = &self.guard else {
            return true;
        };
        let admitted = guard.admit(now);
        let state = guard.phase().state();
        self.metrics
            .record_guard_paused(state != GuardState::Running);
        self.status.set_guard_state(state);
        admitted
    }

    /// An iteration intended at `intended_at` started `lag` after it.
    pub fn iteration_started(&self, intended_at: Instant, lag: Duration) {
        self.metrics.record_iteration_start(lag);
        if self.measures_recovery
            && let Some(recovery) = self.reports().recovery.as_mut()
        {
            recovery.dispatched(intended_at.into_std());
        }
    }

    /// An iteration finished with `report`.
    pub fn iteration_finished(&self, report: &IterationReport) {
        let succeeded = report.succeeded();
        self.metrics.record_iteration(report, succeeded);
        self.status.record_iteration(report, succeeded);
        self.record_in_window(report, succeeded);
        if let Some(guard) = &self.guard
            && let Some(reason) = guard.record(report, Instant::now())
        {
            tracing::warn!(probe = %self.probe, reason = reason.as_str(), "guard paused the probe");
            self.metrics.record_guard_trip(reason);
            self.metrics.record_guard_paused(true);
            self.status.set_guard_state(guard.phase().state());
        }
    }

    /// Adds `report` to the window and to the recovery measurement, if one is going on.
    fn record_in_window(&self, report: &IterationReport, succeeded: bool) {
        let mut reports = self.reports();
        reports.window.record_iteration(report, succeeded);
        if !self.measures_recovery {
            return;
        }
        let Some(recovery) = reports.recovery.as_mut() else {
            return;
        };
        recovery.completed(report.intended_at, &report.steps);
        if let Some(result) = recovery.evaluate(Instant::now().into_std()) {
            reports.recovery = None;
            reports.window.record_recovery(result);
            self.metrics.record_recovery(result.seconds());
        }
    }

    /// Closes the current report window and exports its verdict.
    pub fn window_closed(&self, span: WindowSpan) -> RunReport {
        let now = SystemTime::now();
        let report = self.reports().window.close(now, span);
        self.metrics.record_run_report(&report, now);
        self.status.set_last_report(report.clone());
        // One line per run (or report window), never one per request.
        let violations = report.violations().join("; ");
        let c = &report.counts;
        tracing::info!(
            probe = %self.probe,
            success = report.success,
            requests = c.requests,
            errors = c.errors,
            throttled = c.throttled,
            dropped = c.dropped,
            violations,
            "run report"
        );
        report
    }

    /// A run's arrivals ended (its verdict comes with [`Self::window_closed`]).
    pub fn run_ended(&self) {
        self.metrics.record_run_end();
    }

    /// `count` scheduled runs were skipped because the previous one was still going.
    pub fn runs_skipped(&self, count: u64) {
        self.metrics.record_run_skipped(count);
    }

    /// The probe waits for its next run, due at `next_run`.
    pub fn waiting(&self, next_run: SystemTime) {
        self.status.set_state(RunState::Waiting {
            next_run: Some(unix_seconds(next_run)),
        });
    }

    /// The probe's schedule ended (shutdown, or a reload stopped it).
    pub fn stopped(&self) {
        self.status.set_state(RunState::Stopped);
    }
}
