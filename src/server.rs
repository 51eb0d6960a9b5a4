//! loadprobe's own HTTP endpoints: the telemetry path, health, readiness, the status API
//! and the landing page. Handlers only read shared state; they never touch the load.
//!
//! Adding a new route: add it in [`router`], keep the handler a few lines that read
//! [`AppState`], and list it on the landing page (`page.rs`) and in the README.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::memory::MemorySnapshot;
use crate::metrics::{self, Format, Metrics};
use crate::page;
use crate::status::history::{self, ProbeHistorySnapshot};
use crate::status::{ConfigStatus, FailureRecord, ProbeSnapshot, StatusBoard};

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Metrics to encode.
    pub metrics: Arc<Metrics>,
    /// Live probe status.
    pub status: Arc<StatusBoard>,
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Time between two samples of the status page's charts.
    pub history_period: Duration,
    /// Sends reload and run-now commands to the engine.
    pub control: Option<crate::control::Control>,
}

/// Body of `GET /api/v1/status`.
#[derive(Debug, Serialize)]
pub struct StatusResponse {
    /// loadprobe's version.
    pub version: &'static str,
    /// Every probe's state, totals and last report.
    pub probes: Vec<ProbeSnapshot>,
    /// Memory of every sampled target.
    pub targets: Vec<MemorySnapshot>,
    /// The latest failures, newest first.
    pub recent_failures: Vec<FailureRecord>,
    /// How the last configuration (re)load went.
    pub config: ConfigStatus,
}

/// Body of `GET /api/v1/history`: the status page's chart data.
#[derive(Debug, Serialize)]
pub struct HistoryResponse {
    /// Seconds between two samples.
    pub period_seconds: f64,
    /// Samples kept per probe.
    pub capacity: usize,
    /// Every probe's objectives and samples, in plan order.
    pub probes: Vec<ProbeHistorySnapshot>,
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing))
        .route(&state.telemetry_path, get(scrape))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/api/v1/status", get(api_status))
        .route("/api/v1/history", get(api_history))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let body = metrics::encode(state.metrics.registry(), format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

/// Ready once the config is loaded, which is before the server starts: never depends on
/// the target, so a failing target does not take loadprobe out of its Service.
async fn ready() -> (StatusCode, &'static str) {
    (StatusCode::OK, "Ready\n")
}

async fn api_status(State(state): State<AppState>) -> Json<StatusResponse> {
    Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION"),
        probes: state.status.snapshot(),
        targets: state.status.memory(),
        recent_failures: state.status.recent_failures(),
        config: state.status.config(),
    })
}

async fn api_history(State(state): State<AppState>) -> Json<HistoryResponse> {
    Json(HistoryResponse {
        period_seconds: state.history_period.as_secs_f64(),
        capacity: history::CAPACITY,
        probes: state.status.history(),
    })
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    Html(page::render(
        &state.telemetry_path,
        &state.status.snapshot(),
        &state.status.recent_failures(),
        &state.status.config(),
    ))
}
