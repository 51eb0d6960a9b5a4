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
//! Data flows one way: config → plan → scheduler → runner → reports → metrics/status → server.
//! - [`config`]: the YAML schema and loading, `${VAR}` substitution.
//! - [`plan`]: the validated model; every string becomes a typed value here.
//! - [`arrival`]: pure arrival-offset maths.
//! - [`scheduler`]: one task per probe; runs, arrivals, `max_in_flight`, drops.
//! - [`runner`]: one iteration: steps in order, checks; returns an [`runner::IterationReport`].
//! - [`client`]: the pooled HTTP client of a target and sending one request.
//! - [`outcome`]: success or a bounded failure reason.
//! - [`guard`]: the process-wide rate cap and each probe's pause-when-failing guard.
//! - [`metrics`]: the only module that names metrics; exposition formats.
//! - [`status`]: live state, report windows and verdicts, recent failures.
//! - [`memory`]: samples each target's memory and keeps its growth baseline.
//! - [`server`] and [`page`]: loadprobe's own endpoints and landing page.
//! - [`demo`]: the built-in demo target.
//! - [`once`]: `loadprobe once`, one run in the foreground with a summary and an exit code.
//! - [`telemetry`]: optional OTLP traces of iterations and steps, from `OTEL_*` variables.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod arrival;
pub mod client;
pub mod config;
pub mod demo;
pub mod guard;
pub mod memory;
pub mod metrics;
pub mod once;
pub mod outcome;
pub mod page;
pub mod plan;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod status;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::guard::{Guard, RateCap};
use crate::memory::MemorySampler;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::runner::Runner;
use crate::scheduler::ProbeSchedule;
use crate::server::AppState;
use crate::status::{ProbeSnapshot, StatusBoard};

/// Where metrics are served unless `--web.telemetry-path` says otherwise.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

/// Why loadprobe could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The demo target's address could not be bound.
    #[error("cannot listen on {address} for the demo target")]
    BindDemo {
        /// The configured address.
        address: std::net::SocketAddr,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
    /// A target's HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

/// Runs `plan`, serving loadprobe's endpoints on `listeners`, until `shutdown` completes.
///
/// Shutdown stops new arrivals, lets in-flight iterations finish for up to the plan's
/// drain timeout (recording them), then stops the servers and returns each probe's final
/// state, which is also logged as one line per probe.
pub async fn run(
    plan: Plan,
    listeners: Vec<TcpListener>,
    telemetry_path: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<Vec<ProbeSnapshot>, RunError> {
    let period = status::history::SAMPLE_PERIOD;
    run_with_history_period(plan, listeners, telemetry_path, period, shutdown).await
}

/// [`run`], sampling the status page's charts every `history_period` instead of every
/// [`status::history::SAMPLE_PERIOD`], so tests need not wait 5 s per point.
pub async fn run_with_history_period(
    plan: Plan,
    listeners: Vec<TcpListener>,
    telemetry_path: &str,
    history_period: std::time::Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<Vec<ProbeSnapshot>, RunError> {
    let metrics = Arc::new(Metrics::new(&plan));
    metrics.record_config_load(true, SystemTime::now());
    let status = Arc::new(StatusBoard::new(&plan));
    // Servers (ours and the demo's) outlive the arrivals so the drain can be watched.
    let stop_servers = CancellationToken::new();
    let mut servers = JoinSet::new();
    if let Some(demo) = &plan.demo {
        let listener = demo::bind(demo.listen)
            .await
            .map_err(|source| RunError::BindDemo {
                address: demo.listen,
                source,
            })?;
        servers.spawn(demo::serve(
            listener,
            demo.settings.clone(),
            stop_servers.clone(),
        ));
    }
    // The charts' sampler stops with the servers, so the drain shows on the charts too.
    let sampler =
        status::history::sample_every(status.clone(), history_period, stop_servers.clone());
    servers.spawn(async move {
        sampler.await;
        Ok(())
    });
    let state = AppState {
        metrics: metrics.clone(),
        status: status.clone(),
        telemetry_path: telemetry_path.to_owned(),
        history_period,
    };
    let router = server::router(state);
    for listener in listeners {
        servers.spawn(server::serve(
            listener,
            router.clone(),
            stop_servers.clone(),
        ));
    }
    let stop_arrivals = CancellationToken::new();
    let iterations = TaskTracker::new();
    let mut schedules = start_schedules(&plan, &metrics, &status, &iterations, &stop_arrivals)?;
    tracing::info!(
        probes = plan.probes.len(),
        targets = plan.targets.len(),
        "loadprobe started"
    );

    shutdown.await;
    tracing::info!("shutting down: stopping arrivals, draining in-flight iterations");
    stop_arrivals.cancel();
    while schedules.join_next().await.is_some() {}
    iterations.close();
    if tokio::time::timeout(plan.global.drain_timeout, iterations.wait())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?plan.global.drain_timeout, "drain timeout expired; abandoning in-flight iterations");
    }
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

fn start_schedules(
    plan: &Plan,
    metrics: &Arc<Metrics>,
    status: &Arc<StatusBoard>,
    iterations: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<JoinSet<()>, RunError> {
    let mut clients = HashMap::new();
    for target in &plan.targets {
        clients.insert(target.name.clone(), client::build(target)?);
    }
    let rate_cap = plan
        .global
        .max_rate
        .map(|rate| Arc::new(RateCap::new(rate, tokio::time::Instant::now())));
    let mut schedules = JoinSet::new();
    for (index, target) in plan.targets.iter().enumerate() {
        let Some(memory) = target.memory.clone() else {
            continue;
        };
        let sampler = MemorySampler {
            target: target.clone(),
            plan: memory,
            client: clients[&target.name].clone(),
            metrics: metrics.target(index),
            status: status.clone(),
        };
        schedules.spawn(sampler.run(shutdown.clone()));
    }
    for (index, probe) in plan.probes.iter().enumerate() {
        let client = clients[&probe.target.name].clone();
        let schedule = ProbeSchedule {
            index,
            probe: probe.clone(),
            iterate: Arc::new(Runner::new(probe.clone(), client)),
            metrics: metrics.probe(index),
            status: status.clone(),
            iterations: iterations.clone(),
            shutdown: shutdown.clone(),
            report_interval: plan.global.report_interval,
            guard: Guard::for_probe(probe),
            rate_cap: rate_cap.clone(),
        };
        schedules.spawn(schedule.run());
    }
    Ok(schedules)
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
