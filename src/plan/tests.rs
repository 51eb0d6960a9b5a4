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
    assert_eq!(step.uri, "http://127.0.0.1:1/base/x?y=1");
    assert_eq!(step.name, "request");
    assert_eq!(step.headers[CONTENT_TYPE], "application/json");
    assert_eq!(&step.body[..], br#"{"a":1}"#);
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
