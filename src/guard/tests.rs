//! The guard's state machine and the rate cap, on explicit instants.

use super::*;
use crate::plan::PauseAbove;
use crate::report::StepReport;

fn config() -> GuardSettings {
    GuardSettings {
        pause_above: PauseAbove {
            error_ratio: Some(0.5),
            throttled_ratio: Some(0.9),
        },
        window: Duration::from_secs(10),
        min_requests: 4,
        cooldown: Duration::from_secs(60),
        canary_rate: Rate::positive(1.0).expect("above zero"),
        respect_retry_after: true,
    }
}

fn report(at: Instant, outcome: Outcome, retry_after: Option<u64>) -> IterationReport {
    let step = StepReport {
        step: 0,
        outcome,
        status: Some(200),
        latency: Duration::ZERO,
        detail: None,
        retry_after: retry_after.map(Duration::from_secs),
        snippet: None,
    };
    IterationReport {
        scenario: 0,
        planned_steps: 1,
        intended_at: at.into_std(),
        finished_at: at.into_std(),
        steps: vec![step],
        trace_id: None,
    }
}

const FAIL: Outcome = Outcome::Failure(Reason::Status);

#[test]
fn pauses_above_the_error_ratio_then_canaries_then_resumes() {
    let guard = Guard::new("p", config());
    let t0 = Instant::now();
    for i in 0..3 {
        assert_eq!(
            guard.record(&report(t0, FAIL, None), t0 + Duration::from_millis(i)),
            None,
            "fewer than min_requests"
        );
    }
    assert_eq!(
        guard.record(&report(t0, FAIL, None), t0),
        Some(TripReason::ErrorRatio)
    );
    assert!(
        !guard.admit(t0 + Duration::from_secs(59)),
        "paused for the cooldown"
    );
    let canary = t0 + Duration::from_secs(60);
    assert!(guard.admit(canary), "the first canary arrival goes");
    assert!(
        !guard.admit(canary + Duration::from_millis(500)),
        "then one per second"
    );
    assert!(guard.admit(canary + Duration::from_secs(1)));
    assert_eq!(guard.phase().state(), GuardState::Canary);
    assert!(
        guard.admit(canary + Duration::from_secs(10)),
        "a clean canary window resumes full rate"
    );
    assert_eq!(guard.phase(), Phase::Running);
}

#[test]
fn a_failing_canary_pauses_again() {
    let guard = Guard::new("p", config());
    let t0 = Instant::now();
    for _ in 0..4 {
        guard.record(&report(t0, FAIL, None), t0);
    }
    let canary = t0 + Duration::from_secs(60);
    assert!(guard.admit(canary));
    let trips: Vec<_> = (0..4)
        .filter_map(|_| guard.record(&report(canary, FAIL, None), canary))
        .collect();
    assert_eq!(trips, [TripReason::ErrorRatio]);
    assert!(!guard.admit(canary + Duration::from_secs(30)));
}

#[test]
fn successes_and_throttling_below_the_thresholds_keep_running() {
    let guard = Guard::new("p", config());
    let t0 = Instant::now();
    for i in 0..20 {
        let outcome = if i % 2 == 0 {
            Outcome::Success
        } else {
            Outcome::Failure(Reason::Throttled)
        };
        assert_eq!(
            guard.record(&report(t0, outcome, None), t0),
            None,
            "50% throttled is under 90%"
        );
    }
    assert!(guard.admit(t0));
}

#[test]
fn retry_after_holds_arrivals_for_that_long() {
    let guard = Guard::new("p", config());
    let t0 = Instant::now();
    assert_eq!(
        guard.record(
            &report(t0, Outcome::Failure(Reason::Throttled), Some(5)),
            t0
        ),
        Some(TripReason::RetryAfter)
    );
    assert!(!guard.admit(t0 + Duration::from_secs(4)));
    assert!(
        guard.admit(t0 + Duration::from_secs(5)),
        "no canary after a Retry-After hold"
    );
}

#[test]
fn the_rate_cap_admits_its_rate_and_drops_the_rest() {
    let t0 = Instant::now();
    let cap = RateCap::new(Rate::positive(10.0).expect("above zero"), t0);
    let admitted = (0..100)
        .filter(|i| cap.try_take(t0 + Duration::from_millis(i * 10)))
        .count();
    // One second of tokens to start with, then 10 per second over the next second.
    assert!((19..=21).contains(&admitted), "{admitted}");
}
