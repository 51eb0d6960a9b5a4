//! Per-probe metric handles, resolved once from the registered families, and the methods
//! the recorder calls to record each event into them.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::exemplars::DurationHistogram;
use super::series::Series;
use super::{
    DropLabels, DropReason, FailureLabels, Families, FloatGauge, IterationLabels, PercentileLabels,
    ProbeLabels, ResponseLabels, StepLabels, StepPercentileLabels, TripLabels, unix_seconds,
};
use crate::guard::TripReason;
use crate::outcome::{Outcome, Reason};
use crate::plan::{Probe, Rate};
use crate::report::{IterationReport, Percentile, RunReport};

/// Pre-resolved handles of one probe.
#[derive(Debug)]
pub struct ProbeMetrics {
    /// Every series created for the probe, removed together when it retires.
    series: Series,
    /// For the series created later: last-run gauges, recovery, response codes.
    families: Arc<Families>,
    labels: ProbeLabels,
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
    /// Created at the first result (a probe without bursts has none).
    recovery: OnceLock<FloatGauge>,
    steps: Vec<StepMetrics>,
}

/// Handles of the last-run gauges.
#[derive(Debug)]
struct LastRun {
    success: Gauge,
    timestamp: FloatGauge,
    /// Per step, indexed like [`Percentile::LAST_RUN`].
    latency: Vec<[FloatGauge; 3]>,
}

/// Pre-resolved handles of one step.
#[derive(Debug)]
struct StepMetrics {
    labels: StepLabels,
    requests: Counter,
    /// Indexed like [`Reason::ALL`].
    failures: Vec<Counter>,
    duration: DurationHistogram,
    /// Response counters by code, created on first sight of a code (few codes per step).
    responses: Mutex<Vec<(u16, Counter)>>,
}

impl ProbeMetrics {
    pub(super) fn resolve(probe: &Probe, families: &Arc<Families>) -> Self {
        let f = families;
        let series = Series::default();
        let p = ProbeLabels {
            probe: probe.name.clone(),
        };
        set_slo_gauges(probe, f, &series);
        if let Some(replay) = &probe.replay {
            // Counted once per start: the log is parsed when the plan is built.
            series
                .get(&f.replay_skipped, p.clone())
                .inc_by(replay.skipped_lines);
        }
        let steps = probe
            .steps
            .iter()
            .map(|step| StepMetrics::resolve(&probe.name, &step.name, f, &series))
            .collect();
        let dropped = DropReason::ALL
            .iter()
            .map(|&reason| {
                let probe = probe.name.clone();
                series.get(&f.dropped, DropLabels { probe, reason })
            })
            .collect();
        let guarded = probe.guard.is_some();
        let guard_paused = guarded.then(|| series.get(&f.guard_paused, p.clone()));
        let guard_trips = TripReason::ALL
            .iter()
            .filter(|_| guarded)
            .map(|&reason| {
                let probe = probe.name.clone();
                series.get(&f.guard_trips, TripLabels { probe, reason })
            })
            .collect();
        let scenarios = iteration_labels(probe);
        Self {
            arrivals: series.get(&f.arrivals, p.clone()),
            dropped,
            guard_paused,
            guard_trips,
            schedule_lag: series.get(&f.schedule_lag, p.clone()),
            in_flight: series.get(&f.in_flight, p.clone()),
            arrival_rate: series.get(&f.arrival_rate, p.clone()),
            iterations: scenarios
                .iter()
                .map(|l| series.get(&f.iterations, l.clone()))
                .collect(),
            iteration_failures: scenarios
                .iter()
                .map(|l| series.get(&f.iteration_failures, l.clone()))
                .collect(),
            iteration_duration: series.get(&f.iteration_durations, p.clone()),
            run_active: series.get(&f.run_active, p.clone()),
            runs_skipped: series.get(&f.runs_skipped, p.clone()),
            last_run: OnceLock::new(),
            recovery: OnceLock::new(),
            steps,
            labels: p,
            families: families.clone(),
            series,
        }
    }

