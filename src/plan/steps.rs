//! A probe's steps: each an action (today an HTTP request) with its checks and
//! extractions, built from the config with every path, header, JSONPath, regex and
//! variable name checked at load time.

use std::collections::BTreeSet;

use http::header::HeaderName;
use regex::Regex;
use serde_json_path::JsonPath;

use super::data::Feeder;
use super::problems::{At, check_name};
use super::target::Target;
use super::template::Var;
use crate::config::{ProbeConfig, StepConfig};

mod checks;
mod http_request;

pub use checks::{Expect, JsonCheck, JsonExpect};
pub use http_request::HttpRequest;

/// One step of a probe: what it does, what makes it a success, what it keeps.
#[derive(Debug, Clone)]
pub struct Step {
    /// Config name: the `step` label.
    pub name: String,
    /// What the step sends and waits for.
    pub action: Action,
    /// Checks of what came back.
    pub expect: Expect,
    /// Values taken from what came back, for later steps.
    pub extract: Vec<Extraction>,
    /// Sent even after an earlier step failed (cleanup).
    pub always: bool,
}

/// What a step does: the protocol seam between the plan and the runner.
///
/// The runner dispatches on it (`Runner::act`) and shares everything else among actions:
/// the deadline and the latency from the intended instant, the outcome and its failure
/// reasons, the checks of [`Expect`], extraction, templating and the step's report, so
/// the scheduler, metrics and reports never see which protocol a step spoke.
///
/// Adding a step action (a protocol):
/// 1. its keys in `config/step.rs` and `docs/configuration.md`;
/// 2. a variant here holding what it sends, ready to go (URLs joined, templates parsed),
///    in a `plan/steps/<protocol>.rs` of its own with its builder, chosen in `build_step`;
///    one fixture under `tests/testdata/invalid/` per new rule;
/// 3. its exchange in `runner/<protocol>.rs`: render it with the iteration's `Context`,
///    send it and return an `Exchange` (what came back, or a failure `Reason`), then one
///    arm in `Runner::act`;
/// 4. a new failure reason, if it has one, in `outcome.rs` (`Reason` and `Reason::ALL`).
#[derive(Debug, Clone)]
pub enum Action {
    /// One HTTP request and its response.
    Http(HttpRequest),
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
    // A bad path, header or body makes the step's other keys moot (`?`); a bad method
    // does not, so its checks are still reported with it.
    let action = http_request::build(at.reborrow(), s, target, resolve)?.map(Action::Http);
    let expect = checks::build_expect(at.key("expect"), &s.expect, resolve);
    Some(Step {
        name,
        action: action?,
        expect: expect?,
        extract: Vec::new(),
        always: s.always,
    })
}
