//! Validation helpers shared by the plan builders: the problem list, the YAML path a
//! problem is reported under ([`At`]), and checks several sections use.

use std::collections::BTreeMap;
use std::fmt;

use http::header::{HeaderMap, HeaderName, HeaderValue};

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
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    /// The plan error of what was collected, if anything was.
    pub(super) fn into_error(self) -> Option<PlanError> {
        (!self.0.is_empty()).then_some(PlanError { problems: self.0 })
    }
}

/// Where in the config a builder is: the YAML path its problems are reported under, and
/// the list they go to. Builders take one for their section and hand children
/// `at.key("rate")` or `at.index("stages", i)`, so no path is spelled out by hand.
#[derive(Debug)]
pub(super) struct At<'p> {
    path: String,
    problems: &'p mut Problems,
}

impl<'p> At<'p> {
    /// The top of the config (the empty path).
    pub(super) fn root(problems: &'p mut Problems) -> Self {
        Self {
            path: String::new(),
            problems,
        }
    }

    /// The same place, for a helper that reports under it while this one is kept.
    pub(super) fn reborrow(&mut self) -> At<'_> {
        At {
            path: self.path.clone(),
            problems: self.problems,
        }
    }

    /// The value under `key`: `path.key`.
    pub(super) fn key(&mut self, key: &str) -> At<'_> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        At {
            path,
            problems: self.problems,
        }
    }

    /// Item `index` of the list under `key`: `path.key[index]`.
    pub(super) fn index(&mut self, key: &str, index: usize) -> At<'_> {
        let mut at = self.key(key);
        at.path = format!("{}[{index}]", at.path);
        at
    }

    /// Records that the value here is wrong, and why.
    pub(super) fn add(&mut self, reason: impl Into<String>) {
        self.problems.0.push(Problem {
            field: self.path.clone(),
            reason: reason.into(),
        });
    }

    /// Keeps `result`'s value, or records its error here.
    pub(super) fn check<T, E: fmt::Display>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(e.to_string())).ok()
    }

    /// How many problems the whole config has so far: a builder compares two counts to
    /// learn whether its own section added any.
    pub(super) fn recorded(&self) -> usize {
        self.problems.0.len()
    }
}

/// Names become label values and must stay tidy: `[a-z][a-z0-9_]*`.
pub(super) fn check_name(mut at: At<'_>, name: &str) {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        at.add(format!("`{name}` must match [a-z][a-z0-9_]*"));
    }
}

/// A ratio, when given, is a fraction between 0 and 1.
pub(super) fn check_ratio(mut at: At<'_>, ratio: Option<f64>) {
    if ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        at.add("must be a ratio between 0 and 1");
    }
}

/// Parses configured headers; values are marked sensitive so no `Debug` print shows them.
pub(super) fn header_map(mut at: At<'_>, headers: &BTreeMap<String, String>) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    let mut ok = true;
    for (key, value) in headers {
        let mut at = at.key(key);
        let name = at.check(HeaderName::from_bytes(key.as_bytes()));
        let value = at.check(HeaderValue::from_str(value));
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
