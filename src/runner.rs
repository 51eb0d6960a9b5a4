//! Runs one iteration of a probe: its steps in order, each with its deadline and checks,
//! and returns what happened as plain data. Knows nothing about metrics or the status page.
//!
//! Latency is measured from the **intended** start: the arrival's instant for the first
//! step, the end of the previous step for later ones. A late generator or a stalled target
//! therefore shows up as latency, never as silently missing samples.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{self, HttpClient, Response};
use crate::outcome::{Outcome, Reason, classify_status};
use crate::plan::{Probe, Step};

/// Runs iterations of one probe against its target's client.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The probe whose steps are sent.
    probe: Arc<Probe>,
    /// The pooled client of the probe's target.
    client: HttpClient,
}

/// What one iteration did.
#[derive(Debug, Clone)]
pub struct IterationReport {
    /// When the iteration should have started.
    pub intended_at: Instant,
    /// The steps that were sent, in order; a failed step ends the iteration.
    pub steps: Vec<StepReport>,
}

impl IterationReport {
    /// Whether every step was sent and succeeded.
    pub fn succeeded(&self, planned_steps: usize) -> bool {
        self.steps.len() == planned_steps
            && self.steps.iter().all(|s| s.outcome == Outcome::Success)
    }
}

/// What one request did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Index of the step in the probe.
    pub step: usize,
    /// Success or the failure reason.
    pub outcome: Outcome,
    /// Status code, when a response arrived.
    pub status: Option<u16>,
    /// From the intended start to the last body byte (or to the failure).
    pub latency: Duration,
    /// Why it failed, for logs and the status page (never a label).
    pub detail: Option<String>,
}

impl Runner {
    /// A runner for `probe` sending through `client`.
    pub fn new(probe: Arc<Probe>, client: HttpClient) -> Self {
        Self { probe, client }
    }

    /// Runs the probe's steps once, as if started at `intended_at`.
    pub async fn run_iteration(&self, intended_at: Instant) -> IterationReport {
        let mut steps = Vec::with_capacity(self.probe.steps.len());
        let mut step_start = intended_at;
        for (index, step) in self.probe.steps.iter().enumerate() {
            let report = self.run_step(index, step, step_start).await;
            let failed = report.outcome != Outcome::Success;
            steps.push(report);
            if failed {
                break;
            }
            step_start = Instant::now();
        }
        IterationReport { intended_at, steps }
    }

    async fn run_step(&self, index: usize, step: &Step, intended_at: Instant) -> StepReport {
        let deadline = intended_at + self.probe.target.timeout;
        let keep_body = step.expect.body_contains.is_some();
        let result =
            tokio::time::timeout_at(deadline, client::send(&self.client, step, keep_body)).await;
        let latency = Instant::now().saturating_duration_since(intended_at);
        let (outcome, status, detail) = match result {
            Err(_) => {
                let detail = format!("no response within {:?}", self.probe.target.timeout);
                (Outcome::Failure(Reason::Timeout), None, Some(detail))
            }
            Ok(Err(error)) => (Outcome::Failure(error.reason), None, Some(error.message)),
            Ok(Ok(response)) => {
                let (outcome, detail) = check(step, &response, latency);
                (outcome, Some(response.status), detail)
            }
        };
        StepReport {
            step: index,
            outcome,
            status,
            latency,
            detail,
        }
    }
}

/// Applies the step's checks to a complete response, in order: status, body, latency.
fn check(step: &Step, response: &Response, latency: Duration) -> (Outcome, Option<String>) {
    let expect = &step.expect;
    let outcome = classify_status(response.status, expect.accepts_status(response.status));
    if outcome != Outcome::Success {
        return (
            outcome,
            Some(format!("unexpected status {}", response.status)),
        );
    }
    if let Some(needle) = &expect.body_contains {
        let body = response.body.as_deref().unwrap_or_default();
        if !contains(body, needle.as_bytes()) {
            return (
                Outcome::Failure(Reason::Check),
                Some(format!("body does not contain {needle:?}")),
            );
        }
    }
    if let Some(limit) = expect.max_latency
        && latency > limit
    {
        let detail = format!("latency {latency:?} above max_latency {limit:?}");
        return (Outcome::Failure(Reason::Check), Some(detail));
    }
    (Outcome::Success, None)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Expect;
    use bytes::Bytes;

    fn step(expect: Expect) -> Step {
        Step {
            name: "s".to_owned(),
            method: http::Method::GET,
            uri: "http://127.0.0.1/".parse().expect("valid"),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            expect,
        }
    }

    fn expect() -> Expect {
        Expect {
            status: vec![],
            body_contains: None,
            max_latency: None,
        }
    }

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            body: Some(Bytes::from(body.to_owned())),
        }
    }

    #[test]
    fn checks_run_in_order() {
        let mut e = expect();
        e.body_contains = Some("ok".to_owned());
        e.max_latency = Some(Duration::from_millis(10));
        let s = step(e);
        let fast = Duration::from_millis(1);
        assert_eq!(
            check(&s, &response(200, "all ok"), fast).0,
            Outcome::Success
        );
        assert_eq!(
            check(&s, &response(503, "ok"), fast).0,
            Outcome::Failure(Reason::Status)
        );
        assert_eq!(
            check(&s, &response(429, "ok"), fast).0,
            Outcome::Failure(Reason::Throttled)
        );
        assert_eq!(
            check(&s, &response(200, "nope"), fast).0,
            Outcome::Failure(Reason::Check)
        );
        let slow = Duration::from_millis(11);
        assert_eq!(
            check(&s, &response(200, "ok"), slow).0,
            Outcome::Failure(Reason::Check)
        );
    }

    #[test]
    fn expected_429_is_a_success() {
        let mut e = expect();
        e.status = vec![200, 429];
        assert_eq!(
            check(&step(e), &response(429, ""), Duration::ZERO).0,
            Outcome::Success
        );
    }
}
