//! The status page and its chart data: `GET /api/v1/history` keeps a sample per period per
//! probe with the probe's SLO lines, and `/` embeds the chart script, a chart set per probe,
//! the last run report and the recent failures. (The charts drawing in a real browser is
//! checked by scripts/page-check.sh.)

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    SETTLE, eventually_async, get, get_with_type, spawn_demo, spawn_exporter_with_history,
};
use loadprobe::config::DemoConfig;
use serde_json::Value;

const PERIOD: Duration = Duration::from_millis(100);

fn config(demo: SocketAddr) -> String {
    format!(
        "targets:\n  demo: {{url: 'http://{demo}', timeout: 2s}}\nprobes:\n\
         - name: fast\n  target: demo\n  load: {{rate: 50}}\n  request: {{path: /fast}}\n  \
           slo: {{p95: 25ms, p99: 50ms, error_ratio: 0.01, throttled_ratio: 0.05, min_rate: 40}}\n\
         - name: broken\n  target: demo\n  schedule: {{every: 1h, for: 300ms}}\n  load: {{rate: 20}}\n  \
           request: {{path: /flaky}}\n"
    )
}

/// Polls the history until every probe has `samples` samples and `broken` has a report.
async fn history_with(addr: SocketAddr, samples: usize) -> Value {
    let what = format!("{samples} samples per probe and a report of broken");
    eventually_async(SETTLE, &what, || async {
        let (status, body, content_type) = get_with_type(addr, "/api/v1/history", None).await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let history: Value = serde_json::from_str(&body).expect("history JSON");
        let reported = get(addr, "/api/v1/status", None)
            .await
            .1
            .contains("\"slos\"");
        let probes = history["probes"].as_array().expect("probes");
        let filled = probes
            .iter()
            .all(|p| p["samples"].as_array().expect("samples").len() >= samples);
        if reported && filled {
            Ok(history)
        } else {
            Err(format!("report shown: {reported}; history: {history}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_a_sample_per_period_with_the_slo_lines() {
    let (demo, _stop) = spawn_demo(DemoConfig::default()).await;
    let exporter = spawn_exporter_with_history(&config(demo), PERIOD).await;
    let history = history_with(exporter.addr, 6).await;

    assert_eq!(history["period_seconds"], 0.1);
    assert_eq!(history["capacity"], 180);
    let fast = &history["probes"][0];
    assert_eq!(fast["name"], "fast");
    assert_eq!(fast["configured_rate"], 50.0);
    assert_eq!(fast["slo"]["p95"], 0.025);
    assert_eq!(fast["slo"]["p99"], 0.05);
    assert_eq!(fast["slo"]["error_ratio"], 0.01);
    assert_eq!(fast["slo"]["throttled_ratio"], 0.05);
    assert_eq!(fast["slo"]["min_rate"], 40.0);
    let samples = fast["samples"].as_array().expect("samples");
    let times: Vec<f64> = samples
        .iter()
        .map(|s| s["at"].as_f64().expect("at"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    // The first sample may straddle start-up; later ones are whole periods at 50/s.
    let steady = &samples[1..];
    let planned: f64 = steady
        .iter()
        .map(|s| s["planned_rate"].as_f64().expect("planned"))
        .sum();
    let mean = planned / steady.len() as f64;
    assert!((25.0..=75.0).contains(&mean), "mean planned rate {mean}");
    for sample in steady {
        assert!(
            sample["achieved_rate"].as_f64().expect("achieved")
                <= sample["planned_rate"].as_f64().expect("planned") + 1e-9
        );
        if sample["requests"].as_u64().expect("requests") > 0 {
            let p = |k: &str| {
                sample[k]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{k} in {sample}"))
            };
            assert!(
                p("p50") > 0.0 && p("p50") <= p("p95") && p("p95") <= p("p99"),
                "{sample}"
            );
            assert_eq!(sample["error_ratio"], 0.0, "{sample}");
            assert_eq!(sample["throttled_ratio"], 0.0, "{sample}");
        }
    }

    let broken = &history["probes"][1];
    assert_eq!(broken["name"], "broken");
    assert!(broken["slo"]["p95"].is_null() && broken["slo"]["error_ratio"].is_null());
    let last = broken["samples"]
        .as_array()
        .expect("samples")
        .last()
        .expect("a sample");
    assert_eq!(last["planned_rate"], 0.0, "the 300 ms run is over: {last}");
    assert!(
        last["p50"].is_null() && last["error_ratio"].is_null(),
        "no requests: {last}"
    );
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_embeds_the_chart_script_charts_report_and_failures() {
    let settings = DemoConfig {
        failure_ratio: 1.0,
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let exporter = spawn_exporter_with_history(&config(demo), PERIOD).await;
    history_with(exporter.addr, 1).await;

    let (status, page, content_type) = get_with_type(exporter.addr, "/", None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains("fetch('api/v1/history'"),
        "the chart script is inline"
    );
    assert_eq!(page.matches("<script>").count(), 1);
    assert!(
        !page.contains("<script src") && !page.contains("<link") && !page.contains("https://"),
        "no external asset"
    );
    for name in ["fast", "broken"] {
        assert!(
            page.contains(&format!("<div class=\"charts\" data-probe=\"{name}\">")),
            "{name}"
        );
        assert!(page.contains(&format!("id=\"probe-{name}\"")), "{name}");
    }
    for chart in ["rate", "latency", "ratios"] {
        assert_eq!(
            page.matches(&format!("data-chart=\"{chart}\"")).count(),
            2,
            "{chart}"
        );
    }
    assert_eq!(page.matches("<svg class=\"plot\"").count(), 6);

    // `broken`'s run is over: its report and its failures are on the page.
    assert!(page.contains("Latency by step") && page.contains("Responses by code"));
    assert!(page.contains("<td>500</td>"), "responses by code");
    assert!(
        page.contains("✗ missed"),
        "an error ratio above the implicit 0"
    );
    assert!(page.contains("<span class=\"reason\">status</span>"));
    assert!(page.contains("<code class=\"snippet\">unexpected status 500</code>"));
    exporter.shutdown().await;
}
