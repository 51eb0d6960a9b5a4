//! The built-in demo target: a small in-process HTTP service with known behaviour, so the
//! default config shows steady load, latency tails, 429s and failures out of the box.
//!
//! Endpoints: `/fast` (fixed latency), `/tail` (a fraction is slow), `/pool` (429 when more
//! than `pool_size` requests are in flight, like an exhausted connection pool), `/flaky`
//! (a fraction answers 500), `POST /admin/latency?value=20ms` (change the base latency at run
//! time), `GET /admin/stats` (what it received and answered: ground truth for tests),
//! `GET /metrics` (the process's resident memory, in Prometheus text) and
//! `POST /admin/leak?mib=8` (hold more memory, to demonstrate the memory-growth alert),
//! `POST /admin/failure?ratio=0.5` (change `/flaky`'s failure ratio, to trip a guard), and
//! a session API (`demo/sessions.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::DemoConfig;

mod sessions;

/// Shared state of the demo target.
#[derive(Debug)]
struct Demo {
    /// Knobs from the config.
    settings: DemoConfig,
    /// Base latency in nanoseconds; changed at run time through `/admin/latency`.
    latency_nanos: AtomicU64,
    /// Fraction of `/flaky` requests that fail, in millionths; changed through `/admin/failure`.
    failure_millionths: AtomicU64,
    /// Requests holding a `/pool` slot now.
    pool_in_use: AtomicUsize,
    /// What was received and answered.
    stats: Mutex<Stats>,
    /// Memory held on purpose through `/admin/leak`, up to [`MAX_LEAK_MIB`].
    leaked: Mutex<Vec<Vec<u8>>>,
    /// Open sessions of the session API.
    sessions: Mutex<sessions::Sessions>,
}

/// The most `/admin/leak` will hold, so a demo can never exhaust the host.
const MAX_LEAK_MIB: usize = 256;

/// Counts of received requests by path and of answers by status code.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Requests received, by path.
    pub received: BTreeMap<String, u64>,
    /// Responses sent, by status code.
    pub answered: BTreeMap<u16, u64>,
}

/// The demo router (also used by tests as an in-process target).
pub fn router(settings: DemoConfig) -> Router {
    let demo = Arc::new(Demo {
        latency_nanos: AtomicU64::new(settings.latency.as_nanos() as u64),
        failure_millionths: AtomicU64::new((settings.failure_ratio * 1e6) as u64),
        settings,
        pool_in_use: AtomicUsize::new(0),
        stats: Mutex::new(Stats::default()),
        leaked: Mutex::new(Vec::new()),
        sessions: Mutex::new(sessions::Sessions::new()),
    });
    Router::new()
        .route("/", get(index))
        .route("/fast", get(fast).post(fast))
        .route("/tail", get(tail))
        .route("/pool", get(pool))
        .route("/flaky", get(flaky))
        .route("/admin/latency", post(set_latency).get(show_latency))
        .route("/admin/stats", get(stats))
        .route("/admin/leak", post(leak))
        .route("/admin/failure", post(set_failure_ratio))
        .route("/metrics", get(metrics))
        .route("/sessions", post(sessions::create).get(sessions::count))
        .route(
            "/sessions/{id}",
            get(sessions::read).delete(sessions::delete),
        )
        .route("/sessions/{id}/observations", post(sessions::observe))
        .with_state(demo)
}

/// Serves the demo target on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    settings: DemoConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(settings))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

impl Demo {
    fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// Like [`Demo::answer`], with a JSON body.
    fn answer_json(&self, path: &str, status: StatusCode, body: serde_json::Value) -> Response {
        self.count(path, status);
        (status, Json(body)).into_response()
    }

    fn count(&self, path: &str, status: StatusCode) {
        let mut stats = self.stats.lock().expect("stats lock is never poisoned");
        *stats.received.entry(path.to_owned()).or_default() += 1;
        *stats.answered.entry(status.as_u16()).or_default() += 1;
    }

    /// Counts the request and its answer, then answers.
    fn answer(&self, path: &str, status: StatusCode, body: &'static str) -> Response {
        self.count(path, status);
        (status, body).into_response()
    }
}

async fn index() -> &'static str {
    "loadprobe demo target: /fast /tail /pool /flaky, sessions (POST /sessions, POST /sessions/ID/observations, GET and DELETE /sessions/ID), GET /metrics, POST /admin/latency?value=20ms, POST /admin/leak?mib=N, POST /admin/failure?ratio=0.5, GET /admin/stats\n"
}

async fn fast(State(demo): State<Arc<Demo>>) -> Response {
    tokio::time::sleep(demo.latency()).await;
    demo.answer("/fast", StatusCode::OK, "ok")
}

async fn tail(State(demo): State<Arc<Demo>>) -> Response {
    let slow = fastrand::f64() < demo.settings.tail_ratio;
    let latency = if slow {
        demo.settings.tail_latency
    } else {
        demo.latency()
    };
    tokio::time::sleep(latency).await;
    demo.answer("/tail", StatusCode::OK, "ok")
}

