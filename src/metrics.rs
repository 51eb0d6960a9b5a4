//! Every metric loadprobe exports, by name: the only module that names metrics.
//!
//! [`Metrics::new`] registers each family once; [`Metrics::resolve_probe`] resolves a
//! probe's and its steps' handles once when it starts, so the per-request path increments
//! pre-built counters instead of hashing label sets. Labels are config names (`probe`,
//! `step`) or enums (`reason`, `percentile`), never URLs or error text.
//!
//! Adding a new metric:
//! 1. add the handle to [`Families`] (or a per-probe struct) and register it in `register.rs`;
//! 2. give it a method named for the event it records (`record_*`, `run_*`);
//! 3. add it to DESIGN.md's table, `docs/CONFIGURATION.md` and the exposition test.

use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::plan::{Plan, Probe, Target};

mod exemplars;
mod exposition;
mod labels;
mod probe;
mod process;
mod register;
mod retire;
mod target;

pub use exposition::{Format, encode};
pub use labels::DropReason;
use labels::{
    DropLabels, FailureLabels, IterationLabels, PercentileLabels, ProbeLabels, ResponseLabels,
    StepLabels, StepPercentileLabels, TargetLabels, TripLabels,
};
pub use probe::ProbeMetrics;
pub use target::TargetMetrics;

/// Bucket bounds of the schedule-lag histogram, in seconds: from timer resolution (1 ms)
/// down to what a precise wake-up achieves, up to a generator that has fallen far behind.
const LAG_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

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
    /// Exemplars carry trace ids when OpenTelemetry tracing is on.
    durations: Family<StepLabels, exemplars::DurationHistogram, exemplars::DurationBuckets>,
    iteration_durations: HistogramFamily<ProbeLabels>,
    schedule_lag: HistogramFamily<ProbeLabels>,
    requests: Family<StepLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    iterations: Family<IterationLabels, Counter>,
    iteration_failures: Family<IterationLabels, Counter>,
    arrivals: Family<ProbeLabels, Counter>,
    dropped: Family<DropLabels, Counter>,
    in_flight: Family<ProbeLabels, Gauge>,
    arrival_rate: Family<ProbeLabels, FloatGauge>,
    run_active: Family<ProbeLabels, Gauge>,
    runs_skipped: Family<ProbeLabels, Counter>,
    last_run_success: Family<ProbeLabels, Gauge>,
    last_run_timestamp: Family<ProbeLabels, FloatGauge>,
    last_run_latency: Family<StepPercentileLabels, FloatGauge>,
    recovery: Family<ProbeLabels, FloatGauge>,
    guard_paused: Family<ProbeLabels, Gauge>,
    replay_skipped: Family<ProbeLabels, Counter>,
    guard_trips: Family<TripLabels, Counter>,
    slo_latency: Family<PercentileLabels, FloatGauge>,
    slo_error_ratio: Family<ProbeLabels, FloatGauge>,
    slo_throttled_ratio: Family<ProbeLabels, FloatGauge>,
    slo_min_rate: Family<ProbeLabels, FloatGauge>,
    slo_recovery: Family<ProbeLabels, FloatGauge>,
    target_memory: Family<TargetLabels, FloatGauge>,
    target_memory_failures: Family<TargetLabels, Counter>,
    target_memory_baseline: Family<TargetLabels, FloatGauge>,
    target_memory_baseline_timestamp: Family<TargetLabels, FloatGauge>,
    slo_memory_growth: Family<TargetLabels, FloatGauge>,
    reload_successful: Gauge,
    reload_timestamp: FloatGauge,
    latency_buckets: Vec<f64>,
}

/// The process's metrics: the registry to encode and every probe's handles.
#[derive(Debug)]
pub struct Metrics {
    /// What `/metrics` encodes.
    registry: Registry,
    /// The registered families, from which each probe's and target's handles are resolved
    /// when it starts (at start-up and at reloads) and retired when it stops.
    families: Families,
}

impl Metrics {
    /// Registers every family, with the duration buckets of `plan` (its base layout plus
    /// its SLO thresholds). Probes and targets get their handles as they start.
    pub fn new(plan: &Plan) -> Self {
        let mut registry = Registry::default();
        // process_* names are standard and must not carry our prefix.
        registry.register_collector(Box::new(process::ProcessCollector));
        let families = Families::new(&plan.latency_buckets);
        register::register(registry.sub_registry_with_prefix("loadprobe"), &families);
        Self { registry, families }
    }

    /// Resolves the handles of `probe`, which is starting. Series that already exist
    /// (same names and labels) are reused, so their counters continue. Also counts the
    /// lines its replay log could not parse, once per start.
    pub fn resolve_probe(&self, probe: &Probe) -> Arc<ProbeMetrics> {
        if let Some(replay) = &probe.replay {
            let labels = ProbeLabels {
                probe: probe.name.clone(),
            };
            self.families
                .replay_skipped
                .get_or_create(&labels)
                .inc_by(replay.skipped_lines);
        }
        Arc::new(ProbeMetrics::resolve(probe, &self.families))
    }

    /// Removes every series of `probe` (with handles `handles`): a reload stopped it.
    pub fn retire_probe(&self, probe: &Probe, handles: &ProbeMetrics) {
        retire::retire_probe(probe, handles, &self.families);
    }

    /// Resolves the handles of `target`, which is starting.
    pub fn resolve_target(&self, target: &Target) -> Arc<TargetMetrics> {
        Arc::new(TargetMetrics::resolve(target, &self.families))
    }

    /// Removes every series of `target`: a reload removed or changed it.
    pub fn retire_target(&self, target: &Target) {
        retire::retire_target(target, &self.families);
    }

    /// The histogram buckets the duration families were registered with: fixed for the
    /// process's life (a reload cannot re-bucket a registered histogram).
    pub fn latency_buckets(&self) -> &[f64] {
        &self.families.latency_buckets
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records the outcome of loading the configuration.
    pub fn record_config_load(&self, successful: bool, at: SystemTime) {
        self.families.reload_successful.set(i64::from(successful));
        if successful {
            self.families.reload_timestamp.set(unix_seconds(at));
        }
    }
}

impl Families {
    fn new(latency_buckets: &[f64]) -> Self {
        Self {
            durations: Family::new_with_constructor(exemplars::DurationBuckets {
                bounds: latency_buckets.into(),
                exemplars: crate::telemetry::tracer().is_some(),
            }),
            iteration_durations: Family::new_with_constructor(Buckets(latency_buckets.into())),
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
            last_run_latency: Family::default(),
            recovery: Family::default(),
            guard_paused: Family::default(),
            replay_skipped: Family::default(),
            guard_trips: Family::default(),
            slo_latency: Family::default(),
            slo_error_ratio: Family::default(),
            slo_throttled_ratio: Family::default(),
            slo_min_rate: Family::default(),
            slo_recovery: Family::default(),
            target_memory: Family::default(),
            target_memory_failures: Family::default(),
            target_memory_baseline: Family::default(),
            target_memory_baseline_timestamp: Family::default(),
            slo_memory_growth: Family::default(),
            reload_successful: Gauge::default(),
            reload_timestamp: FloatGauge::default(),
            latency_buckets: latency_buckets.to_vec(),
        }
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
