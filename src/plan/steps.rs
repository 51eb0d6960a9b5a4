//! A probe's steps: requests with their templates, checks and extractions, built from the
//! config with every path, header, JSONPath, regex and variable name checked at load time.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Uri};
use regex::Regex;
use serde_json_path::JsonPath;

use super::template::{Escape, Template, Var};
use super::{Problems, Target, check_name, header_map};
use crate::config::{ProbeConfig, StepConfig};

mod checks;

/// One HTTP request of a probe, ready to send.
#[derive(Debug, Clone)]
pub struct Step {
    /// Config name: the `step` label.
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// Absolute URI (target URL joined with the step path) when the path has no variables.
    pub uri: Uri,
    /// The absolute URL as a template, when the path has variables.
    pub uri_template: Option<Template>,
    /// Target headers with the step's literal ones on top; values are marked sensitive.
    pub headers: HeaderMap,
    /// Step headers whose values have variables.
    pub header_templates: Vec<(HeaderName, Template)>,
    /// Request body when it has no variables (empty when none).
    pub body: Bytes,
    /// The body as a template, when it has variables.
    pub body_template: Option<Template>,
    /// Response checks.
    pub expect: Expect,
    /// Values taken from the response for later steps.
    pub extract: Vec<Extraction>,
    /// Sent even after an earlier step failed (cleanup).
    pub always: bool,
    /// Largest response body read for checks and extraction.
    pub max_body_bytes: usize,
}

impl Step {
    /// Whether the response body must be kept (for a check or an extraction).
    pub fn needs_body(&self) -> bool {
        self.expect.body_contains.is_some()
            || !self.expect.json.is_empty()
            || self
                .extract
                .iter()
                .any(|e| !matches!(e.from, ExtractFrom::Header(_)))
    }
}

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

/// A value taken from a response into a variable.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// Index of the variable ([`Var::Extracted`]).
    pub var: usize,
    /// Where it comes from.
    pub from: ExtractFrom,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone)]
pub enum ExtractFrom {
    /// The single value a JSONPath selects (strings as they are, others as JSON text).
    Json(JsonPath),
    /// A response header.
    Header(HeaderName),
    /// The first capture group (or whole match) of a regex on the body.
    Regex(Regex),
}

/// The steps of probe `p` (from `steps:` or the `request:` shorthand) and the names of the
/// variables they extract.
pub(super) fn build_steps(
    field: &str,
    p: &ProbeConfig,
    target: &Target,
    problems: &mut Problems,
) -> (Option<Vec<Step>>, Vec<String>) {
    let configs: Vec<(String, &StepConfig)> = match (&p.request, p.steps.is_empty()) {
        (Some(request), true) => vec![(format!("{field}.request"), request)],
        (None, false) => p
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{field}.steps[{i}]"), s))
            .collect(),
        (Some(_), false) => {
            problems.add(field, "give either `steps` or `request`, not both");
            return (None, Vec::new());
        }
        (None, true) => {
            problems.add(field, "needs `steps` or `request`");
            return (None, Vec::new());
        }
    };
    let mut names = BTreeSet::new();
    let mut variables: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for (step_field, config) in configs {
        let name = match (&config.name, p.request.is_some()) {
            (Some(name), _) => name.clone(),
            (None, true) => "request".to_owned(),
            (None, false) => {
                problems.add(
                    format!("{step_field}.name"),
                    "every step in `steps` needs a name",
                );
                continue;
            }
        };
        check_name(&format!("{step_field}.name"), &name, problems);
        if !names.insert(name.clone()) {
            problems.add(
                format!("{step_field}.name"),
                format!("duplicate step name `{name}`"),
            );
        }
        // A step sees the built-ins and what earlier steps extract, not its own extractions.
        let known = variables.clone();
        let resolve = move |name: &str| {
            Var::builtin(name).or_else(|| known.iter().position(|k| k == name).map(Var::Extracted))
        };
        let step = build_step(&step_field, name, config, target, &resolve, problems);
        let extract = checks::build_extract(&step_field, config, &mut variables, problems);
        steps.push(
            step.zip(extract)
                .map(|(step, extract)| Step { extract, ..step }),
        );
    }
    (steps.into_iter().collect(), variables)
}

