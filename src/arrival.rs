//! Pure arrival-time maths: when, relative to a run's start, each iteration should begin.
//!
//! Offsets are computed from the arrival's index (`i / rate`), never by adding intervals,
//! so rounding does not accumulate and a late wake-up does not shift later arrivals: the
//! open model stays open. No clock, no I/O: the scheduler turns offsets into instants.

use std::time::Duration;

use crate::plan::{Rate, Shard};

/// The arrival offsets of one run: constant rate, bounded by the run's length.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// Nanoseconds between arrivals of the whole fleet, as a float so fractional rates stay
    /// exact enough.
    interval_nanos: f64,
    /// Which of the fleet's arrivals are this replica's: every `count`-th, from `index`.
    shard: Shard,
    /// Offsets at or beyond this are not part of the run (`None`: endless).
    run_for: Option<Duration>,
    /// Index of the next arrival to yield.
    next: u64,
}

impl Arrivals {
    /// Arrivals at `rate` from offset zero, for `run_for` (or forever).
    pub fn new(rate: Rate, run_for: Option<Duration>) -> Self {
        Self::sharded(rate, Shard::WHOLE, run_for)
    }

    /// This replica's share of a fleet sending `rate` in total: the fleet's arrivals
    /// `index`, `index + count`, … so replicas interleave evenly instead of bunching.
    pub fn sharded(rate: Rate, shard: Shard, run_for: Option<Duration>) -> Self {
        Self {
            interval_nanos: 1e9 / rate.per_second(),
            shard,
            run_for,
            next: 0,
        }
    }

    /// Offset of this replica's arrival `index` from the run's start.
    pub fn offset(&self, index: u64) -> Duration {
        let fleet_index = index * u64::from(self.shard.count) + u64::from(self.shard.index);
        // Rounded to whole nanoseconds; computed from the index, so errors never add up.
        Duration::from_nanos((fleet_index as f64 * self.interval_nanos).round() as u64)
    }

    /// Index of the arrival that the next call to `next` yields.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Offset of the next arrival without consuming it, or `None` when the run is over.
    pub fn peek(&self) -> Option<Duration> {
        let offset = self.offset(self.next);
        match self.run_for {
            Some(limit) if offset >= limit => None,
            _ => Some(offset),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let offset = self.peek()?;
        self.next += 1;
        Some(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64) -> Rate {
        Rate::new(per_second).expect("positive rate")
    }

    #[test]
    fn offsets_are_exact_multiples_of_the_interval() {
        let offsets: Vec<Duration> =
            Arrivals::new(rate(100.0), Some(Duration::from_millis(50))).collect();
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(10 * i)).collect();
        assert_eq!(offsets, expected);
    }

    #[test]
    fn run_length_bounds_the_count() {
        let count = Arrivals::new(rate(1000.0), Some(Duration::from_secs(30))).count();
        assert_eq!(count, 30_000);
    }

    #[test]
    fn far_offsets_do_not_drift() {
        let arrivals = Arrivals::new(rate(3.0), None);
        // One million arrivals at 3/s end at 333 333.333… s, not a rounding error away.
        assert_eq!(
            arrivals.offset(1_000_000),
            Duration::from_nanos(333_333_333_333_333)
        );
    }

    #[test]
    fn shards_interleave_the_fleet_rate() {
        let run = Some(Duration::from_millis(100));
        let shard = |index| Shard { index, count: 3 };
        let mut all: Vec<Duration> = (0..3)
            .flat_map(|i| Arrivals::sharded(rate(100.0), shard(i), run))
            .collect();
        all.sort();
        let whole: Vec<Duration> = Arrivals::new(rate(100.0), run).collect();
        assert_eq!(
            all, whole,
            "three replicas together send exactly the planned arrivals"
        );
        let second: Vec<Duration> = Arrivals::sharded(rate(100.0), shard(1), run).collect();
        assert_eq!(second, [10, 40, 70].map(Duration::from_millis));
    }

    #[test]
    fn fractional_rates_are_supported() {
        let offsets: Vec<Duration> =
            Arrivals::new(rate(0.5), Some(Duration::from_secs(5))).collect();
        assert_eq!(offsets, [0, 2, 4].map(Duration::from_secs));
    }
}
