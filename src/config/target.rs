//! Schema of a target: URL, headers, timeout, pool, TLS, memory sampling, objectives.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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
    /// Connections open at once (HTTP/1.1); a request that finds them all busy waits for
    /// one. No limit when absent.
    pub max_connections: Option<usize>,
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
            max_connections: None,
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
