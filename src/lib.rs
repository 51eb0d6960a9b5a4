//! loadprobe: a Prometheus-native continuous synthetic load exporter.
//!
//! It keeps scheduled, open-model HTTP load flowing into a service and exports what it
//! measured on `/metrics`, with latency measured from each arrival's intended instant so a
//! slow target or a late generator cannot hide latency (no coordinated omission).
//!
//! # Glossary
//! - **Target**: a service under test (base URL, headers, timeout, pool, TLS).
//! - **Probe**: a named, scheduled load against one target: steps, load, schedule, SLOs.
//! - **Step**: one HTTP request of a probe, with its checks.
//! - **Arrival**: an instant at which an iteration should start.
//! - **Iteration**: one execution of a probe's steps, started at an arrival.
//! - **Run**: one scheduled window of a probe (a continuous probe has one endless run).
//! - **Outcome**: the bounded classification of one request.
//!
//! # Layout
//! Data flows one way: config → plan → scheduler → runner → reports → recorder →
//! metrics/status → server.
//! - [`config`]: the YAML schema and loading, `${VAR}` substitution.
//! - [`plan`]: the validated model; every string becomes a typed value here.
//! - [`arrival`]: pure arrival-offset maths.
//! - [`engine`]: the running probes and samplers; applies a new plan on reload.
//! - [`control`]: reload and run-now commands from signals and endpoints.
//! - [`scheduler`]: one task per probe; runs, arrivals, `max_in_flight`, drops.
//! - [`runner`]: one iteration: steps in order, each dispatched on its action; returns an
//!   [`report::IterationReport`].
//! - [`client`]: the pooled HTTP client of a target and sending one request.
//! - [`outcome`]: success or a bounded failure reason.
//! - [`report`]: plain report values and the pure functions over them: windows, verdicts,
//!   recovery after bursts.
//! - [`recorder`]: one per probe (and per target): the only place that fans events out to
//!   metrics, status and the guard.
//! - [`guard`]: the process-wide rate cap and each probe's pause-when-failing guard.
//! - [`metrics`]: the only module that names metrics; series lifecycle; exposition formats.
//! - [`status`]: live state for the page and the API: run state, totals, last reports,
//!   recent failures, chart samples.
//! - [`memory`]: samples each target's memory and keeps its growth baseline.
//! - [`server`] and [`page`]: every route of loadprobe's own endpoints, and the landing page.
//! - [`web`]: `--web.config.file` (TLS, basic auth, headers) and the accept loop.
//! - [`demo`]: the built-in demo target.
//! - [`once`]: `loadprobe once`, one run in the foreground with a summary and an exit code.
//! - [`telemetry`]: optional OTLP traces of iterations and steps, from `OTEL_*` variables.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod arrival;
pub mod client;
pub mod config;
pub mod control;
pub mod demo;
pub mod engine;
pub mod guard;
pub mod memory;
pub mod metrics;
pub mod once;
pub mod outcome;
pub mod page;
pub mod plan;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod web;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::control::{Command, Control, ReloadError, ReloadSummary};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::server::AppState;
use crate::status::{ProbeSnapshot, StatusBoard};

/// Where metrics are served unless `--web.telemetry-path` says otherwise.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

/// How loadprobe's own endpoints are served (the `--web.*` flags).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// `--web.config.file` and the flags that enable the POST endpoints.
    pub web: web::WebOptions,
}

impl Default for ServeOptions {
    /// Metrics on the default path, plain HTTP, no auth, POST endpoints disabled.
    fn default() -> Self {
        Self {
            telemetry_path: DEFAULT_TELEMETRY_PATH.to_owned(),
            web: web::WebOptions::default(),
        }
    }
}

