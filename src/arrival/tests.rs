//! Arrival maths as pure data: exact offsets, stages, ramps, Poisson gaps, bursts, shards.

use super::*;
use crate::plan::{Burst, Rate, Stage};

fn profile(model: LoadModel) -> LoadProfile {
    LoadProfile { model, seed: None }
}

fn constant(per_second: f64) -> LoadProfile {
    profile(constant_model(per_second, ArrivalProcess::Uniform, None))
}

fn constant_model(per_second: f64, arrivals: ArrivalProcess, burst: Option<Burst>) -> LoadModel {
    LoadModel::Constant {
        rate: Rate::positive(per_second).expect("above zero"),
        arrivals,
        burst,
    }
}

fn offsets(profile: &LoadProfile, run_for: Duration) -> Vec<Duration> {
    Arrivals::new(profile, Shard::WHOLE, Some(run_for))
        .map(|a| a.offset)
        .collect()
}

fn stages(ramp: Ramp, stages: &[(f64, u64)]) -> LoadProfile {
    let stages = stages
        .iter()
        .map(|&(rate, secs)| Stage {
            rate: Rate::new(rate).expect("0 or more"),
            length: Duration::from_secs(secs),
        })
        .collect();
    profile(LoadModel::Stages {
        stages,
        ramp,
        arrivals: ArrivalProcess::Uniform,
        burst: None,
    })
}

fn count_between(offsets: &[Duration], from: u64, to: u64) -> usize {
    offsets
        .iter()
        .filter(|o| **o >= Duration::from_secs(from) && **o < Duration::from_secs(to))
        .count()
}

#[test]
fn offsets_are_exact_multiples_of_the_interval() {
    let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(10 * i)).collect();
    assert_eq!(
        offsets(&constant(100.0), Duration::from_millis(50)),
        expected
    );
}

#[test]
fn run_length_bounds_the_count() {
    assert_eq!(
        offsets(&constant(1000.0), Duration::from_secs(30)).len(),
        30_000
    );
}

#[test]
fn far_offsets_do_not_drift() {
    let mut arrivals = Arrivals::new(&constant(3.0), Shard::WHOLE, None);
    let millionth = arrivals.nth(1_000_000).expect("endless").offset;
    // One million arrivals at 3/s end at 333 333.333… s, not a rounding error away.
    assert_eq!(millionth, Duration::from_nanos(333_333_333_333_333));
}

#[test]
fn fractional_rates_are_supported() {
    assert_eq!(
        offsets(&constant(0.5), Duration::from_secs(5)),
        [0, 2, 4].map(Duration::from_secs)
    );
}

#[test]
fn shards_interleave_the_fleet_rate() {
    let run = Some(Duration::from_millis(100));
    let shard = |index| Shard { index, count: 3 };
    let profile = constant(100.0);
    let mut all: Vec<Duration> = (0..3)
        .flat_map(|i| Arrivals::new(&profile, shard(i), run).map(|a| a.offset))
        .collect();
    all.sort();
    assert_eq!(
        all,
        offsets(&profile, Duration::from_millis(100)),
        "together: exactly the plan"
    );
    let second: Vec<Duration> = Arrivals::new(&profile, shard(1), run)
        .map(|a| a.offset)
        .collect();
    assert_eq!(second, [10, 40, 70].map(Duration::from_millis));
}

#[test]
fn stages_repeat_for_the_length_of_the_run() {
    let all = offsets(
        &stages(Ramp::Step, &[(10.0, 1), (20.0, 1)]),
        Duration::from_secs(4),
    );
    let per_second: Vec<usize> = (0..4).map(|s| count_between(&all, s, s + 1)).collect();
    assert_eq!(per_second, [10, 20, 10, 20]);
    let arrivals = Arrivals::new(
        &stages(Ramp::Step, &[(10.0, 1), (20.0, 1)]),
        Shard::WHOLE,
        None,
    );
    assert_eq!(
        arrivals.rate_at(Duration::from_millis(1500)).per_second(),
        20.0
    );
    assert_eq!(
        arrivals.rate_at(Duration::from_millis(2500)).per_second(),
        10.0
    );
}

#[test]
fn a_zero_rate_stage_is_a_pause() {
    let all = offsets(
        &stages(Ramp::Step, &[(10.0, 1), (0.0, 1)]),
        Duration::from_secs(3),
    );
    assert_eq!(
        [0, 1, 2].map(|s| count_between(&all, s, s + 1)),
        [10, 0, 10]
    );
}

#[test]
fn linear_ramps_start_from_the_previous_stage() {
    // 0 → 10/s over 2 s (10 arrivals), then 10 → 30/s over 1 s (20 arrivals).
    let profile = stages(Ramp::Linear, &[(10.0, 2), (30.0, 1)]);
    let all = offsets(&profile, Duration::from_secs(3));
    assert_eq!(count_between(&all, 0, 2), 10);
    assert_eq!(count_between(&all, 2, 3), 20);
    // In a ramp from 0 the first second holds a quarter of the arrivals of the first two.
    assert!(
        (2..=3).contains(&count_between(&all, 0, 1)),
        "{}",
        count_between(&all, 0, 1)
    );
    let arrivals = Arrivals::new(&profile, Shard::WHOLE, None);
    assert!((arrivals.rate_at(Duration::from_secs(1)).per_second() - 5.0).abs() < 1e-9);
}

#[test]
fn poisson_gaps_pass_a_kolmogorov_smirnov_test_against_the_exponential() {
    let rate = 100.0;
    let profile = LoadProfile {
        model: constant_model(rate, ArrivalProcess::Poisson, None),
        seed: Some(42),
    };
    let times: Vec<f64> = Arrivals::new(&profile, Shard::WHOLE, None)
        .take(10_001)
        .map(|a| a.offset.as_secs_f64())
        .collect();
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let n = gaps.len() as f64;
    let statistic = gaps
        .iter()
        .enumerate()
        .map(|(i, gap)| {
            let cdf = 1.0 - (-rate * gap).exp();
            (cdf - i as f64 / n).abs().max((i as f64 + 1.0) / n - cdf)
        })
        .fold(0.0, f64::max);
    // Critical value at the 1% level: 1.63 / sqrt(n).
    assert!(statistic < 1.63 / n.sqrt(), "KS statistic {statistic}");
    // The seed makes it repeatable.
    let again: Vec<f64> = Arrivals::new(&profile, Shard::WHOLE, None)
        .take(10_001)
        .map(|a| a.offset.as_secs_f64())
        .collect();
    assert_eq!(times, again);
}

#[test]
fn bursts_come_all_at_once_on_top_of_the_rate() {
    let profile = profile(constant_model(
        2.0,
        ArrivalProcess::Uniform,
        Some(Burst {
            size: 3,
            every: Some(Duration::from_secs(1)),
        }),
    ));
    let all: Vec<(u64, bool)> = Arrivals::new(&profile, Shard::WHOLE, Some(Duration::from_secs(2)))
        .map(|a| (a.offset.as_millis() as u64, a.burst))
        .collect();
    let expected = [
        (0, true),
        (0, true),
        (0, true),
        (0, false),
        (500, false),
        (1000, true),
        (1000, true),
        (1000, true),
        (1000, false),
        (1500, false),
    ];
    assert_eq!(all, expected);
}

#[test]
fn a_burst_only_profile_bursts_once_per_run_without_every() {
    let profile = profile(LoadModel::Burst(Burst {
        size: 4,
        every: None,
    }));
    let all = offsets(&profile, Duration::from_secs(60));
    assert_eq!(all, [Duration::ZERO; 4]);
}
