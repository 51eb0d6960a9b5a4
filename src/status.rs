//! Live state for the status page, the API and the final summary: each probe's run state,
//! totals, last run report and guard state, a bounded ring of recent failures, the targets'
//! memory and how the last configuration load went.
//!
//! It only holds and shows state: the recorder (`recorder.rs`) writes the values the report
//! stage produced; readers take snapshots. Memory is bounded: a fixed-length failure ring
//! and fixed-size chart histograms.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use crate::guard::GuardState;
use crate::memory::MemorySnapshot;
use crate::plan::{Probe, Schedule};
use crate::report::{CountValues, RunReport, unix_seconds};

pub mod history;
mod probe;
mod redact;

pub use probe::{ProbeBoard, ProbeStatus};
pub use redact::{SNIPPET_BYTES, redact_secrets, snippet};

/// Failures kept for the status page after they happened.
const RECENT_FAILURES: usize = 50;

/// Status of every probe plus recent failures.
#[derive(Debug)]
pub struct StatusBoard {
    /// One entry per probe, in plan order; a reload swaps the list, keeping unchanged
    /// probes' entries.
    probes: RwLock<Vec<Arc<ProbeStatus>>>,
    /// The latest failures across probes, newest last.
    failures: Mutex<VecDeque<FailureRecord>>,
    /// The latest memory snapshot of each sampled target.
    memory: Mutex<BTreeMap<String, MemorySnapshot>>,
    /// How the last configuration (re)load went.
    config: Mutex<ConfigStatus>,
}

/// How the last configuration (re)load went, for the status page and `/api/v1/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigStatus {
    /// Whether the last attempt succeeded (the first load always did: it is a start-up error).
    pub last_reload_successful: bool,
    /// When the running configuration was loaded, Unix seconds.
    pub last_success_at: f64,
    /// When the last attempt failed, Unix seconds.
    pub last_failure_at: Option<f64>,
    /// Why it failed (the validation errors), while the last attempt is a failure.
    pub error: Option<String>,
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
    /// The guard's state, for probes with a guard: `running`, `paused`, `canary` or
    /// `held (Retry-After)`.
    pub guard: Option<GuardState>,
}

impl Default for StatusBoard {
    /// A board listing no probe yet; each probe's entry is listed as it starts (see
    /// [`StatusBoard::set_probes`]).
    fn default() -> Self {
        Self {
            probes: RwLock::default(),
            failures: Mutex::new(VecDeque::with_capacity(RECENT_FAILURES)),
            memory: Mutex::new(BTreeMap::new()),
            config: Mutex::new(ConfigStatus {
                last_reload_successful: true,
                last_success_at: unix_seconds(SystemTime::now()),
                ..ConfigStatus::default()
            }),
        }
    }
}

impl StatusBoard {
    /// A fresh entry for `probe`, listed once passed to [`StatusBoard::set_probes`].
    pub fn fresh_probe(self: &Arc<Self>, probe: &Probe) -> ProbeBoard {
        ProbeBoard {
            board: self.clone(),
            probe: Arc::new(ProbeStatus::new(probe)),
        }
    }

    /// Lists exactly `probes`, in this order (at start-up and after a reload).
    pub fn set_probes(&self, probes: &[ProbeBoard]) {
        *self
            .probes
            .write()
            .expect("probe list lock is never poisoned") =
            probes.iter().map(|p| p.probe.clone()).collect();
    }

    fn probes(&self) -> Vec<Arc<ProbeStatus>> {
        self.probes
            .read()
            .expect("probe list lock is never poisoned")
            .clone()
    }

    fn push_failure(&self, record: FailureRecord) {
        let mut failures = self
            .failures
            .lock()
            .expect("failure ring lock is never poisoned");
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(record);
    }

    /// A configuration reload succeeded (`error` is `None`) or was rejected.
    pub fn record_reload(&self, error: Option<String>) {
        let now = unix_seconds(SystemTime::now());
        let mut config = self.config.lock().expect("config lock is never poisoned");
        config.last_reload_successful = error.is_none();
        match error {
            None => config.last_success_at = now,
            Some(_) => config.last_failure_at = Some(now),
        }
        config.error = error;
    }

    /// How the last configuration (re)load went.
    pub fn config(&self) -> ConfigStatus {
        self.config
            .lock()
            .expect("config lock is never poisoned")
            .clone()
    }

    /// Forgets the memory of targets not in `targets` (they left the configuration).
    pub fn retain_memory(&self, targets: &[&str]) {
        let mut memory = self.memory.lock().expect("memory lock is never poisoned");
        memory.retain(|name, _| targets.contains(&name.as_str()));
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

    /// Snapshots of every probe.
    pub fn snapshot(&self) -> Vec<ProbeSnapshot> {
        self.probes().iter().map(|p| p.snapshot()).collect()
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

fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Continuous => "continuous".to_owned(),
        Schedule::Every { every, run_for } => format!("every {every:?} for {run_for:?}"),
        Schedule::Cron { cron, run_for } => format!("cron `{}` for {run_for:?}", cron.as_str()),
    }
}