/// Why loadprobe could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The demo target could not start.
    #[error(transparent)]
    Demo(#[from] demo::StartError),
    /// A target's HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

/// Reads the configuration again for a reload: the new plan, or why it is invalid
/// ([`ReloadError::Invalid`] with the loader's message).
pub type PlanSource = Arc<dyn Fn() -> Result<Plan, ReloadError> + Send + Sync>;

/// How [`run`] serves and reloads.
pub struct RunOptions {
    /// How the endpoints are served (`--web.*`).
    pub serve: ServeOptions,
    /// Time between two samples of the status page's charts.
    pub history_period: Duration,
    /// Where a reload reads the configuration; without one, reloads are refused.
    pub source: Option<PlanSource>,
    /// The command channel (SIGHUP and the HTTP endpoints hold the [`Control`]).
    pub control: (Control, mpsc::Receiver<Command>),
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("serve", &self.serve)
            .field("history_period", &self.history_period)
            .field("reloadable", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// Serving as `serve` says, charts sampled every [`status::history::SAMPLE_PERIOD`],
    /// no reload source.
    pub fn new(serve: ServeOptions) -> Self {
        Self {
            serve,
            history_period: status::history::SAMPLE_PERIOD,
            source: None,
            control: Control::channel(8),
        }
    }
}

/// Runs `plan`, serving loadprobe's endpoints on `listeners`, until `shutdown` completes:
/// the one entry point of the exporter (the binary and the tests call it).
///
/// Reloads come through `options.control`, answered here between arrivals of the running
/// probes, which never wait for it. Shutdown stops new arrivals, lets in-flight iterations
/// finish for up to the plan's drain timeout (recording them), then stops the servers and
/// returns each probe's final state, which is also logged as one line per probe.
pub async fn run(
    plan: Plan,
    listeners: Vec<TcpListener>,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Vec<ProbeSnapshot>, RunError> {
    let metrics = Arc::new(Metrics::new(&plan));
    metrics.record_config_load(true, SystemTime::now());
    let status = Arc::new(StatusBoard::default());
    // Servers (ours and the demo's) outlive the arrivals so the drain can be watched.
    let stop_servers = CancellationToken::new();
    let mut servers = JoinSet::new();
    if let Some(demo) = &plan.demo {
        servers.spawn(demo::start(demo, stop_servers.clone()).await?);
    }
    // The charts' sampler stops with the servers, so the drain shows on the charts too.
    let sampler =
        status::history::sample_every(status.clone(), options.history_period, stop_servers.clone());
    servers.spawn(async move {
        sampler.await;
        Ok(())
    });
    let (control, commands) = options.control;
    let state = AppState {
        metrics: metrics.clone(),
        status: status.clone(),
        telemetry_path: options.serve.telemetry_path.clone(),
        history_period: options.history_period,
        access: Arc::new(web::Access::new(&options.serve.web)),
        control: Some(control),
    };
    let router = server::router(state);
    for listener in listeners {
        servers.spawn(server::serve(
            listener,
            router.clone(),
            options.serve.web.config.transport(),
            stop_servers.clone(),
        ));
    }
    let mut engine = Engine::new(metrics.clone(), status.clone());
    engine.apply(&plan).await?;
    tracing::info!(
        probes = plan.probes.len(),
        targets = plan.targets.len(),
        "loadprobe started"
    );
    let mut running = Running {
        engine,
        plan,
        source: options.source,
        metrics,
        status: status.clone(),
    };
    running.serve_commands(commands, shutdown).await;
    tracing::info!("shutting down: stopping arrivals, draining in-flight iterations");
    let drain_timeout = running.plan.global.drain_timeout;
    running.engine.shutdown(drain_timeout).await;
    let snapshots = status.snapshot();
    for probe in &snapshots {
        log_summary(probe);
    }
    stop_servers.cancel();
    while let Some(result) = servers.join_next().await {
        if let Ok(Err(error)) = result {
            tracing::warn!(%error, "server stopped with an error");
        }
    }
    Ok(snapshots)
}

/// The engine with the plan it runs, answering commands until shutdown.
struct Running {
    engine: Engine,
    plan: Plan,
    source: Option<PlanSource>,
    metrics: Arc<Metrics>,
    status: Arc<StatusBoard>,
}

impl Running {
    async fn serve_commands(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let command = tokio::select! {
                () = &mut shutdown => return,
                command = commands.recv() => command,
            };
            match command {
                // Every sender is gone: nothing can ask for a reload any more.
                None => return shutdown.await,
                Some(Command::Reload { reply }) => {
                    let _ = reply.send(self.reload().await);
                }
                Some(Command::RunNow { probe, reply }) => {
                    let _ = reply.send(self.engine.run_now(&probe));
                }
            }
        }
    }

    /// Reads and applies the configuration; on any error the running one stays.
    async fn reload(&mut self) -> Result<ReloadSummary, ReloadError> {
        // Errors may quote YAML after `${VAR}` substitution: mask credentials everywhere.
        let result = self
            .load_and_apply()
            .await
            .map_err(|e| e.masked(status::redact_secrets));
        let now = SystemTime::now();
        match &result {
            Ok(summary) => {
                self.metrics.record_config_load(true, now);
                self.status.record_reload(None);
                tracing::info!(
                    started = ?summary.started,
                    restarted = ?summary.restarted,
                    stopped = ?summary.stopped,
                    unchanged = summary.unchanged.len(),
                    "configuration reloaded"
                );
            }
            Err(error) => {
                self.metrics.record_config_load(false, now);
                self.status.record_reload(Some(error.to_string()));
                tracing::error!(%error, "configuration reload failed; keeping the running configuration");
            }
        }
        result
    }

    async fn load_and_apply(&mut self) -> Result<ReloadSummary, ReloadError> {
        let Some(source) = self.source.clone() else {
            return Err(ReloadError::NoSource);
        };
        // Feeders and replay logs can be large: read them off the runtime's threads.
        let plan = tokio::task::spawn_blocking(move || source())
            .await
            .map_err(|e| ReloadError::Interrupted(e.to_string()))??;
        warn_about_restart_only_changes(&self.plan, &plan, &self.metrics);
        let summary = self
            .engine
            .apply(&plan)
            .await
            .map_err(|e| ReloadError::Client(e.to_string()))?;
        self.plan = plan;
        Ok(summary)
    }
}

/// Settings a reload cannot change in a running process: said once, in the log.
fn warn_about_restart_only_changes(old: &Plan, new: &Plan, metrics: &Metrics) {
    let demo = |p: &Plan| p.demo.as_ref().map(|d| format!("{d:?}"));
    if demo(old) != demo(new) {
        tracing::warn!("the demo target's settings change at the next restart");
    }
    if new.latency_buckets != metrics.latency_buckets() {
        tracing::warn!("new SLO latency thresholds become histogram buckets at the next restart");
    }
}

fn log_summary(probe: &ProbeSnapshot) {
    let t = &probe.totals;
    tracing::info!(
        probe = %probe.name,
        arrivals = t.arrivals,
        dropped = t.dropped,
        iterations = t.iterations,
        failed_iterations = t.failed_iterations,
        requests = t.requests,
        errors = t.errors,
        throttled = t.throttled,
        "final summary"
    );
}
