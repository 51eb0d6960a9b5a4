//! Every metric loadprobe exports, by name: the only module that names metrics.
//!
//! [`Metrics::new`] registers each family once (`families.rs`); [`Metrics::resolve_probe`]
//! resolves a probe's and its steps' handles once when it starts, so the per-request path
//! increments pre-built counters instead of hashing label sets. Every series of a probe or
//! target is created through its `Series` (`series.rs`), so retiring it removes exactly
//! what it created. Labels are config names (`probe`, `step`) or enums (`reason`,
//! `percentile`), never URLs or error text. Handles take values from the report stage
//! (`report`), never from `status`.
//!
//! Adding a new metric touches two places:
//! 1. its family: a field of `Families` in `families.rs`, created and registered in the same
//!    expression of `Families::register` (name, help, unit), in exposition order;
//! 2. where it is recorded: a handle in [`ProbeMetrics`] or [`TargetMetrics`], resolved
//!    through their `Series` (so it is retired with them) and set by a method named for the
//!    event it records (`record_*`), which the recorder calls.
//!
//! Then document it in `docs/metrics.md` (a test compares that table with the registry) and
//! in DESIGN.md's table when it is part of the contract.

use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::registry::Registry;

use crate::plan::{Plan, Probe, Target};
use crate::report::unix_seconds;

mod exemplars;
mod exposition;
mod families;
mod labels;
mod probe;
mod process;
mod series;
mod target;

pub use exposition::{Format, encode};
use families::{Families, FloatGauge};
pub use labels::DropReason;
use labels::{
    DropLabels, FailureLabels, IterationLabels, PercentileLabels, ProbeLabels, ResponseLabels,
    StepLabels, StepPercentileLabels, TargetLabels, TripLabels,
};
pub use probe::ProbeMetrics;
pub use target::TargetMetrics;

/// The process's metrics: the registry to encode and the families probes resolve from.
#[derive(Debug)]
pub struct Metrics {
    /// What `/metrics` encodes.
    registry: Registry,
    /// The registered families, from which each probe's and target's handles are resolved
    /// when it starts (at start-up and at reloads).
    families: Arc<Families>,
}

impl Metrics {
    /// Registers every family, with the duration buckets of `plan` (its base layout plus
    /// its SLO thresholds). Probes and targets get their handles as they start.
    pub fn new(plan: &Plan) -> Self {
        let mut registry = Registry::default();
        // process_* names are standard and must not carry our prefix.
        registry.register_collector(Box::new(process::ProcessCollector));
        let families = Families::register(
            registry.sub_registry_with_prefix("loadprobe"),
            &plan.latency_buckets,
        );
        Self {
            registry,
            families: Arc::new(families),
        }
    }

    /// Resolves the handles of `probe`, which is starting. Series that already exist
    /// (same names and labels) are reused, so their counters continue.
    pub fn resolve_probe(&self, probe: &Probe) -> Arc<ProbeMetrics> {
        Arc::new(ProbeMetrics::resolve(probe, &self.families))
    }

    /// Resolves the handles of `target`, which is starting.
    pub fn resolve_target(&self, target: &Target) -> Arc<TargetMetrics> {
        Arc::new(TargetMetrics::resolve(target, &self.families))
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
