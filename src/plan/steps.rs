//! A probe's steps: requests with their templates, checks and extractions, built from the
//! config with every path, header, JSONPath, regex and variable name checked at load time.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Uri};
use regex::Regex;
use serde_json_path::JsonPath;

use super::data::Feeder;
use super::problems::{At, check_name, header_map};
use super::target::Target;
use super::template::{Escape, Template, Var};
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
    /// The scenario's index in `mix`, name and weight; `None` for the probe's own steps.
    scenario: Option<(usize, String, u32)>,
    /// The steps, each with its index in its `steps` list (`None` for `request`).
    steps: Vec<(Option<usize>, &'c StepConfig)>,
}

/// The step groups of probe `p`: `steps`, the `request` shorthand, or each `mix` scenario.
fn groups<'c>(mut at: At<'_>, p: &'c ProbeConfig) -> Option<Vec<Group<'c>>> {
    let listed = |steps: &'c [StepConfig]| -> Vec<(Option<usize>, &'c StepConfig)> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| (Some(i), s))
            .collect()
    };
    match (&p.request, p.steps.is_empty(), p.mix.is_empty()) {
        (Some(request), true, true) => Some(vec![Group {
            scenario: None,
            steps: vec![(None, request)],
        }]),
        (None, false, true) => Some(vec![Group {
            scenario: None,
            steps: listed(&p.steps),
        }]),
        (None, true, false) => Some(
            p.mix
                .iter()
                .enumerate()
                .map(|(i, scenario)| {
                    let mut at = at.index("mix", i);
                    check_name(at.key("name"), &scenario.name);
                    if scenario.weight == 0 {
                        at.key("weight").add("must be at least 1");
                    }
                    if scenario.steps.is_empty() {
                        at.key("steps").add("needs at least one step");
                    }
                    Group {
                        scenario: Some((i, scenario.name.clone(), scenario.weight)),
                        steps: listed(&scenario.steps),
                    }
                })
                .collect(),
        ),
        (None, true, true) => {
            at.add("needs `steps`, `request` or `mix`");
            None
        }
        _ => {
            at.add("give one of `steps`, `request` or `mix`");
            None
        }
    }
}

/// The steps of probe `p` (at `probes[i]`), with the names of the variables they extract.
pub(super) fn build_steps(
    mut at: At<'_>,
    p: &ProbeConfig,
    target: &Target,
    feeder: Option<&Feeder>,
) -> BuiltSteps {
    let Some(groups) = groups(at.reborrow(), p) else {
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
        let mut group_at = match &group.scenario {
            Some((i, ..)) => at.index("mix", *i),
            None => at.reborrow(),
        };
        for (index, config) in group.steps {
            let mut at = match index {
                Some(i) => group_at.index("steps", i),
                None => group_at.key("request"),
            };
            let name = match (&config.name, p.request.is_some()) {
                (Some(name), _) => name.clone(),
                (None, true) => "request".to_owned(),
                (None, false) => {
                    at.key("name").add("every step in `steps` needs a name");
                    continue;
                }
            };
            check_name(at.key("name"), &name);
            if !names.insert(name.clone()) {
                at.key("name").add(format!("duplicate step name `{name}`"));
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
            let step = build_step(at.reborrow(), name, config, target, &resolve);
            let extract = checks::build_extract(at, config, scope, &mut variables);
            steps.push(
                step.zip(extract)
                    .map(|(step, extract)| Step { extract, ..step }),
            );
        }
        if let Some((_, name, weight)) = group.scenario {
            if !scenario_names.insert(name.clone()) {
                at.key("mix")
                    .add(format!("duplicate scenario name `{name}`"));
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
    mut at: At<'_>,
    name: String,
    s: &StepConfig,
    target: &Target,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<Step> {
    let method = at
        .key("method")
        .check(Method::from_bytes(s.method.as_bytes()));
    let (uri, uri_template) = build_uri(at.key("path"), &target.url, &s.path, resolve)?;
    let (mut headers, header_templates) = build_headers(at.key("headers"), target, s, resolve)?;
    let (body, content_type) = match (&s.body, &s.json) {
        (Some(_), Some(_)) => {
            at.add("give either `body` or `json`, not both");
            return None;
        }
        (Some(body), None) => ((body.clone(), Escape::None), None),
        (None, Some(json)) => (
            (json.to_string(), Escape::Json),
            Some(HeaderValue::from_static("application/json")),
        ),
        (None, None) => ((String::new(), Escape::None), None),
    };
    let body_key = if s.json.is_some() { "json" } else { "body" };
    let body_template = at
        .key(body_key)
        .check(Template::parse(&body.0, body.1, resolve))?;
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
    let expect = checks::build_expect(at.key("expect"), &s.expect, resolve);
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
    mut at: At<'_>,
    base: &Uri,
    path: &str,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<(Uri, Option<Template>)> {
    if !path.starts_with('/') {
        at.add(format!("`{path}` must start with `/`"));
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let joined = format!("{scheme}://{authority}{prefix}{path}");
    let template = at.check(Template::parse(&joined, Escape::Url, resolve))?;
    if !template.is_literal() {
        return Some((base.clone(), Some(template)));
    }
    let uri = joined
        .parse()
        .map_err(|e| format!("`{path}` does not make a valid URL: {e}"));
    Some((at.check(uri)?, None))
}

/// The target's headers with the step's literal ones on top, and its templated ones.
fn build_headers(
    mut at: At<'_>,
    target: &Target,
    s: &StepConfig,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<(HeaderMap, Vec<(HeaderName, Template)>)> {
    let mut headers = target.headers.clone();
    let mut templates = Vec::new();
    let (literal, templated): (Vec<_>, Vec<_>) =
        s.headers.iter().partition(|(_, v)| !v.contains("{{"));
    let literal = literal
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in header_map(at.reborrow(), &literal)? {
        headers.insert(
            key.expect("a fresh HeaderMap yields a name for each value"),
            value,
        );
    }
    for (key, value) in templated {
        let mut at = at.key(key);
        let name = at.check(HeaderName::from_bytes(key.as_bytes()));
        let template = at.check(Template::parse(value, Escape::None, resolve));
        templates.push((name?, template?));
    }
    Some((headers, templates))
}