async fn pool(State(demo): State<Arc<Demo>>) -> Response {
    let in_use = demo.pool_in_use.fetch_add(1, Ordering::AcqRel);
    if in_use >= demo.settings.pool_size {
        demo.pool_in_use.fetch_sub(1, Ordering::AcqRel);
        return demo.answer("/pool", StatusCode::TOO_MANY_REQUESTS, "pool exhausted");
    }
    tokio::time::sleep(demo.settings.pool_latency).await;
    demo.pool_in_use.fetch_sub(1, Ordering::AcqRel);
    demo.answer("/pool", StatusCode::OK, "ok")
}

async fn flaky(State(demo): State<Arc<Demo>>) -> Response {
    tokio::time::sleep(demo.latency()).await;
    let failure_ratio = demo.failure_millionths.load(Ordering::Relaxed) as f64 / 1e6;
    if fastrand::f64() < failure_ratio {
        demo.answer(
            "/flaky",
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected failure",
        )
    } else {
        demo.answer("/flaky", StatusCode::OK, "ok")
    }
}

/// Query of `POST /admin/latency`.
#[derive(Debug, Deserialize)]
struct LatencyQuery {
    /// New base latency, e.g. `20ms`.
    value: String,
}

async fn set_latency(State(demo): State<Arc<Demo>>, Query(query): Query<LatencyQuery>) -> Response {
    match query.value.parse::<jiff::SignedDuration>() {
        Ok(latency) if !latency.is_negative() => {
            demo.latency_nanos
                .store(latency.as_nanos() as u64, Ordering::Relaxed);
            format!("latency set to {latency:#}\n").into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            format!("cannot read `{}` as a duration such as 20ms\n", query.value),
        )
            .into_response(),
    }
}

async fn show_latency(State(demo): State<Arc<Demo>>) -> String {
    format!("{:?}\n", demo.latency())
}

async fn stats(State(demo): State<Arc<Demo>>) -> Json<Stats> {
    Json(
        demo.stats
            .lock()
            .expect("stats lock is never poisoned")
            .clone(),
    )
}

/// Query of `POST /admin/failure`.
#[derive(Debug, Deserialize)]
struct FailureQuery {
    /// New failure ratio of `/flaky`, 0 to 1.
    ratio: f64,
}

async fn set_failure_ratio(
    State(demo): State<Arc<Demo>>,
    Query(query): Query<FailureQuery>,
) -> Response {
    if !(0.0..=1.0).contains(&query.ratio) {
        return (StatusCode::BAD_REQUEST, "ratio must be between 0 and 1\n").into_response();
    }
    demo.failure_millionths
        .store((query.ratio * 1e6) as u64, Ordering::Relaxed);
    format!("/flaky now fails {} of requests\n", query.ratio).into_response()
}

/// Query of `POST /admin/leak`.
#[derive(Debug, Deserialize)]
struct LeakQuery {
    /// MiB to allocate and hold.
    mib: usize,
}

async fn leak(State(demo): State<Arc<Demo>>, Query(query): Query<LeakQuery>) -> Response {
    let mut leaked = demo.leaked.lock().expect("leak lock is never poisoned");
    if leaked.len() + query.mib > MAX_LEAK_MIB {
        return (
            StatusCode::BAD_REQUEST,
            format!("the demo holds at most {MAX_LEAK_MIB} MiB\n"),
        )
            .into_response();
    }
    // Filled, not just reserved, so the pages are resident.
    leaked.extend((0..query.mib).map(|_| vec![1u8; 1 << 20]));
    format!("holding {} MiB\n", leaked.len()).into_response()
}

/// The process's memory in Prometheus text, as an application's own `/metrics` would show it
/// (the demo runs inside loadprobe, so this is loadprobe's process).
async fn metrics() -> Response {
    let Ok(stat) = procfs::process::Process::myself().and_then(|p| p.stat()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let rss = stat.rss * procfs::page_size();
    let start = procfs::boot_time_secs().unwrap_or(0) as f64
        + stat.starttime as f64 / procfs::ticks_per_second() as f64;
    let body = format!(
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n\
         # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {start}\n"
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

/// Why the demo target could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the demo target on {address}")]
pub struct StartError {
    /// The configured address.
    pub address: SocketAddr,
    /// What the socket said.
    #[source]
    pub source: std::io::Error,
}

/// Binds the address of `demo` and returns its server, to be spawned by the caller (the
/// exporter and `once` both start it here); it serves until `shutdown`.
pub async fn start(
    demo: &crate::plan::Demo,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = std::io::Result<()>> + Send + 'static, StartError> {
    // The address is loopback only, checked by the plan.
    let listener = TcpListener::bind(demo.listen)
        .await
        .map_err(|source| StartError {
            address: demo.listen,
            source,
        })?;
    Ok(serve(listener, demo.settings.clone(), shutdown))
}
