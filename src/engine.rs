//! The running probes and memory samplers, and how a new plan replaces them: unchanged
//! probes keep running without a gap, changed ones restart, removed ones stop.
//!
//! "Unchanged" is decided by fingerprints (`plan/fingerprint.rs`): the probe's config, its
//! target's, and the data it read. An unchanged probe keeps its scheduler task, metric
//! handles (so its counters continue) and status entry; the new board simply lists it again.
//! A changed or removed probe is stopped like at shutdown (no new arrivals, its in-flight
//! iterations drained and recorded), then its series are removed; a changed one starts over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{self, ClientError, HttpClient};
use crate::control::{ReloadSummary, RunNowError};
use crate::guard::RateCap;
use crate::memory::MemorySampler;
use crate::metrics::Metrics;
use crate::plan::{Global, Plan, Probe, Schedule, Target};
use crate::recorder::{Recorder, TargetRecorder};
use crate::runner::Runner;
use crate::scheduler::{ProbeSchedule, ScheduleHandle, ScheduleSettings, TimerKind};
use crate::status::{ProbeBoard, StatusBoard};

/// A spawned task and what stops it.
#[derive(Debug)]
struct Task {
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

impl Task {
    async fn stop(self) {
        self.stop.cancel();
        // A panicked task has nothing left to stop.
        let _ = self.handle.await;
    }
}

/// A target's client (its connection pool), recorder and memory sampler.
#[derive(Debug)]
struct TargetEntry {
    target: Arc<Target>,
    client: HttpClient,
    recorder: Arc<TargetRecorder>,
    sampler: Option<Task>,
}

/// A running probe.
#[derive(Debug)]
struct ProbeEntry {
    probe: Arc<Probe>,
    /// Its schedule's task.
    task: JoinHandle<()>,
    /// Stops it, starts a run now, drains its in-flight iterations.
    schedule: ScheduleHandle,
    recorder: Arc<Recorder>,
}

/// Everything that runs load, and the shared metrics and board it records into.
#[derive(Debug)]
pub struct Engine {
    metrics: Arc<Metrics>,
    status: Arc<StatusBoard>,
    global: Option<Global>,
    rate_cap: Option<Arc<RateCap>>,
    targets: HashMap<String, TargetEntry>,
    /// In plan order.
    probes: Vec<ProbeEntry>,
}

impl Engine {
    /// An engine running nothing yet; [`Engine::apply`] starts a plan.
    pub fn new(metrics: Arc<Metrics>, status: Arc<StatusBoard>) -> Self {
        Self {
            metrics,
            status,
            global: None,
            rate_cap: None,
            targets: HashMap::new(),
            probes: Vec::new(),
        }
    }

    /// Makes `plan` the running one. On error (a client cannot be built) nothing changed.
    pub async fn apply(&mut self, plan: &Plan) -> Result<ReloadSummary, ClientError> {
        let clients = self.clients_for(plan)?;
        let global_changed = self.global.as_ref() != Some(&plan.global);
        if global_changed {
            self.rate_cap = RateCap::for_global(&plan.global);
        }
        let drain = plan.global.drain_timeout;
        let mut old: HashMap<String, ProbeEntry> = self
            .probes
            .drain(..)
            .map(|entry| (entry.probe.name.clone(), entry))
            .collect();
        let mut summary = ReloadSummary::default();
        let mut to_stop = Vec::new();
        let mut keep = HashMap::new();
        for probe in &plan.probes {
            match old.remove(&probe.name) {
                Some(entry) if entry.probe.fingerprint == probe.fingerprint && !global_changed => {
                    summary.unchanged.push(probe.name.clone());
                    keep.insert(probe.name.clone(), entry);
                }
                Some(entry) => {
                    summary.restarted.push(probe.name.clone());
                    to_stop.push(entry);
                }
                None => summary.started.push(probe.name.clone()),
            }
        }
        summary.stopped = old.keys().cloned().collect();
        summary.stopped.sort();
        to_stop.extend(old.into_values());
        self.stop_probes(to_stop, drain).await;
        self.replace_targets(plan, clients).await;
        self.global = Some(plan.global.clone());
        for probe in &plan.probes {
            let entry = match keep.remove(&probe.name) {
                Some(entry) => entry,
                None => self.start_probe(probe, plan.global.report_interval),
            };
            self.probes.push(entry);
        }
        let boards: Vec<ProbeBoard> = self
            .probes
            .iter()
            .map(|p| p.recorder.status().clone())
            .collect();
        self.status.set_probes(&boards);
        Ok(summary)
    }

    /// Starts a run of scheduled probe `name` now, if it is between runs.
    pub fn run_now(&self, name: &str) -> Result<(), RunNowError> {
        let Some(entry) = self.probes.iter().find(|p| p.probe.name == name) else {
            return Err(RunNowError::UnknownProbe(name.to_owned()));
        };
        if matches!(entry.probe.schedule, Schedule::Continuous)
            || entry.recorder.status().is_running()
        {
            return Err(RunNowError::AlreadyRunning(name.to_owned()));
        }
        entry.schedule.run_now.notify_one();
        Ok(())
    }

