//! Building a probe's load profile: a constant rate or stages, uniform or Poisson, bursts.

use super::{Burst, LoadProfile, Problems, Rate, Stage};
use crate::config::LoadConfig;

/// The profile of `load`, or `None` after recording what is wrong with it.
pub(super) fn build_load(
    field: &str,
    load: &LoadConfig,
    replay: bool,
    problems: &mut Problems,
) -> Option<LoadProfile> {
    let before = problems.0.len();
    if replay {
        if load.rate.is_some() || !load.stages.is_empty() || load.burst.is_some() {
            problems.add(field, "a replay takes its timing from the log (or `replay.rate`): no `rate`, `stages` or `burst`");
        }
        return (problems.0.len() == before).then(|| LoadProfile {
            seed: load.seed,
            ..LoadProfile::default()
        });
    }
    let rate = match (load.rate, load.stages.is_empty(), &load.burst) {
        (Some(rate), true, _) => {
            let parsed = Rate::new(rate);
            if parsed.is_none() {
                problems.add(
                    format!("{field}.rate"),
                    "must be a number above 0 (arrivals per second)",
                );
            }
            parsed
        }
        (Some(_), false, _) => {
            problems.add(field, "give either `rate` or `stages`, not both");
            None
        }
        (None, true, None) => {
            problems.add(field, "needs `rate`, `stages` or `burst`");
            None
        }
        (None, _, _) => None,
    };
    let stages = build_stages(field, load, problems);
    let burst = load.burst.as_ref().map(|b| {
        if b.size == 0 {
            problems.add(format!("{field}.burst.size"), "must be at least 1");
        }
        if b.every.is_some_and(|e| e.is_zero()) {
            problems.add(format!("{field}.burst.every"), "must be above zero");
        }
        Burst {
            size: b.size,
            every: b.every,
        }
    });
    (problems.0.len() == before).then_some(LoadProfile {
        rate,
        stages,
        ramp: load.ramp,
        arrivals: load.arrivals,
        seed: load.seed,
        burst,
        replay: None,
    })
}

fn build_stages(field: &str, load: &LoadConfig, problems: &mut Problems) -> Vec<Stage> {
    let mut stages = Vec::new();
    for (i, stage) in load.stages.iter().enumerate() {
        if !(stage.rate.is_finite() && stage.rate >= 0.0) {
            problems.add(
                format!("{field}.stages[{i}].rate"),
                "must be a number of 0 or more",
            );
        }
        if stage.run_for.is_zero() {
            problems.add(format!("{field}.stages[{i}].for"), "must be above zero");
        }
        stages.push(Stage {
            rate: stage.rate,
            length: stage.run_for,
        });
    }
    if !stages.is_empty() && stages.iter().all(|s| s.rate <= 0.0) {
        problems.add(
            format!("{field}.stages"),
            "at least one stage needs a rate above 0",
        );
    }
    stages
}
