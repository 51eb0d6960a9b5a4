//! The exact exposition text of known values, in both formats.

use std::time::Duration;

use loadprobe::config::Config;
use loadprobe::metrics::{Format, Metrics, encode};
use loadprobe::outcome::{Outcome, Reason};
use loadprobe::plan::Plan;
use loadprobe::report::{IterationReport, StepReport};
use std::time::Instant;

fn metrics() -> Metrics {
    let yaml = "targets: {api: {url: 'http://127.0.0.1:1'}}\nprobes:\n\
                - {name: shop, target: api, load: {rate: 5}, request: {path: /}, slo: {p95: 50ms, error_ratio: 0.01}}\n";
    let plan = Plan::try_from(Config::parse(yaml, |_| None).expect("parses")).expect("valid");
    let metrics = Metrics::new(&plan);
    let probe = metrics.resolve_probe(&plan.probes[0]);
    let step = |outcome, status, millis| StepReport {
        step: 0,
        outcome,
        status,
        latency: Duration::from_millis(millis),
        detail: None,
        retry_after: None,
        snippet: None,
    };
    let now = Instant::now();
    for (outcome, status, millis) in [
        (Outcome::Success, Some(200), 20),
        (Outcome::Success, Some(200), 60),
        (Outcome::Failure(Reason::Throttled), Some(429), 1),
        (Outcome::Failure(Reason::Timeout), None, 2000),
    ] {
        probe.record_arrivals(1);
        probe.record_iteration_start(Duration::from_micros(300));
        let report = IterationReport {
            scenario: 0,
            planned_steps: 1,
            intended_at: now,
            finished_at: now + Duration::from_millis(millis),
            steps: vec![step(outcome, status, millis)],
            trace_id: None,
        };
        probe.record_iteration(&report, outcome == Outcome::Success);
    }
    metrics
}

/// The lines of `text` that belong to the families named in `prefixes`.
fn families(text: &str, prefixes: &[&str]) -> String {
    text.lines()
        .filter(|line| {
            prefixes.iter().any(|p| {
                line.trim_start_matches("# HELP ")
                    .trim_start_matches("# TYPE ")
                    .trim_start_matches("# UNIT ")
                    .starts_with(p)
            })
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn openmetrics_text_is_exact() {
    let text = encode(metrics().registry(), Format::OpenMetrics);
    let expected = r#"# HELP loadprobe_requests Requests attempted, every attempt.
# TYPE loadprobe_requests counter
loadprobe_requests_total{probe="shop",step="request"} 4
# HELP loadprobe_request_failures Failed requests by reason.
# TYPE loadprobe_request_failures counter
loadprobe_request_failures_total{probe="shop",step="request",reason="timeout"} 1
loadprobe_request_failures_total{probe="shop",step="request",reason="connect"} 0
loadprobe_request_failures_total{probe="shop",step="request",reason="tls"} 0
loadprobe_request_failures_total{probe="shop",step="request",reason="io"} 0
loadprobe_request_failures_total{probe="shop",step="request",reason="status"} 0
loadprobe_request_failures_total{probe="shop",step="request",reason="check"} 0
loadprobe_request_failures_total{probe="shop",step="request",reason="throttled"} 1
# HELP loadprobe_slo_error_ratio Highest acceptable error ratio.
# TYPE loadprobe_slo_error_ratio gauge
loadprobe_slo_error_ratio{probe="shop"} 0.01
"#;
    let mut got = families(
        &text,
        &[
            "loadprobe_requests",
            "loadprobe_request_failures",
            "loadprobe_slo_error_ratio",
        ],
    );
    // Family order within the registry is registration order; failures' label order is fixed.
    got = sort_blocks(&got);
    assert_eq!(got, sort_blocks(expected));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn duration_histogram_includes_the_slo_threshold_and_counts_exactly() {
    let text = encode(metrics().registry(), Format::Prometheus);
    let line = |le: &str| {
        format!(
            "loadprobe_request_duration_seconds_bucket{{le=\"{le}\",probe=\"shop\",step=\"request\"}}"
        )
    };
    let value = |le: &str| -> String {
        let prefix = line(le);
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no bucket {le}\n{text}"))
            .trim()
            .to_owned()
    };
    assert_eq!(value("0.025"), "2"); // 1 ms and 20 ms
    assert_eq!(value("0.05"), "2"); // the SLO threshold: exactly the 2 of 4 under 50 ms
    assert_eq!(value("0.075"), "3");
    assert_eq!(value("+Inf"), "4");
    assert!(
        text.contains("loadprobe_responses_total{probe=\"shop\",step=\"request\",code=\"429\"} 1")
    );
    assert!(text.contains("# TYPE loadprobe_build_info gauge"));
    assert!(text.contains("process_resident_memory_bytes "));
}

/// Sorts the lines within the text so registration order does not matter to the test.
fn sort_blocks(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}
