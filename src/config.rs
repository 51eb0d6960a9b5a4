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
mod schedule;
mod traffic;

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

/// A service under test.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Base URL; step paths are appended to it.
    pub url: String,
    /// Headers sent with every request to this target.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Deadline of one request, from its intended start to the last body byte.
    #[serde(
        default = "default_timeout",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub timeout: Duration,
    /// Connection pool of this target's client.
    #[serde(default)]
    pub pool: PoolConfig,
    /// TLS settings for `https` URLs.
    #[serde(default)]
    pub tls: TlsConfig,
    /// How to sample the target's memory, if at all.
    #[serde(default)]
    pub memory: Option<MemoryConfig>,
    /// The target's own objectives.
    #[serde(default)]
    pub slo: Option<TargetSloConfig>,
}

/// Where and how often to sample a target's memory; exactly one source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Read a gauge from the target's own Prometheus endpoint.
    #[serde(default)]
    pub prometheus: Option<PrometheusMemoryConfig>,
    /// Read a local process's resident memory from /proc.
    #[serde(default)]
    pub process: Option<ProcessMemoryConfig>,
    /// Read a cgroup v2 `memory.current` file.
    #[serde(default)]
    pub cgroup: Option<CgroupMemoryConfig>,
    /// Time between samples.
    #[serde(
        default = "default_memory_interval",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub interval: Duration,
}

fn default_memory_interval() -> Duration {
    Duration::from_secs(15)
}

/// Memory from a Prometheus text endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusMemoryConfig {
    /// URL of the endpoint (fetched with the target's client settings).
    pub url: String,
    /// Metric name.
    #[serde(default = "default_memory_metric")]
    pub metric: String,
    /// Label values the series must have, to pick one of several.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_memory_metric() -> String {
    "process_resident_memory_bytes".to_owned()
}

/// Memory of a local process (same host or shared process namespace).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessMemoryConfig {
    /// File holding the process id.
    pub pid_file: Option<PathBuf>,
    /// Process name (its `comm`, or the base name of its first or second argument); the
    /// oldest match is sampled.
    pub name: Option<String>,
    /// Proportional set size (`smaps_rollup` Pss) instead of resident set size (VmRSS).
    pub pss: bool,
}

/// Memory of a cgroup v2.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgroupMemoryConfig {
    /// The cgroup directory, or its `memory.current` file.
    pub path: PathBuf,
}

/// A target's own objectives.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSloConfig {
    /// Highest acceptable memory growth per hour, as a fraction of the baseline (0.05 = 5%).
    pub memory_growth_per_hour: Option<f64>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Idle connections kept open per host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required")]
    pub idle_timeout: Duration,
    /// Speak HTTP/2 with prior knowledge (h2c) or ALPN-negotiated h2 only.
    pub http2: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_host: 64,
            idle_timeout: Duration::from_secs(90),
            http2: false,
        }
    }
}

/// TLS settings towards a target.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of extra CA certificates to trust, besides the system store.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (test environments only).
    pub insecure_skip_verify: bool,
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

/// How arrivals are spaced within a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Arrivals per second (open model: independent of how fast the target answers).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Rates that follow each other, repeated for the length of the run (instead of `rate`).
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// How the rate moves from one stage to the next.
    #[serde(default)]
    pub ramp: RampConfig,
    /// How arrivals are spaced at a given rate.
    #[serde(default)]
    pub arrivals: ArrivalsConfig,
    /// Seed of the Poisson gaps, for repeatable runs (random when absent).
    #[serde(default)]
    pub seed: Option<u64>,
    /// All-at-once arrivals on top of the rate (or alone).
    #[serde(default)]
    pub burst: Option<BurstConfig>,
    /// Iterations allowed in flight at once; arrivals beyond it are dropped and counted.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// One stage of a staged load.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Arrivals per second in this stage (0 pauses).
    pub rate: f64,
    /// How long the stage lasts.
    #[serde(
        rename = "for",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub run_for: Duration,
}

/// How the rate moves between stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RampConfig {
    /// Jump to each stage's rate.
    #[default]
    Step,
    /// Move linearly from the previous stage's rate (0 before the first) to this one's.
    Linear,
}

/// How arrivals are spaced at a given rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalsConfig {
    /// Evenly: `1/rate` apart.
    #[default]
    Uniform,
    /// Exponential gaps (a Poisson process), as independent users arrive.
    Poisson,
}

/// All-at-once arrivals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstConfig {
    /// Arrivals in one burst.
    pub size: u32,
    /// Time between bursts; one burst at the start of each run when absent.
    #[serde(
        default,
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional"
    )]
    pub every: Option<Duration>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            rate: None,
            stages: Vec::new(),
            ramp: RampConfig::default(),
            arrivals: ArrivalsConfig::default(),
            seed: None,
            burst: None,
            max_in_flight: default_max_in_flight(),
        }
    }
}

fn default_max_in_flight() -> usize {
    100
}

/// One HTTP request of a probe, with its checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// The `step` label; required in `steps:`, `request` by default in `request:`.
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path (and query) appended to the target URL.
    #[serde(default = "default_path")]
    pub path: String,
    /// Headers of this step, on top of the target's.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Raw request body.
    #[serde(default)]
    pub body: Option<String>,
    /// JSON request body (sets `Content-Type: application/json`).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// What makes the response a success.
    #[serde(default)]
    pub expect: ExpectConfig,
    /// Values taken from the response for later steps, by variable name (`{{name}}`).
    #[serde(default)]
    pub extract: BTreeMap<String, ExtractConfig>,
    /// Sent even when an earlier step failed (cleanup, such as deleting a session).
    #[serde(default)]
    pub always: bool,
    /// Largest response body read for this step's checks (1 MiB by default); a longer body
    /// fails the request with reason `io` and its connection is closed.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

/// Where an extracted value comes from; exactly one key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractConfig {
    /// RFC 9535 JSONPath into the JSON body; must select exactly one value.
    pub json: Option<String>,
    /// A response header.
    pub header: Option<String>,
    /// A regular expression on the body: its first capture group (or the whole match).
    pub regex: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

/// Checks applied to a response.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpectConfig {
    /// Accepted status codes; any 2xx when empty.
    pub status: Vec<u16>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Slowest acceptable latency (from the intended start).
    #[serde(with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional")]
    pub max_latency: Option<Duration>,
    /// Checks on the JSON body.
    pub json: Vec<JsonCheckConfig>,
    /// Response headers that must have exactly these values (templates allowed).
    pub header: BTreeMap<String, String>,
}

/// One check on the JSON body: a JSONPath and exactly one expectation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheckConfig {
    /// RFC 9535 JSONPath.
    pub path: String,
    /// The single selected value equals this (strings may hold templates such as `{{id}}`).
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// The path selects something (`true`) or nothing (`false`).
    #[serde(default)]
    pub exists: Option<bool>,
    /// The single selected value is an array, object or string of this length.
    #[serde(default)]
    pub length: Option<usize>,
    /// The single selected array holds this value, or string contains this text.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
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
