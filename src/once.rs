//! `loadprobe once`: one run of one probe in the foreground, with a live progress line and
//! an end-of-run summary, whose exit code a pipeline can gate on.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::client;
use crate::guard::RateCap;
use crate::metrics::Metrics;
use crate::plan::{Plan, Schedule};
use crate::recorder::Recorder;
use crate::report::{Objective, RunReport};
use crate::runner::Runner;
use crate::scheduler::{ProbeSchedule, ScheduleSettings, TimerKind};
use crate::status::{ProbeBoard, StatusBoard};

/// A run length for continuous probes, which have none of their own.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// Why `once` could not run (an SLO failing is not an error: it is the report's verdict).
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// No probe has that name.
    #[error("no probe named `{name}` (the config has: {known})")]
    UnknownProbe {
        /// The name asked for.
        name: String,
        /// The probes of the config.
        known: String,
    },
    /// The target's client could not be built.
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// The demo target could not start.
    #[error(transparent)]
    Demo(#[from] crate::demo::StartError),
}

/// The outcome of `once`, as printed in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct OnceReport {
    /// Probe name.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// What the run measured and its verdicts.
    pub report: RunReport,
}

/// Runs probe `name` of `plan` once for `duration` (or its own run length), showing progress
/// on stderr, and returns its report.
pub async fn run(
    plan: Plan,
    name: &str,
    duration: Option<Duration>,
) -> Result<OnceReport, OnceError> {
    let Some(probe) = plan.probes.iter().find(|p| p.name == name).cloned() else {
        let known = plan
            .probes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(OnceError::UnknownProbe {
            name: name.to_owned(),
            known,
        });
    };
    let run_for = duration.unwrap_or(match &probe.schedule {
        Schedule::Continuous => DEFAULT_DURATION,
        Schedule::Every { run_for, .. } | Schedule::Cron { run_for, .. } => *run_for,
    });
    let stop_demo = CancellationToken::new();
    if let Some(demo) = &plan.demo {
        tokio::spawn(crate::demo::start(demo, stop_demo.clone()).await?);
    }
    let runner = Runner::new(probe.clone(), client::build(&probe.target)?);
    let recorder = Recorder::new(
        &probe,
        &Metrics::new(&plan),
        &Arc::new(StatusBoard::default()),
    );
    let board = recorder.status().clone();
    let settings = ScheduleSettings {
        report_interval: plan.global.report_interval,
        rate_cap: RateCap::for_global(&plan.global),
        timer: TimerKind::Exact,
    };
    let schedule = ProbeSchedule::new(
        probe.clone(),
        Arc::new(runner),
        Arc::new(recorder),
        settings,
    );
    let progress = progress_line(board, run_for);
    let report = schedule.run_once(run_for).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    stop_demo.cancel();
    Ok(OnceReport {
        probe: probe.name.clone(),
        target: probe.target.name.clone(),
        report,
    })
}

/// Redraws `elapsed · requests · errors · throttled · dropped` on stderr until aborted;
/// `None` when stderr is not a terminal, so a scripted run pays no redraw wake-ups.
fn progress_line(status: ProbeBoard, run_for: Duration) -> Option<tokio::task::JoinHandle<()>> {
    let bar = indicatif::ProgressBar::new(run_for.as_millis() as u64);
    if bar.is_hidden() {
        return None;
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}")
            .expect("static template is valid"),
    );
    let started = SystemTime::now();
    Some(tokio::spawn(async move {
        loop {
            let totals = status.snapshot().totals;
            bar.set_position(started.elapsed().unwrap_or_default().as_millis() as u64);
            bar.set_message(format!(
                "requests {} · errors {} · throttled {} · dropped {}",
                totals.requests, totals.errors, totals.throttled, totals.dropped
            ));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }))
}

/// The end-of-run summary in text.
pub fn render_text(once: &OnceReport) -> String {
    let r = &once.report;
    let c = &r.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe         {} (target {}), one run of {:.1}s",
        once.probe, once.target, r.duration_seconds
    );
    let _ = writeln!(
        out,
        "iterations    {} started of {} arrivals ({} dropped) · achieved {:.2}/s, planned {:.2}/s",
        c.arrivals - c.dropped,
        c.arrivals,
        c.dropped,
        r.achieved_rate,
        r.planned_rate
    );
    let _ = writeln!(
        out,
        "requests      {} · error ratio {:.4} · throttled ratio {:.4}",
        c.requests, r.error_ratio, r.throttled_ratio
    );
    let _ = writeln!(
        out,
        "latency       {:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "step", "count", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    for s in &r.steps {
        let ms = |v: f64| format!("{:.2}ms", v * 1e3);
        let _ = writeln!(
            out,
            "              {:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            s.step,
            s.count,
            ms(s.p50),
            ms(s.p90),
            ms(s.p95),
            ms(s.p99),
            ms(s.p999),
            ms(s.max)
        );
    }
    let codes: Vec<String> = c
        .responses_by_code
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect();
    let _ = writeln!(
        out,
        "responses     {}",
        if codes.is_empty() {
            "none".to_owned()
        } else {
            codes.join("  ")
        }
    );
    let reasons: Vec<String> = c
        .failures_by_reason
        .iter()
        .map(|(reason, n)| format!("{reason}: {n}"))
        .collect();
    let _ = writeln!(
        out,
        "failures      {}",
        if reasons.is_empty() {
            "none".to_owned()
        } else {
            reasons.join("  ")
        }
    );
    for (i, v) in r.slos.iter().enumerate() {
        let label = if i == 0 { "slo" } else { "" };
        let mark = if v.met { "ok  " } else { "FAIL" };
        let step = v
            .step
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let relation = if v.slo == Objective::MinRate {
            ">="
        } else {
            "<="
        };
        let _ = writeln!(
            out,
            "{label:<13} {mark} {}{step}: {:.4} {relation} {}",
            v.slo.as_str(),
            v.measured,
            v.objective
        );
    }
    let _ = writeln!(
        out,
        "result        {}",
        if r.success { "PASS" } else { "FAIL" }
    );
    out
}
