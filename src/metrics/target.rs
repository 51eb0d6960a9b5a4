//! Per-target metric handles: the target's sampled memory, its growth baseline and objective.

use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::{Families, FloatGauge, TargetLabels, unix_seconds};
use crate::plan::Target;

/// Pre-resolved handles of one target.
#[derive(Debug)]
pub struct TargetMetrics {
    labels: TargetLabels,
    /// Kept as a family so a failed sample can remove the series instead of leaving a stale value.
    memory: Family<TargetLabels, FloatGauge>,
    failures: Counter,
    /// Created at the first baseline, so no series reads 0 before there is one.
    baseline: Family<TargetLabels, FloatGauge>,
    baseline_timestamp: Family<TargetLabels, FloatGauge>,
}

impl TargetMetrics {
    pub(super) fn resolve(target: &Target, f: &Families) -> Self {
        let labels = TargetLabels {
            target: target.name.clone(),
        };
        if let Some(growth) = target.memory_growth_per_hour {
            f.slo_memory_growth.get_or_create(&labels).set(growth);
        }
        // Targets without memory sampling get no failure series (it could only read 0).
        let failures = if target.memory.is_some() {
            f.target_memory_failures.get_or_create_owned(&labels)
        } else {
            Counter::default()
        };
        Self {
            failures,
            baseline: f.target_memory_baseline.clone(),
            baseline_timestamp: f.target_memory_baseline_timestamp.clone(),
            memory: f.target_memory.clone(),
            labels,
        }
    }

    /// A sample succeeded.
    pub fn record_memory_sample(&self, bytes: u64) {
        self.memory.get_or_create(&self.labels).set(bytes as f64);
    }

    /// A sample failed: counted, and the last value is withdrawn so no one reads it as fresh.
    pub fn record_memory_failure(&self) {
        self.failures.inc();
        self.memory.remove(&self.labels);
    }

    /// The growth baseline (re)started at `at` with `bytes`.
    pub fn record_memory_baseline(&self, bytes: u64, at: SystemTime) {
        self.baseline.get_or_create(&self.labels).set(bytes as f64);
        self.baseline_timestamp
            .get_or_create(&self.labels)
            .set(unix_seconds(at));
    }

    /// Failed samples so far.
    pub fn memory_sample_failures(&self) -> u64 {
        self.failures.get()
    }
}
