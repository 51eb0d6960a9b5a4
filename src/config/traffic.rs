//! Schema of production-shaped traffic: data feeders and weighted mixes of scenarios.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::StepConfig;

/// Rows that iterations take one at a time; templates use `{{data.COLUMN}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A CSV file with a header row (`.csv`) or JSON Lines of objects (`.jsonl`, `.ndjson`);
    /// relative to the config file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Rows written inline instead of a file.
    #[serde(default)]
    pub rows: Option<Vec<BTreeMap<String, serde_json::Value>>>,
    /// In which order iterations take rows.
    #[serde(default)]
    pub order: DataOrder,
    /// What happens after the last row.
    #[serde(default)]
    pub on_end: DataEnd,
    /// Seed of `random` and `shuffle`, for repeatable runs.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// In which order iterations take rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataOrder {
    /// Row 1, 2, 3, …
    #[default]
    Sequential,
    /// Any row, independently each time.
    Random,
    /// Every row once in a shuffled order, then again.
    Shuffle,
}

/// What happens after the last row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataEnd {
    /// Start over.
    #[default]
    Loop,
    /// End the run.
    Stop,
}

/// One scenario of a weighted mix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// The `scenario` label.
    pub name: String,
    /// Relative share of iterations (positive integer).
    pub weight: u32,
    /// Its steps, in order.
    pub steps: Vec<StepConfig>,
}

/// Replay of an access log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// The log file, relative to the config file.
    pub file: PathBuf,
    /// Its format.
    #[serde(default)]
    pub format: ReplayFormat,
    /// Replay the log's own timing this many times faster (2.0 = twice as fast).
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Instead of the log's timing, send its requests in order at this rate.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Start over at the end (otherwise the run ends with the log).
    #[serde(default, rename = "loop")]
    pub looped: bool,
    /// Methods replayed besides GET and HEAD (a replay must not write by accident).
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Only entries with these methods (all allowed ones when empty).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Only entries whose path matches.
    #[serde(default)]
    pub path_regex: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// The `step` label of each request by path; `other` for the rest.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

fn default_speed() -> f64 {
    1.0
}

/// An access-log format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFormat {
    /// nginx/Apache combined (or common) log format.
    #[default]
    Combined,
    /// JSON Lines: `{ts, method, path, headers?, body?}`, `ts` in RFC 3339 or Unix seconds.
    Jsonl,
}

/// A named group of paths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The `step` label.
    pub name: String,
    /// Paths of this route.
    pub path_regex: String,
}
