//! Load shapes end to end: each stage's rate, as the target saw it.

mod common;

use std::time::Duration;

use common::{Behaviour, RecordingTarget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stage_is_delivered_at_its_rate_within_2_percent() {
    let target = RecordingTarget::spawn(Behaviour::ok()).await;
    let yaml = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n\
         - {{name: ramp, target: t, schedule: {{every: 1h, for: 2s}}, load: {{stages: [{{rate: 100, for: 1s}}, {{rate: 200, for: 1s}}], max_in_flight: 50}}, request: {{}}}}\n",
        target = target.addr
    );
    let exporter = common::spawn_exporter(&yaml).await;
    common::scrape_when_idle(exporter.addr, "ramp", "stages").await;
    let times = target.arrivals();
    exporter.shutdown().await;
    // The run's start as the target saw it: arrival i of stage 1 is due at i × 10 ms, and
    // each reaches the target a little after; the first pays for opening the connection
    // (15 ms in a debug build on a busy CI machine), so it is a poor anchor on its own.
    let start = times
        .iter()
        .take(50)
        .enumerate()
        .map(|(i, t)| *t - Duration::from_millis(10 * i as u64))
        .min()
        .expect("the target saw requests");
    // Cut between the last arrival of a stage and the first of the next (990 ms | 1000 ms).
    let in_window = |from_ms: u64, to_ms: u64| {
        times
            .iter()
            .filter(|t| {
                let since = t.saturating_duration_since(start);
                since >= Duration::from_millis(from_ms) && since < Duration::from_millis(to_ms)
            })
            .count() as f64
    };
    let first = in_window(0, 995);
    let second = in_window(995, 2100);
    assert!(
        (first - 100.0).abs() <= 2.0,
        "stage 1 delivered {first} of 100"
    );
    assert!(
        (second - 200.0).abs() <= 4.0,
        "stage 2 delivered {second} of 200"
    );
    assert_eq!(times.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_after_a_burst_is_measured_within_a_second() {
    use loadprobe::config::DemoConfig;
    // The target is slow (300 ms against a 100 ms p95) from the burst until 2 s after it.
    let settings = DemoConfig {
        latency: Duration::from_millis(300),
        ..DemoConfig::default()
    };
    let (demo, _stop) = common::spawn_demo(settings).await;
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n\
         - {{name: spike, target: demo, schedule: {{every: 1h, for: 9s}}, load: {{rate: 20, burst: {{size: 20}}, max_in_flight: 100}}, request: {{path: /fast}}, slo: {{p95: 100ms, recovery: 10s}}}}\n"
    );
    let exporter = common::spawn_exporter(&yaml).await;
    // The scenario: the target stays slow for 2 s after the burst.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(common::post(demo, "/admin/latency?value=5ms").await.0, 200);
    let series = r#"loadprobe_recovery_seconds{probe="spike"}"#;
    let text = common::scrape_until(
        exporter.addr,
        Duration::from_secs(12),
        "a recovery time",
        |text| common::sample(text, series).is_some(),
    )
    .await;
    let recovery = common::sample(&text, series).expect("recovery time");
    assert!(
        (recovery - 2.0).abs() <= 1.0,
        "recovered after {recovery} s, the target was slow for 2 s"
    );
    exporter.shutdown().await;
}
