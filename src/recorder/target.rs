//! One target's recorder: its memory samples, fanned out to the target's metrics and to
//! the status board (the probe recorder's counterpart for what a target's sampler sees).

use std::sync::Arc;
use std::time::SystemTime;

use crate::memory::MemorySnapshot;
use crate::metrics::{Metrics, TargetMetrics};
use crate::plan::Target;
use crate::status::StatusBoard;

/// Where every memory sample of one target is recorded.
#[derive(Debug)]
pub struct TargetRecorder {
    metrics: Arc<TargetMetrics>,
    status: Arc<StatusBoard>,
}

impl TargetRecorder {
    /// The recorder of `target`, which is starting: resolves its series (a target without
    /// memory sampling still exports its objective).
    pub fn new(target: &Target, metrics: &Metrics, status: Arc<StatusBoard>) -> Self {
        Self {
            metrics: metrics.resolve_target(target),
            status,
        }
    }

    /// Removes every series the target created: a reload removed or changed it.
    pub fn retire(&self) {
        self.metrics.retire();
    }

    /// A sample was taken at `at`, leaving `snapshot`; `baseline_restarted` when it
    /// (re)started the growth baseline. A failed sample has no bytes: its series is
    /// withdrawn until one succeeds.
    pub fn memory_sampled(
        &self,
        snapshot: &MemorySnapshot,
        baseline_restarted: bool,
        at: SystemTime,
    ) {
        match snapshot.bytes {
            Some(bytes) => {
                self.metrics.record_memory_sample(bytes);
                if let Some(baseline) = snapshot.baseline_bytes.filter(|_| baseline_restarted) {
                    self.metrics.record_memory_baseline(baseline, at);
                }
            }
            None => self.metrics.record_memory_failure(),
        }
        self.status.record_memory(snapshot.clone());
    }
}
