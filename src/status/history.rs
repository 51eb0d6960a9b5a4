//! The status page's chart data: per probe, a bounded ring of one [`Sample`] every
//! [`SAMPLE_PERIOD`] over the last 15 minutes, filled by one sampler task ([`sample_every`]).
//!
//! Rates and ratios are differences of the probe's monotonic totals between two samples;
//! percentiles come from a small HDR histogram of request latencies that the hot path records
//! into ([`ProbeHistory::record_latency`]) and the sampler reads and resets at each tick. Memory
//! is fixed: one histogram and at most [`CAPACITY`] samples per probe.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::StatusBoard;
use crate::plan::{Rate, Slo};
use crate::report::{CountValues, MAX_TRACKED_MICROS, unix_seconds};

/// Time between two samples of the charts.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(5);
/// Samples kept per probe: 15 minutes at [`SAMPLE_PERIOD`].
pub const CAPACITY: usize = 180;

/// One point of a probe's charts, describing the period that ended at `at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// When the period ended, Unix seconds.
    pub at: f64,
    /// Arrivals that came due per second: the load profile as planned, bursts included,
    /// and 0 between the runs of a scheduled probe.
    pub planned_rate: f64,
    /// Iterations started per second (arrivals minus drops).
    pub achieved_rate: f64,
    /// Requests that finished in the period; the ratios and percentiles are over these.
    pub requests: u64,
    /// Median request latency (all steps), seconds; `None` without requests.
    pub p50: Option<f64>,
    /// 95th percentile request latency, seconds; `None` without requests.
    pub p95: Option<f64>,
    /// 99th percentile request latency, seconds; `None` without requests.
    pub p99: Option<f64>,
    /// Failed requests other than throttled, over requests; `None` without requests.
    pub error_ratio: Option<f64>,
    /// Throttled (429) requests over requests; `None` without requests.
    pub throttled_ratio: Option<f64>,
}

/// The objectives drawn as lines on a probe's charts (`None` when not configured).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloLines {
    /// `slo.p95`, seconds.
    pub p95: Option<f64>,
    /// `slo.p99`, seconds.
    pub p99: Option<f64>,
    /// `slo.error_ratio`.
    pub error_ratio: Option<f64>,
    /// `slo.throttled_ratio`.
    pub throttled_ratio: Option<f64>,
    /// `slo.min_rate`, iterations started per second.
    pub min_rate: Option<f64>,
}

impl From<&Slo> for SloLines {
    fn from(slo: &Slo) -> Self {
        Self {
            p95: slo.p95.map(|d| d.as_secs_f64()),
            p99: slo.p99.map(|d| d.as_secs_f64()),
            error_ratio: slo.error_ratio,
            throttled_ratio: slo.throttled_ratio,
            min_rate: slo.min_rate.map(Rate::per_second),
        }
    }
}

/// One probe's ring, as served by `GET /api/v1/history`.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeHistorySnapshot {
    /// Probe name.
    pub name: String,
    /// Arrivals per second of a run, as configured (mean, for this replica).
    pub configured_rate: f64,
    /// The probe's objectives.
    pub slo: SloLines,
    /// Oldest first, at most [`CAPACITY`].
    pub samples: Vec<Sample>,
}

/// Latencies since the last sample and the ring of samples, of one probe.
#[derive(Debug)]
pub(super) struct ProbeHistory {
    /// Request latencies (microseconds, all steps) since the last sample. Two significant
    /// digits keep it small; a chart needs no more.
    latencies: Mutex<Histogram<u64>>,
    /// The samples and the base of the next one.
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    /// Oldest first, at most [`CAPACITY`].
    samples: VecDeque<Sample>,
    /// Totals when the previous sample was taken (or the board created).
    previous: Mark,
}

/// The totals a sample is a difference of, and when they were read.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    arrivals: u64,
    dropped: u64,
    requests: u64,
    errors: u64,
    throttled: u64,
}

impl Mark {
    fn new(at: Instant, totals: &CountValues) -> Self {
        Self {
            at,
            arrivals: totals.arrivals,
            dropped: totals.dropped,
            requests: totals.requests,
            errors: totals.errors,
            throttled: totals.throttled,
        }
    }
}

impl ProbeHistory {
    pub(super) fn new() -> Self {
        let latencies =
            Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 2).expect("static bounds are valid");
        Self {
            latencies: Mutex::new(latencies),
            ring: Mutex::new(Ring {
                samples: VecDeque::with_capacity(CAPACITY),
                previous: Mark::new(Instant::now(), &CountValues::default()),
            }),
        }
    }

    /// Hot-path hook: one request took `micros` (already clamped to the tracked range).
    pub(super) fn record_latency(&self, micros: u64) {
        self.latencies
            .lock()
            .expect("history latency lock is never poisoned")
            .saturating_record(micros);
    }

    /// Appends the sample of the period from the previous mark to `now`, given the probe's
    /// totals now; drops the oldest sample beyond [`CAPACITY`].
    fn sample(&self, totals: &CountValues, now: Instant, at: SystemTime) {
        let percentiles = {
            let mut latencies = self
                .latencies
                .lock()
                .expect("history latency lock is never poisoned");
            let seconds = |q: f64| latencies.value_at_quantile(q) as f64 / 1e6;
            let percentiles =
                (!latencies.is_empty()).then(|| (seconds(0.5), seconds(0.95), seconds(0.99)));
            latencies.reset();
            percentiles
        };
        let mut ring = self.ring.lock().expect("history lock is never poisoned");
        let previous = std::mem::replace(&mut ring.previous, Mark::new(now, totals));
        let seconds = now.saturating_duration_since(previous.at).as_secs_f64();
        let per_second = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        let arrivals = totals.arrivals.saturating_sub(previous.arrivals);
        let dropped = totals.dropped.saturating_sub(previous.dropped);
        let requests = totals.requests.saturating_sub(previous.requests);
        let ratio = |now: u64, before: u64| {
            (requests > 0).then(|| now.saturating_sub(before) as f64 / requests as f64)
        };
        let sample = Sample {
            at: unix_seconds(at),
            planned_rate: per_second(arrivals),
            achieved_rate: per_second(arrivals.saturating_sub(dropped)),
            requests,
            p50: percentiles.map(|p| p.0),
            p95: percentiles.map(|p| p.1),
            p99: percentiles.map(|p| p.2),
            error_ratio: ratio(totals.errors, previous.errors),
            throttled_ratio: ratio(totals.throttled, previous.throttled),
        };
        if ring.samples.len() == CAPACITY {
            ring.samples.pop_front();
        }
        ring.samples.push_back(sample);
    }

    fn samples(&self) -> Vec<Sample> {
        let ring = self.ring.lock().expect("history lock is never poisoned");
        ring.samples.iter().cloned().collect()
    }
}

