//! The demo's session API, the shape of the stateful services our users soak-test:
//! create a session, add observations, read it back, delete it. A capacity limit answers
//! 429, and an optional isolation bug returns another session's data. Each call takes the
//! demo's base latency, so sessions overlap under load as they do in real services.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::Demo;

/// Sessions by id, with their observations.
pub(super) type Sessions = BTreeMap<String, Vec<Value>>;

/// What a read returns.
#[derive(Debug, Serialize)]
struct Session<'a> {
    session_id: &'a str,
    observations: &'a [Value],
}

pub(super) async fn create(State(demo): State<Arc<Demo>>) -> Response {
    tokio::time::sleep(demo.latency()).await;
    let mut sessions = demo
        .sessions
        .lock()
        .expect("sessions lock is never poisoned");
    if sessions.len() >= demo.settings.session_capacity {
        drop(sessions);
        return demo.answer_json(
            "/sessions",
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "session capacity reached"}),
        );
    }
    let id = format!("s{:016x}", fastrand::u64(..));
    sessions.insert(id.clone(), Vec::new());
    drop(sessions);
    demo.answer_json("/sessions", StatusCode::CREATED, json!({"session_id": id}))
}

pub(super) async fn observe(
    State(demo): State<Arc<Demo>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    tokio::time::sleep(demo.latency()).await;
    let value = body.get("value").cloned().unwrap_or(body);
    let mut sessions = demo
        .sessions
        .lock()
        .expect("sessions lock is never poisoned");
    let Some(observations) = sessions.get_mut(&id) else {
        drop(sessions);
        return demo.answer_json(
            "/sessions/{id}/observations",
            StatusCode::NOT_FOUND,
            json!({"error": "no such session"}),
        );
    };
    observations.push(value);
    let count = observations.len();
    drop(sessions);
    demo.answer_json(
        "/sessions/{id}/observations",
        StatusCode::OK,
        json!({"count": count}),
    )
}

pub(super) async fn read(State(demo): State<Arc<Demo>>, Path(id): Path<String>) -> Response {
    tokio::time::sleep(demo.latency()).await;
    let sessions = demo
        .sessions
        .lock()
        .expect("sessions lock is never poisoned");
    let mixed_up = fastrand::f64() < demo.settings.session_mixup_ratio;
    // The bug under concurrency: answer with whichever other session happens to exist.
    let shown = if mixed_up {
        sessions.keys().find(|k| **k != id).unwrap_or(&id).clone()
    } else {
        id
    };
    let Some(observations) = sessions.get(&shown) else {
        drop(sessions);
        return demo.answer_json(
            "/sessions/{id}",
            StatusCode::NOT_FOUND,
            json!({"error": "no such session"}),
        );
    };
    let body = json!(Session {
        session_id: &shown,
        observations
    });
    drop(sessions);
    demo.answer_json("/sessions/{id}", StatusCode::OK, body)
}

pub(super) async fn delete(State(demo): State<Arc<Demo>>, Path(id): Path<String>) -> Response {
    tokio::time::sleep(demo.latency()).await;
    let removed = demo
        .sessions
        .lock()
        .expect("sessions lock is never poisoned")
        .remove(&id);
    let status = if removed.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    };
    demo.answer("/sessions/{id}", status, "").into_response()
}

/// Sessions open now (a probe that leaks them shows here).
pub(super) async fn count(State(demo): State<Arc<Demo>>) -> Json<Value> {
    let open = demo
        .sessions
        .lock()
        .expect("sessions lock is never poisoned")
        .len();
    Json(json!({"open": open}))
}
