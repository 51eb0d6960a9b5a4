//! Live per-probe state for the status page and the final summary: run state, totals, the
//! current report window with exact latency percentiles, the last run report, and a bounded
//! ring of recent failures.
//!
//! The scheduler feeds it the same reports it gives to `Metrics`; readers only take
//! snapshots. Memory is bounded: fixed-size HDR histograms per step and a fixed-length ring.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::SloConfig;
use crate::memory::MemorySnapshot;
use crate::outcome::{Outcome, Reason};
use crate::plan::{Plan, Probe, Schedule};
use crate::runner::IterationReport;

mod counts;
pub mod history;
mod recovery;
mod redact;
mod verdict;

pub use counts::CountValues;
use counts::Counts;
pub use recovery::RecoveryResult;
pub use redact::{SNIPPET_BYTES, snippet};

pub use verdict::{RunReport, SloVerdict, StepLatency};

/// Failures kept for the status page after they happened.
const RECENT_FAILURES: usize = 50;
/// Latencies above this are clamped; a request this slow has long hit its timeout.
const MAX_TRACKED_MICROS: u64 = 3_600_000_000;

/// Status of every probe plus recent failures.
#[derive(Debug)]
pub struct StatusBoard {
    /// One entry per probe, in plan order.
    probes: Vec<ProbeStatus>,
    /// The latest failures across probes, newest last.
    failures: Mutex<VecDeque<FailureRecord>>,
    /// The latest memory snapshot of each sampled target.
    memory: Mutex<BTreeMap<String, MemorySnapshot>>,
}

/// One failed request, as shown on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRecord {
    /// When it finished, Unix seconds.
    pub at: f64,
    /// Probe name.
    pub probe: String,
    /// Step name.
    pub step: String,
    /// Failure reason label.
    pub reason: &'static str,
    /// Status code, when a response arrived.
    pub status: Option<u16>,
    /// Why, in words, redacted (no request headers, so no configured secrets).
    pub detail: String,
    /// The start of the response body, redacted, when one arrived.
    pub response: Option<String>,
}

/// What a probe is doing now.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    /// Between runs.
    Waiting {
        /// When the next run starts, Unix seconds.
        next_run: Option<f64>,
    },
    /// A run is sending arrivals.
    Running {
        /// When it started, Unix seconds.
        since: f64,
    },
    /// Shut down.
    Stopped,
}

/// Live state of one probe.
#[derive(Debug)]
struct ProbeStatus {
    name: String,
    target: String,
    schedule: String,
    planned_rate: f64,
    steps: Vec<String>,
    slo: SloConfig,
    state: Mutex<RunState>,
    totals: Counts,
    window: Counts,
    /// When the current window opened.
    window_start: Mutex<SystemTime>,
    /// Exact latencies of the current window, per step, in microseconds.
    latencies: Vec<Mutex<Histogram<u64>>>,
    last_report: Mutex<Option<RunReport>>,
    /// The measurement after the latest burst, while it is going on.
    recovery: Mutex<Option<recovery::Recovery>>,
    /// How the latest measurement ended, until the window that saw it closes.
    recovered: Mutex<Option<RecoveryResult>>,
    /// The status page's chart samples (see `history.rs`).
    history: history::ProbeHistory,
    /// The guard's phase (`running`, `paused`, …), for probes with a guard.
    guard: Mutex<Option<&'static str>>,
}

/// A point-in-time copy of one probe's status.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeSnapshot {
    /// Probe name.
    pub name: String,
    /// Target name.
    pub target: String,
    /// Schedule in words.
    pub schedule: String,
    /// Arrivals per second of a run.
    pub planned_rate: f64,
    /// What it is doing now.
    pub state: RunState,
    /// Counts since start-up.
    pub totals: CountValues,
    /// The last closed run or report window.
    pub last_report: Option<RunReport>,
    /// The guard's phase, for probes with a guard: `running`, `paused`, `canary` or
    /// `held (Retry-After)`.
    pub guard: Option<&'static str>,
}

