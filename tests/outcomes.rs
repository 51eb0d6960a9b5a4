//! Each failure reason is detected by type, counted once, and never stops the load:
//! refused connections, TLS spoken to a plain server, timeouts, bad status, failed checks.

mod common;

use std::time::Duration;

use common::{get, sample, scrape_when_all_idle, spawn_demo, spawn_exporter};
use loadprobe::config::DemoConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_reason_is_classified_and_counted_once() {
    let settings = DemoConfig {
        latency: Duration::from_millis(300),
        failure_ratio: 1.0,
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    // A port nobody listens on: bind, note it, close.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let yaml = format!(
        "targets:\n\
         \x20 refused: {{url: 'http://{refused}'}}\n\
         \x20 plain_as_tls: {{url: 'https://{demo}', tls: {{insecure_skip_verify: true}}}}\n\
         \x20 slow: {{url: 'http://{demo}', timeout: 100ms}}\n\
         \x20 demo: {{url: 'http://{demo}', timeout: 2s}}\n\
         probes:\n\
         - {{name: connect, target: refused, schedule: {{every: 1h, for: 200ms}}, load: {{rate: 20}}, request: {{path: /}}}}\n\
         - {{name: tls, target: plain_as_tls, schedule: {{every: 1h, for: 200ms}}, load: {{rate: 20}}, request: {{path: /}}}}\n\
         - {{name: timeout, target: slow, schedule: {{every: 1h, for: 200ms}}, load: {{rate: 20}}, request: {{path: /fast}}}}\n\
         - {{name: status, target: demo, schedule: {{every: 1h, for: 200ms}}, load: {{rate: 20}}, request: {{path: /flaky}}}}\n\
         - {{name: check, target: demo, schedule: {{every: 1h, for: 200ms}}, load: {{rate: 20}}, request: {{path: /fast, expect: {{body_contains: nope}}}}}}\n"
    );
    let exporter = spawn_exporter(&yaml).await;
    let probes = ["connect", "tls", "timeout", "status", "check"];
    let text = scrape_when_all_idle(exporter.addr, &probes).await;
    for reason in ["connect", "tls", "timeout", "status", "check"] {
        let probe = reason;
        let requests = sample(
            &text,
            &format!(r#"loadprobe_requests_total{{probe="{probe}",step="request"}}"#),
        );
        assert_eq!(requests, Some(4.0), "{probe}: 4 arrivals in 200 ms at 20/s");
        for other in [
            "timeout",
            "connect",
            "tls",
            "io",
            "status",
            "check",
            "throttled",
        ] {
            let labels = format!(
                r#"loadprobe_request_failures_total{{probe="{probe}",step="request",reason="{other}"}}"#
            );
            let expected = if other == reason { 4.0 } else { 0.0 };
            assert_eq!(
                sample(&text, &labels),
                Some(expected),
                "{probe} counted under {other}"
            );
        }
        let failed = sample(
            &text,
            &format!(r#"loadprobe_iteration_failures_total{{probe="{probe}"}}"#),
        );
        assert_eq!(failed, Some(4.0));
    }
    let (_, json) = get(exporter.addr, "/api/v1/status", None).await;
    assert!(
        json.contains("\"reason\":\"tls\"") && json.contains("\"reason\":\"connect\""),
        "{json}"
    );
    assert!(
        json.contains("\"response\":\"injected failure\""),
        "the failing response's start is kept: {json}"
    );
    exporter.shutdown().await;
}
