//! Guardrails end to end: a failing target pauses its probe, `Retry-After` holds arrivals,
//! and `global.max_rate` caps all probes together.

mod common;

use std::time::Duration;

use common::{
    Behaviour, RecordingTarget, Reply, SETTLE, demo_stats, get, sample, scrape_until,
    scrape_when_all_idle, scrape_when_idle, spawn_demo, spawn_exporter, sum,
};
use loadprobe::config::DemoConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_trips_the_guard_and_the_probe_pauses() {
    let settings = DemoConfig {
        failure_ratio: 1.0,
        latency: Duration::from_millis(1),
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n\
         - {{name: careful, target: demo, schedule: {{every: 1h, for: 1500ms}}, load: {{rate: 50}}, request: {{path: /flaky}},\n\
            guard: {{pause_above: {{error_ratio: 0.5}}, window: 1s, min_requests: 10, cooldown: 5s, canary_rate: 10}}}}\n"
    );
    let exporter = spawn_exporter(&yaml).await;
    let paused = r#"loadprobe_guard_paused{probe="careful"}"#;
    scrape_until(exporter.addr, SETTLE, "the guard paused the probe", |t| {
        sample(t, paused) == Some(1.0)
    })
    .await;
    let status: serde_json::Value =
        serde_json::from_str(&get(exporter.addr, "/api/v1/status", None).await.1).expect("json");
    assert_eq!(
        status["probes"][0]["guard"], "paused",
        "the guard's state is in the status API"
    );
    let page = get(exporter.addr, "/", None).await.1;
    assert!(page.contains("guard: paused"), "and on the status page");
    let text = scrape_when_idle(exporter.addr, "careful", "guard").await;
    exporter.shutdown().await;
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_guard_trips_total{probe="careful",reason="error_ratio"}"#
        ),
        Some(1.0)
    );
    let paused = sample(
        &text,
        r#"loadprobe_arrivals_dropped_total{probe="careful",reason="paused"}"#,
    )
    .expect("series");
    let received = demo_stats(demo).await.received["/flaky"] as f64;
    assert!(
        received <= 15.0,
        "paused after about 10 failures, sent {received} of 75"
    );
    assert_eq!(
        paused + received,
        75.0,
        "every arrival is either sent or counted as paused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_the_probes_arrivals() {
    let reply = Reply::status(429)
        .header("retry-after", "1")
        .with_body("slow down");
    let recorder = RecordingTarget::spawn(Behaviour::ok().on("/", reply)).await;
    let target = recorder.addr;
    let yaml = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n\
         - {{name: polite, target: t, schedule: {{every: 1h, for: 1500ms}}, load: {{rate: 20}}, request: {{}},\n\
            guard: {{respect_retry_after: true, cooldown: 10s}}}}\n"
    );
    let exporter = spawn_exporter(&yaml).await;
    let text = scrape_when_idle(exporter.addr, "polite", "retry-after").await;
    exporter.shutdown().await;
    let sent = recorder.count() as u64;
    // Every answer is a 429 asking for 1 s: one request at the start, one a second later,
    // and nothing in between.
    assert!((2..=3).contains(&sent), "sent {sent} of 30");
    assert!(
        sample(
            &text,
            r#"loadprobe_guard_trips_total{probe="polite",reason="retry_after"}"#
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_arrivals_dropped_total{probe="polite",reason="paused"}"#
        ),
        Some(30.0 - sent as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_rate_cap_limits_all_probes_together() {
    let (demo, _stop) = spawn_demo(DemoConfig::default()).await;
    let yaml = format!(
        "global: {{max_rate: 40}}\ntargets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n\
         - {{name: one, target: demo, schedule: {{every: 1h, for: 2s}}, load: {{rate: 50}}, request: {{path: /fast}}}}\n\
         - {{name: two, target: demo, schedule: {{every: 1h, for: 2s}}, load: {{rate: 50}}, request: {{path: /fast}}}}\n"
    );
    let exporter = spawn_exporter(&yaml).await;
    let text = scrape_when_all_idle(exporter.addr, &["one", "two"]).await;
    exporter.shutdown().await;
    let sent = demo_stats(demo).await.received["/fast"] as f64;
    // 40/s for 2 s, plus the one second of tokens the cap starts with.
    assert!(
        (100.0..=121.0).contains(&sent),
        "sent {sent} of 200 planned"
    );
    let capped = sum(
        &text,
        "loadprobe_arrivals_dropped_total",
        &["reason=\"rate_cap\""],
    );
    assert_eq!(
        capped + sent,
        200.0,
        "every arrival is sent or counted as capped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_target_recovers_the_canary_resumes_full_rate() {
    let settings = DemoConfig {
        failure_ratio: 1.0,
        latency: Duration::from_millis(1),
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n\
         - {{name: comeback, target: demo, load: {{rate: 50}}, request: {{path: /flaky}},\n\
            guard: {{pause_above: {{error_ratio: 0.5}}, window: 500ms, min_requests: 5, cooldown: 500ms, canary_rate: 20}}}}\n"
    );
    let exporter = spawn_exporter(&yaml).await;
    let paused = r#"loadprobe_guard_paused{probe="comeback"}"#;
    scrape_until(
        exporter.addr,
        SETTLE,
        "paused while the target fails",
        |t| sample(t, paused) == Some(1.0),
    )
    .await;
    // The target recovers; after the cooldown a clean canary window brings full rate back.
    assert_eq!(common::post(demo, "/admin/failure?ratio=0").await.0, 200);
    // The gauge drops to 0 once the guard is back to full rate (not during the canary).
    scrape_until(exporter.addr, SETTLE, "back to full rate", |t| {
        sample(t, paused) == Some(0.0)
    })
    .await;
    let before = demo_stats(demo).await.received["/flaky"];
    // The scenario: count what 500 ms at full rate sends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = get(exporter.addr, "/metrics", None).await.1;
    let sent = demo_stats(demo).await.received["/flaky"] - before;
    exporter.shutdown().await;
    assert_eq!(
        sample(&text, r#"loadprobe_guard_paused{probe="comeback"}"#),
        Some(0.0),
        "resumed"
    );
    assert!(
        sent >= 22,
        "full rate (50/s) again: {sent} requests in 500 ms"
    );
}
