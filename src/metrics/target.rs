//! Per-target metric handles: the target's sampled memory, its growth baseline and objective.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;

use super::series::Series;
use super::{Families, FloatGauge, TargetLabels, unix_seconds};
use crate::plan::Target;

/// Pre-resolved handles of one target.
#[derive(Debug)]
pub struct TargetMetrics {
    /// Every series created for the target, removed together when it retires.
    series: Series,
    families: Arc<Families>,
    labels: TargetLabels,
    failures: Counter,
    /// Created at the first baseline, so no series reads 0 before there is one.
    baseline: OnceLock<(FloatGauge, FloatGauge)>,
}

impl TargetMetrics {
    pub(super) fn resolve(target: &Target, families: &Arc<Families>) -> Self {
        let series = Series::default();
        let labels = TargetLabels {
            target: target.name.clone(),
        };
        if let Some(growth) = target.memory_growth_per_hour {
            series
                .get(&families.slo_memory_growth, labels.clone())
                .set(growth);
        }
        // Targets without memory sampling get no failure series (it could only read 0).
        let failures = if target.memory.is_some() {
            series.get(&families.target_memory_failures, labels.clone())
        } else {
            Counter::default()
        };
        series.track(&families.target_memory, labels.clone());
        Self {
            series,
            families: families.clone(),
            labels,
            failures,
            baseline: OnceLock::new(),
        }
    }

    /// Removes every series of the target: a reload removed or changed it.
    pub fn retire(&self) {
        self.series.retire();
    }

    /// A sample succeeded.
    pub fn record_memory_sample(&self, bytes: u64) {
        // Not a kept handle: a failed sample withdraws the series (see below); it is
        // tracked for retirement since the target was resolved.
        self.families
            .target_memory
            .get_or_create(&self.labels)
            .set(bytes as f64);
    }

    /// A sample failed: counted, and the last value is withdrawn so no one reads it as fresh.
    pub fn record_memory_failure(&self) {
        self.failures.inc();
        self.families.target_memory.remove(&self.labels);
    }

    /// The growth baseline (re)started at `at` with `bytes`.
    pub fn record_memory_baseline(&self, bytes: u64, at: SystemTime) {
        let (value, timestamp) = self.baseline.get_or_init(|| {
            let f = &self.families;
            (
                self.series
                    .get(&f.target_memory_baseline, self.labels.clone()),
                self.series
                    .get(&f.target_memory_baseline_timestamp, self.labels.clone()),
            )
        });
        value.set(bytes as f64);
        timestamp.set(unix_seconds(at));
    }
}
