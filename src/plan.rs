//! The validated runtime model built from a [`Config`]: the only place where strings become
//! URLs, methods, header values, cron schedules and rates.
//!
//! Building a [`Plan`] checks every rule that can be checked before any load flows, and
//! reports every problem at once, each naming its YAML path (`probes[1].load.rate`), so a
//! config is fixed in one round trip. Nothing downstream parses a string again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

mod data;
mod fingerprint;
mod guard;
mod load;
mod probe;
mod rate;
mod replay;
mod shard;
mod slo;
mod steps;
mod target;
mod template;

pub use data::{Feeder, MAX_FILE_BYTES, MAX_ROWS, splitmix};
pub use guard::{GuardSettings, PauseAbove};
pub use load::{ArrivalProcess, Burst, LoadModel, LoadProfile, Ramp, ReplayTiming, Stage};
pub use rate::Rate;
pub use replay::{Entry, Replay};
pub use shard::{Shard, ShardError};
pub use slo::Slo;
pub use steps::{Expect, ExtractFrom, Extraction, JsonCheck, JsonExpect, Scenario, Step};
pub use target::{Demo, MemoryPlan, MemorySource, ProcessSelector, Target};
pub use template::{Escape, Template, Var};

use crate::config::{Config, GlobalConfig, ProbeConfig};

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

/// The settings of `global`, or `None` after recording what is wrong with them.
fn build_global(global: &GlobalConfig, problems: &mut Problems) -> Option<Global> {
    let before = problems.0.len();
    if global.report_interval.is_zero() {
        problems.add("global.report_interval", "must be above zero");
    }
    let max_rate = global.max_rate.map(Rate::positive);
    if max_rate.is_some_and(|r| r.is_none()) {
        problems.add(
            "global.max_rate",
            "must be a number above 0 (arrivals per second)",
        );
    }
    (problems.0.len() == before).then(|| Global {
        drain_timeout: global.drain_timeout,
        report_interval: global.report_interval,
        max_rate: max_rate.flatten(),
    })
}

/// A named, scheduled load against one target.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Config name: the `probe` label.
    pub name: String,
    /// The target every step is sent to.
    pub target: Arc<Target>,
    /// When runs happen.
    pub schedule: Schedule,
    /// How arrivals are spaced in a run, for the whole fleet (see `shard`).
    pub load: LoadProfile,
    /// This replica's share of the arrivals.
    pub shard: Shard,
    /// Iterations in flight at most; beyond it arrivals are dropped.
    pub max_in_flight: usize,
    /// Requests of one iteration, in order (at least one).
    pub steps: Vec<Step>,
    /// Names of the variables its steps extract, indexed by [`Var::Extracted`].
    pub variables: Vec<String>,
    /// Weighted scenarios, each a range of `steps`; empty without a mix.
    pub scenarios: Vec<Scenario>,
    /// Seed of the scenario choice.
    pub mix_seed: u64,
    /// Rows fed to iterations.
    pub data: Option<Feeder>,
    /// The access log it replays (its steps are then its routes).
    pub replay: Option<Replay>,
    /// Performance targets.
    pub slo: Slo,
    /// When to pause while the target is failing.
    pub guard: Option<GuardSettings>,
    /// Equal for two loads of the same configuration and data (see `fingerprint.rs`).
    pub fingerprint: u64,
}

impl Probe {
    /// Mean arrivals per second this replica plans (the fleet's over the shard count).
    pub fn replica_rate(&self) -> Rate {
        crate::arrival::mean_rate(&self.load).share(self.shard.count)
    }
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

/// When a probe runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// One endless run from start-up.
    Continuous,
    /// A run of `run_for` at start-up and then every `every`.
    Every {
        /// Interval between run starts.
        every: Duration,
        /// Length of a run (≤ `every`).
        run_for: Duration,
    },
    /// A run of `run_for` at each occurrence.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Length of a run.
        run_for: Duration,
    },
}

/// Every problem found in a config, each naming its YAML path.
#[derive(Debug, thiserror::Error)]
pub struct PlanError {
    /// The problems, in config order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// One validation failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Problem {
    /// YAML path of the offending value, e.g. `probes[0].load.rate`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Collects problems while a plan is built, so all of them are reported together.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Keeps `result`'s value, or records its error under `field`.
    fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(field, e.to_string())).ok()
    }
}

impl TryFrom<Config> for Plan {
    type Error = PlanError;

