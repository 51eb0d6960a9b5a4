//! Per-probe metric handles, resolved once from the registered families, and the methods
//! that record the scheduler's and runner's reports into them.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{
    DropLabels, DropReason, FailureLabels, Families, FloatGauge, IterationLabels, PercentileLabels,
    ProbeLabels, ResponseLabels, StepLabels, StepPercentileLabels, TripLabels, unix_seconds,
};
use crate::guard::TripReason;
use crate::outcome::{Outcome, Reason};
use crate::plan::Probe;
use crate::runner::IterationReport;
use crate::status::RunReport;

/// The iteration label sets of `probe`: one per scenario of its mix, or just the probe.
pub(super) fn iteration_labels(probe: &Probe) -> Vec<IterationLabels> {
    if probe.scenarios.is_empty() {
        return vec![IterationLabels {
            probe: probe.name.clone(),
            scenario: None,
        }];
    }
    probe
        .scenarios
        .iter()
        .map(|s| IterationLabels {
            probe: probe.name.clone(),
            scenario: Some(s.name.clone()),
        })
        .collect()
}

/// The `percentile` labels of `last_run_latency_seconds`, in gauge order.
pub(super) const LAST_RUN_PERCENTILES: [&str; 3] = ["p50", "p95", "p99"];

/// Pre-resolved handles of one probe.
#[derive(Debug)]
pub struct ProbeMetrics {
    arrivals: Counter,
    /// Indexed like [`DropReason::ALL`].
    dropped: Vec<Counter>,
    /// Present for probes with a guard.
    guard_paused: Option<Gauge>,
    /// Indexed like [`TripReason::ALL`]; empty without a guard.
    guard_trips: Vec<Counter>,
    schedule_lag: Histogram,
    in_flight: Gauge,
    arrival_rate: FloatGauge,
    /// Per scenario (one without a mix).
    iterations: Vec<Counter>,
    /// Per scenario (one without a mix).
    iteration_failures: Vec<Counter>,
    iteration_duration: Histogram,
    run_active: Gauge,
    runs_skipped: Counter,
    /// Created at the first report, so nothing reads as a failed run before one exists.
    last_run: OnceLock<LastRun>,
    last_run_families: LastRunFamilies,
    /// Created at the first result (a probe without bursts has none).
    recovery: Family<ProbeLabels, FloatGauge>,
    steps: Vec<StepMetrics>,
}

/// Handles of the last-run gauges.
#[derive(Debug)]
struct LastRun {
    success: Gauge,
    timestamp: FloatGauge,
    /// Per step: p50, p95, p99.
    latency: Vec<[FloatGauge; 3]>,
}

/// Where the last-run gauges are created from.
#[derive(Debug)]
struct LastRunFamilies {
    success: Family<ProbeLabels, Gauge>,
    timestamp: Family<ProbeLabels, FloatGauge>,
    latency: Family<StepPercentileLabels, FloatGauge>,
    probe: ProbeLabels,
    steps: Vec<String>,
}

impl LastRunFamilies {
    fn create(&self) -> LastRun {
        let latency = self
            .steps
            .iter()
            .map(|step| {
                LAST_RUN_PERCENTILES.map(|percentile| {
                    let labels = StepPercentileLabels {
                        probe: self.probe.probe.clone(),
                        step: step.clone(),
                        percentile,
                    };
                    self.latency.get_or_create_owned(&labels)
                })
            })
            .collect();
        LastRun {
            success: self.success.get_or_create_owned(&self.probe),
            timestamp: self.timestamp.get_or_create_owned(&self.probe),
            latency,
        }
    }
}

/// Pre-resolved handles of one step.
#[derive(Debug)]
struct StepMetrics {
    requests: Counter,
    /// Indexed like [`Reason::ALL`].
    failures: Vec<Counter>,
    duration: super::exemplars::DurationHistogram,
    /// Response counters by code, created on first sight of a code (few codes per step).
    responses: Mutex<Vec<(u16, Counter)>>,
    /// Family and labels to create new response counters from.
    responses_family: Family<ResponseLabels, Counter>,
    labels: StepLabels,
}

