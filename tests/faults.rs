//! Fault injection: loadprobe against a target that misbehaves in each way the wire allows
//! (`tests/common/faulty.rs`). For every fault:
//! * loadprobe keeps running: after the run `/-/healthy` answers, the scrape works and it
//!   shuts down cleanly;
//! * every arrival is counted exactly once under the right reason: arrivals = the planned
//!   number, none dropped, iterations = requests = failures summed over reasons +
//!   successes, the scrape and the status board agree, and the target's own counts of
//!   connections and requests match;
//! * resident memory stays bounded (measured around the 50 MiB bodies).
//!
//! Every run is one bounded window (`every: 1h, for: 300ms`) at a small rate, on loopback.

mod common;
#[path = "common/faulty.rs"]
mod faulty;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{get, scrape_when_idle, spawn_exporter, sum};
use faulty::{Fault, FaultyServer, SeenCounts};
use tokio::sync::RwLock;

/// Each test runs one probe of this name.
const PROBE: &str = "fault";

/// The memory test holds this exclusively so no other test's allocations blur its reading;
/// the others share it.
static MEMORY_QUIET: RwLock<()> = RwLock::const_new(());

/// Every failure reason, as labelled.
const REASONS: [&str; 7] = [
    "timeout",
    "connect",
    "tls",
    "io",
    "status",
    "check",
    "throttled",
];

/// Reasons given when no response arrived (so no status code was counted).
const TRANSPORT_REASONS: [&str; 4] = ["timeout", "connect", "tls", "io"];

/// The load of one run: `rate` arrivals per second for `for_ms` milliseconds.
#[derive(Clone, Copy)]
struct Load {
    rate: u64,
    for_ms: u64,
}

impl Load {
    /// Arrivals at `i / rate` for every offset under `for`: known exactly in advance.
    fn arrivals(self) -> u64 {
        (self.rate * self.for_ms).div_ceil(1000)
    }
}

/// 3 arrivals, 100 ms apart.
const SMALL: Load = Load {
    rate: 10,
    for_ms: 300,
};

/// What one run counted, read from the scrape after the run ended and nothing was in flight.
#[derive(Debug)]
struct Counted {
    arrivals: u64,
    dropped: u64,
    iterations: u64,
    failed_iterations: u64,
    requests: u64,
    /// Failures by reason label, every reason present.
    failures: BTreeMap<&'static str, u64>,
    /// Responses summed over status codes.
    responses: u64,
}

impl Counted {
    fn successes(&self) -> u64 {
        self.iterations - self.failed_iterations
    }

    /// Asserts every request of the run ended as `outcome` (`None` = success).
    fn assert_all(&self, outcome: Option<&str>, case: &str) {
        let expected: BTreeMap<_, _> = REASONS
            .iter()
            .map(|&r| (r, if Some(r) == outcome { self.requests } else { 0 }))
            .collect();
        assert_eq!(self.failures, expected, "{case}: failures by reason");
        let successes = if outcome.is_none() { self.requests } else { 0 };
        assert_eq!(self.successes(), successes, "{case}: successes");
    }
}

/// Runs one probe sending `request` to `target` (YAML flow-mapping bodies) with `load`,
/// checks that loadprobe stayed healthy and counted every arrival exactly once, and
/// returns the counts.
async fn run(case: &str, target: &str, request: &str, load: Load) -> Counted {
    let yaml = format!(
        "targets:\n\
         \x20 t: {{{target}}}\n\
         probes:\n\
         - {{name: {PROBE}, target: t, schedule: {{every: 1h, for: {}ms}}, \
            load: {{rate: {}}}, request: {{{request}}}}}\n",
        load.for_ms, load.rate
    );
    let exporter = spawn_exporter(&yaml).await;
    let text = scrape_when_idle(exporter.addr, PROBE, case).await;
    let counted = read_counts(&text);

    // Still running and serving.
    assert_eq!(
        get(exporter.addr, "/-/healthy", None).await,
        (200, "Healthy\n".to_owned()),
        "{case}: healthy after the run"
    );
    let (code, again) = get(exporter.addr, "/metrics", None).await;
    assert_eq!(code, 200, "{case}: scrape after the run");
    assert!(again.contains("loadprobe_requests_total"), "{case}");

    // Exactly once: planned arrivals, all started, one request each, one outcome each.
    assert_eq!(
        counted.arrivals,
        load.arrivals(),
        "{case}: arrivals {counted:?}"
    );
    assert_eq!(counted.dropped, 0, "{case}: dropped {counted:?}");
    assert_eq!(counted.iterations, counted.arrivals, "{case}: {counted:?}");
    assert_eq!(counted.requests, counted.iterations, "{case}: {counted:?}");
    let failures: u64 = counted.failures.values().sum();
    assert_eq!(
        failures + counted.successes(),
        counted.requests,
        "{case}: requests = failures + successes {counted:?}"
    );
    let transport: u64 = TRANSPORT_REASONS.iter().map(|r| counted.failures[r]).sum();
    assert_eq!(
        counted.responses,
        counted.requests - transport,
        "{case}: a status code for each response that arrived {counted:?}"
    );

    // The status board counted the same, and shutdown is clean.
    let snapshots = exporter.shutdown().await;
    let totals = &snapshots
        .iter()
        .find(|s| s.name == PROBE)
        .expect("probe snapshot")
        .totals;
    assert_eq!(totals.arrivals, counted.arrivals, "{case}: board arrivals");
    assert_eq!(totals.requests, counted.requests, "{case}: board requests");
    assert_eq!(
        totals.failed_iterations, counted.failed_iterations,
        "{case}: board failed iterations"
    );
    let board_failures: BTreeMap<&str, u64> = counted
        .failures
        .iter()
        .filter(|&(_, &n)| n > 0)
        .map(|(&r, &n)| (r, n))
        .collect();
    assert_eq!(totals.failures_by_reason, board_failures, "{case}: board");
    assert_eq!(
        totals.responses_by_code.values().sum::<u64>(),
        counted.responses,
        "{case}: board responses"
    );
    counted
}

