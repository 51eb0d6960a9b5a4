//! Pure arrival-time maths: when, relative to a run's start, each iteration should begin.
//!
//! A load profile is an intensity: the expected number of arrivals by time `t`, Λ(t). The
//! k-th uniform arrival is where Λ(t) = k; Poisson arrivals are where Λ(t) reaches a running
//! sum of exponential gaps. Both are computed from a level, never by adding intervals, so
//! rounding does not accumulate and a late wake-up does not shift later arrivals: the open
//! model stays open. Bursts are extra arrivals at fixed instants. No clock, no I/O.

use std::time::Duration;

use crate::plan::{
    ArrivalProcess, Burst, LoadModel, LoadProfile, Ramp, Rate, ReplayTiming, Shard, Stage,
};

/// One planned arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Offset from the run's start.
    pub offset: Duration,
    /// Part of a burst (all-at-once arrivals on top of the rate).
    pub burst: bool,
}

/// Λ(t): expected arrivals of the whole fleet by `t` seconds into a run.
#[derive(Debug, Clone)]
enum Intensity {
    /// A constant rate (kept apart so `k / rate` stays exact).
    Constant(Rate),
    /// Stages repeated for the length of the run.
    Cycle {
        /// Pieces of linear rate, in order, covering one cycle.
        segments: Vec<Segment>,
        /// Seconds per cycle.
        length: f64,
        /// Expected arrivals per cycle.
        arrivals: f64,
    },
}

/// A stretch of one cycle whose rate moves linearly from `from` to `to`.
#[derive(Debug, Clone)]
struct Segment {
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    /// Expected arrivals of the cycle before this segment.
    before: f64,
}

impl Segment {
    fn arrivals(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length
    }

    /// Seconds into the segment at which `level` arrivals (from its start) are expected.
    fn time_of(&self, level: f64) -> f64 {
        let slope = (self.to - self.from) / self.length;
        if slope.abs() < 1e-12 {
            return level / self.from;
        }
        // from·t + slope·t²/2 = level
        (-self.from
            + (self.from * self.from + 2.0 * slope * level)
                .max(0.0)
                .sqrt())
            / slope
    }
}

impl Intensity {
    /// Λ of stages repeated for the length of the run.
    fn stages(stages: &[Stage], ramp: Ramp) -> Self {
        let mut segments = Vec::new();
        let (mut start, mut before, mut previous) = (0.0, 0.0, 0.0);
        for stage in stages {
            let rate = stage.rate.per_second();
            let from = if ramp == Ramp::Linear { previous } else { rate };
            let segment = Segment {
                start,
                length: stage.length.as_secs_f64(),
                from,
                to: rate,
                before,
            };
            start += segment.length;
            before += segment.arrivals();
            previous = rate;
            segments.push(segment);
        }
        Intensity::Cycle {
            segments,
            length: start,
            arrivals: before,
        }
    }

    /// Mean arrivals per second: the rate, or the average over a cycle.
    fn mean_rate(&self) -> Rate {
        match self {
            Intensity::Constant(rate) => *rate,
            Intensity::Cycle {
                length, arrivals, ..
            } => Rate::new(arrivals / length)
                .expect("stages last above zero and have finite rates of 0 or more"),
        }
    }

    /// Seconds at which Λ reaches `level`.
    fn time_of(&self, level: f64) -> f64 {
        match self {
            Intensity::Constant(rate) => level / rate.per_second(),
            Intensity::Cycle {
                segments,
                length,
                arrivals,
            } => {
                let cycles = (level / arrivals).floor();
                let rest = level - cycles * arrivals;
                let segment = segments
                    .iter()
                    .rev()
                    .find(|s| s.before <= rest && s.arrivals() > 0.0)
                    .expect("a cycle has at least one segment with arrivals");
                cycles * length + segment.start + segment.time_of(rest - segment.before)
            }
        }
    }

    /// The planned rate `t` seconds into the run.
    fn rate_at(&self, t: f64) -> f64 {
        match self {
            Intensity::Constant(rate) => rate.per_second(),
            Intensity::Cycle {
                segments, length, ..
            } => {
                let t = t % length;
                let s = segments
                    .iter()
                    .rev()
                    .find(|s| s.start <= t)
                    .expect("segments start at 0");
                s.from + (s.to - s.from) * (t - s.start) / s.length
            }
        }
    }
}

