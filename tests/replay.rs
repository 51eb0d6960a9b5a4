//! Access-log replay: exact methods and paths in order, at the log's (scaled) times;
//! malformed lines skipped and counted; routes bound the labels; writes only when allowed.

mod common;

use std::time::Instant;

use common::{Behaviour, RecordingTarget, SETTLE, eventually, sample, scrape_until, spawn_plan};
use loadprobe::config::Config;
use loadprobe::plan::Plan;

/// A target that records every request and answers `200 ok`.
async fn spawn_recording_target() -> RecordingTarget {
    RecordingTarget::spawn(Behaviour::ok()).await
}

/// What `target` received: (arrival, method, path and query) per request.
fn received(target: &RecordingTarget) -> Vec<(Instant, String, String)> {
    target
        .requests()
        .into_iter()
        .map(|r| (r.at, r.method.to_string(), r.path_and_query))
        .collect()
}

/// Waits until `done` holds for `target` (looking at the target only, so as not to load the
/// exporter while it replays), then until a scrape shows nothing of the replay in flight (its
/// run lasts its whole 30 s window, so it never goes idle); returns that scrape.
async fn replayed(
    exporter: std::net::SocketAddr,
    target: &RecordingTarget,
    what: &str,
    done: impl Fn(&RecordingTarget) -> bool,
) -> String {
    eventually(SETTLE, what, || {
        if done(target) {
            Ok(())
        } else {
            Err(target.count())
        }
    })
    .await;
    let in_flight = r#"loadprobe_in_flight_iterations{probe="replay"}"#;
    scrape_until(
        exporter,
        SETTLE,
        "nothing of the replay in flight",
        |text| sample(text, in_flight) == Some(0.0),
    )
    .await
}

/// Writes `log` and a config replaying it (with `replay` keys) into a temp dir; loads it.
fn plan(
    target: std::net::SocketAddr,
    log_name: &str,
    log: &str,
    replay: &str,
    dir: &tempfile::TempDir,
) -> Plan {
    std::fs::write(dir.path().join(log_name), log).expect("log");
    let config = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n\
         - {{name: replay, target: t, schedule: {{every: 1h, for: 30s}}, load: {{max_in_flight: 500}}, replay: {{file: {log_name}, {replay}}}}}\n"
    );
    std::fs::write(dir.path().join("loadprobe.yml"), config).expect("config");
    Plan::try_from(Config::load(&dir.path().join("loadprobe.yml")).expect("loads")).expect("valid")
}

/// 1000 GETs 2 ms apart with distinct paths, as JSON Lines.
fn thousand_lines() -> String {
    (0..1000)
        .map(|i| {
            format!(
                "{{\"ts\": {}, \"method\": \"GET\", \"path\": \"/item/{i}?q={}\"}}\n",
                1_700_000_000.0 + f64::from(i) * 0.002,
                i % 7
            )
        })
        .collect()
}

async fn replay_and_check(speed: f64) {
    let target = spawn_recording_target().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = spawn_plan(plan(
        target.addr,
        "access.jsonl",
        &thousand_lines(),
        &format!("format: jsonl, speed: {speed}"),
        &dir,
    ))
    .await;
    replayed(exporter.addr, &target, "all 1000 lines replayed", |t| {
        t.count() >= 1000
    })
    .await;
    exporter.shutdown().await;
    let seen = received(&target);
    // Requests due within the same millisecond go out together on different connections and
    // may reach the target in either order; the order is checked through the times instead.
    let mut paths: Vec<String> = seen.iter().map(|(_, _, p)| p.clone()).collect();
    paths.sort_by_key(|p| {
        p[6..p.find('?').expect("query")]
            .parse::<u32>()
            .expect("index")
    });
    let expected: Vec<String> = (0..1000)
        .map(|i| format!("/item/{i}?q={}", i % 7))
        .collect();
    assert!(
        paths == expected,
        "exactly the 1000 logged paths, each once"
    );
    let start = seen.iter().map(|(at, _, _)| *at).min().expect("requests");
    // Each request's lateness against its scaled log time; the run's start (the reference) is
    // the median lateness, so one slow first connection does not shift every other request.
    let mut lateness: Vec<f64> = seen
        .iter()
        .map(|(at, _, path)| {
            let i: f64 = path[6..path.find('?').expect("query")]
                .parse()
                .expect("index");
            at.duration_since(start).as_secs_f64() - i * 0.002 / speed
        })
        .collect();
    let mut sorted = lateness.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    lateness
        .iter_mut()
        .for_each(|l| *l = (*l - median).abs() * 1e3);
    let errors = lateness;
    let within = errors.iter().filter(|e| **e <= 2.0).count();
    let worst = errors.iter().copied().fold(0.0, f64::max);
    // Timer resolution is 1 ms: nearly every request within 2 ms of its time, none far off,
    // so the target sees the log's order to within 2 ms. (On an idle machine all of them
    // are; a busy 2-core runner delays some by its own scheduling, hence 90%.)
    assert!(
        within >= 900,
        "{within} of 1000 within 2 ms of the scaled log time (worst {worst:.2} ms)"
    );
    assert!(worst < 25.0, "worst {worst:.2} ms");
    let end = seen.iter().map(|(at, _, _)| *at).max().expect("requests");
    let last = end.duration_since(start).as_secs_f64();
    assert!(
        (last - 1.998 / speed).abs() < 0.01,
        "replay took {last} s at speed {speed}"
    );
}
/// One test for both speeds, so the two timing runs never compete for the CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_line_log_replays_in_order_at_its_times_and_at_speed_2_in_half() {
    replay_and_check(1.0).await;
    replay_and_check(2.0).await;
}

