//! A closed run (or report window) judged against the probe's SLOs.
//!
//! Pure data and arithmetic, so every verdict rule is tested without a clock or a network.
//! Without an SLO the rule is strict: any failed or throttled request fails the run, since
//! a user who wants to tolerate failures says how many in `slo`.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{CountValues, Percentile, RecoveryResult};
use crate::plan::{Rate, Slo};

/// Exact latency percentiles of one step over a window, in seconds (HDR histogram with
/// three significant digits).
#[derive(Debug, Clone, Serialize)]
pub struct StepLatency {
    /// Step name.
    pub step: String,
    /// Requests measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

impl StepLatency {
    /// Percentiles of a histogram of microseconds.
    pub(super) fn from_histogram(step: &str, histogram: &Histogram<u64>) -> Self {
        let seconds = |p: Percentile| histogram.value_at_quantile(p.quantile()) as f64 / 1e6;
        Self {
            step: step.to_owned(),
            count: histogram.len(),
            p50: seconds(Percentile::P50),
            p90: seconds(Percentile::P90),
            p95: seconds(Percentile::P95),
            p99: seconds(Percentile::P99),
            p999: seconds(Percentile::P999),
            max: histogram.max() as f64 / 1e6,
        }
    }

    /// The latency at `percentile`, seconds.
    pub fn at(&self, percentile: Percentile) -> f64 {
        match percentile {
            Percentile::P50 => self.p50,
            Percentile::P90 => self.p90,
            Percentile::P95 => self.p95,
            Percentile::P99 => self.p99,
            Percentile::P999 => self.p999,
        }
    }
}

/// An objective a window is judged against: the keys of `slo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Failed requests other than throttled, over requests: at most.
    ErrorRatio,
    /// Throttled requests over requests: at most.
    ThrottledRatio,
    /// A step's 95th percentile latency: at most.
    P95,
    /// A step's 99th percentile latency: at most.
    P99,
    /// Time to recover after a burst: at most.
    Recovery,
    /// Started iterations per second: at least.
    MinRate,
}

impl Objective {
    /// The SLO key, as in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::ErrorRatio => "error_ratio",
            Objective::ThrottledRatio => "throttled_ratio",
            Objective::P95 => "p95",
            Objective::P99 => "p99",
            Objective::Recovery => "recovery",
            Objective::MinRate => "min_rate",
        }
    }

    /// The latency objective of `percentile`, if an SLO may bound it.
    fn latency(percentile: Percentile) -> Option<Self> {
        match percentile {
            Percentile::P95 => Some(Objective::P95),
            Percentile::P99 => Some(Objective::P99),
            _ => None,
        }
    }
}

/// One SLO compared with what the window measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloVerdict {
    /// The objective.
    pub slo: Objective,
    /// The step, for latency SLOs.
    pub step: Option<String>,
    /// The configured objective (0 for the implicit error and throttled objectives).
    pub objective: f64,
    /// What was measured.
    pub measured: f64,
    /// Whether the objective was met.
    pub met: bool,
}

impl SloVerdict {
    fn at_most(slo: Objective, step: Option<String>, objective: f64, measured: f64) -> Self {
        Self {
            slo,
            step,
            objective,
            measured,
            met: measured <= objective,
        }
    }
}

/// What a closed run or window measured, and whether it met the SLOs.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// When it opened, Unix seconds.
    pub started: f64,
    /// How long it lasted, seconds.
    pub duration_seconds: f64,
    /// Arrivals per second the schedule planned.
    pub planned_rate: f64,
    /// Started iterations per second.
    pub achieved_rate: f64,
    /// Counts within it.
    pub counts: CountValues,
    /// Failed requests other than throttled, over requests.
    pub error_ratio: f64,
    /// Throttled requests over requests.
    pub throttled_ratio: f64,
    /// Percentiles per step.
    pub steps: Vec<StepLatency>,
    /// Each SLO with its verdict.
    pub slos: Vec<SloVerdict>,
    /// Whether requests were sent and every SLO was met.
    pub success: bool,
}

/// What a window measured, before it is judged.
#[derive(Debug, Clone)]
pub(super) struct Measured {
    pub(super) started: f64,
    pub(super) elapsed: Duration,
    /// How recovery after a burst in this window ended, if it did.
    pub(super) recovered: Option<RecoveryResult>,
    pub(super) planned_rate: f64,
    pub(super) counts: CountValues,
    pub(super) steps: Vec<StepLatency>,
}

