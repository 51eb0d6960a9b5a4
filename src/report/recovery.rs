//! Recovery after a burst: how long until a rolling window of the requests that follow it
//! is back within the probe's latency and error SLOs.
//!
//! Requests are grouped by their **intended** start into 100 ms slots after the burst. The
//! answer is the start of the first full window (default 5 s) that meets the SLOs, so a
//! target that stays slow for 2 s after a burst recovers at about 2 s. A window is judged
//! only once every iteration intended in it has reported. Without recovery within 4 ×
//! `slo.recovery` (30 s when unset), the bound is reported and the run counts as failed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::StepReport;
use crate::outcome::{Outcome, Reason};
use crate::plan::Slo;

/// Slot width: the resolution of the answer.
const SLOT: Duration = Duration::from_millis(100);
/// The rolling window that must be back within SLO.
pub const WINDOW: Duration = Duration::from_secs(5);
/// `slo.recovery` when none is set, for the bound only.
const DEFAULT_RECOVERY: Duration = Duration::from_secs(30);
/// Latencies kept per slot: enough for percentiles of a window, bounded at any rate.
const SAMPLES_PER_SLOT: usize = 64;

/// How a recovery measurement ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecoveryResult {
    /// Back within SLO this long after the burst.
    Recovered(Duration),
    /// Not back within the bound (4 × `slo.recovery`).
    NotRecovered(Duration),
}

impl RecoveryResult {
    /// The time reported: the recovery time, or the bound.
    pub fn seconds(self) -> f64 {
        match self {
            RecoveryResult::Recovered(d) | RecoveryResult::NotRecovered(d) => d.as_secs_f64(),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Slot {
    dispatched: u32,
    completed: u32,
    requests: u32,
    errors: u32,
    micros: Vec<u32>,
}

/// The measurement after one burst.
#[derive(Debug)]
pub struct Recovery {
    burst_at: Instant,
    bound: Duration,
    p95: Option<Duration>,
    p99: Option<Duration>,
    error_ratio: f64,
    /// Slots from `first` on.
    slots: VecDeque<Slot>,
    /// Index (after the burst) of `slots[0]`, which is also the next window start to judge.
    first: usize,
}

impl Recovery {
    /// Starts measuring after a burst at `burst_at`, against `slo`.
    pub fn new(burst_at: Instant, slo: &Slo) -> Self {
        Self {
            burst_at,
            bound: 4 * slo.recovery.unwrap_or(DEFAULT_RECOVERY),
            p95: slo.p95,
            p99: slo.p99,
            error_ratio: slo.error_ratio.unwrap_or(0.0),
            slots: VecDeque::new(),
            first: 0,
        }
    }

    fn slot(&mut self, intended_at: Instant) -> Option<&mut Slot> {
        // The burst's own arrivals (at the burst instant) are not what recovery is about.
        let since = intended_at
            .checked_duration_since(self.burst_at)
            .filter(|d| !d.is_zero())?;
        let index = (since.as_nanos() / SLOT.as_nanos()) as usize;
        let offset = index.checked_sub(self.first)?;
        if self.slots.len() <= offset {
            self.slots.resize(offset + 1, Slot::default());
        }
        self.slots.get_mut(offset)
    }

    /// An iteration intended at `intended_at` was started.
    pub fn dispatched(&mut self, intended_at: Instant) {
        if let Some(slot) = self.slot(intended_at) {
            slot.dispatched += 1;
        }
    }

    /// An iteration intended at `intended_at` reported these steps.
    pub fn completed(&mut self, intended_at: Instant, steps: &[StepReport]) {
        let Some(slot) = self.slot(intended_at) else {
            return;
        };
        slot.completed += 1;
        for step in steps {
            slot.requests += 1;
            if matches!(step.outcome, Outcome::Failure(reason) if reason != Reason::Throttled) {
                slot.errors += 1;
            }
            if slot.micros.len() < SAMPLES_PER_SLOT {
                slot.micros
                    .push(u32::try_from(step.latency.as_micros()).unwrap_or(u32::MAX));
            }
        }
    }

    /// Judges every window that is complete at `now`; the result once there is one.
    pub fn evaluate(&mut self, now: Instant) -> Option<RecoveryResult> {
        let width = (WINDOW.as_nanos() / SLOT.as_nanos()) as usize;
        loop {
            let start = SLOT * self.first as u32;
            if start > self.bound {
                return Some(RecoveryResult::NotRecovered(self.bound));
            }
            // Every arrival of the window has come due, and every started one has reported.
            let window_end = self.burst_at + start + WINDOW;
            let complete = now >= window_end
                && self
                    .slots
                    .iter()
                    .take(width)
                    .all(|s| s.completed == s.dispatched);
            if !complete {
                return None;
            }
            if self.window_meets_slo(width) {
                return Some(RecoveryResult::Recovered(start));
            }
            self.slots.pop_front();
            self.first += 1;
        }
    }

    fn window_meets_slo(&self, width: usize) -> bool {
        let window = self.slots.iter().take(width);
        let (requests, errors) = window
            .clone()
            .fold((0, 0), |(r, e), s| (r + s.requests, e + s.errors));
        if requests == 0 || f64::from(errors) / f64::from(requests) > self.error_ratio {
            return false;
        }
        let mut micros: Vec<u32> = window.flat_map(|s| s.micros.iter().copied()).collect();
        micros.sort_unstable();
        let within = |q: f64, objective: Option<Duration>| {
            objective.is_none_or(|o| {
                let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
                u128::from(micros[rank - 1]) <= o.as_micros()
            })
        };
        within(0.95, self.p95) && within(0.99, self.p99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(latency_ms: u64) -> StepReport {
        StepReport {
            step: 0,
            outcome: Outcome::Success,
            status: Some(200),
            latency: Duration::from_millis(latency_ms),
            detail: None,
            retry_after: None,
            snippet: None,
        }
    }

    /// Arrivals every 50 ms after a burst; slow (300 ms) until `slow_for`, fast after.
    fn simulate(slow_for: Duration, total: Duration) -> Option<RecoveryResult> {
        let slo = Slo {
            p95: Some(Duration::from_millis(100)),
            recovery: Some(Duration::from_secs(30)),
            ..Slo::default()
        };
        let burst = Instant::now();
        let mut recovery = Recovery::new(burst, &slo);
        let mut at = burst + Duration::from_millis(50);
        while at < burst + total {
            recovery.dispatched(at);
            let latency = if at - burst < slow_for { 300 } else { 5 };
            recovery.completed(at, &[step(latency)]);
            at += Duration::from_millis(50);
        }
        recovery.evaluate(burst + total)
    }

    #[test]
    fn recovery_is_the_start_of_the_first_window_within_slo() {
        let result = simulate(Duration::from_secs(2), Duration::from_secs(10));
        let Some(RecoveryResult::Recovered(after)) = result else {
            panic!("{result:?}")
        };
        assert!(
            after >= Duration::from_millis(1700) && after <= Duration::from_secs(2),
            "{after:?}"
        );
    }

    #[test]
    fn a_window_is_not_judged_before_it_is_complete() {
        assert_eq!(
            simulate(Duration::from_secs(2), Duration::from_secs(6)),
            None
        );
    }

    #[test]
    fn no_recovery_within_four_times_the_slo_reports_the_bound() {
        let result = simulate(Duration::from_secs(200), Duration::from_secs(130));
        assert_eq!(
            result,
            Some(RecoveryResult::NotRecovered(Duration::from_secs(120)))
        );
    }
}