const COMBINED: &str = "\
127.0.0.1 - - [10/Oct/2026:13:55:36 +0000] \"GET /api/users/1 HTTP/1.1\" 200 10 \"-\" \"curl\"
this line is not a log line
127.0.0.1 - - [10/Oct/2026:13:55:37 +0000] \"GET /static/app.js HTTP/1.1\" 200 10 \"-\" \"curl\"
127.0.0.1 - - [10/Oct/2026:13:55:37 +0000] \"POST /api/orders HTTP/1.1\" 201 10 \"-\" \"curl\"
127.0.0.1 - - [bad date] \"GET /api/x HTTP/1.1\" 200 10 \"-\" \"curl\"
127.0.0.1 - - [10/Oct/2026:13:55:38 +0000] \"GET /api/users/2?full=1 HTTP/1.1\" 200 10 \"-\" \"curl\"
127.0.0.1 - - [10/Oct/2026:13:55:39 +0000] \"HEAD /health HTTP/1.1\" 200 0 \"-\" \"curl\"
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_are_skipped_and_counted_routes_bound_the_labels_and_writes_need_allowing()
{
    let target = spawn_recording_target().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = "speed: 20, routes: [{name: api, path_regex: '^/api/'}]";
    let exporter = spawn_plan(plan(target.addr, "access.log", COMBINED, replay, &dir)).await;
    // The log's last line is the HEAD: once it is in, every line has been replayed.
    let text = replayed(exporter.addr, &target, "the last line replayed", |t| {
        !t.requests_to("/health").is_empty()
    })
    .await;
    exporter.shutdown().await;
    let seen: Vec<(String, String)> = received(&target)
        .into_iter()
        .map(|(_, m, p)| (m, p))
        .collect();
    let expected = [
        ("GET", "/api/users/1"),
        ("GET", "/static/app.js"),
        ("GET", "/api/users/2?full=1"),
        ("HEAD", "/health"),
    ];
    assert_eq!(
        seen,
        expected.map(|(m, p)| (m.to_owned(), p.to_owned())),
        "the POST is not replayed without allow_methods"
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_replay_lines_skipped_total{probe="replay"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="replay",step="api"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="replay",step="other"}"#
        ),
        Some(2.0)
    );
    let steps = text
        .lines()
        .filter(|l| l.starts_with("loadprobe_requests_total{probe=\"replay\""))
        .count();
    assert_eq!(
        steps, 2,
        "only the configured route and `other`, whatever the log holds"
    );

    let target = spawn_recording_target().await;
    let exporter = spawn_plan(plan(
        target.addr,
        "access.log",
        COMBINED,
        "speed: 20, allow_methods: [POST]",
        &dir,
    ))
    .await;
    replayed(exporter.addr, &target, "the last line replayed", |t| {
        !t.requests_to("/health").is_empty()
    })
    .await;
    exporter.shutdown().await;
    assert!(
        received(&target)
            .iter()
            .any(|(_, m, p)| m == "POST" && p == "/api/orders"),
        "allowed writes are replayed"
    );
}