impl ProbeMetrics {
    pub(super) fn resolve(probe: &Probe, f: &Families) -> Self {
        let p = ProbeLabels {
            probe: probe.name.clone(),
        };
        set_slo_gauges(probe, f);
        let steps = probe
            .steps
            .iter()
            .map(|step| {
                let labels = StepLabels {
                    probe: probe.name.clone(),
                    step: step.name.clone(),
                };
                let failures = Reason::ALL
                    .iter()
                    .map(|&reason| {
                        let l = FailureLabels {
                            probe: probe.name.clone(),
                            step: step.name.clone(),
                            reason,
                        };
                        f.failures.get_or_create_owned(&l)
                    })
                    .collect();
                StepMetrics {
                    requests: f.requests.get_or_create_owned(&labels),
                    failures,
                    duration: f.durations.get_or_create_owned(&labels),
                    responses: Mutex::new(Vec::new()),
                    responses_family: f.responses.clone(),
                    labels,
                }
            })
            .collect();
        let dropped = DropReason::ALL
            .iter()
            .map(|&reason| {
                f.dropped.get_or_create_owned(&DropLabels {
                    probe: probe.name.clone(),
                    reason,
                })
            })
            .collect();
        let guarded = probe.guard.is_some();
        let guard_paused = guarded.then(|| f.guard_paused.get_or_create_owned(&p));
        let guard_trips = TripReason::ALL
            .iter()
            .filter(|_| guarded)
            .map(|&reason| {
                f.guard_trips.get_or_create_owned(&TripLabels {
                    probe: probe.name.clone(),
                    reason,
                })
            })
            .collect();
        Self {
            arrivals: f.arrivals.get_or_create_owned(&p),
            dropped,
            guard_paused,
            guard_trips,
            schedule_lag: f.schedule_lag.get_or_create_owned(&p),
            in_flight: f.in_flight.get_or_create_owned(&p),
            arrival_rate: f.arrival_rate.get_or_create_owned(&p),
            iterations: iteration_labels(probe)
                .iter()
                .map(|l| f.iterations.get_or_create_owned(l))
                .collect(),
            iteration_failures: iteration_labels(probe)
                .iter()
                .map(|l| f.iteration_failures.get_or_create_owned(l))
                .collect(),
            iteration_duration: f.iteration_durations.get_or_create_owned(&p),
            run_active: f.run_active.get_or_create_owned(&p),
            runs_skipped: f.runs_skipped.get_or_create_owned(&p),
            last_run: OnceLock::new(),
            recovery: f.recovery.clone(),
            last_run_families: LastRunFamilies {
                success: f.last_run_success.clone(),
                timestamp: f.last_run_timestamp.clone(),
                latency: f.last_run_latency.clone(),
                probe: p.clone(),
                steps: probe.steps.iter().map(|s| s.name.clone()).collect(),
            },
            steps,
        }
    }

    /// `count` arrivals came due.
    pub fn record_arrivals(&self, count: u64) {
        self.arrivals.inc_by(count);
    }

    /// `count` arrivals were not started, for `reason`.
    pub fn record_dropped_arrivals(&self, reason: DropReason, count: u64) {
        self.dropped[reason as usize].inc_by(count);
    }

    /// An iteration started `lag` after its intended instant.
    pub fn record_iteration_start(&self, lag: Duration) {
        self.schedule_lag.observe(lag.as_secs_f64());
        self.in_flight.inc();
    }

    /// An iteration finished: counts its requests, outcomes, codes and latencies.
    pub fn record_iteration(&self, report: &IterationReport, succeeded: bool) {
        self.in_flight.dec();
        self.iterations[report.scenario].inc();
        self.iteration_duration
            .observe(report.duration().as_secs_f64());
        if !succeeded {
            self.iteration_failures[report.scenario].inc();
        }
        for step in &report.steps {
            let m = &self.steps[step.step];
            m.requests.inc();
            m.duration
                .observe(step.latency.as_secs_f64(), report.trace_id);
            if let Some(code) = step.status {
                m.response_counter(code).inc();
            }
            if let Outcome::Failure(reason) = step.outcome {
                m.failures[reason as usize].inc();
            }
        }
    }

    /// A run began, planning `per_second` arrivals.
    pub fn record_run_start(&self, per_second: f64) {
        self.run_active.set(1);
        self.arrival_rate.set(per_second);
    }

