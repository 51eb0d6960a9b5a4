//! Exact run reports: HDR percentiles agree with exact percentiles of the raw latencies,
//! and `loadprobe once` gates a pipeline on the SLOs.

mod common;

use std::process::Command;
use std::time::Duration;

use loadprobe::config::{Config, DemoConfig};
use loadprobe::outcome::Outcome;
use loadprobe::plan::Plan;
use loadprobe::report::{IterationReport, StepReport};
use loadprobe::report::{Window, WindowSpan};
use std::time::{Instant, SystemTime};

/// Nearest-rank percentile of sorted values.
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
fn report_percentiles_agree_with_exact_ones_within_hdr_precision() {
    let yaml = "targets: {t: {url: 'http://127.0.0.1:9'}}\nprobes:\n- {name: p, target: t, load: {rate: 1}, request: {}}\n";
    let plan = Plan::try_from(Config::parse(yaml, |_| None).expect("parses")).expect("valid");
    let probe = &plan.probes[0];
    let mut window = Window::for_probe(probe, SystemTime::now());
    // A long-tailed mix of latencies in microseconds, from 200 µs to 3 s, in scrambled order.
    let mut latencies: Vec<u64> = (0..20_000u64).map(|i| 200 + (i * i) % 3_000_000).collect();
    let now = Instant::now();
    for &micros in &latencies {
        let step = StepReport {
            step: 0,
            outcome: Outcome::Success,
            status: Some(200),
            latency: Duration::from_micros(micros),
            detail: None,
            retry_after: None,
            snippet: None,
        };
        let iteration = IterationReport {
            scenario: 0,
            planned_steps: 1,
            intended_at: now,
            finished_at: now,
            steps: vec![step],
            trace_id: None,
        };
        window.record_iteration(&iteration, true);
    }
    let report = window.close(SystemTime::now(), WindowSpan::Run(Duration::from_secs(20)));
    latencies.sort_unstable();
    let step = &report.steps[0];
    assert_eq!(step.count, 20_000);
    for (q, measured) in [
        (0.5, step.p50),
        (0.9, step.p90),
        (0.95, step.p95),
        (0.99, step.p99),
        (0.999, step.p999),
        (1.0, step.max),
    ] {
        let truth = exact(&latencies, q) as f64 / 1e6;
        let error = (measured - truth).abs() / truth;
        assert!(
            error <= 1e-3,
            "q{q}: report {measured} vs exact {truth} ({error:.5} relative)"
        );
    }
}

fn once(config: &str, slo: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("once.yml");
    std::fs::write(&path, format!("{config}    slo: {slo}\n")).expect("write");
    Command::new(env!("CARGO_BIN_EXE_loadprobe"))
        .args([
            "once",
            "--probe",
            "gate",
            "--duration",
            "1s",
            "--output",
            "json",
        ])
        .arg(format!("--config.file={}", path.display()))
        .output()
        .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_1_when_an_slo_fails_and_0_when_all_are_met() {
    let (demo, _stop) = common::spawn_demo(DemoConfig::default()).await;
    let config = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n  - name: gate\n    target: demo\n    load: {{rate: 20}}\n    request: {{path: /fast}}\n"
    );
    let tight = once(&config, "{p95: 1us}");
    assert_eq!(
        tight.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&tight.stderr)
    );
    let generous = once(
        &config,
        "{p95: 5s, p99: 5s, error_ratio: 0.5, min_rate: 10}",
    );
    assert_eq!(
        generous.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&generous.stderr)
    );

    let json: serde_json::Value = serde_json::from_slice(&generous.stdout).expect("JSON summary");
    let report = &json["report"];
    assert_eq!(report["success"], true);
    assert_eq!(report["counts"]["arrivals"], 20);
    assert_eq!(
        report["counts"]["requests"],
        report["counts"]["responses_by_code"]["200"]
    );
    assert!((report["achieved_rate"].as_f64().expect("rate") - 20.0).abs() < 1e-6);
    let tight: serde_json::Value = serde_json::from_slice(&tight.stdout).expect("JSON");
    let failed: Vec<&str> = tight["report"]["slos"]
        .as_array()
        .expect("slos")
        .iter()
        .filter(|v| v["met"] == false)
        .map(|v| v["slo"].as_str().expect("name"))
        .collect();
    assert_eq!(failed, ["p95"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_a_text_summary() {
    let (demo, _stop) = common::spawn_demo(DemoConfig::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("once.yml");
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n- {{name: gate, target: demo, load: {{rate: 10}}, request: {{path: /pool}}}}\n"
    );
    std::fs::write(&path, yaml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_loadprobe"))
        .args(["once", "--probe", "gate", "--duration", "500ms"])
        .arg(format!("--config.file={}", path.display()))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "probe         gate (target demo)",
        "p50",
        "p99",
        "p99.9",
        "max",
        "responses     200: 5",
        "result        PASS",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert_eq!(out.status.code(), Some(0));
}
