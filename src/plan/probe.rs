//! Building a probe's schedule and checking its replay settings.

use std::path::Path;

use super::{Problems, Replay, Schedule, Target, check_name};
use crate::config::{ProbeConfig, ScheduleConfig};

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
