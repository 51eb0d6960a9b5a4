//! The request-latency histogram, which carries the trace id of a sampled iteration as an
//! OpenMetrics exemplar (`# {trace_id="…"} 0.012 1700000000.1`) when tracing is on.
//!
//! Without tracing it is the plain [`Histogram`]: an exemplar-capable histogram takes a lock
//! of its own on every observation, a cost a run without traces does not pay. Exemplars
//! appear only in the OpenMetrics text; the Prometheus text conversion drops them.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use prometheus_client::encoding::{
    EncodeLabel as _, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelSetEncoder,
    LabelValueEncoder, MetricEncoder,
};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// The latency histogram of one step.
#[derive(Debug, Clone)]
pub(super) enum DurationHistogram {
    /// Tracing off.
    Plain(Histogram),
    /// Tracing on: each bucket keeps the trace id of its latest sampled observation.
    Traced(HistogramWithExemplars<TraceExemplar>),
}

impl DurationHistogram {
    /// Observes `seconds`, with the trace it belongs to when that trace was sampled.
    pub(super) fn observe(&self, seconds: f64, trace_id: Option<TraceId>) {
        match self {
            DurationHistogram::Plain(histogram) => histogram.observe(seconds),
            DurationHistogram::Traced(histogram) => {
                let at = trace_id.map(|_| SystemTime::now());
                histogram.observe(seconds, trace_id.map(TraceExemplar), at);
            }
        }
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            DurationHistogram::Plain(histogram) => histogram.encode(encoder),
            DurationHistogram::Traced(histogram) => histogram.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Builds step-latency histograms with fixed bucket bounds (seconds).
#[derive(Debug, Clone)]
pub(super) struct DurationBuckets {
    /// Bucket bounds.
    pub(super) bounds: Arc<[f64]>,
    /// Whether to keep exemplars (tracing is on).
    pub(super) exemplars: bool,
}

impl MetricConstructor<DurationHistogram> for DurationBuckets {
    fn new_metric(&self) -> DurationHistogram {
        let bounds = self.bounds.iter().copied();
        if self.exemplars {
            DurationHistogram::Traced(HistogramWithExemplars::new(bounds))
        } else {
            DurationHistogram::Plain(Histogram::new(bounds))
        }
    }
}

/// The exemplar label set `{trace_id="<32 hex digits>"}`, written without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TraceExemplar(TraceId);

/// A trace id as a label value.
struct TraceIdValue(TraceId);

impl EncodeLabelSet for TraceExemplar {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        ("trace_id", TraceIdValue(self.0)).encode(encoder.encode_label())
    }
}

impl EncodeLabelValue for TraceIdValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        write!(encoder, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn encode(histogram: &DurationHistogram) -> String {
        let mut registry = Registry::default();
        registry.register("d", "D", histogram.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        text
    }

    #[test]
    fn traced_histogram_keeps_the_trace_id_of_sampled_observations() {
        let buckets = DurationBuckets {
            bounds: [0.1, 1.0].into(),
            exemplars: true,
        };
        let histogram = buckets.new_metric();
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        histogram.observe(0.05, Some(trace));
        histogram.observe(0.5, None);
        let text = encode(&histogram);
        let le_01 = text
            .lines()
            .find(|l| l.starts_with("d_bucket{le=\"0.1\"}"))
            .expect("bucket");
        assert!(
            le_01.starts_with(
                "d_bucket{le=\"0.1\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.05 "
            ),
            "{le_01}"
        );
        let le_1 = text.lines().find(|l| l.starts_with("d_bucket{le=\"1.0\"}"));
        assert_eq!(le_1, Some("d_bucket{le=\"1.0\"} 2"), "{text}");
    }

    #[test]
    fn plain_histogram_has_no_exemplars() {
        let buckets = DurationBuckets {
            bounds: [0.1].into(),
            exemplars: false,
        };
        let histogram = buckets.new_metric();
        histogram.observe(0.05, Some(TraceId::from(1u128)));
        assert!(!encode(&histogram).contains("trace_id"));
    }
}
