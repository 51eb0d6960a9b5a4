//! Reload: a new configuration is applied as a whole; unchanged probes keep running without
//! a gap and their counters continue, changed ones restart, removed ones stop and lose their
//! series; a bad configuration keeps the old one running and says why.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Behaviour, Process, RecordingTarget, SETTLE, eventually, eventually_async, get, idle, post_as,
    sample, scrape, scrape_as,
};

/// A target for probes that each hit `/hit/{probe}`.
async fn recording_target() -> RecordingTarget {
    RecordingTarget::spawn(Behaviour::ok()).await
}

/// When each request for `probe` (path `/hit/{probe}`) arrived.
fn arrivals(target: &RecordingTarget, probe: &str) -> Vec<Instant> {
    let path = format!("/hit/{probe}");
    target.requests_to(&path).iter().map(|r| r.at).collect()
}

/// Waits until `target` has received at least `n` requests for `probe`, and returns how many.
async fn received_at_least(target: &RecordingTarget, probe: &str, n: usize) -> usize {
    let what = format!("at least {n} requests for {probe}");
    eventually(SETTLE, &what, || {
        let received = arrivals(target, probe).len();
        if received >= n {
            Ok(received)
        } else {
            Err(received)
        }
    })
    .await
}

fn probe(name: &str, rate: u32) -> String {
    format!(
        "- {{name: {name}, target: t, load: {{rate: {rate}}}, request: {{path: /hit/{name}}}}}\n"
    )
}

fn write_config(path: &Path, target: SocketAddr, probes: &[String]) {
    let yaml = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n{}",
        probes.concat()
    );
    std::fs::write(path, yaml).expect("write config");
}

fn requests(metrics: &str, probe: &str) -> Option<f64> {
    sample(
        metrics,
        &format!("loadprobe_requests_total{{probe=\"{probe}\",step=\"request\"}}"),
    )
}

