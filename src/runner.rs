//! Runs one iteration of a probe: its steps in order, each with its deadline, checks and
//! extractions, and returns what happened as plain data. Knows nothing about metrics or the
//! status page.
//!
//! Latency is measured from the **intended** start: the arrival's instant for the first
//! step, the end of the previous step for later ones. A late generator or a stalled target
//! therefore shows up as latency, never as silently missing samples. A failed step ends the
//! iteration: later steps are not sent, except those marked `always` (cleanup).
//!
//! With OpenTelemetry tracing on, each iteration and step is a span and each request carries
//! `traceparent` (see `spans.rs`); with it off, the runner holds `None` and does nothing more.

use std::sync::Arc;

use tokio::time::Instant;

use crate::client::{self, HttpClient};
use crate::outcome::{Outcome, Reason};
use crate::plan::{Probe, Replay, Step, splitmix};
use crate::report::{IterationReport, StepReport};

mod check;
mod context;
mod spans;

pub use context::Context;

/// Runs iterations of one probe against its target's client.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The probe whose steps are sent.
    probe: Arc<Probe>,
    /// The pooled client of the probe's target.
    client: HttpClient,
    /// Present when OpenTelemetry tracing is on, resolved once here.
    tracer: Option<Arc<spans::ProbeTracer>>,
}

impl Runner {
    /// A runner for `probe` sending through `client`.
    pub fn new(probe: Arc<Probe>, client: HttpClient) -> Self {
        let tracer = crate::telemetry::tracer()
            .map(|tracer| Arc::new(spans::ProbeTracer::new(&probe, tracer.clone())));
        Self {
            probe,
            client,
            tracer,
        }
    }

    /// Runs the probe's steps once (one scenario's, with a mix), as iteration number
    /// `iteration` of this replica, due at `intended_at`.
    pub async fn run_iteration(&self, intended_at: Instant, iteration: u64) -> IterationReport {
        let probe = &self.probe;
        let fleet_iteration = probe.shard.fleet_iteration(iteration);
        if let Some(replay) = &probe.replay {
            return self
                .replay_entry(replay, fleet_iteration, intended_at, iteration)
                .await;
        }
        let row = probe
            .data
            .as_ref()
            .and_then(|data| data.row(fleet_iteration));
        let (scenario, range) = pick_scenario(probe, fleet_iteration);
        let trace = self
            .tracer
            .as_deref()
            .map(|tracer| tracer.start_iteration(intended_at, scenario));
        let mut context = Context::new(probe, iteration, row);
        let mut steps = Vec::with_capacity(range.len());
        let mut failed = false;
        let mut step_start = intended_at;
        for (index, step) in probe
            .steps
            .iter()
            .enumerate()
            .take(range.end)
            .skip(range.start)
        {
            if failed && !step.always {
                continue;
            }
            // A step whose variables have no value (their step failed) cannot be sent.
            let Some(mut request) = context.request(step) else {
                continue;
            };
            let span = trace
                .as_ref()
                .map(|trace| trace.start_step(index, step_start, &request));
            if let Some(span) = &span {
                span.inject(request.headers_mut());
            }
            let report = self
                .run_step(index, step, request, step_start, &mut context)
                .await;
            if let Some(span) = span {
                span.end(&report);
            }
            failed |= report.outcome != Outcome::Success;
            steps.push(report);
            step_start = Instant::now();
        }
        let mut report = IterationReport {
            intended_at: intended_at.into_std(),
            finished_at: Instant::now().into_std(),
            scenario,
            planned_steps: range.len(),
            steps,
            trace_id: None,
        };
        if let Some(trace) = trace {
            report.trace_id = trace.end(report.succeeded());
        }
        report
    }

    /// Sends log entry `n` (cycling through the log) under its route's step.
    async fn replay_entry(
        &self,
        replay: &Replay,
        n: u64,
        intended_at: Instant,
        iteration: u64,
    ) -> IterationReport {
        let entry = &replay.entries[(n % replay.entries.len() as u64) as usize];
        let step = &self.probe.steps[entry.route];
        let mut request = http::Request::new(http_body_util::Full::new(entry.body.clone()));
        *request.method_mut() = entry.method.clone();
        *request.uri_mut() = entry.uri.clone();
        *request.headers_mut() = step.headers.clone();
        for (name, value) in &entry.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let mut context = Context::new(&self.probe, iteration, None);
        let trace = self
            .tracer
            .as_deref()
            .map(|tracer| tracer.start_iteration(intended_at, 0));
        let span = trace
            .as_ref()
            .map(|trace| trace.start_step(entry.route, intended_at, &request));
        if let Some(span) = &span {
            span.inject(request.headers_mut());
        }
        let report = self
            .run_step(entry.route, step, request, intended_at, &mut context)
            .await;
        if let Some(span) = span {
            span.end(&report);
        }
        let succeeded = report.outcome == Outcome::Success;
        IterationReport {
            intended_at: intended_at.into_std(),
            finished_at: Instant::now().into_std(),
            scenario: 0,
            planned_steps: 1,
            steps: vec![report],
            trace_id: trace.and_then(|trace| trace.end(succeeded)),
        }
    }

    async fn run_step(
        &self,
        index: usize,
        step: &Step,
        request: http::Request<http_body_util::Full<bytes::Bytes>>,
        intended_at: Instant,
        context: &mut Context<'_>,
    ) -> StepReport {
        let deadline = intended_at + self.probe.target.timeout;
        let sent = client::send(
            &self.client,
            request,
            step.needs_body().then_some(step.max_body_bytes),
        );
        let result = tokio::time::timeout_at(deadline, sent).await;
        let latency = Instant::now().saturating_duration_since(intended_at);
        let mut retry_after = None;
        let mut snippet = None;
        let (outcome, status, detail) = match result {
            Err(_) => {
                let detail = format!("no response within {:?}", self.probe.target.timeout);
                (Outcome::Failure(Reason::Timeout), None, Some(detail))
            }
            Ok(Err(error)) => (Outcome::Failure(error.reason), None, Some(error.message)),
            Ok(Ok(response)) => {
                retry_after = check::retry_after(&response);
                let (outcome, detail) = check::check_and_extract(step, &response, latency, context);
                if outcome != Outcome::Success {
                    snippet = Some(String::from_utf8_lossy(&response.prefix).into_owned());
                }
                (outcome, Some(response.status), detail)
            }
        };
        StepReport {
            step: index,
            outcome,
            status,
            latency,
            detail,
            retry_after,
            snippet,
        }
    }
}

/// The scenario of fleet iteration `n`, drawn by weight from a hash of the seed and `n`
/// (repeatable for a seed, independent across iterations); all steps without a mix.
pub fn pick_scenario(probe: &Probe, n: u64) -> (usize, std::ops::Range<usize>) {
    let total: u64 = probe.scenarios.iter().map(|s| u64::from(s.weight)).sum();
    if total == 0 {
        return (0, 0..probe.steps.len());
    }
    let mut ticket = splitmix(probe.mix_seed ^ n) % total;
    for (index, scenario) in probe.scenarios.iter().enumerate() {
        match ticket.checked_sub(u64::from(scenario.weight)) {
            Some(rest) => ticket = rest,
            None => return (index, scenario.steps.clone()),
        }
    }
    unreachable!("the ticket is below the total weight")
}
