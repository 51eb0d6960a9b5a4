//! The OpenTelemetry spans of an iteration and of its steps, and the W3C `traceparent` each
//! step's request carries. Built only when tracing is on (see `telemetry.rs`).
//!
//! An iteration is a root span (`iteration`) starting at the arrival's intended instant;
//! each step is a client span named after the step, child of its iteration, starting at the
//! step's intended start. Attributes that do not change per request are built once per probe
//! and shared (`Arc<str>` values), so a traced request allocates little beyond what the SDK
//! needs for the span itself: its attribute list, its name and the `traceparent` value.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use tokio::time::Instant;

use crate::outcome::Outcome;
use crate::plan::{Action, Probe, Var};
use crate::report::StepReport;

/// The W3C Trace Context headers.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The tracer and the fixed attributes of one probe's spans.
#[derive(Debug)]
pub(super) struct ProbeTracer {
    tracer: SdkTracer,
    /// `loadprobe.probe`.
    probe: KeyValue,
    /// `loadprobe.scenario` of each scenario of the mix (empty without one).
    scenarios: Vec<KeyValue>,
    /// Indexed like the probe's steps.
    steps: Vec<StepAttributes>,
}

/// The fixed attributes of one step's spans.
#[derive(Debug)]
struct StepAttributes {
    /// Span name: the step's name (the SDK takes an owned name: one copy per span).
    name: String,
    /// `loadprobe.step`, `http.request.method` and `url.path` or `url.template`; for a
    /// replayed step, only `loadprobe.step`.
    fixed: Vec<KeyValue>,
    /// Replayed: each log entry brings its own method and path.
    per_request: bool,
}

/// A started iteration span.
#[derive(Debug)]
pub(super) struct IterationSpan<'t> {
    tracer: &'t ProbeTracer,
    /// Holds the span, as the parent of the step spans.
    context: Context,
    /// One reading of both clocks, so every span of the iteration converts instants to
    /// wall-clock time the same way (a step intended at the arrival starts with it).
    clocks: (Instant, SystemTime),
}

/// A started step span.
#[derive(Debug)]
pub(super) struct StepSpan(Span);

impl ProbeTracer {
    /// The tracer of `probe`'s spans.
    pub(super) fn new(probe: &Probe, tracer: SdkTracer) -> Self {
        let shared = |text: &str| Value::String(StringValue::from(Arc::<str>::from(text)));
        let scenarios = probe
            .scenarios
            .iter()
            .map(|s| KeyValue::new("loadprobe.scenario", shared(&s.name)))
            .collect();
        let steps = probe
            .steps
            .iter()
            .map(|step| {
                let mut fixed = vec![KeyValue::new("loadprobe.step", shared(&step.name))];
                match &step.action {
                    // A replayed entry has its own method and path: see `start_step`.
                    Action::Http(_) if probe.replay.is_some() => {}
                    Action::Http(http) => {
                        fixed.push(KeyValue::new(
                            "http.request.method",
                            shared(http.method.as_str()),
                        ));
                        fixed.push(match &http.uri_template {
                            // The outline keeps `{var}` holes: rendered values may be secrets.
                            Some(template) => KeyValue::new(
                                "url.template",
                                shared(path_of(&template.outline(|var| var_name(probe, var)))),
                            ),
                            None => KeyValue::new("url.path", shared(http.uri.path())),
                        });
                    }
                }
                StepAttributes {
                    name: step.name.clone(),
                    fixed,
                    per_request: probe.replay.is_some(),
                }
            })
            .collect();
        Self {
            tracer,
            probe: KeyValue::new("loadprobe.probe", shared(&probe.name)),
            scenarios,
            steps,
        }
    }

    /// Starts the span of an iteration due at `intended_at`, running scenario `scenario`
    /// of the mix (ignored without one).
    pub(super) fn start_iteration(
        &self,
        intended_at: Instant,
        scenario: usize,
    ) -> IterationSpan<'_> {
        let clocks = (Instant::now(), SystemTime::now());
        let mut attributes = Vec::with_capacity(2);
        attributes.push(self.probe.clone());
        attributes.extend(self.scenarios.get(scenario).cloned());
        let span = self
            .tracer
            .span_builder("iteration")
            .with_kind(SpanKind::Internal)
            .with_start_time(wall_clock(clocks, intended_at))
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &Context::new());
        IterationSpan {
            tracer: self,
            context: Context::new().with_span(span),
            clocks,
        }
    }
}

