//! Building a step's response checks (`expect`) and extractions (`extract`).

use http::header::HeaderName;
use regex::Regex;
use serde_json_path::JsonPath;

use std::time::Duration;

use super::{ExtractFrom, Extraction};
use crate::config::{ExpectConfig, JsonCheckConfig, StepConfig};
use crate::plan::problems::At;
use crate::plan::template::{Escape, Template, Var};

/// What makes a response a success.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Accepted codes; empty means any 2xx.
    pub status: Vec<u16>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Slowest acceptable latency.
    pub max_latency: Option<Duration>,
    /// Checks on the JSON body.
    pub json: Vec<JsonCheck>,
    /// Headers that must have exactly these (rendered) values.
    pub header: Vec<(HeaderName, Template)>,
}

impl Expect {
    /// Whether `code` is an accepted status.
    pub fn accepts_status(&self, code: u16) -> bool {
        if self.status.is_empty() {
            (200..300).contains(&code)
        } else {
            self.status.contains(&code)
        }
    }
}

/// One check on the JSON body.
#[derive(Debug, Clone)]
pub struct JsonCheck {
    /// What it selects.
    pub path: JsonPath,
    /// The path as written, for messages.
    pub text: String,
    /// What must hold of the selection.
    pub expect: JsonExpect,
}

/// What must hold of a JSONPath selection.
#[derive(Debug, Clone)]
pub enum JsonExpect {
    /// Exactly one value, equal to this.
    Equals(serde_json::Value),
    /// Exactly one string value, equal to this rendered template.
    EqualsTemplate(Template),
    /// Something (`true`) or nothing (`false`) is selected.
    Exists(bool),
    /// Exactly one array, object or string of this length.
    Length(usize),
    /// Exactly one array holding this value, or string containing this text.
    Contains(serde_json::Value),
}

/// The checks of `e` (at `....expect`), or `None` after recording what is wrong with them.
pub(super) fn build_expect(
    mut at: At<'_>,
    e: &ExpectConfig,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<Expect> {
    let before = at.recorded();
    for (i, code) in e.status.iter().enumerate() {
        if !(100..=599).contains(code) {
            at.index("status", i)
                .add(format!("{code} is not an HTTP status code"));
        }
    }
    let json: Vec<JsonCheck> = e
        .json
        .iter()
        .enumerate()
        .filter_map(|(i, check)| build_json_check(at.index("json", i), check, resolve))
        .collect();
    let mut header = Vec::new();
    for (name, value) in &e.header {
        let mut at = at.key("header");
        let mut at = at.key(name);
        let parsed = at.check(HeaderName::from_bytes(name.as_bytes()));
        let template = at.check(Template::parse(value, Escape::None, resolve));
        if let (Some(parsed), Some(template)) = (parsed, template) {
            header.push((parsed, template));
        }
    }
    (at.recorded() == before).then(|| Expect {
        status: e.status.clone(),
        body_contains: e.body_contains.clone(),
        max_latency: e.max_latency,
        json,
        header,
    })
}

fn build_json_check(
    mut at: At<'_>,
    c: &JsonCheckConfig,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<JsonCheck> {
    let path = at.key("path").check(parse_json_path(&c.path));
    let given = [
        c.equals.is_some(),
        c.exists.is_some(),
        c.length.is_some(),
        c.contains.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        at.add("give exactly one of `equals`, `exists`, `length` or `contains`");
        return None;
    }
    let expect = match (&c.equals, c.exists, c.length, &c.contains) {
        (Some(serde_json::Value::String(text)), ..) if text.contains("{{") => {
            JsonExpect::EqualsTemplate(at.key("equals").check(Template::parse(
                text,
                Escape::None,
                resolve,
            ))?)
        }
        (Some(value), ..) => JsonExpect::Equals(value.clone()),
        (_, Some(exists), ..) => JsonExpect::Exists(exists),
        (_, _, Some(length), _) => JsonExpect::Length(length),
        (.., Some(value)) => JsonExpect::Contains(value.clone()),
        _ => unreachable!("exactly one expectation was checked above"),
    };
    Some(JsonCheck {
        path: path?,
        text: c.path.clone(),
        expect,
    })
}

/// The step's extractions; each new name is appended to `variables`.
pub(super) fn build_extract(
    mut at: At<'_>,
    s: &StepConfig,
    scope: usize,
    variables: &mut Vec<String>,
) -> Option<Vec<Extraction>> {
    let before = at.recorded();
    let mut extract = Vec::new();
    let mut extract_at = at.key("extract");
    for (name, source) in &s.extract {
        let mut at = extract_at.key(name);
        if Var::builtin(name).is_some() {
            at.add(format!("`{name}` is a built-in variable"));
        } else if variables[scope..].contains(name) {
            at.add(format!("`{name}` is already extracted by an earlier step"));
        }
        let from = match (&source.json, &source.header, &source.regex) {
            (Some(path), None, None) => at
                .key("json")
                .check(parse_json_path(path))
                .map(ExtractFrom::Json),
            (None, Some(header), None) => at
                .key("header")
                .check(HeaderName::from_bytes(header.as_bytes()))
                .map(ExtractFrom::Header),
            (None, None, Some(regex)) => at
                .key("regex")
                .check(Regex::new(regex))
                .map(ExtractFrom::Regex),
            _ => {
                at.add("give exactly one of `json`, `header` or `regex`");
                None
            }
        };
        variables.push(name.clone());
        if let Some(from) = from {
            extract.push(Extraction {
                var: variables.len() - 1,
                from,
            });
        }
    }
    (at.recorded() == before).then_some(extract)
}

/// Parses a JSONPath without letting a malformed one take the process down.
///
/// serde_json_path 0.7.2 panics ("we do not use streaming parsers") on a path that ends
/// inside a string literal such as `$['\u` (found by the `json_path` fuzz target). Such a
/// path is always invalid, so it is refused before parsing; any other panic in the parser
/// is caught and reported as an invalid path too.
pub(crate) fn parse_json_path(text: &str) -> Result<JsonPath, String> {
    if ends_inside_string(text) {
        return Err(format!("`{text}` ends inside a string literal"));
    }
    match std::panic::catch_unwind(|| JsonPath::parse(text)) {
        Ok(parsed) => parsed.map_err(|e| e.to_string()),
        Err(_) => Err(format!("`{text}` is not a valid JSONPath")),
    }
}

/// Whether a quote (single or double) opened in `text` is never closed.
fn ends_inside_string(text: &str) -> bool {
    let mut open: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (open, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(quote), c) if c == quote => open = None,
            (None, '\'' | '"') => open = Some(c),
            _ => {}
        }
    }
    open.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_ending_inside_a_string_are_errors_not_panics() {
        for path in [
            "$['\\u",
            "$['\\uD800\\u",
            "$[?@.a=='\\u",
            "$.a[?@ == \"\\uD",
            "$['a",
        ] {
            assert!(parse_json_path(path).is_err(), "{path}");
        }
        assert!(parse_json_path("$['a\\'b']").is_ok());
        assert!(parse_json_path("$.items[?@.ok == true].id").is_ok());
    }
}
