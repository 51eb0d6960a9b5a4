//! Building a probe's steps: joining paths onto the target URL, merging headers, bodies
//! and response checks.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Uri};

use super::{Expect, Problems, Step, Target, check_name, header_map};
use crate::config::{ProbeConfig, StepConfig};

/// The steps of probe `p` (from `steps:` or the `request:` shorthand).
pub(super) fn build_steps(
    field: &str,
    p: &ProbeConfig,
    target: &Target,
    problems: &mut Problems,
) -> Option<Vec<Step>> {
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
            return None;
        }
        (None, true) => {
            problems.add(field, "needs `steps` or `request`");
            return None;
        }
    };
    let mut names = BTreeSet::new();
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
        steps.push(build_step(&step_field, name, config, target, problems));
    }
    steps.into_iter().collect()
}

fn build_step(
    field: &str,
    name: String,
    s: &StepConfig,
    target: &Target,
    problems: &mut Problems,
) -> Option<Step> {
    let method = problems.check(
        &format!("{field}.method"),
        Method::from_bytes(s.method.as_bytes()),
    );
    let uri = problems.check(&format!("{field}.path"), join_path(&target.url, &s.path));
    let mut headers = target.headers.clone();
    for (key, value) in header_map(&format!("{field}.headers"), &s.headers, problems)? {
        headers.insert(
            key.expect("a fresh HeaderMap yields a name for each value"),
            value,
        );
    }
    let (body, content_type) = match (&s.body, &s.json) {
        (Some(_), Some(_)) => {
            problems.add(field, "give either `body` or `json`, not both");
            return None;
        }
        (Some(body), None) => (Bytes::from(body.clone()), None),
        (None, Some(json)) => (
            Bytes::from(json.to_string()),
            Some(HeaderValue::from_static("application/json")),
        ),
        (None, None) => (Bytes::new(), None),
    };
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
    for (i, code) in s.expect.status.iter().enumerate() {
        if !(100..=599).contains(code) {
            problems.add(
                format!("{field}.expect.status[{i}]"),
                format!("{code} is not an HTTP status code"),
            );
        }
    }
    Some(Step {
        name,
        method: method?,
        uri: uri?,
        headers,
        body,
        expect: Expect {
            status: s.expect.status.clone(),
            body_contains: s.expect.body_contains.clone(),
            max_latency: s.expect.max_latency,
        },
    })
}

/// Joins a step path onto the target URL (keeping the URL's own path as a prefix).
fn join_path(base: &Uri, path: &str) -> Result<Uri, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    let prefix = base.path().trim_end_matches('/');
    let joined = format!(
        "{}://{}{prefix}{path}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map(|a| a.as_str()).unwrap_or_default()
    );
    joined
        .parse()
        .map_err(|e| format!("`{path}` does not make a valid URL: {e}"))
}
