//! Every metric loadprobe exports, by name: the only module that names metrics.
//!
//! [`Metrics::new`] registers each family once and resolves the handles of every probe and
//! step up front, so the per-request path increments pre-built counters instead of hashing
//! label sets. Labels are config names (`probe`, `step`) or enums (`reason`, `percentile`),
//! never URLs or error text.
//!
//! Adding a new metric:
//! 1. add the handle to [`Families`] (or a per-probe struct) and register it in `register`;
//! 2. give it a method named for the event it records (`record_*`, `run_*`);
//! 3. add it to DESIGN.md's table, `docs/CONFIGURATION.md` and the exposition test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::outcome::{Outcome, Reason};
use crate::plan::{Plan, Probe};
use crate::runner::IterationReport;

mod exposition;
mod process;

pub use exposition::{Format, encode};

/// Bucket bounds of the schedule-lag histogram, in seconds: from timer resolution (1 ms)
/// down to what a precise wake-up achieves, up to a generator that has fallen far behind.
const LAG_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// `probe` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    probe: String,
}

/// `probe`, `step` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    probe: String,
    step: String,
}

/// Labels of `request_failures_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    probe: String,
    step: String,
    reason: Reason,
}

/// Labels of `responses_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    probe: String,
    step: String,
    code: u16,
}

/// Why an arrival was not turned into an iteration.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// `max_in_flight` iterations were already running.
    MaxInFlight,
}

impl EncodeLabelValue for DropReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write as _;
        encoder.write_str(match self {
            DropReason::MaxInFlight => "max_in_flight",
        })
    }
}

/// Labels of `arrivals_dropped_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    probe: String,
    reason: DropReason,
}

/// Labels of the per-percentile SLO gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PercentileLabels {
    probe: String,
    percentile: &'static str,
}

/// A float gauge.
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Builds histograms with fixed bucket bounds (seconds).
#[derive(Debug, Clone)]
struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A histogram family with fixed buckets.
type HistogramFamily<L> = Family<L, Histogram, Buckets>;

/// The registered families; per-probe handles are resolved from these.
#[derive(Debug)]
struct Families {
    durations: HistogramFamily<StepLabels>,
    schedule_lag: HistogramFamily<ProbeLabels>,
    requests: Family<StepLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    iterations: Family<ProbeLabels, Counter>,
    iteration_failures: Family<ProbeLabels, Counter>,
    arrivals: Family<ProbeLabels, Counter>,
    dropped: Family<DropLabels, Counter>,
    in_flight: Family<ProbeLabels, Gauge>,
    arrival_rate: Family<ProbeLabels, FloatGauge>,
    run_active: Family<ProbeLabels, Gauge>,
    runs_skipped: Family<ProbeLabels, Counter>,
    last_run_success: Family<ProbeLabels, Gauge>,
    last_run_timestamp: Family<ProbeLabels, FloatGauge>,
    slo_latency: Family<PercentileLabels, FloatGauge>,
    slo_error_ratio: Family<ProbeLabels, FloatGauge>,
    slo_throttled_ratio: Family<ProbeLabels, FloatGauge>,
    slo_min_rate: Family<ProbeLabels, FloatGauge>,
    slo_recovery: Family<ProbeLabels, FloatGauge>,
    reload_successful: Gauge,
    reload_timestamp: FloatGauge,
}

/// The process's metrics: the registry to encode and every probe's handles.
#[derive(Debug)]
pub struct Metrics {
    /// What `/metrics` encodes.
    registry: Registry,
    /// Handles of each probe, in plan order.
    probes: Vec<Arc<ProbeMetrics>>,
    /// Config reload gauges.
    reload_successful: Gauge,
    /// Time of the last successful (re)load.
    reload_timestamp: FloatGauge,
}

