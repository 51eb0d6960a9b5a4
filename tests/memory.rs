//! Target memory sampling against real processes and a real metrics endpoint on loopback.

mod common;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    Behaviour, RecordingTarget, Reply, SETTLE, eventually_async, get, sample, scrape_until,
    spawn_exporter,
};

/// A Python child that allocates (and touches) `mib` MiB after each line on stdin.
fn allocating_child() -> Child {
    let script = "import sys\nheld=[]\nfor line in sys.stdin:\n    held.append(b'x' * (int(line) << 20))\n    print('ok', flush=True)\n";
    Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts")
}

fn allocate(child: &mut Child, mib: u64) {
    use std::io::BufRead as _;
    writeln!(child.stdin.as_mut().expect("stdin"), "{mib}").expect("write");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ok");
}

fn config_with_memory(memory: &str, slo: &str) -> String {
    format!(
        "targets:\n  app:\n    url: 'http://127.0.0.1:9'\n    memory: {memory}\n    slo: {slo}\n\
         probes:\n- {{name: idle, target: app, schedule: {{cron: '0 0 1 1 *', for: 1s}}, load: {{rate: 1}}, request: {{}}}}\n"
    )
}

async fn memory_gauge(addr: std::net::SocketAddr) -> Option<f64> {
    sample(
        &get(addr, "/metrics", None).await.1,
        r#"loadprobe_target_memory_bytes{target="app"}"#,
    )
}

