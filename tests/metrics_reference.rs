//! docs/metrics.md names every metric family the code exports, and only those, each with
//! the name and type of its `# TYPE` line in the Prometheus text format.
//!
//! The families come from the real registry, encoded as `/metrics` serves it. prometheus-client
//! leaves a family without series out of the exposition (no `# TYPE` line either), so the
//! plan below has every feature that brings a family to life (SLOs, a burst, a guard, a
//! replay, a target with memory sampling and an objective), and the test records one event of
//! each kind through the public API. A family registered in the code but given no series by
//! this plan would escape the comparison; the registry's descriptors, read from its `Debug`
//! output, catch that case, and the test then asks for the plan to be extended.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use loadprobe::config::Config;
use loadprobe::metrics::{DropReason, Format, Metrics, encode};
use loadprobe::outcome::Outcome;
use loadprobe::plan::Plan;
use loadprobe::report::{IterationReport, StepReport, Window, WindowSpan};

/// A plan with every feature that has its own families.
const PLAN: &str = "\
targets:
  api:
    url: 'http://127.0.0.1:1'
    memory: {prometheus: {url: 'http://127.0.0.1:1/metrics'}}
    slo: {memory_growth_per_hour: 0.05}
probes:
  - name: full
    target: api
    load: {rate: 5, burst: {size: 2, every: 1m}}
    request: {path: /}
    slo: {p95: 50ms, p99: 100ms, error_ratio: 0.01, throttled_ratio: 0.05, min_rate: 4, recovery: 10s}
    guard: {pause_above: {error_ratio: 0.5}}
  - name: replayed
    target: api
    replay: {file: access.log}
";

/// The metrics of [`PLAN`], with one event of each kind recorded.
fn populated_metrics() -> Metrics {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = Config::parse(PLAN, |_| None).expect("parses");
    // The replay log is the shipped example's.
    config.base_dir = root.join("config/examples");
    let plan = Plan::try_from(config).expect("valid");
    let metrics = Metrics::new(&plan);
    metrics.record_config_load(true, SystemTime::now());
    for target in &plan.targets {
        let handles = metrics.resolve_target(target);
        handles.record_memory_sample(64 << 20);
        handles.record_memory_baseline(60 << 20, SystemTime::now());
    }
    for probe in &plan.probes {
        let handles = metrics.resolve_probe(probe);
        let mut window = Window::for_probe(probe, SystemTime::now());
        let now = Instant::now();
        let report = IterationReport {
            scenario: 0,
            planned_steps: 1,
            intended_at: now,
            finished_at: now + Duration::from_millis(20),
            steps: vec![StepReport {
                step: 0,
                outcome: Outcome::Success,
                status: Some(200),
                latency: Duration::from_millis(20),
                detail: None,
                retry_after: None,
                snippet: None,
            }],
            trace_id: None,
        };
        handles.record_run_start(probe.replica_rate());
        handles.record_arrivals(1);
        handles.record_dropped_arrivals(DropReason::MaxInFlight, 0);
        handles.record_iteration_start(Duration::from_micros(300));
        handles.record_iteration(&report, true);
        window.record_iteration(&report, true);
        handles.record_recovery(1.5);
        handles.record_guard_paused(false);
        handles.record_run_skipped(0);
        handles.record_run_report(
            &window.close(SystemTime::now(), WindowSpan::Run(Duration::from_secs(1))),
            SystemTime::now(),
        );
    }
    metrics
}

/// `name -> type` of the `# TYPE` lines of an exposition.
fn type_lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
        .collect()
}

/// `name -> type` of the table rows under `## Metric families` in docs/metrics.md: rows
/// whose first cell is one metric name in backticks, and whose second cell is its type.
fn documented_families() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let text = std::fs::read_to_string(&path).expect("docs/metrics.md is readable");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Metric families\n"))
        .expect("docs/metrics.md has a `## Metric families` section");
    let mut families = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(name) = cells
            .first()
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue; // the header and separator rows
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "docs/metrics.md: `{name}` in the first column is not one metric name: {line}"
        );
        let kind = cells.get(1).copied().unwrap_or_default().to_owned();
        let previous = families.insert(name.to_owned(), kind);
        assert!(previous.is_none(), "docs/metrics.md lists `{name}` twice");
    }
    families
}

