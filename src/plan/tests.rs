//! Plan-building rules that need no fixture file.

use super::*;
use http::header::CONTENT_TYPE;

fn plan(yaml: &str) -> Result<Plan, PlanError> {
    Plan::try_from(Config::parse(yaml, |_| None).expect("parses"))
}

const TARGET: &str = "targets: {api: {url: 'http://127.0.0.1:1/base/'}}\n";

#[test]
fn joins_paths_and_merges_headers() {
    let yaml = format!(
        "{TARGET}probes:\n- name: p\n  target: api\n  load: {{rate: 2}}\n  request: {{path: /x?y=1, json: {{a: 1}}}}"
    );
    let plan = plan(&yaml).expect("valid");
    let step = &plan.probes[0].steps[0];
    assert_eq!(step.name, "request");
    let Action::Http(request) = &step.action;
    assert_eq!(request.uri, "http://127.0.0.1:1/base/x?y=1");
    assert_eq!(request.headers[CONTENT_TYPE], "application/json");
    assert_eq!(&request.body[..], br#"{"a":1}"#);
}

#[test]
fn slo_thresholds_become_buckets() {
    let yaml = format!(
        "{TARGET}probes:\n- name: p\n  target: api\n  load: {{rate: 2}}\n  request: {{}}\n  slo: {{p95: 42ms, p99: 100ms}}"
    );
    let buckets = plan(&yaml).expect("valid").latency_buckets;
    assert!(buckets.contains(&0.042));
    assert_eq!(buckets.iter().filter(|b| **b == 0.1).count(), 1);
    assert!(buckets.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn reports_every_problem_at_once() {
    let yaml =
        format!("{TARGET}probes:\n- name: P\n  target: api\n  load: {{rate: 0}}\n  request: {{}}");
    let err = plan(&yaml).expect_err("invalid");
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["probes[0].name", "probes[0].load.rate"]);
}

#[test]
fn the_load_keys_select_the_load_model() {
    let model = |load: &str| {
        let yaml =
            format!("{TARGET}probes:\n- name: p\n  target: api\n  load: {load}\n  request: {{}}");
        plan(&yaml).expect("valid").probes[0].load.model.clone()
    };
    assert!(matches!(
        model("{rate: 2, burst: {size: 3}}"),
        LoadModel::Constant { rate, burst: Some(_), .. } if rate.per_second() == 2.0
    ));
    assert!(matches!(
        model("{stages: [{rate: 0, for: 1s}, {rate: 5, for: 1s}]}"),
        LoadModel::Stages { stages, burst: None, .. } if stages[0].rate == Rate::ZERO
    ));
    assert!(matches!(
        model("{burst: {size: 3, every: 1s}}"),
        LoadModel::Burst(Burst { size: 3, .. })
    ));
}

#[test]
fn paths_are_built_by_key_and_index() {
    let mut problems = Problems::default();
    let mut at = At::root(&mut problems);
    at.index("probes", 2).key("load").key("rate").add("r");
    at.key("global").add("g");
    let error = problems.into_error().expect("two problems");
    let fields: Vec<&str> = error.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["probes[2].load.rate", "global"]);
}