/// Mean arrivals per second of the whole fleet: the rate, or the stages' average over a
/// cycle, plus bursts spread over their interval; a replay's fixed rate, or its log's.
pub fn mean_rate(profile: &LoadProfile) -> Rate {
    match &profile.model {
        LoadModel::Constant { rate, burst, .. } => *rate + burst_rate(burst.as_ref()),
        LoadModel::Stages {
            stages,
            ramp,
            burst,
            ..
        } => Intensity::stages(stages, *ramp).mean_rate() + burst_rate(burst.as_ref()),
        LoadModel::Burst(burst) => burst_rate(Some(burst)),
        LoadModel::Replay(replay) => replay_rate(replay),
    }
}

/// Burst arrivals per second; 0 for one burst per run, which has no interval to spread over.
fn burst_rate(burst: Option<&Burst>) -> Rate {
    burst
        .and_then(|b| b.every.map(|every| f64::from(b.size) / every.as_secs_f64()))
        .map_or(Rate::ZERO, |rate| {
            Rate::new(rate).expect("a burst interval is above zero")
        })
}

/// Entries per second of a replay: its fixed rate, or the log's over one pass.
fn replay_rate(replay: &ReplayTiming) -> Rate {
    replay.rate.unwrap_or_else(|| {
        let logged =
            replay.offsets.len() as f64 / replay_cycle(replay).as_secs_f64() * replay.speed;
        Rate::new(logged).expect("a pass lasts a second or more and the speed is above zero")
    })
}

/// One pass of a logged replay: up to the last entry plus one mean gap, so a loop does not
/// send the first entry on top of the last.
fn replay_cycle(replay: &ReplayTiming) -> Duration {
    let last = replay.offsets.last().copied().unwrap_or_default();
    let entries = replay.offsets.len() as u32;
    if entries < 2 || last.is_zero() {
        Duration::from_secs(1).max(last)
    } else {
        last + last / (entries - 1)
    }
}

/// Offset of fleet-wide replay arrival `index`, or `None` after the log without `loop`.
fn replay_offset(replay: &ReplayTiming, index: u64) -> Option<Duration> {
    let entries = replay.offsets.len() as u64;
    let pass = index / entries;
    if pass > 0 && !replay.looped {
        return None;
    }
    match replay.rate {
        Some(rate) => Some(Duration::from_secs_f64(index as f64 / rate.per_second())),
        None => {
            let logged =
                replay_cycle(replay) * pass as u32 + replay.offsets[(index % entries) as usize];
            Some(Duration::from_secs_f64(logged.as_secs_f64() / replay.speed))
        }
    }
}

/// The arrivals of one run: rate or stages (uniform or Poisson) plus bursts, this replica's
/// share only, bounded by the run's length.
#[derive(Debug, Clone)]
pub struct Arrivals {
    intensity: Option<Intensity>,
    /// A replay's timing, instead of an intensity.
    replay: Option<ReplayTiming>,
    /// Random gaps for Poisson arrivals; `None` for uniform ones.
    poisson: Option<fastrand::Rng>,
    shard: Shard,
    run_for: Option<Duration>,
    /// This replica's regular arrivals yielded so far.
    index: u64,
    /// Λ-level of the next regular arrival.
    level: f64,
    /// Bursts: size, interval, and the next one's offset and arrivals left in it.
    burst: Option<BurstState>,
}

#[derive(Debug, Clone)]
struct BurstState {
    size: u32,
    every: Option<Duration>,
    next_at: Option<Duration>,
    left: u32,
}

