//! Schema of a step: the request, its checks and its extractions.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

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
