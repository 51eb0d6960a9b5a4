//! Production guardrails: a process-wide cap on arrivals per second, and a per-probe guard
//! that pauses a probe while its target is failing, so loadprobe is never what keeps a
//! struggling service down.
//!
//! The guard watches a rolling window of finished requests. When the error or throttled
//! ratio passes its threshold it pauses the probe for `cooldown`, then lets a canary
//! through at `canary_rate` for one window; a clean canary window resumes full rate, a bad
//! one pauses again. With `respect_retry_after`, a 429 or 503 carrying `Retry-After` holds
//! arrivals for that long. Every arrival held back is dropped and counted (`paused`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use tokio::time::Instant;

use crate::outcome::{Outcome, Reason};
use crate::plan::{GuardSettings, Rate};
use crate::report::IterationReport;

/// Why the guard paused a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripReason {
    /// The error ratio passed `pause_above.error_ratio`.
    ErrorRatio,
    /// The throttled ratio passed `pause_above.throttled_ratio`.
    ThrottledRatio,
    /// The target asked for a pause with `Retry-After`.
    RetryAfter,
}

impl TripReason {
    /// Every reason, so metrics can start each series at zero.
    pub const ALL: [TripReason; 3] = [
        TripReason::ErrorRatio,
        TripReason::ThrottledRatio,
        TripReason::RetryAfter,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TripReason::ErrorRatio => "error_ratio",
            TripReason::ThrottledRatio => "throttled_ratio",
            TripReason::RetryAfter => "retry_after",
        }
    }
}

impl EncodeLabelValue for TripReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write as _;
        encoder.write_str(self.as_str())
    }
}

/// Caps the arrivals of all probes together (a token bucket holding one second of tokens).
#[derive(Debug)]
pub struct RateCap {
    per_second: f64,
    /// Tokens available and when they were last refilled.
    bucket: Mutex<(f64, Instant)>,
}

impl RateCap {
    /// A cap of `rate` arrivals.
    pub fn new(rate: Rate, now: Instant) -> Self {
        let per_second = rate.per_second();
        Self {
            per_second,
            bucket: Mutex::new((per_second.max(1.0), now)),
        }
    }

    /// The cap `global.max_rate` sets for every probe of the process, if it sets one.
    pub fn for_global(global: &crate::plan::Global) -> Option<std::sync::Arc<RateCap>> {
        global
            .max_rate
            .map(|rate| std::sync::Arc::new(RateCap::new(rate, Instant::now())))
    }

    /// Takes a token for an arrival at `now`; false when the cap is reached.
    pub fn try_take(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().expect("rate cap lock is never poisoned");
        let (tokens, last) = *bucket;
        let refilled = (tokens
            + now.saturating_duration_since(last).as_secs_f64() * self.per_second)
            .min(self.per_second.max(1.0));
        let taken = refilled >= 1.0;
        *bucket = (if taken { refilled - 1.0 } else { refilled }, now);
        taken
    }
}

/// What the guard is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Full rate.
    Running,
    /// Paused after a trip, until the instant.
    Paused(Instant),
    /// Letting a canary through until the instant, the next one at `next`.
    Canary {
        /// End of the canary window.
        until: Instant,
        /// When the next canary arrival may go.
        next: Instant,
    },
    /// Holding arrivals as the target's `Retry-After` asked, until the instant.
    Held(Instant),
}

impl Phase {
    /// Which state this is, without its instants.
    pub fn state(self) -> GuardState {
        match self {
            Phase::Running => GuardState::Running,
            Phase::Paused(_) => GuardState::Paused,
            Phase::Canary { .. } => GuardState::Canary,
            Phase::Held(_) => GuardState::Held,
        }
    }
}

/// What the guard is doing, as the status page and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum GuardState {
    /// Full rate.
    #[serde(rename = "running")]
    Running,
    /// Paused after a trip.
    #[serde(rename = "paused")]
    Paused,
    /// Letting a canary through.
    #[serde(rename = "canary")]
    Canary,
    /// Holding arrivals as the target's `Retry-After` asked.
    #[serde(rename = "held (Retry-After)")]
    Held,
}

impl GuardState {
    /// The state's name, for the status page and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardState::Running => "running",
            GuardState::Paused => "paused",
            GuardState::Canary => "canary",
            GuardState::Held => "held (Retry-After)",
        }
    }
}

/// Finished requests in one second of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Second {
    requests: u64,
    errors: u64,
    throttled: u64,
}

