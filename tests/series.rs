//! Series lifecycle: whatever created a probe's or target's series also recorded what it
//! created, and retiring removes exactly that: every series of the retired one, including
//! those made on first sight (response codes, last-run gauges, recovery), and nothing else.

use std::time::{Duration, Instant, SystemTime};

use loadprobe::config::Config;
use loadprobe::guard::TripReason;
use loadprobe::metrics::{Format, Metrics, encode};
use loadprobe::outcome::{Outcome, Reason};
use loadprobe::plan::Plan;
use loadprobe::report::{IterationReport, StepReport, Window, WindowSpan};

const PLAN: &str = "\
targets:
  api:
    url: 'http://127.0.0.1:1'
    memory: {prometheus: {url: 'http://127.0.0.1:1/metrics'}}
    slo: {memory_growth_per_hour: 0.05}
probes:
  - name: retired
    target: api
    load: {rate: 5, burst: {size: 2, every: 1m}}
    mix:
      - {name: read, weight: 3, steps: [{name: get, path: /}]}
      - {name: write, weight: 1, steps: [{name: put, method: PUT, path: /}]}
    slo: {p95: 50ms, p99: 80ms, error_ratio: 0.01, throttled_ratio: 0.05, min_rate: 4, recovery: 10s}
    guard: {pause_above: {error_ratio: 0.5}}
  - name: kept
    target: api
    load: {rate: 5}
    request: {path: /}
    slo: {p95: 70ms}
";

fn iteration(scenario: usize, step: usize, status: u16, outcome: Outcome) -> IterationReport {
    let now = Instant::now();
    IterationReport {
        intended_at: now,
        finished_at: now + Duration::from_millis(3),
        scenario,
        planned_steps: 1,
        steps: vec![StepReport {
            step,
            outcome,
            status: Some(status),
            latency: Duration::from_millis(3),
            detail: None,
            retry_after: None,
            snippet: None,
        }],
        trace_id: None,
    }
}

/// The sample lines of the scrape that carry `label`.
fn lines_with(text: &str, label: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && line.contains(label))
        .map(str::to_owned)
        .collect()
}

#[test]
fn retiring_removes_exactly_the_series_that_were_created() {
    let plan = Plan::try_from(Config::parse(PLAN, |_| None).expect("parses")).expect("valid");
    let metrics = Metrics::new(&plan);
    let target = metrics.resolve_target(&plan.targets[0]);
    target.record_memory_sample(64 << 20);
    target.record_memory_baseline(60 << 20, SystemTime::now());
    let mut probes = Vec::new();
    for probe in &plan.probes {
        let handles = metrics.resolve_probe(probe);
        let mut window = Window::for_probe(probe, SystemTime::now());
        handles.record_run_start(probe.replica_rate());
        for (scenario, step, status, outcome) in [
            (0, 0, 200, Outcome::Success),
            (
                1,
                probe.steps.len() - 1,
                503,
                Outcome::Failure(Reason::Status),
            ),
        ] {
            let report = iteration(
                scenario.min(probe.scenarios.len().saturating_sub(1)),
                step,
                status,
                outcome,
            );
            handles.record_iteration_start(Duration::from_micros(100));
            handles.record_iteration(&report, report.succeeded());
            window.record_iteration(&report, report.succeeded());
        }
        handles.record_run_report(
            &window.close(SystemTime::now(), WindowSpan::UntilClosed),
            SystemTime::now(),
        );
        handles.record_recovery(1.0);
        handles.record_guard_trip(TripReason::ErrorRatio);
        probes.push(handles);
    }
    let before = encode(metrics.registry(), Format::Prometheus);
    let kept = lines_with(&before, "probe=\"kept\"");
    for made_on_first_sight in [
        "loadprobe_responses_total{probe=\"retired\",step=\"put\",code=\"503\"}",
        "loadprobe_last_run_latency_seconds{probe=\"retired\",step=\"get\",percentile=\"p99\"}",
        "loadprobe_recovery_seconds{probe=\"retired\"}",
        "loadprobe_iterations_total{probe=\"retired\",scenario=\"write\"}",
        "loadprobe_guard_trips_total{probe=\"retired\",reason=\"retry_after\"}",
        "loadprobe_slo_latency_seconds{probe=\"retired\",percentile=\"p99\"}",
    ] {
        assert!(
            before.contains(made_on_first_sight),
            "{made_on_first_sight} in\n{before}"
        );
    }

    probes[0].retire();
    let after = encode(metrics.registry(), Format::Prometheus);
    assert_eq!(
        lines_with(&after, "probe=\"retired\""),
        Vec::<String>::new()
    );
    assert_eq!(
        lines_with(&after, "probe=\"kept\""),
        kept,
        "the other probe is untouched"
    );
    assert!(after.contains("target=\"api\""));

    target.retire();
    let after = encode(metrics.registry(), Format::Prometheus);
    assert_eq!(lines_with(&after, "target=\"api\""), Vec::<String>::new());
    assert_eq!(lines_with(&after, "probe=\"kept\""), kept);

    // A probe started again gets its series back, counting from zero.
    let again = metrics.resolve_probe(&plan.probes[0]);
    again.record_arrivals(1);
    let restarted = encode(metrics.registry(), Format::Prometheus);
    assert!(
        restarted.contains("loadprobe_arrivals_total{probe=\"retired\"} 1\n"),
        "{restarted}"
    );
    assert!(
        !restarted.contains("code=\"503\",probe=\"retired\"")
            && !restarted.contains("probe=\"retired\",step=\"put\",code=\"503\"")
    );
}
