//! Removes the series of a probe or target that a reload stopped or restarted, so `/metrics`
//! shows only what runs now (a restarted probe's series start over, like a restarted
//! process's; `rate()` and `increase()` handle the reset).
//!
//! Every label set [`ProbeMetrics::resolve`] can create is listed here; prometheus-client's
//! `Family` has no "remove where probe = x", so the sets are rebuilt from the probe's plan.

use super::labels::{
    DropLabels, DropReason, FailureLabels, PercentileLabels, ProbeLabels, StepLabels,
    StepPercentileLabels, TargetLabels, TripLabels,
};
use super::probe::{LAST_RUN_PERCENTILES, iteration_labels};
use super::{Families, ProbeMetrics};
use crate::guard::TripReason;
use crate::outcome::Reason;
use crate::plan::{Probe, Target};

/// Removes every series of `probe`, whose handles are `handles`.
pub(super) fn retire_probe(probe: &Probe, handles: &ProbeMetrics, f: &Families) {
    let p = ProbeLabels {
        probe: probe.name.clone(),
    };
    f.iteration_durations.remove(&p);
    f.schedule_lag.remove(&p);
    for family in [&f.arrivals, &f.runs_skipped, &f.replay_skipped] {
        family.remove(&p);
    }
    for family in [
        &f.in_flight,
        &f.run_active,
        &f.last_run_success,
        &f.guard_paused,
    ] {
        family.remove(&p);
    }
    for family in [
        &f.arrival_rate,
        &f.last_run_timestamp,
        &f.recovery,
        &f.slo_error_ratio,
        &f.slo_throttled_ratio,
        &f.slo_min_rate,
        &f.slo_recovery,
    ] {
        family.remove(&p);
    }
    for labels in iteration_labels(probe) {
        f.iterations.remove(&labels);
        f.iteration_failures.remove(&labels);
    }
    for reason in DropReason::ALL {
        let probe = probe.name.clone();
        f.dropped.remove(&DropLabels { probe, reason });
    }
    for reason in TripReason::ALL {
        let probe = probe.name.clone();
        f.guard_trips.remove(&TripLabels { probe, reason });
    }
    for percentile in ["p95", "p99"] {
        let probe = probe.name.clone();
        f.slo_latency
            .remove(&PercentileLabels { probe, percentile });
    }
    for step in &probe.steps {
        retire_step(&probe.name, &step.name, f);
    }
    for labels in handles.response_labels() {
        f.responses.remove(&labels);
    }
}

fn retire_step(probe: &str, step: &str, f: &Families) {
    let labels = StepLabels {
        probe: probe.to_owned(),
        step: step.to_owned(),
    };
    f.requests.remove(&labels);
    f.durations.remove(&labels);
    for reason in Reason::ALL {
        let labels = FailureLabels {
            probe: probe.to_owned(),
            step: step.to_owned(),
            reason,
        };
        f.failures.remove(&labels);
    }
    for percentile in LAST_RUN_PERCENTILES {
        let labels = StepPercentileLabels {
            probe: probe.to_owned(),
            step: step.to_owned(),
            percentile,
        };
        f.last_run_latency.remove(&labels);
    }
}

/// Removes every series of `target`.
pub(super) fn retire_target(target: &Target, f: &Families) {
    let labels = TargetLabels {
        target: target.name.clone(),
    };
    f.target_memory.remove(&labels);
    f.target_memory_failures.remove(&labels);
    f.target_memory_baseline.remove(&labels);
    f.target_memory_baseline_timestamp.remove(&labels);
    f.slo_memory_growth.remove(&labels);
}
