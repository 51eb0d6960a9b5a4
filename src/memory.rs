//! Samples each target's memory on its interval and keeps the growth baseline; each
//! sample's snapshot goes to the target's recorder (`recorder/target.rs`), which fans it out
//! to metrics and the status board.
//!
//! Choices, as documented for users: a failed sample is counted and **withdraws** the last
//! value (`loadprobe_target_memory_bytes` disappears until a sample succeeds), so a stale
//! number is never read as fresh; the growth baseline restarts at the first sample and
//! whenever the target restarts (a new pid or start time), and
//! `loadprobe_target_memory_baseline_timestamp_seconds` shows when.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::client::HttpClient;
use crate::plan::{MemoryPlan, Target};
use crate::recorder::TargetRecorder;
use crate::report::unix_seconds;

pub mod source;

pub use source::Reading;

/// Growth is not extrapolated to a rate per hour from less than this much history.
const MIN_GROWTH_HISTORY: Duration = Duration::from_secs(60);

/// Where growth is measured from: the first sample of the current target incarnation.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Memory at the baseline.
    pub bytes: u64,
    /// When it was taken.
    pub at: SystemTime,
    /// The incarnation it belongs to.
    pub incarnation: Option<String>,
}

impl Baseline {
    /// Keeps `current` or starts a new baseline from `reading`; true when it (re)started.
    pub fn update(current: &mut Option<Baseline>, reading: &Reading, now: SystemTime) -> bool {
        let restarted = match current {
            None => true,
            Some(baseline) => baseline.incarnation != reading.incarnation,
        };
        if restarted {
            *current = Some(Baseline {
                bytes: reading.bytes,
                at: now,
                incarnation: reading.incarnation.clone(),
            });
        }
        restarted
    }

    /// Growth from the baseline to `bytes`, per hour, as a fraction of the baseline.
    pub fn growth_per_hour(&self, bytes: u64, now: SystemTime) -> Option<f64> {
        let elapsed = now
            .duration_since(self.at)
            .ok()
            .filter(|e| *e >= MIN_GROWTH_HISTORY)?;
        if self.bytes == 0 {
            return None;
        }
        let growth = (bytes as f64 - self.bytes as f64) / self.bytes as f64;
        Some(growth / (elapsed.as_secs_f64() / 3600.0))
    }
}

/// A target's memory as the status API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemorySnapshot {
    /// Target name.
    pub target: String,
    /// Last successful sample, bytes (`None` while sampling fails).
    pub bytes: Option<u64>,
    /// When the last sample was attempted, Unix seconds.
    pub sampled_at: Option<f64>,
    /// Why the last sample failed, if it did.
    pub last_error: Option<String>,
    /// Failed samples since start-up.
    pub failures: u64,
    /// Memory at the baseline.
    pub baseline_bytes: Option<u64>,
    /// When the baseline (re)started, Unix seconds.
    pub baseline_at: Option<f64>,
    /// Growth since the baseline per hour, as a fraction (after a minute of history).
    pub growth_per_hour: Option<f64>,
    /// `slo.memory_growth_per_hour`, if set.
    pub objective: Option<f64>,
    /// Whether growth is within the objective (when both are known).
    pub met: Option<bool>,
}

/// Samples one target's memory until shutdown.
#[derive(Debug)]
pub struct MemorySampler {
    /// The target.
    pub target: Arc<Target>,
    /// Its sampling plan.
    pub plan: MemoryPlan,
    /// Its client (for Prometheus sources).
    pub client: HttpClient,
    /// Where each sample goes (the target's metrics and the status board).
    pub recorder: Arc<TargetRecorder>,
}

impl MemorySampler {
    /// Samples every interval (the first at once) until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.plan.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut baseline = None;
        let mut snapshot = MemorySnapshot {
            target: self.target.name.clone(),
            objective: self.target.memory_growth_per_hour,
            ..MemorySnapshot::default()
        };
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let result = tokio::time::timeout(
                self.plan.interval,
                source::read(&self.plan.source, &self.client),
            )
            .await;
            let result = result.unwrap_or_else(|_| {
                Err(source::SampleError::Series("sample timed out".to_owned()))
            });
            let now = SystemTime::now();
            let restarted = self.record(result, &mut baseline, &mut snapshot, now);
            self.recorder.memory_sampled(&snapshot, restarted, now);
        }
    }

    /// Updates `snapshot` (and `baseline`) with a sample taken at `now`; true when the
    /// sample (re)started the growth baseline.
    fn record(
        &self,
        result: Result<Reading, source::SampleError>,
        baseline: &mut Option<Baseline>,
        snapshot: &mut MemorySnapshot,
        now: SystemTime,
    ) -> bool {
        snapshot.sampled_at = Some(unix_seconds(now));
        let reading = match result {
            Ok(reading) => reading,
            Err(error) => {
                tracing::warn!(target_name = %self.target.name, %error, "memory sample failed");
                snapshot.failures += 1;
                snapshot.bytes = None;
                snapshot.last_error = Some(error.to_string());
                return false;
            }
        };
        let restarted = Baseline::update(baseline, &reading, now);
        if restarted {
            tracing::info!(target_name = %self.target.name, bytes = reading.bytes, "memory growth baseline (re)started");
        }
        let base = baseline.as_ref().expect("update always leaves a baseline");
        snapshot.bytes = Some(reading.bytes);
        snapshot.last_error = None;
        snapshot.baseline_bytes = Some(base.bytes);
        snapshot.baseline_at = Some(unix_seconds(base.at));
        snapshot.growth_per_hour = base.growth_per_hour(reading.bytes, now);
        snapshot.met = snapshot
            .growth_per_hour
            .zip(snapshot.objective)
            .map(|(g, o)| g <= o);
        restarted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(bytes: u64, incarnation: &str) -> Reading {
        Reading {
            bytes,
            incarnation: Some(incarnation.to_owned()),
        }
    }

    #[test]
    fn baseline_restarts_with_a_new_incarnation_only() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut baseline = None;
        assert!(Baseline::update(&mut baseline, &reading(100, "pid 1"), t0));
        assert!(!Baseline::update(
            &mut baseline,
            &reading(150, "pid 1"),
            t0 + Duration::from_secs(60)
        ));
        let hour = t0 + Duration::from_secs(3600);
        let growth = baseline
            .as_ref()
            .expect("set")
            .growth_per_hour(110, hour)
            .expect("an hour of history");
        assert!((growth - 0.10).abs() < 1e-9, "{growth}");
        assert!(Baseline::update(&mut baseline, &reading(80, "pid 2"), hour));
        assert_eq!(baseline.as_ref().map(|b| (b.bytes, b.at)), Some((80, hour)));
    }

    #[test]
    fn growth_needs_a_minute_of_history() {
        let t0 = SystemTime::UNIX_EPOCH;
        let base = Baseline {
            bytes: 100,
            at: t0,
            incarnation: None,
        };
        assert_eq!(
            base.growth_per_hour(200, t0 + Duration::from_secs(59)),
            None
        );
        assert!(
            base.growth_per_hour(200, t0 + Duration::from_secs(60))
                .is_some()
        );
    }
}
