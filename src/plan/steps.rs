//! A probe's steps: requests with their templates, checks and extractions, built from the
//! config with every path, header, JSONPath, regex and variable name checked at load time.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Uri};
use regex::Regex;
use serde_json_path::JsonPath;

use super::data::Feeder;
use super::template::{Escape, Template, Var};
use super::{Problems, Target, check_name, header_map};
use crate::config::{ProbeConfig, StepConfig};

mod checks;

pub use checks::{Expect, JsonCheck, JsonExpect};

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

/// A probe's steps, the variables they extract, and its scenarios (none without a mix).
pub(super) struct BuiltSteps {
    pub(super) steps: Option<Vec<Step>>,
    pub(super) variables: Vec<String>,
    pub(super) scenarios: Vec<Scenario>,
}

/// Steps that share variables: the probe's own, or one scenario of its mix.
struct Group<'c> {
    scenario: Option<(String, u32)>,
    steps: Vec<(String, &'c StepConfig)>,
}

/// The step groups of probe `p`: `steps`, the `request` shorthand, or each `mix` scenario.
fn groups<'c>(field: &str, p: &'c ProbeConfig, problems: &mut Problems) -> Option<Vec<Group<'c>>> {
    let listed = |prefix: &str, steps: &'c [StepConfig]| -> Vec<(String, &'c StepConfig)> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{prefix}.steps[{i}]"), s))
            .collect()
    };
    match (&p.request, p.steps.is_empty(), p.mix.is_empty()) {
        (Some(request), true, true) => Some(vec![Group {
            scenario: None,
            steps: vec![(format!("{field}.request"), request)],
        }]),
        (None, false, true) => Some(vec![Group {
            scenario: None,
            steps: listed(field, &p.steps),
        }]),
        (None, true, false) => Some(
            p.mix
                .iter()
                .enumerate()
                .map(|(i, scenario)| {
                    let scenario_field = format!("{field}.mix[{i}]");
                    check_name(&format!("{scenario_field}.name"), &scenario.name, problems);
                    if scenario.weight == 0 {
                        problems.add(format!("{scenario_field}.weight"), "must be at least 1");
                    }
                    if scenario.steps.is_empty() {
                        problems.add(format!("{scenario_field}.steps"), "needs at least one step");
                    }
                    Group {
                        scenario: Some((scenario.name.clone(), scenario.weight)),
                        steps: listed(&scenario_field, &scenario.steps),
                    }
                })
                .collect(),
        ),
        (None, true, true) => {
            problems.add(field, "needs `steps`, `request` or `mix`");
            None
        }
        _ => {
            problems.add(field, "give one of `steps`, `request` or `mix`");
            None
        }
    }
}

/// The steps of probe `p`, with the names of the variables they extract.
pub(super) fn build_steps(
    field: &str,
    p: &ProbeConfig,
    target: &Target,
    feeder: Option<&Feeder>,
    problems: &mut Problems,
) -> BuiltSteps {
    let Some(groups) = groups(field, p, problems) else {
        return BuiltSteps {
            steps: None,
            variables: Vec::new(),
            scenarios: Vec::new(),
        };
    };
    let mut names = BTreeSet::new();
    let mut scenario_names = BTreeSet::new();
    let mut variables: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    let mut scenarios = Vec::new();
    for group in groups {
        // Variables are scoped to their group: a scenario never sees another's.
        let scope = variables.len();
        let first = steps.len();
        for (step_field, config) in group.steps {
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
            // A step sees the built-ins, the data columns and what earlier steps of its group
            // extract, not its own extractions.
            let known = variables[scope..].to_vec();
            let resolve = move |name: &str| {
                Var::builtin(name)
                    .or_else(|| {
                        name.strip_prefix("data.")
                            .and_then(|c| feeder?.column(c))
                            .map(Var::Data)
                    })
                    .or_else(|| {
                        known
                            .iter()
                            .position(|k| k == name)
                            .map(|i| Var::Extracted(scope + i))
                    })
            };
            let step = build_step(&step_field, name, config, target, &resolve, problems);
            let extract =
                checks::build_extract(&step_field, config, scope, &mut variables, problems);
            steps.push(
                step.zip(extract)
                    .map(|(step, extract)| Step { extract, ..step }),
            );
        }
        if let Some((name, weight)) = group.scenario {
            if !scenario_names.insert(name.clone()) {
                problems.add(
                    format!("{field}.mix"),
                    format!("duplicate scenario name `{name}`"),
                );
            }
            scenarios.push(Scenario {
                name,
                weight,
                steps: first..steps.len(),
            });
        }
    }
    BuiltSteps {
        steps: steps.into_iter().collect(),
        variables,
        scenarios,
    }
}

/// One scenario of a weighted mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The `scenario` label.
    pub name: String,
    /// Relative share of iterations.
    pub weight: u32,
    /// Its steps, as a range of the probe's steps.
    pub steps: std::ops::Range<usize>,
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
