//! Building a probe's schedule and checking its SLO, replay and guard settings.

use std::path::Path;

use super::{Problems, Rate, Replay, Schedule, Target, check_name, check_ratio};
use crate::config::{GuardConfig, ProbeConfig, ScheduleConfig, SloConfig};

/// The log of a replay probe, which must not also have steps, a mix, data or a rate.
pub(super) fn build_replay(
    field: &str,
    p: &ProbeConfig,
    config: &crate::config::ReplayConfig,
    target: &Target,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Replay> {
    if p.request.is_some() || !p.steps.is_empty() || !p.mix.is_empty() || p.data.is_some() {
        problems.add(
            field,
            "a replay takes its requests from the log: no `steps`, `request`, `mix` or `data`",
        );
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, route) in config.routes.iter().enumerate() {
        check_name(&format!("{field}.routes[{i}].name"), &route.name, problems);
        if !seen.insert(&route.name) {
            problems.add(
                format!("{field}.routes[{i}].name"),
                format!("duplicate route name `{}`", route.name),
            );
        }
        if route.name == "other" {
            problems.add(
                format!("{field}.routes[{i}].name"),
                "`other` is the fallback route's name",
            );
        }
    }
    problems.check(field, Replay::load(config, base_dir, &target.url))
}

/// Guard settings are checked in place (they are used as written).
pub(super) fn check_guard(field: &str, g: &GuardConfig, problems: &mut Problems) -> bool {
    let before = problems.0.len();
    check_ratio(
        &format!("{field}.pause_above.error_ratio"),
        g.pause_above.error_ratio,
        problems,
    );
    check_ratio(
        &format!("{field}.pause_above.throttled_ratio"),
        g.pause_above.throttled_ratio,
        problems,
    );
    for (key, value) in [("window", g.window), ("cooldown", g.cooldown)] {
        if value.is_zero() {
            problems.add(format!("{field}.{key}"), "must be above zero");
        }
    }
    if Rate::new(g.canary_rate).is_none() {
        problems.add(
            format!("{field}.canary_rate"),
            "must be a number above 0 (arrivals per second)",
        );
    }
    if g.min_requests == 0 {
        problems.add(format!("{field}.min_requests"), "must be at least 1");
    }
    // A canary window with fewer requests than min_requests could never trip again.
    if g.canary_rate * g.window.as_secs_f64() < g.min_requests as f64 {
        problems.add(
            format!("{field}.canary_rate"),
            "canary_rate × window must reach min_requests, or a canary could never pause the probe again",
        );
    }
    problems.0.len() == before
}

pub(super) fn build_schedule(
    field: &str,
    s: &ScheduleConfig,
    problems: &mut Problems,
) -> Option<Schedule> {
    let run_for = match s {
        ScheduleConfig::Continuous => return Some(Schedule::Continuous),
        ScheduleConfig::Every { run_for, .. } | ScheduleConfig::Cron { run_for, .. } => *run_for,
    };
    if run_for.is_zero() {
        problems.add(format!("{field}.for"), "must be above zero");
    }
    match s {
        ScheduleConfig::Continuous => Some(Schedule::Continuous),
        ScheduleConfig::Every { every, run_for } => {
            if every.is_zero() {
                problems.add(format!("{field}.every"), "must be above zero");
            } else if run_for > every {
                problems.add(format!("{field}.for"), "must not be longer than `every`");
            }
            Some(Schedule::Every {
                every: *every,
                run_for: *run_for,
            })
        }
        ScheduleConfig::Cron { cron, run_for } => {
            let parsed = cron
                .parse::<croner::Cron>()
                .map_err(|e| format!("invalid cron expression `{cron}`: {e}"));
            let cron = problems.check(&format!("{field}.cron"), parsed)?;
            Some(Schedule::Cron {
                cron: Box::new(cron),
                run_for: *run_for,
            })
        }
    }
}

pub(super) fn build_slo(field: &str, slo: Option<&SloConfig>, problems: &mut Problems) {
    let Some(slo) = slo else { return };
    check_ratio(&format!("{field}.error_ratio"), slo.error_ratio, problems);
    check_ratio(
        &format!("{field}.throttled_ratio"),
        slo.throttled_ratio,
        problems,
    );
    if slo.min_rate.is_some_and(|r| Rate::new(r).is_none()) {
        problems.add(format!("{field}.min_rate"), "must be a number above 0");
    }
    for (key, value) in [
        ("p95", slo.p95),
        ("p99", slo.p99),
        ("recovery", slo.recovery),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            problems.add(format!("{field}.{key}"), "must be above zero");
        }
    }
}