impl Arrivals {
    /// The arrivals of a run of `profile` for `run_for` (or forever), for `shard`.
    pub fn new(profile: &LoadProfile, shard: Shard, run_for: Option<Duration>) -> Self {
        let (intensity, replay, process, burst) = match &profile.model {
            LoadModel::Constant {
                rate,
                arrivals,
                burst,
            } => (Some(Intensity::Constant(*rate)), None, *arrivals, *burst),
            LoadModel::Stages {
                stages,
                ramp,
                arrivals,
                burst,
            } => (
                Some(Intensity::stages(stages, *ramp)),
                None,
                *arrivals,
                *burst,
            ),
            LoadModel::Burst(burst) => (None, None, ArrivalProcess::Uniform, Some(*burst)),
            // A replay's entries are numbered in order: its arrivals are never random.
            LoadModel::Replay(replay) => {
                (None, Some(replay.clone()), ArrivalProcess::Uniform, None)
            }
        };
        let poisson = (process == ArrivalProcess::Poisson).then(|| {
            // Each replica draws its own sequence from the configured (or a random) seed.
            let seed = profile.seed.unwrap_or_else(|| fastrand::u64(..));
            fastrand::Rng::with_seed(
                seed ^ u64::from(shard.index).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )
        });
        let burst = burst.map(|b| BurstState {
            // Bursts are split across replicas like everything else.
            size: b.size.div_ceil(shard.count),
            every: b.every,
            next_at: Some(Duration::ZERO),
            left: b.size.div_ceil(shard.count),
        });
        let mut arrivals = Self {
            intensity,
            replay,
            poisson,
            shard,
            run_for,
            index: 0,
            level: 0.0,
            burst,
        };
        arrivals.level = arrivals.next_level();
        arrivals
    }

    /// The Λ-level of the next regular arrival after the current one.
    fn next_level(&mut self) -> f64 {
        let count = f64::from(self.shard.count);
        match &mut self.poisson {
            // A replica with 1/N of the rate: exponential gaps N times as long, in Λ.
            Some(rng) => self.level + -(1.0 - rng.f64()).ln() * count,
            None => self.shard.fleet_iteration(self.index) as f64,
        }
    }

    /// The planned arrivals per second of this replica `offset` into the run (bursts aside).
    pub fn rate_at(&self, offset: Duration) -> Rate {
        if let Some(replay) = &self.replay {
            return replay_rate(replay).share(self.shard.count);
        }
        let fleet = self
            .intensity
            .as_ref()
            .map_or(0.0, |i| i.rate_at(offset.as_secs_f64()));
        // A linear ramp between finite rates of 0 or more stays one.
        Rate::new(fleet)
            .unwrap_or(Rate::ZERO)
            .share(self.shard.count)
    }

    fn regular_offset(&self) -> Option<Duration> {
        if let Some(replay) = &self.replay {
            return self.within_run(replay_offset(replay, self.level as u64)?);
        }
        let seconds = self.intensity.as_ref()?.time_of(self.level);
        let offset = Duration::from_nanos((seconds * 1e9).round() as u64);
        self.within_run(offset)
    }

    fn burst_offset(&self) -> Option<Duration> {
        let burst = self.burst.as_ref()?;
        burst.next_at.and_then(|at| self.within_run(at))
    }

    fn within_run(&self, offset: Duration) -> Option<Duration> {
        match self.run_for {
            Some(limit) if offset >= limit => None,
            _ => Some(offset),
        }
    }

    /// The next arrival without consuming it, or `None` when the run is over.
    pub fn peek(&self) -> Option<Arrival> {
        match (self.burst_offset(), self.regular_offset()) {
            (Some(b), Some(r)) if b <= r => Some(Arrival {
                offset: b,
                burst: true,
            }),
            (Some(b), None) => Some(Arrival {
                offset: b,
                burst: true,
            }),
            (_, Some(r)) => Some(Arrival {
                offset: r,
                burst: false,
            }),
            (None, None) => None,
        }
    }
}

impl Iterator for Arrivals {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        let arrival = self.peek()?;
        if arrival.burst {
            let burst = self
                .burst
                .as_mut()
                .expect("a burst arrival comes from a burst");
            burst.left -= 1;
            if burst.left == 0 {
                burst.left = burst.size;
                burst.next_at = burst.every.map(|every| arrival.offset + every);
            }
        } else {
            self.index += 1;
            self.level = self.next_level();
        }
        Some(arrival)
    }
}

#[cfg(test)]
mod tests;