    fn try_from(config: Config) -> Result<Self, PlanError> {
        let mut problems = Problems::default();
        let global = build_global(&config.global, &mut problems);
        let probe_steps: usize = config
            .probes
            .iter()
            .map(|p| {
                let routes = p.replay.as_ref().map_or(0, |r| r.routes.len());
                p.steps.len().max(1) + p.mix.iter().map(|m| m.steps.len()).sum::<usize>() + routes
            })
            .sum();
        if probe_steps > MAX_PROBE_STEPS {
            let reason = format!(
                "{probe_steps} probe steps; at most {MAX_PROBE_STEPS} (each is a set of series)"
            );
            problems.add("probes", reason);
        }
        let demo = config
            .demo
            .and_then(|d| target::build_demo(d, &mut problems));
        let targets: Vec<Arc<Target>> = config
            .targets
            .iter()
            .filter_map(|(name, t)| target::build_target(name, t, &mut problems).map(Arc::new))
            .collect();
        let mut seen = BTreeSet::new();
        let mut probes = Vec::new();
        for (i, probe) in config.probes.iter().enumerate() {
            let field = format!("probes[{i}]");
            if !seen.insert(probe.name.clone()) {
                problems.add(
                    format!("{field}.name"),
                    format!("duplicate probe name `{}`", probe.name),
                );
            }
            if let Some(p) = build_probe(&field, probe, &targets, &config.base_dir, &mut problems) {
                probes.push(Arc::new(p));
            }
        }
        if !problems.0.is_empty() {
            return Err(PlanError {
                problems: problems.0,
            });
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

fn build_probe(
    field: &str,
    p: &ProbeConfig,
    targets: &[Arc<Target>],
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Probe> {
    check_name(&format!("{field}.name"), &p.name, problems);
    let Some(target) = targets.iter().find(|t| t.name == p.target).cloned() else {
        problems.add(
            format!("{field}.target"),
            format!("unknown target `{}`", p.target),
        );
        return None;
    };
    let schedule = probe::build_schedule(&format!("{field}.schedule"), &p.schedule, problems);
    let model = match &p.replay {
        // A replay's timing comes from its log, loaded below.
        Some(_) => {
            load::check_replay_load(&format!("{field}.load"), &p.load, problems);
            None
        }
        None => load::build_load(&format!("{field}.load"), &p.load, problems),
    };
    if p.load.max_in_flight == 0 {
        problems.add(format!("{field}.load.max_in_flight"), "must be at least 1");
    }
    let slo = slo::build_slo(&format!("{field}.slo"), p.slo.as_ref(), problems);
    let data = p
        .data
        .as_ref()
        .and_then(|d| problems.check(&format!("{field}.data"), Feeder::load(d, base_dir)));
    let replay = p.replay.as_ref().and_then(|r| {
        probe::build_replay(
            &format!("{field}.replay"),
            p,
            r,
            &target,
            base_dir,
            problems,
        )
    });
    let no_steps = || steps::BuiltSteps {
        steps: None,
        variables: Vec::new(),
        scenarios: Vec::new(),
    };
    let built = match (&replay, &p.replay) {
        (Some(replay), _) => steps::BuiltSteps {
            steps: Some(replay.steps(&target)),
            ..no_steps()
        },
        // The replay's own error says what is wrong; its probe has no steps to check.
        (None, Some(_)) => no_steps(),
        (None, None) => steps::build_steps(field, p, &target, data.as_ref(), problems),
    };
    let model = match &replay {
        Some(replay) => Some(LoadModel::Replay(replay.timing())),
        None => model,
    };
    let fingerprint = fingerprint::Fingerprint::default()
        .debug(p)
        .hash(&target.fingerprint)
        .hash(&data.as_ref().map(Feeder::content_hash))
        .debug(&replay.as_ref().map(|r| &r.entries))
        .finish();
    let (schedule, model, steps) = (schedule?, model?, built.steps?);
    let mix_seed = p.load.seed.unwrap_or_else(|| fastrand::u64(..));
    // Checked last, and only for an otherwise whole probe: its problems come after the
    // others' and are not reported for a probe that cannot run anyway.
    let guard = match &p.guard {
        Some(g) => Some(guard::build_guard(&format!("{field}.guard"), g, problems)?),
        None => None,
    };
    Some(Probe {
        fingerprint,
        name: p.name.clone(),
        target,
        schedule,
        load: LoadProfile {
            model,
            seed: p.load.seed,
        },
        shard: Shard::WHOLE,
        max_in_flight: p.load.max_in_flight,
        steps,
        variables: built.variables,
        scenarios: built.scenarios,
        mix_seed,
        data,
        replay,
        slo: slo?,
        guard,
    })
}

/// Parses configured headers; values are marked sensitive so no `Debug` print shows them.
fn header_map(
    field: &str,
    headers: &BTreeMap<String, String>,
    problems: &mut Problems,
) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    let mut ok = true;
    for (key, value) in headers {
        let name = problems.check(
            &format!("{field}.{key}"),
            HeaderName::from_bytes(key.as_bytes()),
        );
        let value = problems.check(&format!("{field}.{key}"), HeaderValue::from_str(value));
        match (name, value) {
            (Some(name), Some(mut value)) => {
                value.set_sensitive(true);
                map.insert(name, value);
            }
            _ => ok = false,
        }
    }
    ok.then_some(map)
}

/// Names become label values and must stay tidy: `[a-z][a-z0-9_]*`.
fn check_name(field: &str, name: &str, problems: &mut Problems) {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        problems.add(field, format!("`{name}` must match [a-z][a-z0-9_]*"));
    }
}

fn check_ratio(field: &str, ratio: Option<f64>, problems: &mut Problems) {
    if ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        problems.add(field, "must be a ratio between 0 and 1");
    }
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