/// Polls the gauge until it is more than half of `expected` above `before` (the sampler has
/// seen an allocation of about `expected` bytes), and returns it.
async fn gauge_grown(addr: std::net::SocketAddr, before: f64, expected: f64) -> f64 {
    let what = format!(
        "the memory gauge more than {} bytes above {before}",
        expected / 2.0
    );
    eventually_async(SETTLE, &what, || async {
        match memory_gauge(addr).await {
            Some(bytes) if bytes - before > expected / 2.0 => Ok(bytes),
            seen => Err(seen),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_rss_grows_is_tracked_within_5_percent() {
    let mut child = allocating_child();
    // A first small allocation proves the interpreter has finished starting up.
    allocate(&mut child, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, child.id().to_string()).expect("pid file");
    let memory = format!(
        "{{process: {{pid_file: '{}'}}, interval: 100ms}}",
        pid_file.display()
    );
    let exporter = spawn_exporter(&config_with_memory(
        &memory,
        "{memory_growth_per_hour: 0.05}",
    ))
    .await;
    scrape_until(exporter.addr, SETTLE, "a memory sample", |t| {
        t.contains("loadprobe_target_memory_bytes{")
    })
    .await;
    // Kept from before the polls: a couple more samples (every 100 ms) of the settled
    // child before the reading the growth is measured from.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = get(exporter.addr, "/metrics", None).await.1;
    let before = sample(&text, r#"loadprobe_target_memory_bytes{target="app"}"#).expect("gauge");
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_slo_memory_growth_per_hour{target="app"}"#
        ),
        Some(0.05)
    );
    allocate(&mut child, 64);
    let expected = 64.0 * 1024.0 * 1024.0;
    let after = gauge_grown(exporter.addr, before, expected).await;
    let grown = after - before;
    assert!(
        (grown - expected).abs() / expected < 0.05,
        "grew {grown} bytes, expected {expected}"
    );
    // Same process: the baseline stays where it started.
    let text = get(exporter.addr, "/metrics", None).await.1;
    let baseline = sample(
        &text,
        r#"loadprobe_target_memory_baseline_bytes{target="app"}"#,
    )
    .expect("baseline");
    assert!(
        baseline <= before,
        "the baseline is the first sample of this process"
    );
    assert!(
        after - baseline > expected * 0.95,
        "same process: the baseline did not restart"
    );
    exporter.shutdown().await;
    child.kill().expect("kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_restart_resets_the_growth_baseline() {
    let mut first = allocating_child();
    allocate(&mut first, 32);
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, first.id().to_string()).expect("pid file");
    let memory = format!(
        "{{process: {{pid_file: '{}'}}, interval: 100ms}}",
        pid_file.display()
    );
    let exporter = spawn_exporter(&config_with_memory(&memory, "{}")).await;
    let text = scrape_until(exporter.addr, SETTLE, "a baseline", |t| {
        t.contains("loadprobe_target_memory_baseline_bytes{")
    })
    .await;
    assert!(text.contains("loadprobe_target_memory_bytes{"));
    let first_baseline = sample(
        &text,
        r#"loadprobe_target_memory_baseline_timestamp_seconds{target="app"}"#,
    )
    .expect("ts");
    let first_bytes = sample(
        &text,
        r#"loadprobe_target_memory_baseline_bytes{target="app"}"#,
    )
    .expect("bytes");

    first.kill().expect("kill");
    first.wait().expect("reaped");
    let mut second = allocating_child();
    allocate(&mut second, 1);
    std::fs::write(&pid_file, second.id().to_string()).expect("pid file");
    let text = scrape_until(
        exporter.addr,
        SETTLE,
        "a new baseline for the new process",
        |t| {
            sample(
                t,
                r#"loadprobe_target_memory_baseline_timestamp_seconds{target="app"}"#,
            )
            .is_some_and(|ts| ts > first_baseline)
        },
    )
    .await;
    let second_bytes = sample(
        &text,
        r#"loadprobe_target_memory_baseline_bytes{target="app"}"#,
    )
    .expect("bytes");
    assert!(
        second_bytes < first_bytes - 16.0 * 1024.0 * 1024.0,
        "new baseline {second_bytes} vs old {first_bytes}"
    );
    exporter.shutdown().await;
    second.kill().expect("kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_source_with_several_series_picks_the_right_one() {
    let page = "# TYPE process_resident_memory_bytes gauge\n\
                process_resident_memory_bytes{worker=\"a\"} 111\n\
                process_resident_memory_bytes{worker=\"b\"} 222\n\
                process_resident_memory_bytes{worker=\"c\"} 333\n";
    let source = RecordingTarget::spawn(Behaviour::ok().on("/metrics", Reply::body(page))).await;
    let target = source.addr;
    let memory = format!(
        "{{prometheus: {{url: 'http://{target}/metrics', labels: {{worker: b}}}}, interval: 100ms}}"
    );
    let exporter = spawn_exporter(&config_with_memory(&memory, "{}")).await;
    let text = scrape_until(exporter.addr, SETTLE, "a memory sample", |t| {
        t.contains("loadprobe_target_memory_bytes{")
    })
    .await;
    assert_eq!(
        sample(&text, r#"loadprobe_target_memory_bytes{target="app"}"#),
        Some(222.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_target_memory_sample_failures_total{target="app"}"#
        ),
        Some(0.0)
    );
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_source_counts_failures_and_withdraws_the_value() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let memory = format!("{{prometheus: {{url: 'http://{refused}/metrics'}}, interval: 100ms}}");
    let exporter = spawn_exporter(&config_with_memory(&memory, "{}")).await;
    let text = scrape_until(exporter.addr, SETTLE, "two failed samples", |t| {
        sample(
            t,
            r#"loadprobe_target_memory_sample_failures_total{target="app"}"#,
        )
        .is_some_and(|n| n >= 2.0)
    })
    .await;
    assert_eq!(
        sample(&text, r#"loadprobe_target_memory_bytes{target="app"}"#),
        None,
        "no stale value is exported"
    );
    let (_, json) = get(exporter.addr, "/api/v1/status", None).await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(
        json["targets"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot fetch")),
        "{json}"
    );
    assert!(json["targets"][0]["bytes"].is_null());
    exporter.shutdown().await;
}

/// This machine has cgroup v1 only, so the cgroup v2 file is written by the test: the path
/// resolution (directory → `memory.current`) and parsing are what is exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cgroup_directory_is_read_through_its_memory_current_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("memory.current"), "123456789\n").expect("write");
    let memory = format!(
        "{{cgroup: {{path: '{}'}}, interval: 100ms}}",
        dir.path().display()
    );
    let exporter = spawn_exporter(&config_with_memory(&memory, "{}")).await;
    let text = scrape_until(exporter.addr, SETTLE, "a memory sample", |t| {
        t.contains("loadprobe_target_memory_bytes{")
    })
    .await;
    assert_eq!(
        sample(&text, r#"loadprobe_target_memory_bytes{target="app"}"#),
        Some(123456789.0)
    );
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_leak_knob_shows_up_as_target_memory_growth() {
    let (demo, _stop) = common::spawn_demo(loadprobe::config::DemoConfig::default()).await;
    let memory = format!("{{prometheus: {{url: 'http://{demo}/metrics'}}, interval: 100ms}}");
    let exporter = spawn_exporter(&config_with_memory(
        &memory,
        "{memory_growth_per_hour: 0.05}",
    ))
    .await;
    scrape_until(exporter.addr, SETTLE, "a memory sample", |t| {
        t.contains("loadprobe_target_memory_bytes{")
    })
    .await;
    let before = memory_gauge(exporter.addr).await.expect("gauge");
    assert_eq!(common::post(demo, "/admin/leak?mib=32").await.0, 200);
    let grown = gauge_grown(exporter.addr, before, 32.0 * 1024.0 * 1024.0).await - before;
    assert!(
        grown >= 0.9 * 32.0 * 1024.0 * 1024.0,
        "grew only {grown} bytes"
    );
    assert_eq!(
        common::post(demo, "/admin/leak?mib=1000").await.0,
        400,
        "the leak is bounded"
    );
    exporter.shutdown().await;
}