impl Metrics {
    /// Registers every family and resolves the handles of every probe of `plan`.
    pub fn new(plan: &Plan) -> Self {
        let mut registry = Registry::default();
        // process_* names are standard and must not carry our prefix.
        registry.register_collector(Box::new(process::ProcessCollector));
        let families = Families::new(&plan.latency_buckets);
        register(registry.sub_registry_with_prefix("loadprobe"), &families);
        let probes = plan
            .probes
            .iter()
            .map(|probe| Arc::new(ProbeMetrics::resolve(probe, &families)))
            .collect();
        Self {
            registry,
            probes,
            reload_successful: families.reload_successful,
            reload_timestamp: families.reload_timestamp,
        }
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Handles of the probe at `index` in plan order.
    pub fn probe(&self, index: usize) -> Arc<ProbeMetrics> {
        self.probes[index].clone()
    }

    /// Records the outcome of loading the configuration.
    pub fn record_config_load(&self, successful: bool, at: SystemTime) {
        self.reload_successful.set(i64::from(successful));
        if successful {
            self.reload_timestamp.set(unix_seconds(at));
        }
    }
}

impl Families {
    fn new(latency_buckets: &[f64]) -> Self {
        Self {
            durations: Family::new_with_constructor(Buckets(latency_buckets.into())),
            schedule_lag: Family::new_with_constructor(Buckets(LAG_BUCKETS.into())),
            requests: Family::default(),
            failures: Family::default(),
            responses: Family::default(),
            iterations: Family::default(),
            iteration_failures: Family::default(),
            arrivals: Family::default(),
            dropped: Family::default(),
            in_flight: Family::default(),
            arrival_rate: Family::default(),
            run_active: Family::default(),
            runs_skipped: Family::default(),
            last_run_success: Family::default(),
            last_run_timestamp: Family::default(),
            slo_latency: Family::default(),
            slo_error_ratio: Family::default(),
            slo_throttled_ratio: Family::default(),
            slo_min_rate: Family::default(),
            slo_recovery: Family::default(),
            reload_successful: Gauge::default(),
            reload_timestamp: FloatGauge::default(),
        }
    }
}

fn register(r: &mut Registry, f: &Families) {
    r.register(
        "requests",
        "Requests attempted, every attempt",
        f.requests.clone(),
    );
    r.register(
        "request_failures",
        "Failed requests by reason",
        f.failures.clone(),
    );
    r.register(
        "responses",
        "Responses received by status code",
        f.responses.clone(),
    );
    r.register_with_unit(
        "request_duration",
        "Request latency from the intended start to the last body byte",
        Unit::Seconds,
        f.durations.clone(),
    );
    r.register("iterations", "Iterations finished", f.iterations.clone());
    r.register(
        "iteration_failures",
        "Iterations with a failed step",
        f.iteration_failures.clone(),
    );
    r.register(
        "arrivals",
        "Arrivals planned by the schedule",
        f.arrivals.clone(),
    );
    r.register(
        "arrivals_dropped",
        "Arrivals not started, by reason",
        f.dropped.clone(),
    );
    r.register_with_unit(
        "schedule_lag",
        "Delay between an arrival's intended and actual start",
        Unit::Seconds,
        f.schedule_lag.clone(),
    );
    r.register(
        "in_flight_iterations",
        "Iterations running now",
        f.in_flight.clone(),
    );
    r.register(
        "arrival_rate",
        "Arrivals per second planned right now, 0 when idle",
        f.arrival_rate.clone(),
    );
    r.register(
        "run_active",
        "Whether a run is in progress",
        f.run_active.clone(),
    );
    r.register(
        "runs_skipped",
        "Scheduled runs skipped because the previous run was still going",
        f.runs_skipped.clone(),
    );
    r.register(
        "last_run_success",
        "Whether the last finished run met every SLO",
        f.last_run_success.clone(),
    );
    r.register_with_unit(
        "last_run_timestamp",
        "When the last run finished",
        Unit::Seconds,
        f.last_run_timestamp.clone(),
    );
    r.register_with_unit(
        "slo_latency",
        "Latency SLO threshold by percentile",
        Unit::Seconds,
        f.slo_latency.clone(),
    );
    r.register(
        "slo_error_ratio",
        "Highest acceptable error ratio",
        f.slo_error_ratio.clone(),
    );
    r.register(
        "slo_throttled_ratio",
        "Highest acceptable throttled ratio",
        f.slo_throttled_ratio.clone(),
    );
    r.register(
        "slo_min_rate",
        "Lowest acceptable achieved rate per second",
        f.slo_min_rate.clone(),
    );
    r.register_with_unit(
        "slo_recovery",
        "Longest acceptable recovery after a burst",
        Unit::Seconds,
        f.slo_recovery.clone(),
    );
    r.register(
        "config_last_reload_successful",
        "Whether the last configuration load succeeded",
        f.reload_successful.clone(),
    );
    r.register_with_unit(
        "config_last_reload_success_timestamp",
        "When the configuration was last loaded successfully",
        Unit::Seconds,
        f.reload_timestamp.clone(),
    );
    let build = Info::new(vec![
        ("version", env!("CARGO_PKG_VERSION")),
        ("os", std::env::consts::OS),
        ("arch", std::env::consts::ARCH),
    ]);
    r.register("build", "Build information of loadprobe", build);
}

/// Pre-resolved handles of one probe.
#[derive(Debug)]
pub struct ProbeMetrics {
    arrivals: Counter,
    dropped_max_in_flight: Counter,
    schedule_lag: Histogram,
    in_flight: Gauge,
    arrival_rate: FloatGauge,
    iterations: Counter,
    iteration_failures: Counter,
    run_active: Gauge,
    runs_skipped: Counter,
    last_run_success: Gauge,
    last_run_timestamp: FloatGauge,
    steps: Vec<StepMetrics>,
}

/// Pre-resolved handles of one step.
#[derive(Debug)]
struct StepMetrics {
    requests: Counter,
    /// Indexed like [`Reason::ALL`].
    failures: Vec<Counter>,
    duration: Histogram,
    /// Response counters by code, created on first sight of a code (few codes per step).
    responses: Mutex<Vec<(u16, Counter)>>,
    /// Family and labels to create new response counters from.
    responses_family: Family<ResponseLabels, Counter>,
    labels: StepLabels,
}

impl ProbeMetrics {
    fn resolve(probe: &Probe, f: &Families) -> Self {
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
        let dropped = DropLabels {
            probe: probe.name.clone(),
            reason: DropReason::MaxInFlight,
        };
        Self {
            arrivals: f.arrivals.get_or_create_owned(&p),
            dropped_max_in_flight: f.dropped.get_or_create_owned(&dropped),
            schedule_lag: f.schedule_lag.get_or_create_owned(&p),
            in_flight: f.in_flight.get_or_create_owned(&p),
            arrival_rate: f.arrival_rate.get_or_create_owned(&p),
            iterations: f.iterations.get_or_create_owned(&p),
            iteration_failures: f.iteration_failures.get_or_create_owned(&p),
            run_active: f.run_active.get_or_create_owned(&p),
            runs_skipped: f.runs_skipped.get_or_create_owned(&p),
            last_run_success: f.last_run_success.get_or_create_owned(&p),
            last_run_timestamp: f.last_run_timestamp.get_or_create_owned(&p),
            steps,
        }
    }

