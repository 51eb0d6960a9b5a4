//! Multi-step probes end to end: order, extracted values carried forward, checks that catch
//! session mix-ups, failed steps that stop the iteration, and cleanup that always runs.

mod common;

use std::time::Duration;

use common::{
    Behaviour, RecordingTarget, Reply, demo_stats, get, sample, scrape_when_idle, spawn_demo,
    spawn_exporter, sum,
};
use loadprobe::config::DemoConfig;

const SESSION_STEPS: &str = r#"
  steps:
    - name: create
      method: POST
      path: /sessions
      expect: {status: [201]}
      extract: {session_id: {json: $.session_id}}
    - name: observe
      method: POST
      path: /sessions/{{session_id}}/observations
      json: {value: "{{uuid}}"}
    - name: read
      path: /sessions/{{session_id}}
      expect:
        json:
          - {path: $.session_id, equals: "{{session_id}}"}
          - {path: $.observations, length: 1}
          - {path: "$.observations[0]", equals: "{{uuid}}"}
    - name: delete
      method: DELETE
      path: /sessions/{{session_id}}
      always: true
      expect: {status: [204]}
"#;

async fn run_sessions(mixup: f64) -> (String, loadprobe::demo::Stats, serde_json::Value) {
    let settings = DemoConfig {
        session_mixup_ratio: mixup,
        latency: Duration::from_millis(20),
        ..DemoConfig::default()
    };
    let (demo, _stop) = spawn_demo(settings).await;
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n- name: session\n  target: demo\n  schedule: {{every: 1h, for: 1s}}\n  load: {{rate: 40, max_in_flight: 100}}{SESSION_STEPS}"
    );
    let exporter = spawn_exporter(&yaml).await;
    let text = scrape_when_idle(exporter.addr, "session", "sessions").await;
    exporter.shutdown().await;
    let open: serde_json::Value =
        serde_json::from_str(&get(demo, "/sessions", None).await.1).expect("json");
    (text, demo_stats(demo).await, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_session_service_passes_every_check_and_leaks_nothing() {
    let (text, truth, open) = run_sessions(0.0).await;
    for step in ["create", "observe", "read", "delete"] {
        let requests = sample(
            &text,
            &format!(r#"loadprobe_requests_total{{probe="session",step="{step}"}}"#),
        );
        assert_eq!(requests, Some(40.0), "{step}");
    }
    assert_eq!(
        sum(&text, "loadprobe_request_failures_total", &[]),
        0.0,
        "{text}"
    );
    assert_eq!(open["open"], 0, "every session was deleted");
    assert_eq!(
        truth.received["/sessions/{id}"], 80,
        "40 reads and 40 deletes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_mixes_up_sessions_fails_the_read_checks_and_still_cleans_up() {
    let (text, _, open) = run_sessions(0.5).await;
    let failed = sample(
        &text,
        r#"loadprobe_request_failures_total{probe="session",step="read",reason="check"}"#,
    )
    .expect("series");
    assert!(
        failed >= 5.0,
        "about half of 40 reads show another session: {failed}"
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="session",step="delete"}"#
        ),
        Some(40.0)
    );
    assert_eq!(open["open"], 0, "cleanup ran after the failed reads");
}

/// A target that hands out a fresh id (and token) on `POST /start`, answers `/done/*` with
/// 204 and `/fail` with 500.
async fn spawn_session_target() -> RecordingTarget {
    let behaviour = Behaviour::ok()
        .on_request("/start", |_| {
            let id = fastrand::u32(..);
            Reply::json(&serde_json::json!({"id": id})).header("x-token", format!("t{id}"))
        })
        .on("/done/*", Reply::status(204))
        .on("/fail", Reply::status(500));
    RecordingTarget::spawn(behaviour).await
}

/// What `target` received, one entry per request: `start {id handed out}`,
/// `item {id} {x-token}`, `done {id}`, `second` (and `fail`).
fn session_log(target: &RecordingTarget) -> Vec<String> {
    target
        .requests()
        .iter()
        .map(|request| {
            let (route, id) = request.path[1..]
                .split_once('/')
                .unwrap_or((&request.path[1..], ""));
            match route {
                "start" => {
                    let reply: serde_json::Value =
                        serde_json::from_str(&request.reply.body).expect("start reply");
                    format!("start {}", reply["id"])
                }
                "items" => format!("item {id} {}", request.header("x-token").unwrap_or("-")),
                "done" => format!("done {id}"),
                other => other.to_owned(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_step_probe_sends_three_requests_in_order_carrying_extracted_values() {
    let target = spawn_session_target().await;
    let yaml = r#"
targets: {t: {url: "http://TARGET"}}
probes:
- name: chain
  target: t
  schedule: {every: 1h, for: 500ms}
  load: {rate: 10, max_in_flight: 1}
  steps:
    - {name: start, method: POST, path: /start, extract: {id: {json: $.id}, token: {header: x-token}}}
    - {name: item, path: "/items/{{id}}", headers: {x-token: "{{token}}"}}
    - {name: done, method: DELETE, path: "/done/{{id}}", expect: {status: [204]}}
"#
    .replace("TARGET", &target.addr.to_string());
    let exporter = spawn_exporter(&yaml).await;
    scrape_when_idle(exporter.addr, "chain", "three steps").await;
    exporter.shutdown().await;
    let log = session_log(&target);
    assert_eq!(log.len(), 15, "5 iterations × 3 steps: {log:?}");
    for iteration in log.chunks(3) {
        let id = iteration[0]
            .strip_prefix("start ")
            .expect("first the start");
        assert_eq!(
            iteration[1],
            format!("item {id} t{id}"),
            "then the item, with the extracted id and token"
        );
        assert_eq!(iteration[2], format!("done {id}"), "then the delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_step_stops_the_iteration_but_cleanup_runs() {
    let target = spawn_session_target().await;
    let yaml = r#"
targets: {t: {url: "http://TARGET"}}
probes:
- name: broken
  target: t
  schedule: {every: 1h, for: 500ms}
  load: {rate: 10}
  steps:
    - {name: fail, path: /fail}
    - {name: second, path: /second}
    - {name: cleanup, method: DELETE, path: /done/x, always: true, expect: {status: [204]}}
"#
    .replace("TARGET", &target.addr.to_string());
    let exporter = spawn_exporter(&yaml).await;
    let text = scrape_when_idle(exporter.addr, "broken", "failed first step").await;
    exporter.shutdown().await;
    let log = session_log(&target);
    assert!(
        !log.iter().any(|l| l == "second"),
        "the second step is never sent"
    );
    assert_eq!(
        log.iter().filter(|l| *l == "done x").count(),
        5,
        "cleanup ran in each iteration"
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="broken",step="second"}"#
        ),
        Some(0.0),
        "not sent, not counted"
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_requests_total{probe="broken",step="cleanup"}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"loadprobe_iteration_failures_total{probe="broken"}"#
        ),
        Some(5.0)
    );
}