    /// The schedule plans `per_second` arrivals now (stages and ramps change it during a run).
    pub fn record_planned_rate(&self, per_second: f64) {
        self.arrival_rate.set(per_second);
    }

    /// A run's arrivals ended (its verdict comes with [`Self::record_run_report`]).
    pub fn record_run_end(&self) {
        self.run_active.set(0);
        self.arrival_rate.set(0.0);
    }

    /// A run (or a continuous probe's report window) closed with this report.
    pub fn record_run_report(&self, report: &RunReport, at: SystemTime) {
        let last_run = self
            .last_run
            .get_or_init(|| self.last_run_families.create());
        last_run.success.set(i64::from(report.success));
        last_run.timestamp.set(unix_seconds(at));
        for (gauges, latency) in last_run.latency.iter().zip(&report.steps) {
            for (gauge, value) in gauges.iter().zip([latency.p50, latency.p95, latency.p99]) {
                gauge.set(value);
            }
        }
    }

    /// Recovery after a burst took `seconds` (or hit its bound).
    pub fn record_recovery(&self, seconds: f64) {
        self.recovery
            .get_or_create(&self.last_run_families.probe)
            .set(seconds);
    }

    /// The guard is (or is no longer) holding arrivals back.
    pub fn record_guard_paused(&self, paused: bool) {
        if let Some(gauge) = &self.guard_paused {
            gauge.set(i64::from(paused));
        }
    }

    /// The guard paused the probe.
    pub fn record_guard_trip(&self, reason: TripReason) {
        if let Some(counter) = self.guard_trips.get(reason as usize) {
            counter.inc();
        }
    }

    /// A scheduled run was skipped because the previous one was still going.
    pub fn record_run_skipped(&self, count: u64) {
        self.runs_skipped.inc_by(count);
    }

    /// Arrivals counted so far (for tests and summaries).
    pub fn arrivals(&self) -> u64 {
        self.arrivals.get()
    }

    /// Arrivals dropped at `max_in_flight` so far.
    pub fn dropped_at_max_in_flight(&self) -> u64 {
        self.dropped[DropReason::MaxInFlight as usize].get()
    }

    /// Scheduled runs skipped so far.
    pub fn runs_skipped(&self) -> u64 {
        self.runs_skipped.get()
    }

    /// Iterations in flight now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }
}

impl ProbeMetrics {
    /// The label sets of every response counter created so far (for retiring them).
    pub(super) fn response_labels(&self) -> Vec<ResponseLabels> {
        let mut labels = Vec::new();
        for step in &self.steps {
            let known = step
                .responses
                .lock()
                .expect("response cache lock is never poisoned");
            labels.extend(known.iter().map(|(code, _)| ResponseLabels {
                probe: step.labels.probe.clone(),
                step: step.labels.step.clone(),
                code: *code,
            }));
        }
        labels
    }
}

impl StepMetrics {
    fn response_counter(&self, code: u16) -> Counter {
        let mut known = self
            .responses
            .lock()
            .expect("response cache lock is never poisoned");
        if let Some((_, counter)) = known.iter().find(|(c, _)| *c == code) {
            return counter.clone();
        }
        let labels = ResponseLabels {
            probe: self.labels.probe.clone(),
            step: self.labels.step.clone(),
            code,
        };
        let counter = self.responses_family.get_or_create_owned(&labels);
        known.push((code, counter.clone()));
        counter
    }
}

fn set_slo_gauges(probe: &Probe, f: &Families) {
    let p = ProbeLabels {
        probe: probe.name.clone(),
    };
    let slo = &probe.slo;
    for (percentile, value) in [("p95", slo.p95), ("p99", slo.p99)] {
        if let Some(value) = value {
            let labels = PercentileLabels {
                probe: probe.name.clone(),
                percentile,
            };
            f.slo_latency
                .get_or_create(&labels)
                .set(value.as_secs_f64());
        }
    }
    let gauges = [
        (&f.slo_error_ratio, slo.error_ratio),
        (&f.slo_throttled_ratio, slo.throttled_ratio),
        (&f.slo_min_rate, slo.min_rate.map(|r| r.per_second())),
        (&f.slo_recovery, slo.recovery.map(|d| d.as_secs_f64())),
    ];
    for (family, value) in gauges {
        if let Some(value) = value {
            family.get_or_create(&p).set(value);
        }
    }
}
