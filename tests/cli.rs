//! The binary: `--config.check`, `--version`, and a clean exit on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_loadprobe");

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
    let child = Command::new(BIN)
        .arg(format!("--config.file={}", path.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("exits");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.status.success(), "exit {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
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
    let replicas: Vec<_> = (0..3)
        .map(|i| {
            Command::new(BIN)
                .arg(format!("--config.file={}", path.display()))
                .arg("--web.listen-address=127.0.0.1:0")
                .arg(format!("--shard={i}/3"))
                .stderr(Stdio::null())
                .spawn()
                .expect("starts")
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1800)).await;
    for replica in replicas {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(replica.id().to_string())
            .status();
        let status = replica.wait_with_output().expect("exits").status;
        assert!(status.success(), "replica exit {status:?}");
    }
    let received = common::demo_stats(demo).await.received["/fast"] as f64;
    assert!(
        (received - 150.0).abs() <= 3.0,
        "3 shards delivered {received} of 150 (within 2%)"
    );
}