impl StatusBoard {
    /// Takes one chart sample of every probe, covering the time since the previous one.
    pub fn sample_history(&self, now: Instant) {
        let at = SystemTime::now();
        for probe in &self.probes() {
            probe.history.sample(&probe.totals(), now, at);
        }
    }

    /// Every probe's chart samples and objectives, in plan order.
    pub fn history(&self) -> Vec<ProbeHistorySnapshot> {
        self.probes()
            .iter()
            .map(|p| ProbeHistorySnapshot {
                name: p.name.clone(),
                configured_rate: p.planned_rate,
                slo: p.slo.clone(),
                samples: p.history.samples(),
            })
            .collect()
    }
}

/// Samples `status` every `period` (normally [`SAMPLE_PERIOD`]) until `shutdown`.
pub async fn sample_every(status: Arc<StatusBoard>, period: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    // A late tick is measured over its real length, so skipping a beat keeps rates right.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            now = ticks.tick() => status.sample_history(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(
        arrivals: u64,
        dropped: u64,
        requests: u64,
        errors: u64,
        throttled: u64,
    ) -> CountValues {
        CountValues {
            arrivals,
            dropped,
            requests,
            errors,
            throttled,
            ..CountValues::default()
        }
    }

    fn history_at(start: Instant) -> ProbeHistory {
        let history = ProbeHistory::new();
        history.ring.lock().expect("test lock").previous.at = start;
        history
    }

    #[test]
    fn sample_is_the_difference_over_its_period() {
        let start = Instant::now();
        let history = history_at(start);
        for micros in 1..=100 {
            history.record_latency(micros * 1000);
        }
        history.sample(
            &totals(100, 10, 100, 5, 20),
            start + Duration::from_secs(5),
            SystemTime::now(),
        );
        history.sample(
            &totals(150, 10, 150, 5, 20),
            start + Duration::from_secs(10),
            SystemTime::now(),
        );

        let samples = history.samples();
        assert_eq!(samples.len(), 2);
        let first = &samples[0];
        assert_eq!(first.planned_rate, 20.0);
        assert_eq!(first.achieved_rate, 18.0);
        assert_eq!(first.requests, 100);
        assert_eq!(first.error_ratio, Some(0.05));
        assert_eq!(first.throttled_ratio, Some(0.2));
        let p50 = first.p50.expect("latencies were recorded");
        assert!((0.0495..=0.0505).contains(&p50), "{p50}");
        assert!(first.p99.expect("p99") >= first.p95.expect("p95"));

        let second = &samples[1];
        assert_eq!(second.planned_rate, 10.0);
        assert_eq!(second.error_ratio, Some(0.0));
        assert_eq!(
            second.p50, None,
            "the histogram was reset by the first sample"
        );
    }

    #[test]
    fn sample_without_requests_has_no_ratios_or_percentiles() {
        let start = Instant::now();
        let history = history_at(start);
        history.sample(
            &totals(0, 0, 0, 0, 0),
            start + Duration::from_secs(5),
            SystemTime::now(),
        );
        let sample = &history.samples()[0];
        assert_eq!(sample.planned_rate, 0.0);
        assert_eq!(
            (sample.p95, sample.error_ratio, sample.throttled_ratio),
            (None, None, None)
        );
    }

    #[test]
    fn ring_keeps_the_latest_capacity_samples() {
        let start = Instant::now();
        let history = history_at(start);
        for i in 1..=(CAPACITY as u64 + 20) {
            history.sample(
                &totals(i, 0, i, 0, 0),
                start + Duration::from_secs(i),
                SystemTime::now(),
            );
        }
        let samples = history.samples();
        assert_eq!(samples.len(), CAPACITY);
        assert!(samples.iter().all(|s| s.planned_rate == 1.0));
    }

    #[test]
    fn slo_lines_come_from_the_probe_slo() {
        let slo = Slo {
            p95: Some(Duration::from_millis(25)),
            error_ratio: Some(0.01),
            ..Slo::default()
        };
        let lines = SloLines::from(&slo);
        assert_eq!(lines.p95, Some(0.025));
        assert_eq!((lines.p99, lines.throttled_ratio), (None, None));
        assert_eq!(lines.error_ratio, Some(0.01));
    }
}
