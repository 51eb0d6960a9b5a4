//! One probe's live state on the board, and [`ProbeBoard`], the handle its recorder writes
//! into: totals, run state, the last report, the guard's state and recent failures.
//!
//! A probe's state lives behind an `Arc` so a reload can carry an unchanged probe's state
//! over to the new board untouched (its recorder keeps its handle and never notices).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{FailureRecord, ProbeSnapshot, RunState, StatusBoard, describe, history, snippet};
use crate::guard::GuardState;
use crate::outcome::{Outcome, Reason};
use crate::plan::Probe;
use crate::report::{CountValues, IterationReport, RunReport, StepReport, unix_seconds};

/// Live state of one probe.
#[derive(Debug)]
pub struct ProbeStatus {
    pub(super) name: String,
    target: String,
    schedule: String,
    pub(super) planned_rate: f64,
    steps: Vec<String>,
    pub(super) slo: history::SloLines,
    state: Mutex<RunState>,
    /// Counts since start-up.
    pub(super) totals: Mutex<CountValues>,
    last_report: Mutex<Option<RunReport>>,
    /// The status page's chart samples (see `history.rs`).
    pub(super) history: history::ProbeHistory,
    /// The guard's state, for probes with a guard.
    guard: Mutex<Option<GuardState>>,
}

/// Where one probe's recorder writes what happens: its own state plus the board's shared
/// ring of recent failures. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProbeBoard {
    pub(super) board: Arc<StatusBoard>,
    pub(super) probe: Arc<ProbeStatus>,
}

impl ProbeBoard {
    /// A point-in-time copy of the probe's state.
    pub fn snapshot(&self) -> ProbeSnapshot {
        self.probe.snapshot()
    }

    /// `arrivals` came due, of which `dropped` were not started.
    pub fn record_arrivals(&self, arrivals: u64, dropped: u64) {
        self.probe
            .totals
            .lock()
            .expect("totals lock is never poisoned")
            .record_arrivals(arrivals, dropped);
    }

    /// An iteration finished (`succeeded`: [`IterationReport::succeeded`]).
    pub fn record_iteration(&self, report: &IterationReport, succeeded: bool) {
        let p = &self.probe;
        p.totals
            .lock()
            .expect("totals lock is never poisoned")
            .record_iteration(report, succeeded);
        for step in &report.steps {
            p.history.record_latency(step.latency_micros());
            if let Outcome::Failure(reason) = step.outcome {
                self.record_failure(step, reason);
            }
        }
    }

    fn record_failure(&self, step: &StepReport, reason: Reason) {
        self.board.push_failure(FailureRecord {
            at: unix_seconds(SystemTime::now()),
            probe: self.probe.name.clone(),
            step: self.probe.steps[step.step].clone(),
            reason: reason.as_str(),
            status: step.status,
            detail: snippet(step.detail.as_deref().unwrap_or_default()),
            response: step
                .snippet
                .as_deref()
                .map(snippet)
                .filter(|s| !s.is_empty()),
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

    /// A run or report window closed with `report`: the page's "last run" from now on.
    pub fn set_last_report(&self, report: RunReport) {
        *self
            .probe
            .last_report
            .lock()
            .expect("report lock is never poisoned") = Some(report);
    }

    /// The guard is in `state` (only written, and logged, when the state changes).
    pub fn set_guard_state(&self, state: GuardState) {
        let mut guard = self
            .probe
            .guard
            .lock()
            .expect("guard lock is never poisoned");
        if *guard != Some(state) {
            tracing::info!(probe = %self.probe.name, phase = state.as_str(), "guard state");
            *guard = Some(state);
        }
    }
}

impl ProbeStatus {
    /// A fresh state for `probe`: no counts, waiting for its first run.
    pub fn new(probe: &Probe) -> Self {
        Self {
            name: probe.name.clone(),
            target: probe.target.name.clone(),
            schedule: describe(&probe.schedule),
            planned_rate: probe.replica_rate().per_second(),
            steps: probe.steps.iter().map(|s| s.name.clone()).collect(),
            slo: history::SloLines::from(&probe.slo),
            state: Mutex::new(RunState::Waiting { next_run: None }),
            totals: Mutex::default(),
            last_report: Mutex::new(None),
            history: history::ProbeHistory::new(),
            guard: Mutex::new(None),
        }
    }

    /// Counts since start-up.
    pub(super) fn totals(&self) -> CountValues {
        self.totals
            .lock()
            .expect("totals lock is never poisoned")
            .clone()
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
            totals: self.totals(),
            last_report: self
                .last_report
                .lock()
                .expect("report lock is never poisoned")
                .clone(),
            guard: *self.guard.lock().expect("guard lock is never poisoned"),
        }
    }
}
