//! Multi-step probes end to end: order, extracted values carried forward, checks that catch
//! session mix-ups, failed steps that stop the iteration, and cleanup that always runs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use common::{demo_stats, get, sample, spawn_demo, spawn_exporter, sum};
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
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let text = get(exporter.addr, "/metrics", None).await.1;
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

/// A target that records each request as "METHOD path header" and hands out ids.
async fn spawn_recording_target() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let record =
        |log: Arc<Mutex<Vec<String>>>, entry: String| log.lock().expect("lock").push(entry);
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let app = axum::Router::new()
        .route(
            "/start",
            axum::routing::post(move || async move {
                let id = fastrand::u32(..);
                record(l1, format!("start {id}"));
                (
                    [("x-token", format!("t{id}"))],
                    axum::Json(serde_json::json!({"id": id})),
                )
            }),
        )
        .route(
            "/items/{id}",
            axum::routing::get(
                move |Path(id): Path<String>, headers: HeaderMap| async move {
                    let token = headers
                        .get("x-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    record(l2, format!("item {id} {token}"));
                    "ok"
                },
            ),
        )
        .route(
            "/done/{id}",
            axum::routing::delete(move |Path(id): Path<String>| async move {
                record(l3, format!("done {id}"));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/fail",
            axum::routing::get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/second",
            axum::routing::get(move || async move {
                record(l4, "second".to_owned());
                "ok"
            }),
        );
    let addr = common::serve(app).await;
    (addr, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_step_probe_sends_three_requests_in_order_carrying_extracted_values() {
    let (target, log) = spawn_recording_target().await;
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
    .replace("TARGET", &target.to_string());
    let exporter = spawn_exporter(&yaml).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    exporter.shutdown().await;
    let log = log.lock().expect("lock").clone();
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
    let (target, log) = spawn_recording_target().await;
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
    .replace("TARGET", &target.to_string());
    let exporter = spawn_exporter(&yaml).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let text = get(exporter.addr, "/metrics", None).await.1;
    exporter.shutdown().await;
    let log = log.lock().expect("lock").clone();
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
