//! The validated runtime model built from a [`Config`]: the only place where strings become
//! URLs, methods, header values, cron schedules and rates.
//!
//! Building a [`Plan`] checks every rule that can be checked before any load flows, and
//! reports every problem at once, each naming its YAML path (`probes[1].load.rate`), so a
//! config is fixed in one round trip. Nothing downstream parses a string again, and no
//! `config` struct survives into run time.
//!
//! Layout, one role per file:
//! * `plan.rs`: the [`Plan`], its process-wide [`Global`] settings, building both from a
//!   config, and the latency buckets.
//! * `problems.rs`: the problem list, the YAML path builder and checks shared by sections.
//! * `target.rs`: targets and the demo target. `probe.rs`: a probe and its builder.
//! * `schedule.rs`, `load.rs`, `rate.rs`, `slo.rs`, `guard.rs`: what a probe's `schedule`,
//!   `load`, `slo` and `guard` become; `shard.rs`: a replica's share of them.
//! * `steps.rs` (with `steps/checks.rs`), `template.rs`, `data.rs`, `replay.rs`: what an
//!   iteration sends: steps and their checks, templates, data rows, a replayed log.
//! * `fingerprint.rs`: what a reload compares.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

mod data;
mod fingerprint;
mod guard;
mod load;
mod probe;
mod problems;
mod rate;
mod replay;
mod schedule;
mod shard;
mod slo;
mod steps;
mod target;
mod template;

pub use data::{Feeder, MAX_FILE_BYTES, MAX_ROWS, splitmix};
pub use guard::{GuardSettings, PauseAbove};
pub use load::{ArrivalProcess, Burst, LoadModel, LoadProfile, Ramp, ReplayTiming, Stage};
pub use probe::Probe;
pub use problems::{PlanError, Problem};
pub use rate::Rate;
pub use replay::{Entry, Replay};
pub use schedule::Schedule;
pub use shard::{Shard, ShardError};
pub use slo::Slo;
pub use steps::{
    Action, Expect, ExtractFrom, Extraction, HttpRequest, JsonCheck, JsonExpect, Scenario, Step,
};
pub use target::{Demo, MemoryPlan, MemorySource, ProcessSelector, Target};
pub use template::{Escape, Template, Var};

use crate::config::{Config, GlobalConfig};
use problems::{At, Problems};

/// Probes × steps at most: each is a set of series and a fixed-size latency histogram, so
/// this bounds memory and cardinality.
pub const MAX_PROBE_STEPS: usize = 1000;

/// Largest response body a step reads for its checks unless it sets `max_body_bytes`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Upper bounds of the duration histogram before SLO thresholds are added: the
/// OpenTelemetry HTTP client layout, in seconds.
const BASE_LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Everything loadprobe runs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Process-wide settings.
    pub global: Global,
    /// The in-process demo target, when configured (its address is loopback).
    pub demo: Option<Demo>,
    /// Targets that at least one probe uses, or that are declared.
    pub targets: Vec<Arc<Target>>,
    /// Probes in config order.
    pub probes: Vec<Arc<Probe>>,
    /// Duration histogram bucket bounds in seconds: the base layout plus every SLO threshold.
    pub latency_buckets: Vec<f64>,
}

/// Process-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// How long shutdown waits for in-flight iterations before it gives up on them.
    pub drain_timeout: Duration,
    /// How often a continuous probe closes its report window (above zero).
    pub report_interval: Duration,
    /// Cap on the arrivals per second of all probes together (above zero); beyond it
    /// arrivals are dropped (reason `rate_cap`). No cap when absent.
    pub max_rate: Option<Rate>,
}

impl Plan {
    /// This replica's share of every probe: every N-th arrival, `max_in_flight` and the
    /// `min_rate` objective divided by N, so a fleet of N adds up to the configuration.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        let count = shard.count as usize;
        for probe in &mut self.probes {
            let mut sharded = Probe::clone(probe);
            sharded.shard = shard;
            sharded.max_in_flight = sharded.max_in_flight.div_ceil(count);
            sharded.slo.min_rate = sharded.slo.min_rate.map(|r| r.share(shard.count));
            *probe = Arc::new(sharded);
        }
        self
    }
}

impl TryFrom<Config> for Plan {
    type Error = PlanError;

    fn try_from(config: Config) -> Result<Self, PlanError> {
        let mut problems = Problems::default();
        let mut at = At::root(&mut problems);
        let global = build_global(at.key("global"), &config.global);
        let probe_steps: usize = config
            .probes
            .iter()
            .map(|p| {
                let routes = p.replay.as_ref().map_or(0, |r| r.routes.len());
                p.steps.len().max(1) + p.mix.iter().map(|m| m.steps.len()).sum::<usize>() + routes
            })
            .sum();
        if probe_steps > MAX_PROBE_STEPS {
            at.key("probes").add(format!(
                "{probe_steps} probe steps; at most {MAX_PROBE_STEPS} (each is a set of series)"
            ));
        }
        let demo = config
            .demo
            .and_then(|d| target::build_demo(at.key("demo"), d));
        let targets: Vec<Arc<Target>> = config
            .targets
            .iter()
            .filter_map(|(name, t)| {
                target::build_target(at.key("targets").key(name), name, t).map(Arc::new)
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut probes = Vec::new();
        for (i, probe) in config.probes.iter().enumerate() {
            let mut at = at.index("probes", i);
            if !seen.insert(probe.name.clone()) {
                at.key("name")
                    .add(format!("duplicate probe name `{}`", probe.name));
            }
            if let Some(p) = probe::build_probe(at, probe, &targets, &config.base_dir) {
                probes.push(Arc::new(p));
            }
        }
        if let Some(error) = problems.into_error() {
            return Err(error);
        }
        let latency_buckets = latency_buckets(&probes);
        Ok(Plan {
            global: global.expect("a global without problems is built"),
            demo,
            targets,
            probes,
            latency_buckets,
        })
    }
}

/// The settings of `global`, or `None` after recording what is wrong with them.
fn build_global(mut at: At<'_>, global: &GlobalConfig) -> Option<Global> {
    let before = at.recorded();
    if global.report_interval.is_zero() {
        at.key("report_interval").add("must be above zero");
    }
    let max_rate = global.max_rate.map(Rate::positive);
    if max_rate.is_some_and(|r| r.is_none()) {
        at.key("max_rate")
            .add("must be a number above 0 (arrivals per second)");
    }
    (at.recorded() == before).then(|| Global {
        drain_timeout: global.drain_timeout,
        report_interval: global.report_interval,
        max_rate: max_rate.flatten(),
    })
}

/// The base layout plus every SLO latency threshold, so "fraction under the SLO" is exact.
fn latency_buckets(probes: &[Arc<Probe>]) -> Vec<f64> {
    let thresholds = probes.iter().flat_map(|p| [p.slo.p95, p.slo.p99]).flatten();
    let mut buckets: Vec<f64> = BASE_LATENCY_BUCKETS
        .into_iter()
        .chain(thresholds.map(|d| d.as_secs_f64()))
        .collect();
    buckets.sort_by(f64::total_cmp);
    buckets.dedup();
    buckets
}

#[cfg(test)]
mod tests;