    /// An arrival came due.
    pub fn record_arrival(&self) {
        self.arrivals.inc();
    }

    /// An arrival was not started.
    pub fn record_dropped_arrival(&self, reason: DropReason) {
        match reason {
            DropReason::MaxInFlight => self.dropped_max_in_flight.inc(),
        };
    }

    /// An iteration started `lag` after its intended instant.
    pub fn record_iteration_start(&self, lag: Duration) {
        self.schedule_lag.observe(lag.as_secs_f64());
        self.in_flight.inc();
    }

    /// An iteration finished: counts its requests, outcomes, codes and latencies.
    pub fn record_iteration(&self, report: &IterationReport, succeeded: bool) {
        self.in_flight.dec();
        self.iterations.inc();
        if !succeeded {
            self.iteration_failures.inc();
        }
        for step in &report.steps {
            let m = &self.steps[step.step];
            m.requests.inc();
            m.duration.observe(step.latency.as_secs_f64());
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

    /// A run's arrivals ended (its verdict comes with [`Self::record_run_verdict`]).
    pub fn record_run_end(&self) {
        self.run_active.set(0);
        self.arrival_rate.set(0.0);
    }

    /// A run (or a continuous probe's report window) closed with this verdict.
    pub fn record_run_verdict(&self, success: bool, at: SystemTime) {
        self.last_run_success.set(i64::from(success));
        self.last_run_timestamp.set(unix_seconds(at));
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
        self.dropped_max_in_flight.get()
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
        (&f.slo_min_rate, slo.min_rate),
        (&f.slo_recovery, slo.recovery.map(|d| d.as_secs_f64())),
    ];
    for (family, value) in gauges {
        if let Some(value) = value {
            family.get_or_create(&p).set(value);
        }
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
