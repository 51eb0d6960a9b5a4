//! Production-shaped traffic: data feeders and weighted mixes.

mod common;

use common::{Behaviour, RecordingTarget, sample, scrape_when_idle, spawn_plan};
use loadprobe::config::Config;
use loadprobe::plan::Plan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_rows_are_used_once_in_order_and_stop_ends_the_run() {
    let target = RecordingTarget::spawn(Behaviour::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let csv: String = std::iter::once("user_id,name\n".to_owned())
        .chain((1..=10).map(|i| format!("{i},user{i}\n")))
        .collect();
    std::fs::write(dir.path().join("users.csv"), csv).expect("csv");
    let config = format!(
        "targets: {{t: {{url: 'http://{target}'}}}}\nprobes:\n\
         - name: feed\n  target: t\n  schedule: {{every: 1h, for: 2s}}\n  load: {{rate: 50, max_in_flight: 1}}\n\
         \x20 data: {{file: users.csv, order: sequential, on_end: stop}}\n\
         \x20 request: {{path: '/users/{{{{data.user_id}}}}?name={{{{data.name}}}}'}}\n",
        target = target.addr
    );
    std::fs::write(dir.path().join("loadprobe.yml"), config).expect("config");
    let plan = Plan::try_from(Config::load(&dir.path().join("loadprobe.yml")).expect("loads"))
        .expect("valid");
    let started = std::time::Instant::now();
    let exporter = spawn_plan(plan).await;
    let text = scrape_when_idle(exporter.addr, "feed", "sequential rows").await;
    let ended_after = started.elapsed();
    exporter.shutdown().await;
    let paths: Vec<String> = target.requests().into_iter().map(|r| r.path).collect();
    let expected: Vec<String> = (1..=10).map(|i| format!("/users/{i}")).collect();
    assert_eq!(paths, expected, "rows 1..10 exactly once, in order");
    assert!(
        ended_after < std::time::Duration::from_secs(2),
        "the run ended with the rows ({ended_after:?}), not with its 2 s window"
    );
    assert_eq!(
        sample(&text, r#"loadprobe_arrivals_total{probe="feed"}"#),
        Some(10.0),
        "the run ended with the rows"
    );
    assert_eq!(
        sample(&text, r#"loadprobe_run_active{probe="feed"}"#),
        Some(0.0)
    );
}

fn mix_plan(target: &str, schedule: &str) -> Plan {
    let yaml = r#"
targets: {t: {url: "http://TARGET"}}
probes:
  - name: shop
    target: t
    schedule: SCHEDULE
    load: {rate: 10, seed: 42}
    mix:
      - {name: read, weight: 70, steps: [{name: get_item, path: /items/1}]}
      - {name: search, weight: 25, steps: [{name: find, path: /search}]}
      - {name: write, weight: 5, steps: [{name: create, method: POST, path: /items}, {name: check, path: /items}]}
"#
    .replace("TARGET", target)
    .replace("SCHEDULE", schedule);
    Plan::try_from(Config::parse(&yaml, |_| None).expect("parses")).expect("valid")
}

#[test]
fn a_weighted_mix_matches_its_weights_by_chi_square() {
    let plan = mix_plan("127.0.0.1:9", "continuous");
    let probe = &plan.probes[0];
    let mut counts = [0.0f64; 3];
    for n in 0..10_000 {
        counts[loadprobe::runner::pick_scenario(probe, n).0] += 1.0;
    }
    let expected = [7_000.0, 2_500.0, 500.0];
    let chi_square: f64 = counts
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e).powi(2) / e)
        .sum();
    // Critical value of chi-square with 2 degrees of freedom at p = 0.001.
    assert!(
        chi_square < 13.82,
        "chi-square {chi_square} for counts {counts:?}"
    );
    let write = &probe.scenarios[2];
    assert_eq!(write.steps, 2..4, "the write scenario's two steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_labels_iterations_by_scenario_and_keeps_step_names() {
    let target = RecordingTarget::spawn(Behaviour::ok()).await;
    let plan = mix_plan(&target.addr.to_string(), "{every: 1h, for: 500ms}");
    let exporter = spawn_plan(plan).await;
    let text = scrape_when_idle(exporter.addr, "shop", "mix").await;
    exporter.shutdown().await;
    let total: f64 = ["read", "search", "write"]
        .iter()
        .map(|s| {
            sample(
                &text,
                &format!(r#"loadprobe_iterations_total{{probe="shop",scenario="{s}"}}"#),
            )
            .expect("series per scenario")
        })
        .sum();
    assert_eq!(total, 5.0);
    assert!(text.contains(r#"loadprobe_requests_total{probe="shop",step="get_item"}"#));
    assert!(
        target.count() as f64 >= total,
        "every iteration sent its scenario's steps"
    );
}
