//! One probe's live state on the board, and [`ProbeBoard`], the handle its scheduler records
//! into: arrivals, iterations, run state, report windows and guard phase.
//!
//! A probe's state lives behind an `Arc` so a reload can carry an unchanged probe's state
//! over to the new board untouched (its scheduler keeps its handle and never notices).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::counts::Counts;
use super::verdict::{self, RunReport, StepLatency};
use super::{
    FailureRecord, MAX_TRACKED_MICROS, ProbeSnapshot, RunState, StatusBoard, describe, history,
    recovery, snippet, unix_seconds,
};
use crate::outcome::{Outcome, Reason};
use crate::plan::{Probe, Slo};
use crate::runner::IterationReport;

/// Live state of one probe.
#[derive(Debug)]
pub struct ProbeStatus {
    pub(super) name: String,
    target: String,
    schedule: String,
    pub(super) planned_rate: f64,
    steps: Vec<String>,
    pub(super) slo: Slo,
    state: Mutex<RunState>,
    pub(super) totals: Counts,
    window: Counts,
    /// When the current window opened.
    window_start: Mutex<SystemTime>,
    /// Exact latencies of the current window, per step, in microseconds.
    latencies: Vec<Mutex<Histogram<u64>>>,
    last_report: Mutex<Option<RunReport>>,
    /// The measurement after the latest burst, while it is going on.
    pub(super) recovery: Mutex<Option<recovery::Recovery>>,
    /// How the latest measurement ended, until the window that saw it closes.
    pub(super) recovered: Mutex<Option<super::RecoveryResult>>,
    /// The status page's chart samples (see `history.rs`).
    pub(super) history: history::ProbeHistory,
    /// The guard's phase (`running`, `paused`, …), for probes with a guard.
    guard: Mutex<Option<&'static str>>,
}

/// Where one probe's scheduler records what happens: its own state plus the board's shared
/// ring of recent failures. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProbeBoard {
    pub(super) board: Arc<StatusBoard>,
    pub(super) probe: Arc<ProbeStatus>,
}

impl ProbeBoard {
    /// The probe's name.
    pub fn name(&self) -> &str {
        &self.probe.name
    }

    /// A point-in-time copy of the probe's state.
    pub fn snapshot(&self) -> ProbeSnapshot {
        self.probe.snapshot()
    }

