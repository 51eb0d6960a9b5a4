//! When a probe runs: continuously, every interval, or on a cron schedule, checked.

use std::time::Duration;

use super::problems::At;
use crate::config::ScheduleConfig;

/// When a probe runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// One endless run from start-up.
    Continuous,
    /// A run of `run_for` at start-up and then every `every`.
    Every {
        /// Interval between run starts.
        every: Duration,
        /// Length of a run (≤ `every`).
        run_for: Duration,
    },
    /// A run of `run_for` at each occurrence.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Length of a run.
        run_for: Duration,
    },
}

/// The schedule of `s`, or `None` when its cron expression does not parse (other problems
/// are recorded and a schedule is still returned).
pub(super) fn build_schedule(mut at: At<'_>, s: &ScheduleConfig) -> Option<Schedule> {
    let run_for = match s {
        ScheduleConfig::Continuous => return Some(Schedule::Continuous),
        ScheduleConfig::Every { run_for, .. } | ScheduleConfig::Cron { run_for, .. } => *run_for,
    };
    if run_for.is_zero() {
        at.key("for").add("must be above zero");
    }
    match s {
        ScheduleConfig::Continuous => Some(Schedule::Continuous),
        ScheduleConfig::Every { every, run_for } => {
            if every.is_zero() {
                at.key("every").add("must be above zero");
            } else if run_for > every {
                at.key("for").add("must not be longer than `every`");
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
            let cron = at.key("cron").check(parsed)?;
            Some(Schedule::Cron {
                cron: Box::new(cron),
                run_for: *run_for,
            })
        }
    }
}
