//! The binary: `--config.check`, `--version`, and a clean exit on SIGTERM.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::process::BIN;
use common::{Process, SETTLE, eventually_async, scrape_when_idle};

/// How many requests for `/fast` the demo target has received.
async fn fast_received(demo: std::net::SocketAddr) -> u64 {
    let stats = common::demo_stats(demo).await;
    stats.received.get("/fast").copied().unwrap_or(0)
}

#[test]
fn config_check_accepts_the_demo_config() {
    let out = Command::new(BIN)
        .args(["--config.check", "--config.file=config/loadprobe.yml"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn config_check_names_field_and_line_and_exits_1() {
    let out = Command::new(BIN)
        .args([
            "--config.check",
            "--config.file=tests/testdata/invalid/unknown_key.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probes[0].load") && stderr.contains("line 7"),
        "{stderr}"
    );
}

#[test]
fn config_check_lists_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yml");
    let yaml = "targets: {api: {url: 'http://127.0.0.1:1'}}\nprobes:\n- {name: a, target: api, load: {rate: 0}, request: {}}\n- {name: b, target: nope, load: {rate: 1}, request: {}}\n";
    std::fs::write(&path, yaml).expect("write");
    let out = Command::new(BIN)
        .arg("--config.check")
        .arg(format!("--config.file={}", path.display()))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probes[0].load.rate") && stderr.contains("probes[1].target"),
        "{stderr}"
    );
}

#[test]
fn version_is_printed() {
    let out = Command::new(BIN).arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_logs_a_summary_and_exits_0() {
    let (demo, _stop) = common::spawn_demo(loadprobe::config::DemoConfig::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n- {{name: soak, target: demo, load: {{rate: 20}}, request: {{path: /fast}}}}\n"
    );
    std::fs::write(&path, yaml).expect("write");
    let child = Process::spawn(Process::command(&path));
    // Load flows (two requests: 50 ms in), so the SIGTERM handler is in place.
    eventually_async(SETTLE, "the soak probe sending load", || async {
        let received = fast_received(demo).await;
        if received >= 2 { Ok(()) } else { Err(received) }
    })
    .await;
    let started = Instant::now();
    let (status, stderr) = child.terminate();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}");
    let summary = stderr
        .lines()
        .find(|l| l.contains("final summary"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        summary.contains("probe=soak") && summary.contains("errors=0"),
        "{summary}"
    );
    let received = common::demo_stats(demo).await.received["/fast"];
    assert!(
        summary.contains(&format!("requests={received}")),
        "{summary} vs {received} received"
    );
}

#[test]
fn every_shipped_config_passes_config_check() {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("config/examples")
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        // A --web.config.file, not a loadprobe config: tests/web.rs loads it.
        .filter(|p| !p.ends_with("web-config.yml"))
        .collect();
    files.push("config/loadprobe.yml".into());
    for file in files {
        let out = Command::new(BIN)
            .arg("--config.check")
            .arg(format!("--config.file={}", file.display()))
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shard_processes_together_deliver_the_configured_rate() {
    let (demo, _stop) = common::spawn_demo(loadprobe::config::DemoConfig::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loadprobe.yml");
    let yaml = format!(
        "targets: {{demo: {{url: 'http://{demo}'}}}}\nprobes:\n\
         - {{name: fleet, target: demo, schedule: {{every: 1h, for: 1s}}, load: {{rate: 150}}, request: {{path: /fast}}}}\n"
    );
    std::fs::write(&path, yaml).expect("write");
    let replicas: Vec<Process> = (0..3)
        .map(|i| {
            let mut command = Process::command(&path);
            command.arg(format!("--shard={i}/3"));
            Process::spawn(command)
        })
        .collect();
    for replica in replicas {
        scrape_when_idle(replica.addr, "fleet", "shard").await;
        let (status, _) = replica.terminate();
        assert!(status.success(), "replica exit {status:?}");
    }
    let received = common::demo_stats(demo).await.received["/fast"] as f64;
    assert!(
        (received - 150.0).abs() <= 3.0,
        "3 shards delivered {received} of 150 (within 2%)"
    );
}