/// The longest pause between two consecutive arrivals of `probe` at the target.
fn longest_gap(target: &RecordingTarget, probe: &str) -> Duration {
    arrivals(target, probe)
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_probes_keep_running_changed_restart_removed_stop() {
    let recorder = recording_target().await;
    let target = recorder.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    write_config(
        &path,
        target,
        &[
            probe("steady", 100),
            probe("tuned", 20),
            probe("retired", 20),
        ],
    );
    let lp = common::spawn_reloadable(&path).await;
    let addr = lp.exporter.addr;
    // Enough load before the reload that a counter reset would show below.
    received_at_least(&recorder, "steady", 50).await;
    received_at_least(&recorder, "retired", 1).await;
    let before = scrape(addr).await;
    let steady_before = requests(&before, "steady").expect("steady series");
    assert!(requests(&before, "retired").is_some());

    write_config(
        &path,
        target,
        &[probe("steady", 100), probe("tuned", 40), probe("fresh", 20)],
    );
    let summary = lp.control.reload().await.expect("reload succeeds");
    assert_eq!(summary.unchanged, ["steady"]);
    assert_eq!(summary.restarted, ["tuned"]);
    assert_eq!(summary.started, ["fresh"]);
    assert_eq!(summary.stopped, ["retired"]);
    // The scenario: 800 ms of the new config, over which steady must go on at 100/s.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let after = scrape(addr).await;
    let steady_after = requests(&after, "steady").expect("steady series");
    assert!(
        steady_after >= steady_before + 50.0,
        "steady's counter continued: {steady_before} then {steady_after}"
    );
    assert!(
        requests(&after, "retired").is_none(),
        "a removed probe's series are gone"
    );
    assert!(
        !after.contains("probe=\"retired\""),
        "no series of the removed probe is left"
    );
    assert!(requests(&after, "fresh").is_some_and(|n| n > 0.0));
    let rate = sample(&after, "loadprobe_arrival_rate{probe=\"tuned\"}");
    assert_eq!(
        rate,
        Some(40.0),
        "the changed probe runs its new definition"
    );
    assert_eq!(
        sample(&after, "loadprobe_config_last_reload_successful"),
        Some(1.0)
    );
    // 100/s is one arrival every 10 ms; a restart would leave a visible hole.
    let gap = longest_gap(&recorder, "steady");
    assert!(gap < Duration::from_millis(60), "longest gap {gap:?}");
    let snapshots = lp.exporter.shutdown().await;
    let names: Vec<&str> = snapshots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["steady", "tuned", "fresh"]);
    let received = arrivals(&recorder, "steady").len() as u64;
    assert_eq!(
        snapshots[0].totals.requests, received,
        "the unchanged probe's totals span the reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_rejected_and_the_old_one_keeps_running() {
    let recorder = recording_target().await;
    let target = recorder.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    write_config(&path, target, &[probe("steady", 50)]);
    let lp = common::spawn_reloadable(&path).await;
    let addr = lp.exporter.addr;
    received_at_least(&recorder, "steady", 1).await;

    write_config(&path, target, &[probe("steady", 50), probe("broken", 0)]);
    let error = lp.control.reload().await.expect_err("rejected").to_string();
    assert!(error.contains("probes[1].load.rate"), "{error}");
    let metrics = scrape(addr).await;
    assert_eq!(
        sample(&metrics, "loadprobe_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(!metrics.contains("probe=\"broken\""));
    let status: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v1/status", None).await.1).expect("JSON");
    assert_eq!(status["config"]["last_reload_successful"], false);
    let shown = status["config"]["error"].as_str().expect("error shown");
    assert!(shown.contains("probes[1].load.rate"), "{shown}");
    let page = get(addr, "/", None).await.1;
    assert!(
        page.contains("probes[1].load.rate"),
        "the page shows the error"
    );

    let sent_before = arrivals(&recorder, "steady").len();
    let sent_after = received_at_least(&recorder, "steady", sent_before + 10).await;
    assert!(sent_after >= sent_before + 10, "the old config still runs");

    std::fs::write(&path, "probes: [").expect("write");
    let error = lp.control.reload().await.expect_err("rejected").to_string();
    assert!(
        error.contains("line"),
        "a YAML error names the line: {error}"
    );

    write_config(&path, target, &[probe("steady", 50)]);
    let summary = lp.control.reload().await.expect("valid again");
    assert_eq!(summary.unchanged, ["steady"]);
    let metrics = scrape(addr).await;
    assert_eq!(
        sample(&metrics, "loadprobe_config_last_reload_successful"),
        Some(1.0)
    );
    lp.exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_data_file_restarts_its_probe_with_the_new_rows() {
    let recorder = recording_target().await;
    let target = recorder.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    let rows = dir.path().join("users.csv");
    std::fs::write(&rows, "user\nalice\n").expect("write rows");
    let yaml = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n\
         - name: feed\n  target: t\n  load: {{rate: 50}}\n  data: {{file: users.csv}}\n  request: {{path: '/hit/{{{{data.user}}}}'}}\n\
         {}",
        probe("other", 20)
    );
    std::fs::write(&path, yaml).expect("write config");
    let lp = common::spawn_reloadable(&path).await;
    received_at_least(&recorder, "alice", 1).await;
    std::fs::write(&rows, "user\nbob\n").expect("rewrite rows");
    let summary = lp.control.reload().await.expect("reload succeeds");
    assert_eq!(
        summary.restarted,
        ["feed"],
        "only the probe whose data changed"
    );
    assert_eq!(summary.unchanged, ["other"]);
    received_at_least(&recorder, "bob", 5).await;
    lp.exporter.shutdown().await;
    assert!(!arrivals(&recorder, "alice").is_empty());
    assert!(arrivals(&recorder, "bob").len() >= 5, "new rows are used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file() {
    let recorder = recording_target().await;
    let target = recorder.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    write_config(&path, target, &[probe("steady", 20)]);
    let child = Process::spawn(Process::command(&path));
    // Running its probes, so past installing the SIGHUP handler.
    received_at_least(&recorder, "steady", 1).await;
    write_config(&path, target, &[probe("steady", 20), probe("added", 20)]);
    child.signal("HUP");
    received_at_least(&recorder, "added", 1).await;
    let (status, stderr) = child.terminate();
    assert!(status.success(), "SIGHUP does not kill: {status:?}");
    let reloaded = stderr
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(reloaded.contains("added"), "{reloaded}");
    assert!(
        !arrivals(&recorder, "added").is_empty(),
        "the added probe sent load"
    );
}

fn nightly_arrivals(text: &str) -> Option<f64> {
    sample(text, r#"loadprobe_arrivals_total{probe="nightly"}"#)
}

/// Scrapes (as `ops`: every route needs the credentials) until a run of `nightly` has ended
/// with more than `after` arrivals in all and nothing in flight; returns that scrape.
async fn nightly_run_over(addr: SocketAddr, after: f64) -> String {
    let what = format!("a nightly run past {after} arrivals ended, nothing in flight");
    eventually_async(SETTLE, &what, || async move {
        let text = scrape_as(addr, "ops:s3cret").await;
        let done = idle(&text, "nightly") && nightly_arrivals(&text) > Some(after);
        if done {
            Ok(text)
        } else {
            Err(common::poll::Shown(text))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_and_run_now_work_behind_auth() {
    let recorder = recording_target().await;
    let target = recorder.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    let scheduled = "- {name: nightly, target: t, schedule: {every: 1h, for: 200ms}, load: {rate: 50}, request: {path: /hit/nightly}}\n".to_owned();
    write_config(&path, target, &[probe("steady", 20), scheduled.clone()]);
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let config = loadprobe::web::WebConfig::parse(
        &format!("basic_auth_users:\n  ops: '{hash}'\n"),
        dir.path(),
    )
    .expect("web config");
    let serve = loadprobe::ServeOptions {
        telemetry_path: "/metrics".to_owned(),
        web: loadprobe::web::WebOptions {
            config,
            enable_lifecycle: true,
            enable_run: true,
        },
    };
    let lp = common::spawn_reloadable_with(&path, serve).await;
    let addr = lp.exporter.addr;
    let text = nightly_run_over(addr, 0.0).await;
    let first_arrivals = nightly_arrivals(&text).expect("nightly arrivals");
    let first_run = arrivals(&recorder, "nightly").len();
    assert!((8..=12).contains(&first_run), "start-up run: {first_run}");

    let (status, _) = post_as(addr, "/api/v1/probes/nightly/run", "ops:wrong").await;
    assert_eq!(status, 401);
    let (status, body) = post_as(addr, "/api/v1/probes/nightly/run", "ops:s3cret").await;
    assert_eq!(status, 202, "{body}");
    nightly_run_over(addr, first_arrivals).await;
    let runs = arrivals(&recorder, "nightly").len();
    assert_eq!(runs, 2 * first_run, "one more run of the same size");
    let (status, body) = post_as(addr, "/api/v1/probes/steady/run", "ops:s3cret").await;
    assert_eq!(status, 409, "a continuous probe is always running: {body}");
    let (status, _) = post_as(addr, "/api/v1/probes/nope/run", "ops:s3cret").await;
    assert_eq!(status, 404);

    write_config(
        &path,
        target,
        &[probe("steady", 20), scheduled, probe("added", 20)],
    );
    let (status, body) = post_as(addr, "/-/reload", "ops:s3cret").await;
    assert_eq!(status, 200, "{body}");
    let summary: serde_json::Value = serde_json::from_str(&body).expect("JSON summary");
    assert_eq!(summary["started"], serde_json::json!(["added"]));
    assert_eq!(
        summary["unchanged"],
        serde_json::json!(["steady", "nightly"])
    );
    write_config(&path, target, &[probe("steady", 0)]);
    let (status, body) = post_as(addr, "/-/reload", "ops:s3cret").await;
    assert_eq!(status, 500);
    assert!(body.contains("probes[0].load.rate"), "{body}");
    lp.exporter.shutdown().await;
}
