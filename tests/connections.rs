//! `pool.max_connections`: a burst larger than the bound waits for connections to come back
//! instead of opening more, and the wait counts against the request's timeout.
//!
//! The target answers every request slowly and keeps the connection alive
//! (`tests/common/faulty.rs`, `Dribble`), so every request of a burst is in flight at once,
//! and it counts the connections it accepted. Each run is one burst (`every: 1h, for: 1s`)
//! on loopback.

mod common;
#[path = "common/faulty.rs"]
mod faulty;

use std::time::Duration;

use common::{scrape_when_idle, spawn_exporter};
use faulty::{Fault, FaultyServer};
use loadprobe::status::ProbeSnapshot;

const PROBE: &str = "conns";

/// Runs one burst of `size` against `server` with `pool` (a YAML flow mapping's body) and
/// `timeout`, and returns the probe's final counts once the run is over.
async fn burst(server: &FaultyServer, pool: &str, size: u32, timeout: &str) -> ProbeSnapshot {
    let yaml = format!(
        "targets:\n\
         \x20 t: {{url: 'http://{}', timeout: {timeout}, pool: {{{pool}}}}}\n\
         probes:\n\
         - {{name: {PROBE}, target: t, schedule: {{every: 1h, for: 1s}}, \
            load: {{burst: {{size: {size}}}, max_in_flight: {size}}}, \
            request: {{path: /slow}}}}\n",
        server.addr
    );
    let exporter = spawn_exporter(&yaml).await;
    scrape_when_idle(exporter.addr, PROBE, pool).await;
    let snapshots = exporter.shutdown().await;
    snapshots
        .into_iter()
        .find(|s| s.name == PROBE)
        .expect("probe snapshot")
}

/// A 40 ms answer: two bytes, 20 ms apart, on a kept-alive connection.
fn slow_target() -> Fault {
    Fault::Dribble {
        body: "ok",
        every: Duration::from_millis(20),
    }
}

/// Sends a burst of 12 slow requests with `pool`, and returns how many connections the
/// target saw once it answered all 12, each once, and loadprobe counted 12 successes.
async fn connections_for_an_answered_burst(pool: &str) -> u64 {
    let server = FaultyServer::spawn(slow_target()).await;
    let probe = burst(&server, pool, 12, "5s").await;

    let seen = server.counts_when(|c| c.responses >= 12).await;
    assert_eq!(probe.totals.arrivals, 12, "{pool}: {probe:?}");
    assert_eq!(probe.totals.requests, 12, "{pool}: {probe:?}");
    assert_eq!(probe.totals.failed_iterations, 0, "{pool}: {probe:?}");
    assert_eq!(
        (seen.requests, seen.responses),
        (12, 12),
        "{pool}: {seen:?}"
    );
    seen.connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_shares_the_bounded_connections_and_every_request_succeeds() {
    let connections = connections_for_an_answered_burst("max_connections: 3").await;
    assert_eq!(connections, 3, "12 requests on 3 connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bound_a_burst_opens_a_connection_per_request() {
    let connections = connections_for_an_answered_burst("max_idle_per_host: 64").await;
    assert_eq!(connections, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_connection_counts_against_the_timeout() {
    // One connection, 40 ms per answer, a 100 ms deadline from the burst's instant: the
    // first two answers fit, the later ones time out, most of them while still waiting.
    let server = FaultyServer::spawn(slow_target()).await;
    let probe = burst(&server, "max_connections: 1", 6, "100ms").await;

    let totals = &probe.totals;
    assert_eq!(totals.requests, 6, "{probe:?}");
    let timeouts = totals
        .failures_by_reason
        .get("timeout")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        totals.failures_by_reason.len(),
        1,
        "only timeouts: {:?}",
        totals.failures_by_reason
    );
    assert!(timeouts >= 3, "{probe:?}");
    assert_eq!(totals.failed_iterations, timeouts, "{probe:?}");
    // The requests whose deadline passed while they waited were never sent.
    let seen = server.seen.counts();
    assert!(seen.requests < 6, "{seen:?}");
}
