//! OTLP traces: the real binary exports iteration and step spans to a real OTLP/HTTP
//! receiver (`otlp_receiver.py`, decoding with the `opentelemetry-proto` package), sends
//! `traceparent` to the target, and puts trace ids in OpenMetrics exemplars.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::process::BIN;
use common::{Behaviour, Process, RecordingTarget, Reply, scrape_when_idle};
use serde_json::Value;

/// The venv Python with `opentelemetry-proto`, made by `scripts/test.sh`.
fn python() -> PathBuf {
    let python = std::env::var_os("LOADPROBE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    let ready = Command::new(&python)
        .args(["-c", "import opentelemetry.proto"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        ready,
        "{} cannot import opentelemetry.proto: run ./scripts/test.sh once (it makes the venv)",
        python.display()
    );
    python
}

/// A running `otlp_receiver.py`, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    spans: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Self {
        let spans = dir.join("spans.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(&spans)
            .stdout(Stdio::piped())
            .spawn()
            .expect("receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("receiver prints its port");
        let port = line.trim().parse().expect("a port number");
        Receiver { child, port, spans }
    }

    /// Every span received so far, decoded.
    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.spans)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A target whose `/fail` answers 500 and everything else (`/ok`) 200.
async fn spawn_target() -> RecordingTarget {
    RecordingTarget::spawn(Behaviour::ok().on("/fail", Reply::status(500))).await
}

/// (path, traceparent) of every request `target` received.
fn seen(target: &RecordingTarget) -> Vec<(String, Option<String>)> {
    target
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.header("traceparent").map(str::to_owned)))
        .collect()
}

/// A loadprobe process exporting traces.
struct Loadprobe {
    process: Process,
    addr: SocketAddr,
}

impl Loadprobe {
    /// Runs a probe of two steps (`first` succeeds, `second` fails with 500) for 400 ms at
    /// 10/s, exporting to `receiver` with `OTEL_TRACES_SAMPLER=sampler`.
    fn start(dir: &Path, target: SocketAddr, receiver: &Receiver, sampler: &str) -> Self {
        let config = dir.join("loadprobe.yml");
        let yaml = format!(
            "targets: {{api: {{url: 'http://{target}'}}}}\n\
             probes:\n\
             - name: traced\n  target: api\n  schedule: {{every: 1h, for: 400ms}}\n  load: {{rate: 10}}\n  steps:\n\
             \x20   - {{name: first, method: GET, path: /ok, expect: {{status: [200]}}}}\n\
             \x20   - {{name: second, method: GET, path: /fail, expect: {{status: [200]}}}}\n"
        );
        std::fs::write(&config, yaml).expect("write config");
        let mut command = Process::command(&config);
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")) {
            command.env_remove(name);
        }
        command
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", receiver.port),
            )
            .env("OTEL_TRACES_SAMPLER", sampler)
            .env("OTEL_BSP_SCHEDULE_DELAY", "200");
        let process = Process::spawn(command);
        let addr = process.addr;
        Loadprobe { process, addr }
    }

    /// SIGTERM, then waits for a clean exit (after which every span has been flushed).
    fn stop(self) -> String {
        let (status, stderr) = self.process.terminate();
        assert!(status.success(), "exit {status:?}: {stderr}");
        stderr
    }
}

fn attr<'v>(span: &'v Value, key: &str) -> &'v Value {
    &span["attributes"][key]
}