/// One probe's guard.
#[derive(Debug)]
pub struct Guard {
    /// The probe's name, for logs.
    probe: String,
    config: GuardSettings,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Per-second counts of the window, oldest first, with each second's start.
    seconds: VecDeque<(Instant, Second)>,
}

impl Guard {
    /// The guard of `probe`, if it has one.
    pub fn for_probe(probe: &crate::plan::Probe) -> Option<std::sync::Arc<Guard>> {
        probe
            .guard
            .clone()
            .map(|config| std::sync::Arc::new(Guard::new(&probe.name, config)))
    }

    /// The guard of probe `probe` with `config`, running at full rate.
    pub fn new(probe: &str, config: GuardSettings) -> Self {
        Self {
            probe: probe.to_owned(),
            config,
            state: Mutex::new(State {
                phase: Phase::Running,
                seconds: VecDeque::new(),
            }),
        }
    }

    /// Whether an arrival at `now` may start (advancing pause → canary → running).
    pub fn admit(&self, now: Instant) -> bool {
        let mut state = self.state.lock().expect("guard lock is never poisoned");
        loop {
            match state.phase {
                Phase::Running => return true,
                Phase::Paused(until) | Phase::Held(until) if now < until => return false,
                Phase::Held(_) => state.phase = Phase::Running,
                Phase::Paused(_) => {
                    tracing::info!(
                        "guard cooldown over: canary at {}/s",
                        self.config.canary_rate
                    );
                    state.seconds.clear();
                    state.phase = Phase::Canary {
                        until: now + self.config.window,
                        next: now,
                    };
                }
                Phase::Canary { until, .. } if now >= until => {
                    tracing::info!(probe = %self.probe, "guard canary window clean: back to full rate");
                    state.phase = Phase::Running;
                }
                Phase::Canary { until, next } => {
                    if now < next {
                        return false;
                    }
                    let gap = Duration::from_secs_f64(1.0 / self.config.canary_rate.per_second());
                    state.phase = Phase::Canary {
                        until,
                        next: next.max(now - gap) + gap,
                    };
                    return true;
                }
            }
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.state
            .lock()
            .expect("guard lock is never poisoned")
            .phase
    }

    /// Counts a finished iteration; the reason when it made the guard pause the probe.
    pub fn record(&self, report: &IterationReport, now: Instant) -> Option<TripReason> {
        let mut state = self.state.lock().expect("guard lock is never poisoned");
        let retry_after = report.steps.iter().filter_map(|s| s.retry_after).max();
        if let Some(wait) = retry_after.filter(|_| self.config.respect_retry_after)
            && !matches!(state.phase, Phase::Held(_) | Phase::Paused(_))
        {
            state.phase = Phase::Held(now + wait.min(self.config.cooldown));
            return Some(TripReason::RetryAfter);
        }
        if matches!(state.phase, Phase::Paused(_) | Phase::Held(_)) {
            return None;
        }
        self.count(&mut state, report, now);
        let reason = self.judge(&state)?;
        state.phase = Phase::Paused(now + self.config.cooldown);
        state.seconds.clear();
        Some(reason)
    }

    fn count(&self, state: &mut State, report: &IterationReport, now: Instant) {
        while state
            .seconds
            .front()
            .is_some_and(|(start, _)| now.saturating_duration_since(*start) >= self.config.window)
        {
            state.seconds.pop_front();
        }
        if !state.seconds.back().is_some_and(|(start, _)| {
            now.saturating_duration_since(*start) < Duration::from_secs(1)
        }) {
            state.seconds.push_back((now, Second::default()));
        }
        let (_, second) = state.seconds.back_mut().expect("pushed above");
        for step in &report.steps {
            second.requests += 1;
            match step.outcome {
                Outcome::Failure(Reason::Throttled) => second.throttled += 1,
                Outcome::Failure(_) => second.errors += 1,
                Outcome::Success => {}
            }
        }
    }

    fn judge(&self, state: &State) -> Option<TripReason> {
        let total = state
            .seconds
            .iter()
            .fold(Second::default(), |t, (_, s)| Second {
                requests: t.requests + s.requests,
                errors: t.errors + s.errors,
                throttled: t.throttled + s.throttled,
            });
        if total.requests < self.config.min_requests {
            return None;
        }
        let above = |count: u64, limit: Option<f64>| {
            limit.is_some_and(|l| count as f64 / total.requests as f64 > l)
        };
        if above(total.errors, self.config.pause_above.error_ratio) {
            Some(TripReason::ErrorRatio)
        } else if above(total.throttled, self.config.pause_above.throttled_ratio) {
            Some(TripReason::ThrottledRatio)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
