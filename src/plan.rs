//! The validated runtime model built from a [`Config`]: the only place where strings become
//! URLs, methods, header values, cron schedules and rates.
//!
//! Building a [`Plan`] checks every rule that can be checked before any load flows, and
//! reports every problem at once, each naming its YAML path (`probes[1].load.rate`), so a
//! config is fixed in one round trip. Nothing downstream parses a string again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

mod data;
mod load;
mod replay;
mod shard;
mod steps;
mod target;
mod template;

pub use data::{Feeder, MAX_FILE_BYTES, MAX_ROWS, splitmix};
pub use replay::{Entry, Replay};
pub use shard::{Shard, ShardError};
pub use steps::{Expect, ExtractFrom, Extraction, JsonCheck, JsonExpect, Scenario, Step};
pub use template::{Escape, Template, Var};

use crate::config::{
    Config, DemoConfig, GlobalConfig, GuardConfig, ProbeConfig, ScheduleConfig, SloConfig,
};

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
    pub global: GlobalConfig,
    /// The in-process demo target, when configured (its address is loopback).
    pub demo: Option<Demo>,
    /// Targets that at least one probe uses, or that are declared.
    pub targets: Vec<Arc<Target>>,
    /// Probes in config order.
    pub probes: Vec<Arc<Probe>>,
    /// Duration histogram bucket bounds in seconds: the base layout plus every SLO threshold.
    pub latency_buckets: Vec<f64>,
}

/// The demo target's validated settings.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Where it listens (always a loopback address).
    pub listen: SocketAddr,
    /// Its behaviour knobs.
    pub settings: DemoConfig,
}

/// A service under test.
#[derive(Debug)]
pub struct Target {
    /// Config name.
    pub name: String,
    /// Base URL as written, used to resolve step paths.
    pub url: Uri,
    /// Headers of every request (values marked sensitive, so `Debug` hides them).
    pub headers: HeaderMap,
    /// Request deadline, from the intended start to the last body byte.
    pub timeout: Duration,
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// HTTP/2 only.
    pub http2: bool,
    /// Extra trusted CA certificates, read at load time.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// How its memory is sampled, if at all.
    pub memory: Option<MemoryPlan>,
    /// Highest acceptable memory growth per hour, as a fraction of the baseline.
    pub memory_growth_per_hour: Option<f64>,
}

/// How a target's memory is sampled.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    /// Where the value comes from.
    pub source: MemorySource,
    /// Time between samples.
    pub interval: Duration,
}

/// Where a target's memory is read.
#[derive(Debug, Clone)]
pub enum MemorySource {
    /// A gauge on the target's Prometheus endpoint.
    Prometheus {
        /// Endpoint URL.
        uri: Uri,
        /// Metric name.
        metric: String,
        /// Labels the series must carry.
        labels: BTreeMap<String, String>,
    },
    /// A local process, from /proc.
    Process {
        /// Which process.
        selector: ProcessSelector,
        /// Pss from `smaps_rollup` instead of VmRSS.
        pss: bool,
    },
    /// A cgroup v2 `memory.current` file.
    Cgroup {
        /// The file (the directory is resolved at load time).
        path: PathBuf,
    },
}

/// How the sampled process is found.
#[derive(Debug, Clone)]
pub enum ProcessSelector {
    /// Read the pid from this file at each sample (it changes when the process restarts).
    PidFile(PathBuf),
    /// The oldest process with this name.
    Name(String),
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
    pub slo: SloConfig,
    /// When to pause while the target is failing.
    pub guard: Option<GuardConfig>,
}

impl Probe {
    /// Mean arrivals per second this replica plans (the fleet's over the shard count).
    pub fn replica_rate(&self) -> f64 {
        crate::arrival::mean_rate(&self.load) / f64::from(self.shard.count)
    }
}

