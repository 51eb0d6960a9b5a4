//! Runs one iteration of a probe: its steps in order, each with its deadline, checks and
//! extractions, and returns what happened as plain data. Knows nothing about metrics or the
//! status page.
//!
//! Each step's action is dispatched on its protocol (`Runner::act`; today HTTP, in
//! `http_exchange.rs`), which sends and returns an `Exchange`; what follows is shared by every
//! action: the latency from the intended instant, the outcome, the checks and extraction
//! (`check.rs`) and the step's report.
//!
//! Latency is measured from the **intended** start: the arrival's instant for the first
//! step, the end of the previous step for later ones. A late generator or a stalled target
//! therefore shows up as latency, never as silently missing samples. A failed step ends the
//! iteration: later steps are not sent, except those marked `always` (cleanup).
//!
//! With OpenTelemetry tracing on, each iteration and step is a span and each request carries
//! `traceparent` (see `spans.rs`); with it off, the runner holds `None` and does nothing more.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{HttpClient, Response, TransportError};
use crate::outcome::{Outcome, Reason};
use crate::plan::{Action, Probe, Replay, Step, splitmix};
use crate::report::{IterationReport, StepReport};

mod check;
mod context;
mod http_exchange;
mod spans;

pub use context::Context;
pub use http_exchange::{Rendered, render_request};

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
            let Some(report) = self
                .run_step(index, step, step_start, &mut context, trace.as_ref())
                .await
            else {
                continue;
            };
            failed |= report.outcome != Outcome::Success;
            steps.push(report);
            step_start = Instant::now();
        }
        finish_iteration(intended_at, scenario, range.len(), steps, trace)
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
        let Action::Http(route) = &step.action;
        let mut request = http_exchange::replayed(entry, route);
        let mut context = Context::new(&self.probe, iteration, None);
        let trace = self
            .tracer
            .as_deref()
            .map(|tracer| tracer.start_iteration(intended_at, 0));
        let span = http_exchange::traced(trace.as_ref(), entry.route, intended_at, &mut request);
        let deadline = self.deadline(intended_at);
        let answer = http_exchange::exchange(&self.client, step, route, request, deadline).await;
        let exchanged = (Exchange::within(deadline, answer), span);
        let report = finish_step(entry.route, step, exchanged, intended_at, &mut context);
        finish_iteration(intended_at, 0, 1, vec![report], trace)
    }

    /// Runs step `index`, intended to start at `intended_at`: its action, then the checks
    /// every action shares. `None` when the step cannot be sent (a variable it uses has no
    /// value because the step that extracts it failed).
    async fn run_step(
        &self,
        index: usize,
        step: &Step,
        intended_at: Instant,
        context: &mut Context<'_>,
        trace: Option<&spans::IterationSpan<'_>>,
    ) -> Option<StepReport> {
        let exchanged = self.act(index, step, intended_at, context, trace).await?;
        Some(finish_step(index, step, exchanged, intended_at, context))
    }

    /// Dispatches on the step's action: renders what it sends, sends it and waits for what
    /// comes back until the step's deadline, within the step's span when tracing is on.
    async fn act(
        &self,
        index: usize,
        step: &Step,
        intended_at: Instant,
        // `&mut`, though only read: a shared reference held across the await would need
        // the context to be `Sync`, which its lazily made UUID is not.
        context: &mut Context<'_>,
        trace: Option<&spans::IterationSpan<'_>>,
    ) -> Option<(Exchange, Option<spans::StepSpan>)> {
        let deadline = self.deadline(intended_at);
        match &step.action {
            Action::Http(action) => {
                let mut request = http_exchange::render_request(action, context)?;
                let span = http_exchange::traced(trace, index, intended_at, &mut request);
                let answer =
                    http_exchange::exchange(&self.client, step, action, request, deadline).await;
                Some((Exchange::within(deadline, answer), span))
            }
        }
    }

    /// A step intended at `intended_at` must be done by then plus the target's timeout.
    fn deadline(&self, intended_at: Instant) -> Deadline {
        Deadline {
            at: intended_at + self.probe.target.timeout,
            timeout: self.probe.target.timeout,
        }
    }
}

/// When a step must be done: its intended instant plus the target's timeout.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    timeout: Duration,
}

/// What a step's action brought back, before its checks.
#[derive(Debug)]
enum Exchange {
    /// An answer, to be checked.
    Answered(Response),
    /// No answer: the reason it failed, and why in words.
    Failed(Reason, String),
}

impl Exchange {
    /// What an answer awaited until `deadline` amounts to: past it, the step failed with
    /// `timeout`.
    ///
    /// Actions await `tokio::time::timeout_at(deadline.at, …)` themselves and hand the
    /// result here: a wrapper future taking theirs as an argument would lay it out twice
    /// in the iteration's task, which the scheduler moves on each spawn.
    fn within(
        deadline: Deadline,
        answer: Result<Result<Response, TransportError>, tokio::time::error::Elapsed>,
    ) -> Self {
        match answer {
            Err(_) => Exchange::Failed(
                Reason::Timeout,
                format!("no response within {:?}", deadline.timeout),
            ),
            Ok(Err(error)) => Exchange::Failed(error.reason, error.message),
            Ok(Ok(response)) => Exchange::Answered(response),
        }
    }
}

/// The report of an iteration that started at `intended_at` and ends now, running
/// `planned_steps` of scenario `scenario`, whose span (when traced) ends with it.
fn finish_iteration(
    intended_at: Instant,
    scenario: usize,
    planned_steps: usize,
    steps: Vec<StepReport>,
    trace: Option<spans::IterationSpan<'_>>,
) -> IterationReport {
    let mut report = IterationReport {
        intended_at: intended_at.into_std(),
        finished_at: Instant::now().into_std(),
        scenario,
        planned_steps,
        steps,
        trace_id: None,
    };
    if let Some(trace) = trace {
        report.trace_id = trace.end(report.succeeded());
    }
    report
}

/// The report of step `index` from what its action brought back (and the span it was sent
/// in, which ends with the report).
fn finish_step(
    index: usize,
    step: &Step,
    (exchange, span): (Exchange, Option<spans::StepSpan>),
    intended_at: Instant,
    context: &mut Context<'_>,
) -> StepReport {
    let report = judge(index, step, exchange, intended_at, context);
    if let Some(span) = span {
        span.end(&report);
    }
    report
}

/// The report of step `index` from what its action brought back: latency from the
/// intended instant (taken now, as the exchange ends), then the step's checks and
/// extractions, whose values go to `context`.
fn judge(
    index: usize,
    step: &Step,
    exchange: Exchange,
    intended_at: Instant,
    context: &mut Context<'_>,
) -> StepReport {
    let latency = Instant::now().saturating_duration_since(intended_at);
    let mut report = StepReport {
        step: index,
        outcome: Outcome::Success,
        status: None,
        latency,
        detail: None,
        retry_after: None,
        snippet: None,
    };
    match exchange {
        Exchange::Failed(reason, detail) => {
            report.outcome = Outcome::Failure(reason);
            report.detail = Some(detail);
        }
        Exchange::Answered(response) => {
            report.retry_after = check::retry_after(&response);
            let (outcome, detail) = check::check_and_extract(step, &response, latency, context);
            if outcome != Outcome::Success {
                report.snippet = Some(String::from_utf8_lossy(&response.prefix).into_owned());
            }
            report.outcome = outcome;
            report.status = Some(response.status);
            report.detail = detail;
        }
    }
    report
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