/// The full (OpenMetrics) names of every family registered in `metrics`' registry, series
/// or not, read from its `Debug` output: each `Descriptor { name, .., unit }` under the
/// latest `Prefix(..)`. Collectors (the `process_*` families) have no descriptors there.
fn registered_names(metrics: &Metrics) -> BTreeSet<String> {
    let debug = format!("{:?}", metrics.registry());
    let mut names = BTreeSet::new();
    let mut prefix: Option<String> = None;
    let mut rest = debug.as_str();
    loop {
        let next_prefix = rest.find("prefix: ");
        let next_descriptor = rest.find("Descriptor { name: \"");
        match (next_prefix, next_descriptor) {
            (Some(p), d) if d.is_none_or(|d| p < d) => {
                rest = &rest[p + "prefix: ".len()..];
                prefix = rest
                    .strip_prefix("Some(Prefix(\"")
                    .and_then(|r| r.split_once('"'))
                    .map(|(p, _)| p.to_owned());
            }
            (_, Some(d)) => {
                rest = &rest[d + "Descriptor { name: \"".len()..];
                let (name, after) = rest.split_once('"').expect("a quoted name");
                let unit = after
                    .split_once("unit: ")
                    .map(|(_, u)| u)
                    .and_then(|u| u.strip_prefix("Some("))
                    .and_then(|u| u.split_once(')'))
                    .map(|(u, _)| {
                        u.trim_start_matches("Other(\"")
                            .trim_end_matches('"')
                            .to_lowercase()
                    });
                let mut full = prefix.iter().cloned().collect::<Vec<_>>();
                full.push(name.to_owned());
                full.extend(unit);
                names.insert(full.join("_"));
            }
            _ => break,
        }
    }
    names
}

#[test]
fn docs_metrics_md_lists_exactly_the_registered_families() {
    let metrics = populated_metrics();

    // Every registered family has series in this plan, so the exposition shows them all.
    let openmetrics = type_lines(&encode(metrics.registry(), Format::OpenMetrics));
    let registered = registered_names(&metrics);
    assert!(
        registered.len() > 20,
        "could not read the registered families from the registry's Debug output \
         (found {registered:?}); has prometheus-client changed its Debug format?"
    );
    let silent: Vec<_> = registered
        .iter()
        .filter(|name| !openmetrics.contains_key(*name))
        .collect();
    assert!(
        silent.is_empty(),
        "families registered in the code but without series in this test's plan, so they \
         cannot be compared with docs/metrics.md: {silent:?}. Extend PLAN or \
         populated_metrics() in tests/metrics_reference.rs so that each gets a series."
    );

    let exposed = type_lines(&encode(metrics.registry(), Format::Prometheus));
    let documented = documented_families();
    let missing: Vec<String> = exposed
        .iter()
        .filter(|(name, _)| !documented.contains_key(*name))
        .map(|(name, kind)| format!("{name} ({kind})"))
        .collect();
    let extra: Vec<&String> = documented
        .keys()
        .filter(|name| !exposed.contains_key(*name))
        .collect();
    let wrong_type: Vec<String> = exposed
        .iter()
        .filter_map(|(name, kind)| {
            let doc = documented.get(name)?;
            (doc != kind).then(|| format!("{name}: documented `{doc}`, exposed `{kind}`"))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong_type.is_empty(),
        "docs/metrics.md and the registered families disagree (names and types as in the \
         `# TYPE` lines of the Prometheus text format):\n\
         exposed but not in docs/metrics.md: {missing:?}\n\
         in docs/metrics.md but not exposed: {extra:?}\n\
         types that differ: {wrong_type:?}"
    );
}