impl StatusBoard {
    /// An empty board for the probes of `plan`.
    pub fn new(plan: &Plan) -> Self {
        Self {
            probes: plan.probes.iter().map(|p| ProbeStatus::new(p)).collect(),
            failures: Mutex::new(VecDeque::with_capacity(RECENT_FAILURES)),
            memory: Mutex::new(BTreeMap::new()),
        }
    }

    /// An arrival of probe `probe` came due; `dropped` when it was not started.
    pub fn record_arrival(&self, probe: usize, dropped: bool) {
        let p = &self.probes[probe];
        for counts in [&p.totals, &p.window] {
            counts.arrivals.fetch_add(1, Ordering::Relaxed);
            if dropped {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// An iteration of probe `probe` finished.
    pub fn record_iteration(&self, probe: usize, report: &IterationReport, succeeded: bool) {
        let p = &self.probes[probe];
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
                    p,
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
        p: &ProbeStatus,
        step: usize,
        reason: Reason,
        status: Option<u16>,
        (detail, response): (Option<String>, Option<String>),
    ) {
        let record = FailureRecord {
            at: unix_seconds(SystemTime::now()),
            probe: p.name.clone(),
            step: p.steps[step].clone(),
            reason: reason.as_str(),
            status,
            detail: snippet(&detail.unwrap_or_default()),
            response: response.as_deref().map(snippet).filter(|s| !s.is_empty()),
        };
        let mut failures = self
            .failures
            .lock()
            .expect("failure ring lock is never poisoned");
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(record);
    }

    /// Probe `probe` changed state.
    pub fn set_state(&self, probe: usize, state: RunState) {
        *self.probes[probe]
            .state
            .lock()
            .expect("state lock is never poisoned") = state;
    }

    /// Opens a new report window for probe `probe` (a run starts).
    pub fn open_window(&self, probe: usize) {
        let p = &self.probes[probe];
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

    /// Closes probe `probe`'s window: judges it against the SLOs, keeps and returns the report.
    /// `span` is the window's length for rates; `None` means from its opening until now.
    pub fn close_window(&self, probe: usize, span: Option<Duration>) -> RunReport {
        let p = &self.probes[probe];
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

    /// A target's memory was sampled (or failed to be).
    pub fn record_memory(&self, snapshot: MemorySnapshot) {
        let mut memory = self.memory.lock().expect("memory lock is never poisoned");
        memory.insert(snapshot.target.clone(), snapshot);
    }

    /// The latest memory snapshot of every sampled target.
    pub fn memory(&self) -> Vec<MemorySnapshot> {
        self.memory
            .lock()
            .expect("memory lock is never poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Probe `probe`'s guard is in `phase` (only written when the phase changes).
    pub fn set_guard_phase(&self, probe: usize, phase: &'static str) {
        let mut guard = self.probes[probe]
            .guard
            .lock()
            .expect("guard lock is never poisoned");
        if *guard != Some(phase) {
            tracing::info!(probe = %self.probes[probe].name, phase, "guard state");
            *guard = Some(phase);
        }
    }

    /// The name of probe `probe`.
    pub fn snapshot_name(&self, probe: usize) -> String {
        self.probes[probe].name.clone()
    }

    /// Snapshots of every probe.
    pub fn snapshot(&self) -> Vec<ProbeSnapshot> {
        self.probes.iter().map(ProbeStatus::snapshot).collect()
    }

    /// The recent failures, newest first.
    pub fn recent_failures(&self) -> Vec<FailureRecord> {
        let failures = self
            .failures
            .lock()
            .expect("failure ring lock is never poisoned");
        failures.iter().rev().cloned().collect()
    }
}

impl ProbeStatus {
    fn new(probe: &Probe) -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3).expect("static bounds are valid")
        };
        Self {
            name: probe.name.clone(),
            target: probe.target.name.clone(),
            schedule: describe(&probe.schedule),
            planned_rate: probe.replica_rate(),
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

    fn snapshot(&self) -> ProbeSnapshot {
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

fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Continuous => "continuous".to_owned(),
        Schedule::Every { every, run_for } => format!("every {every:?} for {run_for:?}"),
        Schedule::Cron { cron, run_for } => format!("cron `{}` for {run_for:?}", cron.as_str()),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