fn read_counts(text: &str) -> Counted {
    let probe = format!(r#"probe="{PROBE}""#);
    let count = |name: &str, extra: &[&str]| {
        let mut labels = vec![probe.as_str()];
        labels.extend_from_slice(extra);
        sum(text, name, &labels) as u64
    };
    let failures = REASONS
        .iter()
        .map(|&r| {
            let reason = format!(r#"reason="{r}""#);
            (r, count("loadprobe_request_failures_total", &[&reason]))
        })
        .collect();
    Counted {
        arrivals: count("loadprobe_arrivals_total", &[]),
        dropped: count("loadprobe_arrivals_dropped_total", &[]),
        iterations: count("loadprobe_iterations_total", &[]),
        failed_iterations: count("loadprobe_iteration_failures_total", &[]),
        requests: count("loadprobe_requests_total", &[]),
        failures,
        responses: count("loadprobe_responses_total", &[]),
    }
}

fn http(server: &FaultyServer, timeout: &str) -> String {
    format!("url: 'http://{}', timeout: {timeout}", server.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_counts_connect() {
    let _quiet = MEMORY_QUIET.read().await;
    // A port nobody listens on: bind, note it, close.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let target = format!("url: 'http://{refused}', timeout: 1s");
    let counted = run("refused", &target, "path: /", SMALL).await;
    counted.assert_all(Some("connect"), "refused");
}

/// The TCP handshake completed and the target then reset the connection: the connection
/// broke (`io`), it was not refused (`connect`), whether the reset reaches the client
/// while its connect is still being polled or after it wrote the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_right_after_accept_counts_io() {
    let _quiet = MEMORY_QUIET.read().await;
    let server = FaultyServer::spawn(Fault::ResetOnAccept).await;
    // 20 arrivals: the reset races the client's connect, so give the race many chances.
    let load = Load {
        rate: 40,
        for_ms: 500,
    };
    let counted = run("reset on accept", &http(&server, "1s"), "path: /", load).await;
    counted.assert_all(Some("io"), "reset on accept");
    // One connection per attempt: no retry on a fresh connection, no reuse of a reset one.
    let seen = server.seen.counts();
    assert_eq!(seen.connections, counted.requests, "{seen:?}");
    assert_eq!(seen.requests, 0, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body_counts_io_with_and_without_a_body_check() {
    let _quiet = MEMORY_QUIET.read().await;
    for (case, request) in [
        ("reset mid body", "path: /"),
        (
            "reset mid body, checked",
            "path: /, expect: {body_contains: xxx}",
        ),
    ] {
        let server = FaultyServer::spawn(Fault::ResetMidBody).await;
        let counted = run(case, &http(&server, "1s"), request, SMALL).await;
        counted.assert_all(Some("io"), case);
        let seen = server.seen.counts();
        assert_eq!(seen.requests, counted.requests, "{case}: {seen:?}");
        assert_eq!(seen.connections, counted.requests, "{case}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_that_never_answers_counts_timeout() {
    let _quiet = MEMORY_QUIET.read().await;
    let server = FaultyServer::spawn(Fault::Silent).await;
    let counted = run("silent", &http(&server, "200ms"), "path: /", SMALL).await;
    counted.assert_all(Some("timeout"), "silent");
    // A timed-out connection is dropped, never reused for the next arrival.
    let seen = server.seen.counts();
    assert_eq!(seen.requests, counted.requests, "{seen:?}");
    assert_eq!(seen.connections, counted.requests, "{seen:?}");
    assert_eq!(seen.responses, 0, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_dribbled_slower_than_the_timeout_counts_timeout() {
    let _quiet = MEMORY_QUIET.read().await;
    // Headers at once, then 20 bytes at 50 ms each: 1 s of body against a 300 ms timeout.
    let server = FaultyServer::spawn(Fault::Dribble {
        body: "dribbled-very-slowly",
        every: Duration::from_millis(50),
    })
    .await;
    for (case, request) in [
        ("slow dribble", "path: /"),
        (
            "slow dribble, checked",
            "path: /, expect: {body_contains: slowly}",
        ),
    ] {
        let before = server.seen.counts();
        let counted = run(case, &http(&server, "300ms"), request, SMALL).await;
        counted.assert_all(Some("timeout"), case);
        // The client gave up on each: the server's later writes fail, nothing completes.
        let seen = server
            .counts_when(|s| s.cut - before.cut == counted.requests)
            .await;
        assert_eq!(
            seen.requests - before.requests,
            counted.requests,
            "{seen:?}"
        );
        assert_eq!(seen.cut - before.cut, counted.requests, "{case}: {seen:?}");
        assert_eq!(seen.responses, 0, "{case}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_dribbled_within_the_timeout_succeeds() {
    let _quiet = MEMORY_QUIET.read().await;
    // 10 bytes at 10 ms each: about 100 ms against a 2 s timeout.
    let server = FaultyServer::spawn(Fault::Dribble {
        body: "dribbled!!",
        every: Duration::from_millis(10),
    })
    .await;
    let request = "path: /, expect: {body_contains: 'dribbled!!'}";
    let counted = run("fast dribble", &http(&server, "2s"), request, SMALL).await;
    counted.assert_all(None, "fast dribble");
    let seen = server.seen.counts();
    assert_eq!(seen.requests, counted.requests, "{seen:?}");
    assert_eq!(seen.responses, counted.requests, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_body_is_read_unkept_or_cut_at_the_limit_and_memory_stays_bounded() {
    const FIFTY_MIB: u64 = 50 * 1024 * 1024;
    const MAX_GROWTH_KIB: u64 = 30 * 1024;
    let _alone = MEMORY_QUIET.write().await;
    let peak_reset = memory::reset_peak();
    let before = memory::status_kib("VmRSS");

    // The body starts with the needle: a check on a truncated body would pass, so `io`
    // can only come from the 1 MiB limit.
    let fault = Fault::Huge {
        len: FIFTY_MIB,
        prefix: "needle",
    };
    let unchecked = FaultyServer::spawn(fault.clone()).await;
    let checked = FaultyServer::spawn(fault).await;
    let (unchecked_target, checked_target) = (http(&unchecked, "10s"), http(&checked, "10s"));
    let (plain, limited) = tokio::join!(
        run("50 MiB", &unchecked_target, "path: /", SMALL),
        run(
            "50 MiB, checked",
            &checked_target,
            "path: /, expect: {body_contains: needle}",
            SMALL
        ),
    );

    let after = memory::status_kib("VmRSS");
    let peak = memory::status_kib("VmHWM");
    eprintln!("VmRSS before {before} KiB, after {after} KiB, peak {peak} KiB");
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_KIB,
        "resident memory grew from {before} KiB to {after} KiB"
    );
    if peak_reset {
        assert!(
            peak.saturating_sub(before) < MAX_GROWTH_KIB,
            "resident memory peaked at {peak} KiB from {before} KiB"
        );
    }

    // Without a body check the body is read to the end and dropped as it comes.
    plain.assert_all(None, "50 MiB");
    let seen = unchecked.seen.counts();
    assert_eq!(seen.requests, plain.requests, "{seen:?}");
    assert_eq!(seen.responses, plain.requests, "{seen:?}");
    // With one it fails with `io` at the limit, and the connection is not reused.
    limited.assert_all(Some("io"), "50 MiB, checked");
    let seen = checked.counts_when(|s| s.cut == limited.requests).await;
    assert_eq!(seen.requests, limited.requests, "{seen:?}");
    assert_eq!(seen.connections, limited.requests, "{seen:?}");
    assert_eq!(seen.cut, limited.requests, "{seen:?}");
    assert_eq!(seen.responses, 0, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_http_counts_io() {
    let _quiet = MEMORY_QUIET.read().await;
    let server = FaultyServer::spawn(Fault::Garbage).await;
    let counted = run("garbage", &http(&server, "1s"), "path: /", SMALL).await;
    counted.assert_all(Some("io"), "garbage");
    let seen = server.seen.counts();
    assert_eq!(seen.connections, counted.requests, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_chunked_encoding_counts_io() {
    let _quiet = MEMORY_QUIET.read().await;
    for (case, fault) in [
        ("bad chunk size", Fault::BadChunkSize),
        ("truncated chunked", Fault::TruncatedChunked),
    ] {
        for (variant, request) in [
            ("", "path: /"),
            (", checked", "path: /, expect: {body_contains: hello}"),
        ] {
            let case = format!("{case}{variant}");
            let server = FaultyServer::spawn(fault.clone()).await;
            // A 2 s timeout against a connection left open: `io` proves the parse failed.
            let counted = run(&case, &http(&server, "2s"), request, SMALL).await;
            counted.assert_all(Some("io"), &case);
            let seen = server.seen.counts();
            assert_eq!(seen.requests, counted.requests, "{case}: {seen:?}");
            assert_eq!(seen.connections, counted.requests, "{case}: {seen:?}");
        }
    }
}

/// loadprobe never follows redirects: a 302 is the response, a `status` failure unless
/// the step expects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loop_is_not_followed_and_counts_status_unless_expected() {
    let _quiet = MEMORY_QUIET.read().await;
    for (case, request, outcome) in [
        ("redirect loop", "path: /loop", Some("status")),
        (
            "redirect loop, 302 expected",
            "path: /loop, expect: {status: [302]}",
            None,
        ),
    ] {
        let server = FaultyServer::spawn(Fault::RedirectLoop).await;
        let counted = run(case, &http(&server, "1s"), request, SMALL).await;
        counted.assert_all(outcome, case);
        // One request per arrival reached the server: nothing followed the Location.
        let seen = server.seen.counts();
        assert_eq!(seen.requests, counted.requests, "{case}: {seen:?}");
        assert_eq!(seen.responses, counted.requests, "{case}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tls_handshake_counts_tls() {
    let _quiet = MEMORY_QUIET.read().await;
    // A real TLS server whose self-signed certificate the default verification rejects.
    let untrusted = FaultyServer::spawn(Fault::UntrustedTls).await;
    let target = format!("url: 'https://{}', timeout: 1s", untrusted.addr);
    let counted = run("untrusted certificate", &target, "path: /", SMALL).await;
    counted.assert_all(Some("tls"), "untrusted certificate");
    let seen = untrusted.seen.counts();
    assert_eq!(seen.connections, counted.requests, "{seen:?}");
    assert_eq!((seen.handshakes, seen.requests), (0, 0), "{seen:?}");

    // The same server once its certificate is trusted: only the trust was missing.
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut ca_file, faulty::UNTRUSTED_CERT_PEM.as_bytes())
        .expect("write CA file");
    let trusted = format!("{target}, tls: {{ca_file: '{}'}}", ca_file.path().display());
    let before = untrusted.seen.counts();
    let counted = run("trusted certificate", &trusted, "path: /", SMALL).await;
    counted.assert_all(None, "trusted certificate");
    let seen = untrusted.seen.counts();
    assert!(seen.handshakes > before.handshakes, "{seen:?}");
    assert_eq!(
        seen.requests - before.requests,
        counted.requests,
        "{seen:?}"
    );

    // https:// to a listener that answers the ClientHello with garbage.
    let garbage = FaultyServer::spawn(Fault::Garbage).await;
    let target = format!("url: 'https://{}', timeout: 1s", garbage.addr);
    let counted = run("https to garbage", &target, "path: /", SMALL).await;
    counted.assert_all(Some("tls"), "https to garbage");
    let seen = garbage.seen.counts();
    assert_eq!(seen.connections, counted.requests, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_after_every_response_succeeds_on_fresh_connections() {
    let _quiet = MEMORY_QUIET.read().await;
    // 6 arrivals 50 ms apart.
    let load = Load {
        rate: 20,
        for_ms: 300,
    };
    for (case, announce) in [("Connection: close", true), ("unannounced close", false)] {
        let server = FaultyServer::spawn(Fault::CloseAfterResponse { announce }).await;
        let counted = run(case, &http(&server, "1s"), "path: /", load).await;
        counted.assert_all(None, case);
        let seen: SeenCounts = server.seen.counts();
        assert_eq!(seen.connections, counted.requests, "{case}: {seen:?}");
        assert_eq!(seen.requests, counted.requests, "{case}: {seen:?}");
        assert_eq!(seen.responses, counted.requests, "{case}: {seen:?}");
    }
}

/// Resident memory of this process, which runs the exporter (and the faulty server).
mod memory {
    /// A `kB` field of `/proc/self/status`, such as `VmRSS` or `VmHWM`.
    pub fn status_kib(field: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
    }

    /// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5); false when not allowed.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}