/// (trace id, span id, flags) of a `traceparent` value.
fn parse_traceparent(value: &str) -> (String, String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

/// A scrape in OpenMetrics, the format that carries exemplars.
async fn scrape_openmetrics(addr: std::net::SocketAddr) -> String {
    let accept = Some("application/openmetrics-text;version=1.0.0");
    common::get(addr, "/metrics", accept).await.1
}

/// The trace ids of the exemplars of `loadprobe_request_duration_seconds` in a scrape.
fn exemplar_trace_ids(scrape: &str) -> Vec<String> {
    scrape
        .lines()
        .filter(|l| l.starts_with("loadprobe_request_duration_seconds_bucket"))
        .filter_map(|l| l.split_once("# {trace_id=\""))
        .map(|(_, rest)| rest[..32].to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_and_steps_become_spans_joined_by_the_target_with_exemplars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(dir.path());
    let target = spawn_target().await;
    let loadprobe = Loadprobe::start(dir.path(), target.addr, &receiver, "always_on");
    scrape_when_idle(loadprobe.addr, "traced", "always on").await;
    let openmetrics = scrape_openmetrics(loadprobe.addr).await;
    let prometheus = common::get(loadprobe.addr, "/metrics", Some("text/plain"))
        .await
        .1;
    loadprobe.stop();
    let spans = receiver.spans();

    let iterations: Vec<&Value> = spans.iter().filter(|s| s["name"] == "iteration").collect();
    assert!(
        (2..=6).contains(&iterations.len()),
        "{} iterations",
        iterations.len()
    );
    for iteration in &iterations {
        assert_eq!(iteration["service_name"], "loadprobe");
        assert_eq!(iteration["parent_span_id"], "", "iterations are roots");
        assert_eq!(attr(iteration, "loadprobe.probe"), "traced");
        assert_eq!(iteration["status_code"], 2, "a step failed: error status");
        let children: Vec<&Value> = spans
            .iter()
            .filter(|s| s["parent_span_id"] == iteration["span_id"])
            .collect();
        let names: Vec<&str> = children.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["first", "second"], "one child per step, in order");
        for child in &children {
            assert_eq!(child["trace_id"], iteration["trace_id"]);
            assert_eq!(child["kind"], 3, "client span");
            assert_eq!(attr(child, "loadprobe.probe"), "traced");
            assert_eq!(attr(child, "loadprobe.step"), &child["name"]);
            assert_eq!(attr(child, "http.request.method"), "GET");
            let start = child["start_time_unix_nano"].as_u64().expect("start");
            assert!(start >= iteration["start_time_unix_nano"].as_u64().expect("start"));
        }
        let (first, second) = (children[0], children[1]);
        assert_eq!(attr(first, "url.path"), "/ok");
        assert_eq!(attr(first, "http.response.status_code"), 200);
        assert_eq!(attr(first, "loadprobe.outcome"), "success");
        assert_eq!(attr(second, "url.path"), "/fail");
        assert_eq!(attr(second, "http.response.status_code"), 500);
        assert_eq!(attr(second, "loadprobe.outcome"), "status");
        assert_eq!(second["status_code"], 2, "the failing step is an error");
    }

    // The target saw each step's own span as its parent.
    let seen = seen(&target);
    assert_eq!(seen.len(), 2 * iterations.len(), "{seen:?}");
    for (path, traceparent) in &seen {
        let (trace_id, span_id, flags) =
            parse_traceparent(traceparent.as_deref().expect("traceparent sent"));
        assert_eq!(flags, "01", "sampled");
        let span = spans
            .iter()
            .find(|s| s["span_id"] == span_id.as_str())
            .unwrap_or_else(|| panic!("no span {span_id} for {path}"));
        assert_eq!(span["trace_id"], trace_id.as_str());
        assert_eq!(attr(span, "url.path"), path.as_str());
    }

    // Exemplars in OpenMetrics only, with trace ids the receiver got.
    let exemplars = exemplar_trace_ids(&openmetrics);
    assert!(!exemplars.is_empty(), "{openmetrics}");
    for trace_id in &exemplars {
        assert!(
            iterations
                .iter()
                .any(|i| i["trace_id"] == trace_id.as_str()),
            "exemplar {trace_id} is not a received trace"
        );
    }
    assert!(prometheus.contains("loadprobe_request_duration_seconds_bucket"));
    assert!(!prometheus.contains("trace_id"), "{prometheus}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_off_exports_nothing_and_sends_unsampled_traceparent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(dir.path());
    let target = spawn_target().await;
    let loadprobe = Loadprobe::start(dir.path(), target.addr, &receiver, "always_off");
    scrape_when_idle(loadprobe.addr, "traced", "always off").await;
    let openmetrics = scrape_openmetrics(loadprobe.addr).await;
    let stderr = loadprobe.stop();
    assert!(
        stderr.contains("exporting traces over OTLP http/protobuf"),
        "{stderr}"
    );
    let seen = seen(&target);
    assert!(seen.len() >= 4, "{seen:?}");
    for (_, traceparent) in &seen {
        let (_, _, flags) = parse_traceparent(traceparent.as_deref().expect("traceparent sent"));
        assert_eq!(flags, "00", "not sampled");
    }
    assert!(exemplar_trace_ids(&openmetrics).is_empty(), "{openmetrics}");
    assert_eq!(receiver.spans(), Vec::<Value>::new());
}

#[test]
fn grpc_protocol_is_refused_with_a_clear_error() {
    let out = Command::new(BIN)
        .arg("--config.file=config/loadprobe.yml")
        .arg("--web.listen-address=127.0.0.1:0")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported")
            && stderr.contains("http/protobuf"),
        "{stderr}"
    );
}
