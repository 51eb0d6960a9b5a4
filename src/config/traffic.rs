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