/// How arrivals are spaced in a run.
#[derive(Debug, Clone, Default)]
pub struct LoadProfile {
    /// A constant rate; `None` with stages or a burst-only profile.
    pub rate: Option<Rate>,
    /// Stages repeated for the length of the run (empty with a constant rate).
    pub stages: Vec<Stage>,
    /// How the rate moves between stages.
    pub ramp: Ramp,
    /// Uniform or Poisson spacing.
    pub arrivals: ArrivalProcess,
    /// Seed of the Poisson gaps.
    pub seed: Option<u64>,
    /// All-at-once arrivals.
    pub burst: Option<Burst>,
    /// Timing from a replayed log instead of a rate.
    pub replay: Option<ReplayTiming>,
}

/// When a replay's entries are sent.
#[derive(Debug, Clone)]
pub struct ReplayTiming {
    /// Each entry's logged offset.
    pub offsets: Arc<Vec<Duration>>,
    /// Divides the logged offsets (2.0 = twice as fast).
    pub speed: f64,
    /// Instead of the logged offsets, this many entries per second.
    pub rate: Option<f64>,
    /// Start over after the last entry.
    pub looped: bool,
}

/// One stage of a staged load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Arrivals per second (0 pauses).
    pub rate: f64,
    /// How long it lasts (above zero).
    pub length: Duration,
}

/// How arrivals are spaced at a given rate.
pub use crate::config::ArrivalsConfig as ArrivalProcess;
/// How the rate moves between stages.
pub use crate::config::RampConfig as Ramp;

/// All-at-once arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Arrivals per burst (at least 1).
    pub size: u32,
    /// Time between bursts; once per run when `None`.
    pub every: Option<Duration>,
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
            sharded.slo.min_rate = sharded.slo.min_rate.map(|r| r / f64::from(shard.count));
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

/// Arrivals per second; always finite and above zero.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// A rate, if `per_second` is finite and positive.
    pub fn new(per_second: f64) -> Option<Self> {
        (per_second.is_finite() && per_second > 0.0).then_some(Self(per_second))
    }

    /// Arrivals per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
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
        if config.global.report_interval.is_zero() {
            problems.add("global.report_interval", "must be above zero");
        }
        if config
            .global
            .max_rate
            .is_some_and(|r| Rate::new(r).is_none())
        {
            problems.add(
                "global.max_rate",
                "must be a number above 0 (arrivals per second)",
            );
        }
        let probe_steps: usize = config
            .probes
            .iter()
            .map(|p| p.steps.len().max(1) + p.mix.iter().map(|m| m.steps.len()).sum::<usize>())
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
            global: config.global,
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
    let schedule = build_schedule(&format!("{field}.schedule"), &p.schedule, problems);
    let load = load::build_load(
        &format!("{field}.load"),
        &p.load,
        p.replay.is_some(),
        problems,
    );
    if p.load.max_in_flight == 0 {
        problems.add(format!("{field}.load.max_in_flight"), "must be at least 1");
    }
    build_slo(&format!("{field}.slo"), p.slo.as_ref(), problems);
    let data = p
        .data
        .as_ref()
        .and_then(|d| problems.check(&format!("{field}.data"), Feeder::load(d, base_dir)));
    let replay = p.replay.as_ref().and_then(|r| {
        build_replay(
            &format!("{field}.replay"),
            p,
            r,
            &target,
            base_dir,
            problems,
        )
    });
    let built = match &replay {
        Some(replay) => steps::BuiltSteps {
            steps: Some(replay.steps(&target)),
            variables: Vec::new(),
            scenarios: Vec::new(),
        },
        None => steps::build_steps(field, p, &target, data.as_ref(), problems),
    };
    let load = load.map(|mut load| {
        load.replay = replay.as_ref().map(|r| ReplayTiming {
            offsets: r.offsets(),
            speed: r.speed,
            rate: r.rate,
            looped: r.looped,
        });
        load
    });
    Some(Probe {
        name: p.name.clone(),
        target,
        schedule: schedule?,
        load: load?,
        shard: Shard::WHOLE,
        max_in_flight: p.load.max_in_flight,
        steps: built.steps?,
        variables: built.variables,
        scenarios: built.scenarios,
        mix_seed: p.load.seed.unwrap_or_else(|| fastrand::u64(..)),
        data,
        replay,
        slo: p.slo.clone().unwrap_or_default(),
        guard: p
            .guard
            .clone()
            .filter(|g| check_guard(&format!("{field}.guard"), g, problems)),
    })
}

