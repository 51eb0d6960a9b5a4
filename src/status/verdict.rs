//! A closed run (or report window) judged against the probe's SLOs.
//!
//! Pure data and arithmetic, so every verdict rule is tested without a clock or a network.
//! Without an SLO the rule is strict: any failed or throttled request fails the run, since
//! a user who wants to tolerate failures says how many in `slo`.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::CountValues;
use crate::config::SloConfig;

/// Exact latency percentiles of one step over a window, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct StepLatency {
    /// Step name.
    pub step: String,
    /// Requests measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl StepLatency {
    /// Percentiles of a histogram of microseconds.
    pub(super) fn from_histogram(step: &str, histogram: &Histogram<u64>) -> Self {
        let seconds = |q: f64| histogram.value_at_quantile(q) as f64 / 1e6;
        Self {
            step: step.to_owned(),
            count: histogram.len(),
            p50: seconds(0.5),
            p95: seconds(0.95),
            p99: seconds(0.99),
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
    /// Counts within it.
    pub counts: CountValues,
    /// Started iterations per second.
    pub achieved_rate: f64,
    /// Failed requests other than throttled, over requests.
    pub error_ratio: f64,
    /// Throttled requests over requests.
    pub throttled_ratio: f64,
    /// Percentiles per step.
    pub steps: Vec<StepLatency>,
    /// The SLOs that were not met (empty on success).
    pub violations: Vec<String>,
    /// Whether every SLO was met.
    pub success: bool,
}

impl RunReport {
    /// Judges a window's counts and latencies against `slo`.
    pub(super) fn judge(
        slo: &SloConfig,
        started: f64,
        elapsed: Duration,
        counts: CountValues,
        steps: Vec<StepLatency>,
    ) -> Self {
        let ratio = |n: u64| {
            if counts.requests == 0 {
                0.0
            } else {
                n as f64 / counts.requests as f64
            }
        };
        let error_ratio = ratio(counts.errors);
        let throttled_ratio = ratio(counts.throttled);
        let seconds = elapsed.as_secs_f64();
        let started_iterations = counts.arrivals - counts.dropped;
        let achieved_rate = if seconds > 0.0 {
            started_iterations as f64 / seconds
        } else {
            0.0
        };
        let mut violations = Vec::new();
        if counts.requests == 0 {
            violations.push("no requests were sent".to_owned());
        }
        let limit = slo.error_ratio.unwrap_or(0.0);
        if error_ratio > limit {
            violations.push(format!("error ratio {error_ratio:.4} above {limit}"));
        }
        let limit = slo.throttled_ratio.unwrap_or(0.0);
        if throttled_ratio > limit {
            violations.push(format!(
                "throttled ratio {throttled_ratio:.4} above {limit}"
            ));
        }
        for step in &steps {
            for (name, measured, target) in [("p95", step.p95, slo.p95), ("p99", step.p99, slo.p99)]
            {
                if let Some(target) =
                    target.filter(|t| step.count > 0 && measured > t.as_secs_f64())
                {
                    violations.push(format!(
                        "{} {name} {measured:.4}s above {target:?}",
                        step.step
                    ));
                }
            }
        }
        if let Some(min_rate) = slo.min_rate.filter(|&min| achieved_rate < min) {
            violations.push(format!(
                "achieved rate {achieved_rate:.2}/s below {min_rate}/s"
            ));
        }
        Self {
            started,
            duration_seconds: seconds,
            counts,
            achieved_rate,
            error_ratio,
            throttled_ratio,
            steps,
            success: violations.is_empty(),
            violations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u64, errors: u64, throttled: u64) -> CountValues {
        CountValues {
            arrivals: requests,
            iterations: requests,
            requests,
            errors,
            throttled,
            ..CountValues::default()
        }
    }

    fn latency(p95_ms: u64) -> StepLatency {
        StepLatency {
            step: "s".into(),
            count: 10,
            p50: 0.001,
            p95: p95_ms as f64 / 1e3,
            p99: p95_ms as f64 / 1e3,
        }
    }

    #[test]
    fn without_slo_any_failure_fails_the_run() {
        let report = RunReport::judge(
            &SloConfig::default(),
            0.0,
            Duration::from_secs(10),
            counts(100, 1, 0),
            vec![],
        );
        assert!(!report.success);
        let clean = RunReport::judge(
            &SloConfig::default(),
            0.0,
            Duration::from_secs(10),
            counts(100, 0, 0),
            vec![],
        );
        assert!(clean.success, "{:?}", clean.violations);
    }

    #[test]
    fn ratios_and_percentiles_are_judged_against_the_slo() {
        let slo = SloConfig {
            p95: Some(Duration::from_millis(50)),
            error_ratio: Some(0.02),
            throttled_ratio: Some(0.1),
            min_rate: Some(9.0),
            ..SloConfig::default()
        };
        let ok = RunReport::judge(
            &slo,
            0.0,
            Duration::from_secs(10),
            counts(100, 2, 10),
            vec![latency(50)],
        );
        assert!(ok.success, "{:?}", ok.violations);
        let slow = RunReport::judge(
            &slo,
            0.0,
            Duration::from_secs(10),
            counts(100, 3, 11),
            vec![latency(51)],
        );
        assert_eq!(slow.violations.len(), 3, "{:?}", slow.violations);
        let starved = RunReport::judge(
            &slo,
            0.0,
            Duration::from_secs(20),
            counts(100, 0, 0),
            vec![],
        );
        assert_eq!(starved.violations, ["achieved rate 5.00/s below 9/s"]);
    }
}