fn build_step(
    field: &str,
    name: String,
    s: &StepConfig,
    target: &Target,
    resolve: &dyn Fn(&str) -> Option<Var>,
    problems: &mut Problems,
) -> Option<Step> {
    let method = problems.check(
        &format!("{field}.method"),
        Method::from_bytes(s.method.as_bytes()),
    );
    let (uri, uri_template) = build_uri(
        &format!("{field}.path"),
        &target.url,
        &s.path,
        resolve,
        problems,
    )?;
    let (mut headers, header_templates) = build_headers(field, target, s, resolve, problems)?;
    let (body, content_type) = match (&s.body, &s.json) {
        (Some(_), Some(_)) => {
            problems.add(field, "give either `body` or `json`, not both");
            return None;
        }
        (Some(body), None) => ((body.clone(), Escape::None), None),
        (None, Some(json)) => (
            (json.to_string(), Escape::Json),
            Some(HeaderValue::from_static("application/json")),
        ),
        (None, None) => ((String::new(), Escape::None), None),
    };
    let body_field = format!("{field}.{}", if s.json.is_some() { "json" } else { "body" });
    let body_template = problems.check(&body_field, Template::parse(&body.0, body.1, resolve))?;
    if let Some(value) = content_type {
        headers.entry(CONTENT_TYPE).or_insert(value);
    }
    // Targets can see who is loading them (and tell it apart in their access logs).
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "loadprobe/",
            env!("CARGO_PKG_VERSION")
        )));
    let expect = checks::build_expect(field, &s.expect, resolve, problems);
    Some(Step {
        name,
        method: method?,
        uri,
        uri_template,
        headers,
        header_templates,
        body: Bytes::from(body.0),
        body_template: (!body_template.is_literal()).then_some(body_template),
        expect: expect?,
        extract: Vec::new(),
        always: s.always,
        max_body_bytes: s.max_body_bytes.unwrap_or(super::DEFAULT_MAX_BODY_BYTES),
    })
}

/// The step's URI when its path is literal, or its template (with a placeholder URI).
fn build_uri(
    field: &str,
    base: &Uri,
    path: &str,
    resolve: &dyn Fn(&str) -> Option<Var>,
    problems: &mut Problems,
) -> Option<(Uri, Option<Template>)> {
    if !path.starts_with('/') {
        problems.add(field, format!("`{path}` must start with `/`"));
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let joined = format!("{scheme}://{authority}{prefix}{path}");
    let template = problems.check(field, Template::parse(&joined, Escape::Url, resolve))?;
    if !template.is_literal() {
        return Some((base.clone(), Some(template)));
    }
    let uri = joined
        .parse()
        .map_err(|e| format!("`{path}` does not make a valid URL: {e}"));
    Some((problems.check(field, uri)?, None))
}

fn build_headers(
    field: &str,
    target: &Target,
    s: &StepConfig,
    resolve: &dyn Fn(&str) -> Option<Var>,
    problems: &mut Problems,
) -> Option<(HeaderMap, Vec<(HeaderName, Template)>)> {
    let mut headers = target.headers.clone();
    let mut templates = Vec::new();
    let (literal, templated): (Vec<_>, Vec<_>) =
        s.headers.iter().partition(|(_, v)| !v.contains("{{"));
    let literal = literal
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in header_map(&format!("{field}.headers"), &literal, problems)? {
        headers.insert(
            key.expect("a fresh HeaderMap yields a name for each value"),
            value,
        );
    }
    for (key, value) in templated {
        let key_field = format!("{field}.headers.{key}");
        let name = problems.check(&key_field, HeaderName::from_bytes(key.as_bytes()));
        let template = problems.check(&key_field, Template::parse(value, Escape::None, resolve));
        templates.push((name?, template?));
    }
    Some((headers, templates))
}
