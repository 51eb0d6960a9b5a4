//! Cron arithmetic for the scheduler, on explicit times so it is tested without a clock.
//!
//! The schedule loop always recomputes the next occurrence from the current time, so a run
//! that overran never causes catch-up runs; the occurrences it overran are counted instead.

use std::time::Duration;

use jiff::Zoned;

/// Occurrences counted at most when a run overran; beyond it the count is capped (a cron
/// firing every second under a day-long run would otherwise be walked one by one).
const MAX_COUNTED_OCCURRENCES: u64 = 10_000;

/// The first occurrence strictly after `now`.
pub(super) fn next_after(cron: &croner::Cron, now: &Zoned) -> Option<Zoned> {
    cron.find_next_occurrence(now, false).ok()
}

/// Time from `from` to `to`, zero when `to` is not later.
pub(super) fn duration_between(from: &Zoned, to: &Zoned) -> Duration {
    let nanos = to.timestamp().as_nanosecond() - from.timestamp().as_nanosecond();
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Occurrences strictly after `after` and at or before `until`: runs that were due while
/// the run started at `after` was still going.
pub(super) fn occurrences_between(cron: &croner::Cron, after: &Zoned, until: &Zoned) -> u64 {
    cron.iter_after(after.clone())
        .take_while(|at| at <= until)
        .take(MAX_COUNTED_OCCURRENCES as usize)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Zoned {
        format!("{s}[UTC]").parse().expect("valid time")
    }

    fn cron(expr: &str) -> croner::Cron {
        expr.parse().expect("valid cron")
    }

    #[test]
    fn next_occurrence_is_strictly_after_now() {
        let every_15_minutes = cron("*/15 * * * *");
        let next = next_after(&every_15_minutes, &at("2026-11-23T10:15:00")).expect("has next");
        assert_eq!(next, at("2026-11-23T10:30:00"));
        assert_eq!(
            duration_between(&at("2026-11-23T10:15:00"), &next),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn six_field_expressions_have_seconds() {
        let every_10_seconds = cron("*/10 * * * * *");
        let next = next_after(&every_10_seconds, &at("2026-11-23T10:00:01")).expect("has next");
        assert_eq!(next, at("2026-11-23T10:00:10"));
    }

    #[test]
    fn overrun_occurrences_are_counted_not_replayed() {
        let every_minute = cron("* * * * *");
        let skipped = occurrences_between(
            &every_minute,
            &at("2026-11-23T10:00:00"),
            &at("2026-11-23T10:03:30"),
        );
        assert_eq!(skipped, 3);
        assert_eq!(
            duration_between(&at("2026-11-23T10:01:00"), &at("2026-11-23T10:00:00")),
            Duration::ZERO
        );
    }
}
