//! loadprobe's own HTTP routes, all of them: the telemetry path, health, readiness, the
//! status API, the landing page and the two POST commands. Handlers only read shared state;
//! they never touch the load (the POST endpoints only send a command, see `commands.rs`).
//!
//! Every route asks for basic auth when `basic_auth_users` is configured, and every
//! response carries the configured headers (`web::auth`).
//!
//! Adding a new route: add it in [`router`], keep the handler a few lines that read
//! [`AppState`], and list it on the landing page (`page.rs`) and in the README.

mod commands;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::control::Control;
use crate::memory::MemorySnapshot;
use crate::metrics::{self, Format, Metrics};
use crate::page;
use crate::status::history::{self, ProbeHistorySnapshot};
use crate::status::{ConfigStatus, FailureRecord, ProbeSnapshot, StatusBoard};
use crate::web::{self, Access, Transport};

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
    /// Basic auth, extra headers and which POST endpoints are enabled.
    pub access: Arc<Access>,
    /// Commands to the engine (reload, run now); the POST endpoints answer 503 without it.
    pub control: Option<Control>,
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
///
/// The POST routes are added after the auth layer because they gate themselves: a disabled
/// endpoint says which flag enables it before it asks for credentials.
pub fn router(state: AppState) -> Router {
    let access = state.access.clone();
    Router::new()
        .route("/", get(landing))
        .route(&state.telemetry_path, get(scrape))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/api/v1/status", get(api_status))
        .route("/api/v1/history", get(api_history))
        .route_layer(middleware::from_fn_with_state(
            access.clone(),
            web::auth::require_auth,
        ))
        .route("/-/reload", post(commands::reload))
        .route("/api/v1/probes/{name}/run", post(commands::run))
        .layer(middleware::from_fn_with_state(
            access,
            web::auth::add_headers,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` (over TLS if `transport` says so) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    web::serve(listener, router, transport, shutdown).await
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
