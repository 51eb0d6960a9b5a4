//! Waiting on real time for a state instead of for a fixed time: poll every [`POLL_EVERY`]
//! until the state is reached or a bounded deadline passes, then fail saying what was
//! expected and what was last seen.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

/// How often a poll looks again.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// The usual deadline: what takes well under a second on an idle machine, with room for a
/// slow 2-core CI runner. A passing poll returns as soon as its state is reached.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Calls `check` every [`POLL_EVERY`] until it returns `Ok`, and returns that value; after
/// `timeout`, panics with `what` (the expected state) and the last `Err` (what was seen).
pub async fn eventually<T, D: fmt::Debug>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, D>,
) -> T {
    eventually_async(timeout, what, || std::future::ready(check())).await
}

/// [`eventually`] with an async `check` (a scrape, a request to a target).
pub async fn eventually_async<T, D: fmt::Debug, F: Future<Output = Result<T, D>>>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {timeout:?}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// Text shown as it is (not escaped) in a failure message: a scrape.
pub struct Shown(pub String);

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{}", self.0)
    }
}

/// Scrapes `addr`'s `/metrics` every [`POLL_EVERY`] until `done` holds for the text, and
/// returns that scrape; after `timeout`, panics with `what` and the last scrape.
pub async fn scrape_until(
    addr: SocketAddr,
    timeout: Duration,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let done = &done;
    eventually_async(timeout, what, || async move {
        let text = super::scrape(addr).await;
        if done(&text) {
            Ok(text)
        } else {
            Err(Shown(text))
        }
    })
    .await
}

/// Whether, in scrape `text`, `probe`'s run has ended with none of its iterations in flight
/// (and it has had arrivals, so the run did start).
pub fn idle(text: &str, probe: &str) -> bool {
    let value = |name: &str| super::sample(text, &format!(r#"{name}{{probe="{probe}"}}"#));
    value("loadprobe_run_active") == Some(0.0)
        && value("loadprobe_in_flight_iterations") == Some(0.0)
        && value("loadprobe_arrivals_total").is_some_and(|a| a > 0.0)
}

/// `probe`'s arrivals, iterations and requests in scrape `text`.
fn totals(text: &str, probe: &str) -> [f64; 3] {
    let label = format!(r#"probe="{probe}""#);
    [
        "loadprobe_arrivals_total",
        "loadprobe_iterations_total",
        "loadprobe_requests_total",
    ]
    .map(|name| super::sum(text, name, &[&label]))
}

/// Scrapes until every one of `probes` is [`idle`] in two scrapes in a row with the same
/// totals (at most 15 s), and returns the second. Two, because an iteration leaves the
/// in-flight gauge a moment before its requests are counted.
pub async fn scrape_when_all_idle(addr: SocketAddr, probes: &[&str]) -> String {
    settled_scrape(addr, probes, "").await
}

/// [`scrape_when_all_idle`], with `case` (the test) leading the failure message.
pub(super) async fn settled_scrape(addr: SocketAddr, probes: &[&str], case: &str) -> String {
    let what = format!("runs of {probes:?} ended, nothing in flight, totals steady");
    let what = if case.is_empty() {
        what
    } else {
        format!("{case}: {what}")
    };
    let previous = &std::cell::RefCell::new(None);
    eventually_async(Duration::from_secs(15), &what, || async move {
        let text = super::scrape(addr).await;
        let settled = probes.iter().all(|probe| idle(&text, probe)).then(|| {
            probes
                .iter()
                .map(|probe| totals(&text, probe))
                .collect::<Vec<_>>()
        });
        let steady = settled.is_some() && *previous.borrow() == settled;
        previous.replace(settled);
        if steady { Ok(text) } else { Err(Shown(text)) }
    })
    .await
}
