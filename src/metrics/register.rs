//! Registers every family under its name, help text and unit: where the exported names
//! are spelled out (the families' handles live in `metrics.rs`).

use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::Families;

pub(super) fn register(r: &mut Registry, f: &Families) {
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
    r.register_with_unit(
        "iteration_duration",
        "Iteration time from the intended start to the end of its last step",
        Unit::Seconds,
        f.iteration_durations.clone(),
    );
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
    r.register(
        "replay_lines_skipped",
        "Access-log lines of a replay that could not be parsed",
        f.replay_skipped.clone(),
    );
    r.register(
        "guard_paused",
        "Whether the probe's guard is holding its arrivals back",
        f.guard_paused.clone(),
    );
    r.register(
        "guard_trips",
        "Times the probe's guard paused it, by reason",
        f.guard_trips.clone(),
    );
    r.register_with_unit(
        "recovery",
        "Time from the latest burst until a rolling window was back within the latency and error SLOs",
        Unit::Seconds,
        f.recovery.clone(),
    );
    r.register_with_unit(
        "last_run_latency",
        "Exact latency percentile of each step over the last finished run or report window",
        Unit::Seconds,
        f.last_run_latency.clone(),
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
    r.register_with_unit(
        "target_memory",
        "Memory of the target from its last successful sample; absent while sampling fails",
        Unit::Bytes,
        f.target_memory.clone(),
    );
    r.register(
        "target_memory_sample_failures",
        "Memory samples of the target that failed",
        f.target_memory_failures.clone(),
    );
    r.register_with_unit(
        "target_memory_baseline",
        "Memory of the target when its growth baseline (re)started",
        Unit::Bytes,
        f.target_memory_baseline.clone(),
    );
    r.register_with_unit(
        "target_memory_baseline_timestamp",
        "When the growth baseline (re)started: at the first sample and after each target restart",
        Unit::Seconds,
        f.target_memory_baseline_timestamp.clone(),
    );
    r.register(
        "slo_memory_growth_per_hour",
        "Highest acceptable memory growth per hour as a fraction of the baseline",
        f.slo_memory_growth.clone(),
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