impl RunReport {
    /// Judges a window against `slo`.
    pub(super) fn judge(slo: &Slo, window: Measured) -> Self {
        let counts = window.counts;
        let ratio = |n: u64| {
            if counts.requests == 0 {
                0.0
            } else {
                n as f64 / counts.requests as f64
            }
        };
        let error_ratio = ratio(counts.errors);
        let throttled_ratio = ratio(counts.throttled);
        let seconds = window.elapsed.as_secs_f64();
        let achieved_rate = if seconds > 0.0 {
            counts.started() as f64 / seconds
        } else {
            0.0
        };
        let mut slos = vec![
            SloVerdict::at_most(
                Objective::ErrorRatio,
                None,
                slo.error_ratio.unwrap_or(0.0),
                error_ratio,
            ),
            SloVerdict::at_most(
                Objective::ThrottledRatio,
                None,
                slo.throttled_ratio.unwrap_or(0.0),
                throttled_ratio,
            ),
        ];
        for step in window.steps.iter().filter(|s| s.count > 0) {
            for (percentile, objective) in Percentile::SLO.into_iter().zip([slo.p95, slo.p99]) {
                let (Some(key), Some(objective)) = (Objective::latency(percentile), objective)
                else {
                    continue;
                };
                slos.push(SloVerdict::at_most(
                    key,
                    Some(step.step.clone()),
                    objective.as_secs_f64(),
                    step.at(percentile),
                ));
            }
        }
        if let (Some(objective), Some(result)) = (slo.recovery, window.recovered) {
            let met = matches!(result, RecoveryResult::Recovered(d) if d <= objective);
            let (objective, measured) = (objective.as_secs_f64(), result.seconds());
            slos.push(SloVerdict {
                slo: Objective::Recovery,
                step: None,
                objective,
                measured,
                met,
            });
        }
        if let Some(min_rate) = slo.min_rate.map(Rate::per_second) {
            slos.push(SloVerdict {
                slo: Objective::MinRate,
                step: None,
                objective: min_rate,
                measured: achieved_rate,
                met: achieved_rate >= min_rate,
            });
        }
        let success = counts.requests > 0 && slos.iter().all(|v| v.met);
        Self {
            started: window.started,
            duration_seconds: seconds,
            planned_rate: window.planned_rate,
            achieved_rate,
            counts,
            error_ratio,
            throttled_ratio,
            steps: window.steps,
            slos,
            success,
        }
    }

    /// The SLOs that were not met, in words (for logs and the status page).
    pub fn violations(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .slos
            .iter()
            .filter(|v| !v.met)
            .map(|v| {
                let step = v
                    .step
                    .as_deref()
                    .map(|s| format!("{s} "))
                    .unwrap_or_default();
                format!(
                    "{step}{} {:.4} vs objective {}",
                    v.slo.as_str(),
                    v.measured,
                    v.objective
                )
            })
            .collect();
        if self.counts.requests == 0 {
            out.insert(0, "no requests were sent".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(
        seconds: u64,
        requests: u64,
        errors: u64,
        throttled: u64,
        steps: Vec<StepLatency>,
    ) -> Measured {
        let counts = CountValues {
            arrivals: requests,
            iterations: requests,
            requests,
            errors,
            throttled,
            ..CountValues::default()
        };
        Measured {
            started: 0.0,
            elapsed: Duration::from_secs(seconds),
            recovered: None,
            planned_rate: 10.0,
            counts,
            steps,
        }
    }

    fn latency(p95_ms: u64) -> StepLatency {
        let s = p95_ms as f64 / 1e3;
        StepLatency {
            step: "s".into(),
            count: 10,
            p50: 0.001,
            p90: s,
            p95: s,
            p99: s,
            p999: s,
            max: s,
        }
    }

    #[test]
    fn without_slo_any_failure_fails_the_run() {
        let report = RunReport::judge(&Slo::default(), window(10, 100, 1, 0, vec![]));
        assert!(!report.success);
        let clean = RunReport::judge(&Slo::default(), window(10, 100, 0, 0, vec![]));
        assert!(clean.success, "{:?}", clean.violations());
        let empty = RunReport::judge(&Slo::default(), window(10, 0, 0, 0, vec![]));
        assert_eq!(empty.violations(), ["no requests were sent"]);
    }

    #[test]
    fn recovery_is_judged_against_its_objective() {
        let slo = Slo {
            recovery: Some(Duration::from_secs(30)),
            ..Slo::default()
        };
        let judge = |recovered| {
            let mut w = window(10, 100, 0, 0, vec![]);
            w.recovered = Some(recovered);
            RunReport::judge(&slo, w).success
        };
        assert!(judge(RecoveryResult::Recovered(Duration::from_secs(12))));
        assert!(!judge(RecoveryResult::Recovered(Duration::from_secs(31))));
        assert!(!judge(RecoveryResult::NotRecovered(Duration::from_secs(
            120
        ))));
    }

    #[test]
    fn ratios_and_percentiles_are_judged_against_the_slo() {
        let slo = Slo {
            p95: Some(Duration::from_millis(50)),
            error_ratio: Some(0.02),
            throttled_ratio: Some(0.1),
            min_rate: Rate::new(9.0),
            ..Slo::default()
        };
        let ok = RunReport::judge(&slo, window(10, 100, 2, 10, vec![latency(50)]));
        assert!(ok.success, "{:?}", ok.violations());
        assert_eq!(ok.slos.len(), 4);
        let slow = RunReport::judge(&slo, window(10, 100, 3, 11, vec![latency(51)]));
        let failed: Vec<&str> = slow
            .slos
            .iter()
            .filter(|v| !v.met)
            .map(|v| v.slo.as_str())
            .collect();
        assert_eq!(failed, ["error_ratio", "throttled_ratio", "p95"]);
        let starved = RunReport::judge(&slo, window(20, 100, 0, 0, vec![]));
        assert_eq!(starved.violations(), ["min_rate 5.0000 vs objective 9"]);
    }
}
