//! End to end: loadprobe against the in-process demo target on loopback, bounded runs on
//! the real clock, with assertions that tolerate timing but not miscounting.

mod common;

use std::time::Duration;

use common::{
    SETTLE, demo_stats, get, get_with_type, post, sample, scrape_until, scrape_when_all_idle,
    scrape_when_idle, spawn_demo, spawn_exporter, sum,
};
use loadprobe::config::DemoConfig;

fn config(demo: std::net::SocketAddr, probes: &str) -> String {
    format!("targets:\n  demo: {{url: 'http://{demo}', timeout: 2s}}\nprobes:\n{probes}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_what_the_target_received_and_sent() {
    let settings = DemoConfig {
        pool_size: 2,
        pool_latency: Duration::from_millis(30),
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let probes = "- name: pool\n  target: demo\n  schedule: {every: 1h, for: 600ms}\n  load: {rate: 100, max_in_flight: 200}\n  request: {path: /pool}\n\
                  - name: fast\n  target: demo\n  schedule: {every: 1h, for: 600ms}\n  load: {rate: 50}\n  request: {path: /fast}\n";
    let exporter = spawn_exporter(&config(demo, probes)).await;
    let text = scrape_when_all_idle(exporter.addr, &["pool", "fast"]).await;
    let truth = demo_stats(demo).await;

    assert_eq!(
        sample(&text, r#"loadprobe_arrivals_total{probe="pool"}"#),
        Some(60.0)
    );
    assert_eq!(
        sample(&text, r#"loadprobe_arrivals_total{probe="fast"}"#),
        Some(30.0)
    );
    let received = |path: &str| truth.received.get(path).copied().unwrap_or(0) as f64;
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="pool",step="request"}"#
        ),
        Some(received("/pool"))
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="fast",step="request"}"#
        ),
        Some(received("/fast"))
    );
    for (code, answered) in &truth.answered {
        let counted = sum(
            &text,
            "loadprobe_responses_total",
            &[&format!("code=\"{code}\"")],
        );
        assert_eq!(counted, *answered as f64, "responses with code {code}");
    }
    let throttled = truth.answered.get(&429).copied().unwrap_or(0) as f64;
    assert!(
        throttled >= 1.0,
        "a pool of 2 x 30 ms at 100/s must throttle"
    );
    assert_eq!(
        sum(
            &text,
            "loadprobe_request_failures_total",
            &["reason=\"throttled\""]
        ),
        throttled
    );
    assert_eq!(
        sum(&text, "loadprobe_request_duration_seconds_count", &[]),
        received("/pool") + received("/fast")
    );
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_shows_as_latency_not_as_a_lower_rate() {
    let (demo, _stop) = spawn_demo(DemoConfig::default()).await;
    let probes = "- name: stall\n  target: demo\n  schedule: {every: 1h, for: 1s}\n  load: {rate: 100, max_in_flight: 200}\n  request: {path: /fast}\n";
    let exporter = spawn_exporter(&config(demo, probes)).await;
    // The scenario: the target stalls 300 ms into the run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post(demo, "/admin/latency?value=400ms").await.0, 200);
    let text = scrape_when_idle(exporter.addr, "stall", "stalled target").await;

    assert_eq!(
        sample(&text, r#"loadprobe_arrivals_total{probe="stall"}"#),
        Some(100.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_arrivals_dropped_total{probe="stall",reason="max_in_flight"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="stall",step="request"}"#
        ),
        Some(100.0),
        "the stall must not slow the load"
    );
    let count = sample(
        &text,
        r#"loadprobe_request_duration_seconds_count{probe="stall",step="request"}"#,
    )
    .expect("count");
    let fast = sample(
        &text,
        r#"loadprobe_request_duration_seconds_bucket{le="0.25",probe="stall",step="request"}"#,
    )
    .expect("bucket");
    assert!(
        count - fast >= 50.0,
        "about 70 requests after the stall must be slow: {fast} of {count} under 250 ms"
    );
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_records_every_in_flight_iteration() {
    let settings = DemoConfig {
        latency: Duration::from_millis(300),
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let probes = "- name: drain\n  target: demo\n  load: {rate: 50, max_in_flight: 100}\n  request: {path: /fast}\n";
    let exporter = spawn_exporter(&config(demo, probes)).await;
    // The scenario: shut down 400 ms in, with iterations (300 ms each) in flight.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let final_state = exporter.shutdown().await;
    let truth = demo_stats(demo).await;

    let totals = &final_state[0].totals;
    assert!(totals.arrivals >= 15, "{totals:?}");
    assert_eq!(totals.dropped, 0);
    assert_eq!(
        totals.iterations, totals.arrivals,
        "every started iteration was drained and recorded"
    );
    assert_eq!(totals.requests, truth.received["/fast"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_status_page_and_both_exposition_formats() {
    let (demo, _stop) = spawn_demo(DemoConfig::default()).await;
    let probes = "- name: page_probe\n  target: demo\n  load: {rate: 5}\n  request: {path: /flaky}\n  slo: {p95: 42ms}\n";
    let exporter = spawn_exporter(&config(demo, probes)).await;
    let addr = exporter.addr;

    assert_eq!(get(addr, "/-/healthy", None).await.0, 200);
    assert_eq!(get(addr, "/-/ready", None).await.0, 200);
    let (status, page) = get(addr, "/", None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("page_probe") && page.contains("href=\"/metrics\""),
        "{page}"
    );
    let (_, json) = get(addr, "/api/v1/status", None).await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["probes"][0]["name"], "page_probe");
    assert_eq!(json["probes"][0]["state"]["state"], "running");

    let (_, text, content_type) = get_with_type(addr, "/metrics", None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(text.contains("# TYPE loadprobe_requests_total counter") && !text.contains("# EOF"));
    assert!(
        text.contains("loadprobe_request_duration_seconds_bucket{le=\"0.042\""),
        "the SLO threshold is a bucket"
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_slo_latency_seconds{probe="page_probe",percentile="p95"}"#
        ),
        Some(0.042)
    );
    let openmetrics = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (_, text, content_type) = get_with_type(addr, "/metrics", Some(openmetrics)).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n") && text.contains("# TYPE loadprobe_requests counter"));
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_rate_and_together_deliver_the_plan() {
    use loadprobe::plan::Shard;
    let (demo, _stop) = spawn_demo(DemoConfig::default()).await;
    let probes = "- name: fleet\n  target: demo\n  schedule: {every: 1h, for: 1s}\n  load: {rate: 40, max_in_flight: 10}\n  request: {path: /fast}\n  slo: {min_rate: 36}\n";
    let yaml = config(demo, probes);
    let mut replicas = Vec::new();
    for index in 0..2 {
        let plan = common::plan(&yaml).with_shard(Shard { index, count: 2 });
        replicas.push(common::spawn_plan(plan).await);
    }
    for replica in &replicas {
        // The planned rate shows while the run is on.
        let active = r#"loadprobe_run_active{probe="fleet"}"#;
        let text = scrape_until(replica.addr, SETTLE, "the fleet's run on", |t| {
            sample(t, active) == Some(1.0)
        })
        .await;
        assert_eq!(
            sample(&text, r#"loadprobe_arrival_rate{probe="fleet"}"#),
            Some(20.0)
        );
        assert_eq!(
            sample(&text, r#"loadprobe_slo_min_rate{probe="fleet"}"#),
            Some(18.0)
        );
    }
    for replica in &replicas {
        let text = scrape_when_idle(replica.addr, "fleet", "shards").await;
        assert_eq!(
            sample(&text, r#"loadprobe_arrivals_total{probe="fleet"}"#),
            Some(20.0)
        );
        assert_eq!(
            sample(&text, r#"loadprobe_last_run_success{probe="fleet"}"#),
            Some(1.0),
            "20/s meets its share of min_rate"
        );
    }
    assert_eq!(
        demo_stats(demo).await.received["/fast"],
        40,
        "the fleet delivers the configured rate"
    );
    for replica in replicas {
        replica.shutdown().await;
    }
}