impl IterationSpan<'_> {
    /// Starts the span of step `index`, whose request is `request`, intended at `started`.
    pub(super) fn start_step<B>(
        &self,
        index: usize,
        started: Instant,
        request: &http::Request<B>,
    ) -> StepSpan {
        let step = &self.tracer.steps[index];
        let mut attributes = Vec::with_capacity(step.fixed.len() + 3);
        attributes.push(self.tracer.probe.clone());
        attributes.extend(step.fixed.iter().cloned());
        if step.per_request {
            // A replayed entry: its own method and path (never the query, which may hold
            // tokens).
            attributes.push(KeyValue::new(
                "http.request.method",
                request.method().as_str().to_owned(),
            ));
            attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
        }
        let span = self
            .tracer
            .tracer
            .span_builder(step.name.clone())
            .with_kind(SpanKind::Client)
            .with_start_time(wall_clock(self.clocks, started))
            .with_attributes(attributes)
            .start_with_context(&self.tracer.tracer, &self.context);
        StepSpan(span)
    }

    /// Ends the span, an error unless every planned step succeeded; returns its trace id when
    /// it was sampled (the exemplars of the step latencies).
    pub(super) fn end(self, succeeded: bool) -> Option<TraceId> {
        let span = self.context.span();
        if !succeeded {
            span.set_status(Status::error("a step failed"));
        }
        span.end();
        let context = span.span_context();
        context.is_sampled().then(|| context.trace_id())
    }
}

impl StepSpan {
    /// Adds `traceparent` (and `tracestate`, when there is one) for this span to `headers`,
    /// so the target's spans join the trace. Unsampled spans send it too (flags `00`): the
    /// target's parent-based sampler then drops its spans as well.
    pub(super) fn inject(&self, headers: &mut http::HeaderMap) {
        let context = self.0.span_context();
        if !context.is_valid() {
            return;
        }
        let traceparent = format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        );
        if let Ok(value) = HeaderValue::try_from(traceparent) {
            headers.insert(TRACEPARENT, value);
        }
        let state = context.trace_state().header();
        if !state.is_empty()
            && let Ok(value) = HeaderValue::try_from(state)
        {
            headers.insert(TRACESTATE, value);
        }
    }

    /// Ends the span with what the request did.
    pub(super) fn end(mut self, report: &StepReport) {
        if self.0.is_recording() {
            if let Some(code) = report.status {
                self.0
                    .set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
            }
            let outcome = match report.outcome {
                Outcome::Success => "success",
                Outcome::Failure(reason) => reason.as_str(),
            };
            self.0
                .set_attribute(KeyValue::new("loadprobe.outcome", outcome));
            if let Outcome::Failure(reason) = report.outcome {
                // The reason, not the detail: error text may quote the target's body.
                self.0
                    .set_attribute(KeyValue::new("error.type", reason.as_str()));
                self.0.set_status(Status::error(reason.as_str()));
            }
        }
        self.0.end();
    }
}

/// The wall-clock time of `instant` (spans carry wall-clock times), given one reading of
/// both clocks.
fn wall_clock((now, wall_now): (Instant, SystemTime), instant: Instant) -> SystemTime {
    if instant <= now {
        wall_now.checked_sub(now - instant).unwrap_or(wall_now)
    } else {
        wall_now + (instant - now)
    }
}

/// The name of a template variable, as a config writes it.
fn var_name(probe: &Probe, var: Var) -> String {
    match var {
        Var::Extracted(index) => probe.variables.get(index).cloned().unwrap_or_default(),
        Var::Data(column) => probe
            .data
            .as_ref()
            .and_then(|data| data.columns.get(column))
            .map(|c| format!("data.{c}"))
            .unwrap_or_default(),
        Var::Iteration => "iteration".to_owned(),
        Var::Probe => "probe".to_owned(),
        Var::Uuid => "uuid".to_owned(),
        Var::UnixMs => "unix_ms".to_owned(),
    }
}

/// The path of an absolute URL (no scheme, authority or query).
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_drops_scheme_authority_and_query() {
        assert_eq!(path_of("http://h:1/users/{id}?token={t}"), "/users/{id}");
        assert_eq!(path_of("https://h"), "/");
        assert_eq!(path_of("http://h/a#frag"), "/a");
    }
}
