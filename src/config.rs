//! The YAML schema of `loadprobe.yml`: serde structs with defaults, and loading the file.
//!
//! Nothing here interprets a value: strings stay strings until `plan.rs` turns them into
//! URLs, methods and cron schedules. Every struct denies unknown keys, so a typo is an error
//! that names its YAML path and line rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod env;
mod guard;
mod load;
mod schedule;
mod step;
mod target;
mod traffic;

pub use load::{ArrivalsConfig, BurstConfig, LoadConfig, RampConfig, StageConfig};
pub use step::{ExpectConfig, ExtractConfig, JsonCheckConfig, StepConfig};
pub use target::{
    CgroupMemoryConfig, MemoryConfig, PoolConfig, ProcessMemoryConfig, PrometheusMemoryConfig,
    TargetConfig, TargetSloConfig, TlsConfig,
};

pub use traffic::{
    DataConfig, DataEnd, DataOrder, ReplayConfig, ReplayFormat, RouteConfig, ScenarioConfig,
};

pub use guard::{GuardConfig, PauseAboveConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings that apply to the whole process.
    #[serde(default)]
    pub global: GlobalConfig,
    /// The built-in demo target, started in-process when present.
    #[serde(default)]
    pub demo: Option<DemoConfig>,
    /// Services under test, by name.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetConfig>,
    /// Scheduled loads, each against one target.
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// The directory of the config file, which relative data files are read from.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Process-wide settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// How long shutdown waits for in-flight iterations before it gives up on them.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub drain_timeout: Duration,
    /// How often a continuous probe closes its report window (run gauges, status page).
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub report_interval: Duration,
    /// Cap on the arrivals per second of all probes together; beyond it arrivals are dropped
    /// (reason `rate_cap`). No cap when absent.
    pub max_rate: Option<f64>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(10),
            report_interval: Duration::from_secs(60),
            max_rate: None,
        }
    }
}

/// The built-in demo target (`src/demo.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Loopback address the demo target listens on.
    pub listen: String,
    /// Fixed service time of `/fast`, and the base of `/tail`.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub latency: Duration,
    /// Service time of the slow fraction of `/tail` requests.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub tail_latency: Duration,
    /// Fraction (0–1) of `/tail` requests that take `tail_latency`.
    pub tail_ratio: f64,
    /// Requests `/pool` serves at once; beyond it, it answers 429.
    pub pool_size: usize,
    /// How long `/pool` holds a slot per request.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub pool_latency: Duration,
    /// Fraction (0–1) of `/flaky` requests that answer 500.
    pub failure_ratio: f64,
    /// Sessions `/sessions` holds at once; creating one more answers 429.
    pub session_capacity: usize,
    /// Fraction (0–1) of session reads that return another session's data (an isolation
    /// bug, for showing what a session probe catches).
    pub session_mixup_ratio: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:10181".to_owned(),
            latency: Duration::from_millis(5),
            tail_latency: Duration::from_millis(250),
            tail_ratio: 0.02,
            pool_size: 4,
            pool_latency: Duration::from_millis(40),
            failure_ratio: 0.05,
            session_capacity: 100,
            session_mixup_ratio: 0.0,
        }
    }
}

/// A named, scheduled load against one target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Unique name, `[a-z][a-z0-9_]*`; the `probe` label of every metric.
    pub name: String,
    /// Name of a key under `targets`.
    pub target: String,
    /// When the probe runs.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// How arrivals are spaced (a replay takes its timing from the log).
    #[serde(default)]
    pub load: LoadConfig,
    /// The requests of one iteration, in order.
    #[serde(default)]
    pub steps: Vec<StepConfig>,
    /// Shorthand for a probe with a single step.
    #[serde(default)]
    pub request: Option<StepConfig>,
    /// Performance targets, exported as gauges for the shipped alerts.
    #[serde(default)]
    pub slo: Option<SloConfig>,
    /// Pause the probe while the target is failing.
    #[serde(default)]
    pub guard: Option<GuardConfig>,
    /// Rows fed to iterations (`{{data.COLUMN}}`).
    #[serde(default)]
    pub data: Option<DataConfig>,
    /// Weighted scenarios, each with its own steps (instead of `steps` or `request`).
    #[serde(default)]
    pub mix: Vec<ScenarioConfig>,
    /// Requests (and their timing) from an access log, instead of steps.
    #[serde(default)]
    pub replay: Option<ReplayConfig>,
}

/// When a probe runs: always, every interval, or on a cron schedule.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ScheduleConfig {
    /// One endless run from start-up.
    #[default]
    Continuous,
    /// A run of `for` at start-up and then every `every`.
    Every {
        /// Interval between run starts.
        every: Duration,
        /// Length of each run.
        run_for: Duration,
    },
    /// A run of `for` at each cron occurrence.
    Cron {
        /// Cron expression, five or six fields (seconds optional).
        cron: String,
        /// Length of each run.
        run_for: Duration,
    },
}

/// A probe's performance targets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// 95th percentile latency target.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional")]
    pub p95: Option<Duration>,
    /// 99th percentile latency target.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional")]
    pub p99: Option<Duration>,
    /// Highest acceptable fraction of failed requests (throttled excluded).
    pub error_ratio: Option<f64>,
    /// Highest acceptable fraction of throttled (429) requests.
    pub throttled_ratio: Option<f64>,
    /// Lowest acceptable achieved rate: iterations started per second (arrivals minus drops).
    pub min_rate: Option<f64>,
    /// Longest acceptable time to recover after a burst.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional")]
    pub recovery: Option<Duration>,
}

/// Why the configuration file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", .path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A `${VAR}` names a variable that is not set.
    #[error(
        "line {line}: environment variable `{name}` is not set (write `$${{...}}` for a literal)"
    )]
    MissingVariable {
        /// The variable's name.
        name: String,
        /// 1-based line of the reference.
        line: usize,
    },
    /// The YAML is malformed or does not fit the schema; the source names path and line.
    #[error("cannot parse YAML")]
    Parse(#[from] yaml_serde::Error),
}

impl Config {
    /// Reads, substitutes `${VAR}` from the environment, and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text, |name| std::env::var(name).ok())?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Parses config text, resolving `${VAR}` with `lookup`.
    pub fn parse(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let expanded = env::expand_variables(text, lookup)?;
        Ok(yaml_serde::from_str(&expanded)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_forms_parse() {
        let parse = |s: &str| yaml_serde::from_str::<ScheduleConfig>(s);
        assert_eq!(parse("continuous").expect("ok"), ScheduleConfig::Continuous);
        assert!(matches!(
            parse("{every: 10m, for: 1m}").expect("ok"),
            ScheduleConfig::Every { .. }
        ));
        assert!(matches!(
            parse("{cron: '* * * * *', for: 1m}").expect("ok"),
            ScheduleConfig::Cron { .. }
        ));
        assert!(parse("{every: 1m, cron: '* * * * *', for: 1s}").is_err());
        assert!(parse("sometimes").is_err());
    }
}