    /// `arrivals` came due, of which `dropped` were not started.
    pub fn record_arrivals(&self, arrivals: u64, dropped: u64) {
        let p = &self.probe;
        for counts in [&p.totals, &p.window] {
            counts.arrivals.fetch_add(arrivals, Ordering::Relaxed);
            counts.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// An iteration finished.
    pub fn record_iteration(&self, report: &IterationReport, succeeded: bool) {
        let p = &self.probe;
        for counts in [&p.totals, &p.window] {
            counts.iterations.fetch_add(1, Ordering::Relaxed);
            counts
                .failed_iterations
                .fetch_add(u64::from(!succeeded), Ordering::Relaxed);
            counts
                .requests
                .fetch_add(report.steps.len() as u64, Ordering::Relaxed);
        }
        for step in &report.steps {
            let micros = (step.latency.as_micros() as u64).clamp(1, MAX_TRACKED_MICROS);
            p.latencies[step.step]
                .lock()
                .expect("latency lock is never poisoned")
                .saturating_record(micros);
            p.history.record_latency(micros);
            for counts in [&p.totals, &p.window] {
                counts.record_step(step.outcome, step.status);
            }
            if let Outcome::Failure(reason) = step.outcome {
                self.record_failure(
                    step.step,
                    reason,
                    step.status,
                    (step.detail.clone(), step.snippet.clone()),
                );
            }
        }
    }

    fn record_failure(
        &self,
        step: usize,
        reason: Reason,
        status: Option<u16>,
        (detail, response): (Option<String>, Option<String>),
    ) {
        self.board.push_failure(FailureRecord {
            at: unix_seconds(SystemTime::now()),
            probe: self.probe.name.clone(),
            step: self.probe.steps[step].clone(),
            reason: reason.as_str(),
            status,
            detail: snippet(&detail.unwrap_or_default()),
            response: response.as_deref().map(snippet).filter(|s| !s.is_empty()),
        });
    }

    /// The probe changed state.
    pub fn set_state(&self, state: RunState) {
        *self
            .probe
            .state
            .lock()
            .expect("state lock is never poisoned") = state;
    }

    /// Whether a run is going on now.
    pub fn is_running(&self) -> bool {
        matches!(
            *self
                .probe
                .state
                .lock()
                .expect("state lock is never poisoned"),
            RunState::Running { .. }
        )
    }

    /// Opens a new report window (a run starts).
    pub fn open_window(&self) {
        let p = &self.probe;
        p.window.read(true);
        for histogram in &p.latencies {
            histogram
                .lock()
                .expect("latency lock is never poisoned")
                .reset();
        }
        *p.window_start
            .lock()
            .expect("window lock is never poisoned") = SystemTime::now();
    }

    /// Closes the window: judges it against the SLOs, keeps and returns the report.
    /// `span` is the window's length for rates; `None` means from its opening until now.
    pub fn close_window(&self, span: Option<Duration>) -> RunReport {
        let p = &self.probe;
        let started = std::mem::replace(
            &mut *p
                .window_start
                .lock()
                .expect("window lock is never poisoned"),
            SystemTime::now(),
        );
        let counts = p.window.read(true);
        let steps = p
            .steps
            .iter()
            .zip(&p.latencies)
            .map(|(name, histogram)| {
                let mut histogram = histogram.lock().expect("latency lock is never poisoned");
                let latency = StepLatency::from_histogram(name, &histogram);
                histogram.reset();
                latency
            })
            .collect();
        let elapsed = span.unwrap_or_else(|| started.elapsed().unwrap_or(Duration::ZERO));
        let recovered = p
            .recovered
            .lock()
            .expect("recovery lock is never poisoned")
            .take();
        let window = verdict::Window {
            started: unix_seconds(started),
            elapsed,
            recovered,
            planned_rate: p.planned_rate,
            counts,
            steps,
        };
        let report = RunReport::judge(&p.slo, window);
        *p.last_report.lock().expect("report lock is never poisoned") = Some(report.clone());
        report
    }

    /// The guard is in `phase` (only written, and logged, when the phase changes).
    pub fn set_guard_phase(&self, phase: &'static str) {
        let mut guard = self
            .probe
            .guard
            .lock()
            .expect("guard lock is never poisoned");
        if *guard != Some(phase) {
            tracing::info!(probe = %self.probe.name, phase, "guard state");
            *guard = Some(phase);
        }
    }
}

impl ProbeStatus {
    /// A fresh state for `probe`: no counts, waiting for its first run.
    pub fn new(probe: &Probe) -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3).expect("static bounds are valid")
        };
        Self {
            name: probe.name.clone(),
            target: probe.target.name.clone(),
            schedule: describe(&probe.schedule),
            planned_rate: probe.replica_rate().per_second(),
            steps: probe.steps.iter().map(|s| s.name.clone()).collect(),
            slo: probe.slo.clone(),
            state: Mutex::new(RunState::Waiting { next_run: None }),
            totals: Counts::default(),
            window: Counts::default(),
            window_start: Mutex::new(SystemTime::now()),
            latencies: probe
                .steps
                .iter()
                .map(|_| Mutex::new(histogram()))
                .collect(),
            last_report: Mutex::new(None),
            recovery: Mutex::new(None),
            recovered: Mutex::new(None),
            history: history::ProbeHistory::new(),
            guard: Mutex::new(None),
        }
    }

    pub(super) fn snapshot(&self) -> ProbeSnapshot {
        ProbeSnapshot {
            name: self.name.clone(),
            target: self.target.clone(),
            schedule: self.schedule.clone(),
            planned_rate: self.planned_rate,
            state: self
                .state
                .lock()
                .expect("state lock is never poisoned")
                .clone(),
            totals: self.totals.read(false),
            last_report: self
                .last_report
                .lock()
                .expect("report lock is never poisoned")
                .clone(),
            guard: *self.guard.lock().expect("guard lock is never poisoned"),
        }
    }
}