    /// Stops every probe and sampler: no new arrivals, then in-flight iterations are drained
    /// for up to `drain_timeout` (recorded as they finish).
    pub async fn shutdown(&mut self, drain_timeout: Duration) {
        // Their series stay: the last scrapes during shutdown still see the final counts.
        drain(self.probes.drain(..).collect(), drain_timeout).await;
        for (_, target) in self.targets.drain() {
            if let Some(sampler) = target.sampler {
                sampler.stop().await;
            }
        }
    }

    /// Each target's client: kept when the target is unchanged (its pool stays warm), new
    /// otherwise. Built before anything stops, so a failure changes nothing.
    fn clients_for(&self, plan: &Plan) -> Result<HashMap<String, HttpClient>, ClientError> {
        let mut clients = HashMap::new();
        for target in &plan.targets {
            let client = match self.targets.get(&target.name) {
                Some(old) if old.target.fingerprint == target.fingerprint => old.client.clone(),
                _ => client::build(target)?,
            };
            clients.insert(target.name.clone(), client);
        }
        Ok(clients)
    }

    /// Stops `probes` and drains their iterations, then removes their series.
    async fn stop_probes(&self, probes: Vec<ProbeEntry>, drain_timeout: Duration) {
        for probe in drain(probes, drain_timeout).await {
            probe.recorder.retire();
            tracing::info!(probe = %probe.probe.name, "probe stopped");
        }
    }

    /// Keeps unchanged targets' samplers, restarts changed ones, stops removed ones.
    async fn replace_targets(&mut self, plan: &Plan, mut clients: HashMap<String, HttpClient>) {
        let mut old = std::mem::take(&mut self.targets);
        for target in &plan.targets {
            let Some(client) = clients.remove(&target.name) else {
                continue;
            };
            let entry = match old.remove(&target.name) {
                Some(entry) if entry.target.fingerprint == target.fingerprint => entry,
                Some(entry) => {
                    retire_target(entry).await;
                    self.start_target(target, client)
                }
                None => self.start_target(target, client),
            };
            self.targets.insert(target.name.clone(), entry);
        }
        for (_, entry) in old {
            retire_target(entry).await;
        }
        let sampled: Vec<&str> = plan
            .targets
            .iter()
            .filter(|t| t.memory.is_some())
            .map(|t| t.name.as_str())
            .collect();
        self.status.retain_memory(&sampled);
    }

    fn start_target(&self, target: &Arc<Target>, client: HttpClient) -> TargetEntry {
        let recorder = Arc::new(TargetRecorder::new(
            target,
            &self.metrics,
            self.status.clone(),
        ));
        let sampler = target.memory.clone().map(|memory| {
            let sampler = MemorySampler {
                target: target.clone(),
                plan: memory,
                client: client.clone(),
                recorder: recorder.clone(),
            };
            let stop = CancellationToken::new();
            let handle = tokio::spawn(sampler.run(stop.clone()));
            Task { stop, handle }
        });
        TargetEntry {
            target: target.clone(),
            client,
            recorder,
            sampler,
        }
    }

    fn start_probe(&self, probe: &Arc<Probe>, report_interval: Duration) -> ProbeEntry {
        let client = self.targets[&probe.target.name].client.clone();
        let recorder = Arc::new(Recorder::new(probe, &self.metrics, &self.status));
        let settings = ScheduleSettings {
            report_interval,
            rate_cap: self.rate_cap.clone(),
            timer: TimerKind::Exact,
        };
        let runner = Arc::new(Runner::new(probe.clone(), client));
        let schedule = ProbeSchedule::new(probe.clone(), runner, recorder.clone(), settings);
        let handle = schedule.handle();
        ProbeEntry {
            probe: probe.clone(),
            task: tokio::spawn(schedule.run()),
            schedule: handle,
            recorder,
        }
    }
}

async fn retire_target(entry: TargetEntry) {
    if let Some(sampler) = entry.sampler {
        sampler.stop().await;
    }
    entry.recorder.retire();
}

/// Stops `probes` like at shutdown: no new arrivals, then their in-flight iterations are
/// drained (and recorded) for up to `timeout` in all. Returns them, stopped.
async fn drain(mut probes: Vec<ProbeEntry>, timeout: Duration) -> Vec<ProbeEntry> {
    for probe in &probes {
        probe.schedule.shutdown.cancel();
    }
    for probe in &mut probes {
        // A panicked schedule has nothing left to stop.
        let _ = (&mut probe.task).await;
        probe.schedule.iterations.close();
    }
    let drained = async {
        for probe in &probes {
            probe.schedule.iterations.wait().await;
        }
    };
    if tokio::time::timeout(timeout, drained).await.is_err() {
        tracing::warn!(
            ?timeout,
            "drain timeout expired; abandoning in-flight iterations"
        );
    }
    probes
}