    /// Removes every series of the probe: a reload stopped it.
    pub fn retire(&self) {
        self.series.retire();
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
                m.response_counter(code, &self.families, &self.series).inc();
            }
            if let Outcome::Failure(reason) = step.outcome {
                m.failures[reason as usize].inc();
            }
        }
        // Last, so a scrape that sees nothing in flight also sees every count above.
        self.in_flight.dec();
    }

    /// A run began, planning `rate` arrivals.
    pub fn record_run_start(&self, rate: Rate) {
        self.run_active.set(1);
        self.arrival_rate.set(rate.per_second());
    }

    /// The schedule plans `rate` arrivals now (stages and ramps change it during a run).
    pub fn record_planned_rate(&self, rate: Rate) {
        self.arrival_rate.set(rate.per_second());
    }

    /// A run's arrivals ended (its verdict comes with [`Self::record_run_report`]).
    pub fn record_run_end(&self) {
        self.run_active.set(0);
        self.arrival_rate.set(0.0);
    }

    /// A run (or a continuous probe's report window) closed at `at` with this report.
    pub fn record_run_report(&self, report: &RunReport, at: SystemTime) {
        let last_run = self.last_run.get_or_init(|| self.create_last_run());
        last_run.success.set(i64::from(report.success));
        last_run.timestamp.set(unix_seconds(at));
        for (gauges, latency) in last_run.latency.iter().zip(&report.steps) {
            for (gauge, percentile) in gauges.iter().zip(Percentile::LAST_RUN) {
                gauge.set(latency.at(percentile));
            }
        }
    }

    fn create_last_run(&self) -> LastRun {
        let f = &self.families;
        let latency = self
            .steps
            .iter()
            .map(|step| {
                Percentile::LAST_RUN.map(|percentile| {
                    let labels = StepPercentileLabels {
                        probe: step.labels.probe.clone(),
                        step: step.labels.step.clone(),
                        percentile,
                    };
                    self.series.get(&f.last_run_latency, labels)
                })
            })
            .collect();
        LastRun {
            success: self.series.get(&f.last_run_success, self.labels.clone()),
            timestamp: self.series.get(&f.last_run_timestamp, self.labels.clone()),
            latency,
        }
    }

    /// Recovery after a burst took `seconds` (or hit its bound).
    pub fn record_recovery(&self, seconds: f64) {
        self.recovery
            .get_or_init(|| {
                self.series
                    .get(&self.families.recovery, self.labels.clone())
            })
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

impl StepMetrics {
    fn resolve(probe: &str, step: &str, f: &Families, series: &Series) -> Self {
        let labels = StepLabels {
            probe: probe.to_owned(),
            step: step.to_owned(),
        };
        let failures = Reason::ALL
            .iter()
            .map(|&reason| {
                let labels = FailureLabels {
                    probe: probe.to_owned(),
                    step: step.to_owned(),
                    reason,
                };
                series.get(&f.failures, labels)
            })
            .collect();
        Self {
            requests: series.get(&f.requests, labels.clone()),
            failures,
            duration: series.get(&f.durations, labels.clone()),
            responses: Mutex::new(Vec::new()),
            labels,
        }
    }

    fn response_counter(&self, code: u16, f: &Families, series: &Series) -> Counter {
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
        let counter = series.get(&f.responses, labels);
        known.push((code, counter.clone()));
        counter
    }
}

/// The iteration label sets of `probe`: one per scenario of its mix, or just the probe.
fn iteration_labels(probe: &Probe) -> Vec<IterationLabels> {
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

/// The probe's objectives as gauges (only those it sets).
fn set_slo_gauges(probe: &Probe, f: &Families, series: &Series) {
    let p = ProbeLabels {
        probe: probe.name.clone(),
    };
    let slo = &probe.slo;
    for (percentile, value) in Percentile::SLO.into_iter().zip([slo.p95, slo.p99]) {
        if let Some(value) = value {
            let labels = PercentileLabels {
                probe: probe.name.clone(),
                percentile,
            };
            series.get(&f.slo_latency, labels).set(value.as_secs_f64());
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
            series.get(family, p.clone()).set(value);
        }
    }
}
