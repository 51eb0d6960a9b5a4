//! Every metric family, registered under its exported name, help text and unit: the one
//! place where the exported names are spelled out. Each family is created and registered in
//! one expression, in exposition order; per-probe and per-target handles are resolved from
//! these (`probe.rs`, `target.rs`).

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry, Unit};

use super::exemplars;
use super::labels::{
    DropLabels, FailureLabels, IterationLabels, PercentileLabels, ProbeLabels, ResponseLabels,
    StepLabels, StepPercentileLabels, TargetLabels, TripLabels,
};

/// Bucket bounds of the schedule-lag histogram, in seconds: from timer resolution (1 ms)
/// down to what a precise wake-up achieves, up to a generator that has fallen far behind.
const LAG_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// A float gauge.
pub(super) type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Builds histograms with fixed bucket bounds (seconds).
#[derive(Debug, Clone)]
pub(super) struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A histogram family with fixed buckets.
type HistogramFamily<L> = Family<L, Histogram, Buckets>;

/// The registered families (names after the `loadprobe_` prefix, see the registration).
#[derive(Debug)]
pub(super) struct Families {
    pub(super) requests: Family<StepLabels, Counter>,
    pub(super) failures: Family<FailureLabels, Counter>,
    pub(super) responses: Family<ResponseLabels, Counter>,
    /// Exemplars carry trace ids when OpenTelemetry tracing is on.
    pub(super) durations:
        Family<StepLabels, exemplars::DurationHistogram, exemplars::DurationBuckets>,
    pub(super) iterations: Family<IterationLabels, Counter>,
    pub(super) iteration_durations: HistogramFamily<ProbeLabels>,
    pub(super) iteration_failures: Family<IterationLabels, Counter>,
    pub(super) arrivals: Family<ProbeLabels, Counter>,
    pub(super) dropped: Family<DropLabels, Counter>,
    pub(super) schedule_lag: HistogramFamily<ProbeLabels>,
    pub(super) in_flight: Family<ProbeLabels, Gauge>,
    pub(super) arrival_rate: Family<ProbeLabels, FloatGauge>,
    pub(super) run_active: Family<ProbeLabels, Gauge>,
    pub(super) runs_skipped: Family<ProbeLabels, Counter>,
    pub(super) last_run_success: Family<ProbeLabels, Gauge>,
    pub(super) last_run_timestamp: Family<ProbeLabels, FloatGauge>,
    pub(super) replay_skipped: Family<ProbeLabels, Counter>,
    pub(super) guard_paused: Family<ProbeLabels, Gauge>,
    pub(super) guard_trips: Family<TripLabels, Counter>,
    pub(super) recovery: Family<ProbeLabels, FloatGauge>,
    pub(super) last_run_latency: Family<StepPercentileLabels, FloatGauge>,
    pub(super) slo_latency: Family<PercentileLabels, FloatGauge>,
    pub(super) slo_error_ratio: Family<ProbeLabels, FloatGauge>,
    pub(super) slo_throttled_ratio: Family<ProbeLabels, FloatGauge>,
    pub(super) slo_min_rate: Family<ProbeLabels, FloatGauge>,
    pub(super) slo_recovery: Family<ProbeLabels, FloatGauge>,
    pub(super) target_memory: Family<TargetLabels, FloatGauge>,
    pub(super) target_memory_failures: Family<TargetLabels, Counter>,
    pub(super) target_memory_baseline: Family<TargetLabels, FloatGauge>,
    pub(super) target_memory_baseline_timestamp: Family<TargetLabels, FloatGauge>,
    pub(super) slo_memory_growth: Family<TargetLabels, FloatGauge>,
    pub(super) reload_successful: Gauge,
    pub(super) reload_timestamp: FloatGauge,
    /// The bounds the duration histograms were registered with.
    pub(super) latency_buckets: Vec<f64>,
}

/// Registers each family as it is created.
struct Registrar<'r>(&'r mut Registry);

impl Registrar<'_> {
    fn add<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0.register(name, help, metric.clone());
        metric
    }

    fn add_in<M: Metric + Clone>(&mut self, name: &str, help: &str, unit: Unit, metric: M) -> M {
        self.0.register_with_unit(name, help, unit, metric.clone());
        metric
    }
}

