//! Label sets of the metric families: config names (`probe`, `step`, `target`, `scenario`)
//! and bounded enums (`reason`, `percentile`, `code`), never URLs or error text.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::guard::TripReason;
use crate::outcome::Reason;
use crate::report::Percentile;

/// `probe` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ProbeLabels {
    pub(super) probe: String,
}

/// `target` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TargetLabels {
    pub(super) target: String,
}

/// Labels of the iteration counters: `probe`, and `scenario` only for probes with a mix,
/// so probes without one keep the plain `{probe}` series.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(super) struct IterationLabels {
    pub(super) probe: String,
    pub(super) scenario: Option<String>,
}

impl EncodeLabelSet for IterationLabels {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> std::fmt::Result {
        use prometheus_client::encoding::EncodeLabel as _;
        ("probe", self.probe.as_str()).encode(encoder.encode_label())?;
        if let Some(scenario) = &self.scenario {
            ("scenario", scenario.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// `probe`, `step` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StepLabels {
    pub(super) probe: String,
    pub(super) step: String,
}

/// Labels of `request_failures_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FailureLabels {
    pub(super) probe: String,
    pub(super) step: String,
    pub(super) reason: Reason,
}

/// Labels of `responses_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResponseLabels {
    pub(super) probe: String,
    pub(super) step: String,
    pub(super) code: u16,
}

/// Why an arrival was not turned into an iteration.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// `max_in_flight` iterations were already running.
    MaxInFlight,
    /// `global.max_rate` was reached.
    RateCap,
    /// The probe's guard held it back (paused, canary, or `Retry-After`).
    Paused,
}

impl DropReason {
    /// Every reason, so each series starts at zero.
    pub const ALL: [DropReason; 3] = [
        DropReason::MaxInFlight,
        DropReason::RateCap,
        DropReason::Paused,
    ];
}

impl EncodeLabelValue for DropReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write as _;
        encoder.write_str(match self {
            DropReason::MaxInFlight => "max_in_flight",
            DropReason::RateCap => "rate_cap",
            DropReason::Paused => "paused",
        })
    }
}

/// Labels of `arrivals_dropped_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DropLabels {
    pub(super) probe: String,
    pub(super) reason: DropReason,
}

/// Labels of the last run's per-step percentile gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StepPercentileLabels {
    pub(super) probe: String,
    pub(super) step: String,
    pub(super) percentile: Percentile,
}

/// Labels of `guard_trips_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TripLabels {
    pub(super) probe: String,
    pub(super) reason: TripReason,
}

/// Labels of the per-percentile SLO gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PercentileLabels {
    pub(super) probe: String,
    pub(super) percentile: Percentile,
}

impl EncodeLabelValue for Percentile {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write as _;
        encoder.write_str(self.as_str())
    }
}