fn build_schedule(field: &str, s: &ScheduleConfig, problems: &mut Problems) -> Option<Schedule> {
    let run_for = match s {
        ScheduleConfig::Continuous => return Some(Schedule::Continuous),
        ScheduleConfig::Every { run_for, .. } | ScheduleConfig::Cron { run_for, .. } => *run_for,
    };
    if run_for.is_zero() {
        problems.add(format!("{field}.for"), "must be above zero");
    }
    match s {
        ScheduleConfig::Continuous => Some(Schedule::Continuous),
        ScheduleConfig::Every { every, run_for } => {
            if every.is_zero() {
                problems.add(format!("{field}.every"), "must be above zero");
            } else if run_for > every {
                problems.add(format!("{field}.for"), "must not be longer than `every`");
            }
            Some(Schedule::Every {
                every: *every,
                run_for: *run_for,
            })
        }
        ScheduleConfig::Cron { cron, run_for } => {
            let parsed = cron
                .parse::<croner::Cron>()
                .map_err(|e| format!("invalid cron expression `{cron}`: {e}"));
            let cron = problems.check(&format!("{field}.cron"), parsed)?;
            Some(Schedule::Cron {
                cron: Box::new(cron),
                run_for: *run_for,
            })
        }
    }
}

fn build_slo(field: &str, slo: Option<&SloConfig>, problems: &mut Problems) {
    let Some(slo) = slo else { return };
    check_ratio(&format!("{field}.error_ratio"), slo.error_ratio, problems);
    check_ratio(
        &format!("{field}.throttled_ratio"),
        slo.throttled_ratio,
        problems,
    );
    if slo.min_rate.is_some_and(|r| Rate::new(r).is_none()) {
        problems.add(format!("{field}.min_rate"), "must be a number above 0");
    }
    for (key, value) in [
        ("p95", slo.p95),
        ("p99", slo.p99),
        ("recovery", slo.recovery),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            problems.add(format!("{field}.{key}"), "must be above zero");
        }
    }
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

/// The log of a replay probe, which must not also have steps, a mix, data or a rate.
fn build_replay(
    field: &str,
    p: &ProbeConfig,
    config: &crate::config::ReplayConfig,
    target: &Target,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Replay> {
    if p.request.is_some() || !p.steps.is_empty() || !p.mix.is_empty() || p.data.is_some() {
        problems.add(
            field,
            "a replay takes its requests from the log: no `steps`, `request`, `mix` or `data`",
        );
        return None;
    }
    for (i, route) in config.routes.iter().enumerate() {
        check_name(&format!("{field}.routes[{i}].name"), &route.name, problems);
        if route.name == "other" {
            problems.add(
                format!("{field}.routes[{i}].name"),
                "`other` is the fallback route's name",
            );
        }
    }
    problems.check(field, Replay::load(config, base_dir, &target.url))
}

/// Guard settings are checked in place (they are used as written).
fn check_guard(field: &str, g: &GuardConfig, problems: &mut Problems) -> bool {
    let before = problems.0.len();
    check_ratio(
        &format!("{field}.pause_above.error_ratio"),
        g.pause_above.error_ratio,
        problems,
    );
    check_ratio(
        &format!("{field}.pause_above.throttled_ratio"),
        g.pause_above.throttled_ratio,
        problems,
    );
    for (key, value) in [("window", g.window), ("cooldown", g.cooldown)] {
        if value.is_zero() {
            problems.add(format!("{field}.{key}"), "must be above zero");
        }
    }
    if Rate::new(g.canary_rate).is_none() {
        problems.add(
            format!("{field}.canary_rate"),
            "must be a number above 0 (arrivals per second)",
        );
    }
    if g.min_requests == 0 {
        problems.add(format!("{field}.min_requests"), "must be at least 1");
    }
    // A canary window with fewer requests than min_requests could never trip again.
    if g.canary_rate * g.window.as_secs_f64() < g.min_requests as f64 {
        problems.add(
            format!("{field}.canary_rate"),
            "canary_rate × window must reach min_requests, or a canary could never pause the probe again",
        );
    }
    problems.0.len() == before
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