impl Families {
    /// Creates every family and registers it in `registry` (already prefixed), with
    /// duration histograms bucketed at `latency_buckets`.
    pub(super) fn register(registry: &mut Registry, latency_buckets: &[f64]) -> Self {
        let mut r = Registrar(registry);
        let seconds = |bounds: &[f64]| Family::new_with_constructor(Buckets(bounds.into()));
        let families = Self {
            requests: r.add("requests", "Requests attempted, every attempt", Family::default()),
            failures: r.add("request_failures", "Failed requests by reason", Family::default()),
            responses: r.add(
                "responses",
                "Responses received by status code",
                Family::default(),
            ),
            durations: r.add_in(
                "request_duration",
                "Request latency from the intended start to the last body byte",
                Unit::Seconds,
                Family::new_with_constructor(exemplars::DurationBuckets {
                    bounds: latency_buckets.into(),
                    exemplars: crate::telemetry::tracer().is_some(),
                }),
            ),
            iterations: r.add("iterations", "Iterations finished", Family::default()),
            iteration_durations: r.add_in(
                "iteration_duration",
                "Iteration time from the intended start to the end of its last step",
                Unit::Seconds,
                seconds(latency_buckets),
            ),
            iteration_failures: r.add(
                "iteration_failures",
                "Iterations with a failed step",
                Family::default(),
            ),
            arrivals: r.add(
                "arrivals",
                "Arrivals planned by the schedule",
                Family::default(),
            ),
            dropped: r.add(
                "arrivals_dropped",
                "Arrivals not started, by reason",
                Family::default(),
            ),
            schedule_lag: r.add_in(
                "schedule_lag",
                "Delay between an arrival's intended and actual start",
                Unit::Seconds,
                seconds(&LAG_BUCKETS),
            ),
            in_flight: r.add(
                "in_flight_iterations",
                "Iterations running now",
                Family::default(),
            ),
            arrival_rate: r.add(
                "arrival_rate",
                "Arrivals per second planned right now, 0 when idle",
                Family::default(),
            ),
            run_active: r.add(
                "run_active",
                "Whether a run is in progress",
                Family::default(),
            ),
            runs_skipped: r.add(
                "runs_skipped",
                "Scheduled runs skipped because the previous run was still going",
                Family::default(),
            ),
            last_run_success: r.add(
                "last_run_success",
                "Whether the last finished run met every SLO",
                Family::default(),
            ),
            last_run_timestamp: r.add_in(
                "last_run_timestamp",
                "When the last run finished",
                Unit::Seconds,
                Family::default(),
            ),
            replay_skipped: r.add(
                "replay_lines_skipped",
                "Access-log lines of a replay that could not be parsed",
                Family::default(),
            ),
            guard_paused: r.add(
                "guard_paused",
                "Whether the probe's guard is holding its arrivals back",
                Family::default(),
            ),
            guard_trips: r.add(
                "guard_trips",
                "Times the probe's guard paused it, by reason",
                Family::default(),
            ),
            recovery: r.add_in(
                "recovery",
                "Time from the latest burst until a rolling window was back within the latency and error SLOs",
                Unit::Seconds,
                Family::default(),
            ),
            last_run_latency: r.add_in(
                "last_run_latency",
                "Exact latency percentile of each step over the last finished run or report window",
                Unit::Seconds,
                Family::default(),
            ),
            slo_latency: r.add_in(
                "slo_latency",
                "Latency SLO threshold by percentile",
                Unit::Seconds,
                Family::default(),
            ),
            slo_error_ratio: r.add(
                "slo_error_ratio",
                "Highest acceptable error ratio",
                Family::default(),
            ),
            slo_throttled_ratio: r.add(
                "slo_throttled_ratio",
                "Highest acceptable throttled ratio",
                Family::default(),
            ),
            slo_min_rate: r.add(
                "slo_min_rate",
                "Lowest acceptable achieved rate per second",
                Family::default(),
            ),
            slo_recovery: r.add_in(
                "slo_recovery",
                "Longest acceptable recovery after a burst",
                Unit::Seconds,
                Family::default(),
            ),
            target_memory: r.add_in(
                "target_memory",
                "Memory of the target from its last successful sample; absent while sampling fails",
                Unit::Bytes,
                Family::default(),
            ),
            target_memory_failures: r.add(
                "target_memory_sample_failures",
                "Memory samples of the target that failed",
                Family::default(),
            ),
            target_memory_baseline: r.add_in(
                "target_memory_baseline",
                "Memory of the target when its growth baseline (re)started",
                Unit::Bytes,
                Family::default(),
            ),
            target_memory_baseline_timestamp: r.add_in(
                "target_memory_baseline_timestamp",
                "When the growth baseline (re)started: at the first sample and after each target restart",
                Unit::Seconds,
                Family::default(),
            ),
            slo_memory_growth: r.add(
                "slo_memory_growth_per_hour",
                "Highest acceptable memory growth per hour as a fraction of the baseline",
                Family::default(),
            ),
            reload_successful: r.add(
                "config_last_reload_successful",
                "Whether the last configuration load succeeded",
                Gauge::default(),
            ),
            reload_timestamp: r.add_in(
                "config_last_reload_success_timestamp",
                "When the configuration was last loaded successfully",
                Unit::Seconds,
                FloatGauge::default(),
            ),
            latency_buckets: latency_buckets.to_vec(),
        };
        let build = Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ]);
        r.0.register("build", "Build information of loadprobe", build);
        families
    }
}
