//! Test helpers: in-process targets and exporters on 127.0.0.1:0, scraping and parsing.
//! Every exporter a test starts goes through [`spawn_with`] or [`spawn_reloadable_with`]
//! here (the one place that calls `loadprobe::run*`), or the binary through [`Process`].
#![allow(dead_code)]

pub mod poll;
pub mod process;
pub mod recording;

// Each test file uses some of these.
#[allow(unused_imports)]
pub use poll::{SETTLE, eventually, eventually_async, idle, scrape_until, scrape_when_all_idle};
#[allow(unused_imports)]
pub use process::Process;
#[allow(unused_imports)]
pub use recording::{Behaviour, RecordingTarget, Reply};

use std::net::SocketAddr;
use std::time::Duration;

use loadprobe::config::{Config, DemoConfig};
use loadprobe::control::ReloadError;
use loadprobe::demo::Stats;
use loadprobe::plan::Plan;
use loadprobe::status::ProbeSnapshot;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Serves `app` on a free loopback port (a purpose-built target for one test).
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
    let addr = listener.local_addr().expect("target address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Starts the demo target on a free loopback port.
pub async fn spawn_demo(settings: DemoConfig) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind demo");
    let addr = listener.local_addr().expect("demo address");
    let stop = CancellationToken::new();
    tokio::spawn(loadprobe::demo::serve(listener, settings, stop.clone()));
    (addr, stop)
}

/// The demo target's ground truth.
pub async fn demo_stats(addr: SocketAddr) -> Stats {
    let body = get(addr, "/admin/stats", None).await.1;
    serde_json::from_str(&body).expect("stats JSON")
}

/// A running exporter.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Vec<ProbeSnapshot>>,
}

impl Exporter {
    /// Stops it (as SIGTERM would) and returns each probe's final state.
    pub async fn shutdown(mut self) -> Vec<ProbeSnapshot> {
        let _ = self.stop.take().expect("not stopped yet").send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("shuts down in time")
            .expect("run task")
    }
}

/// Parses a config and runs it with a listener on a free loopback port.
pub async fn spawn_exporter(yaml: &str) -> Exporter {
    spawn_plan(plan(yaml)).await
}

/// Parses and validates a config.
pub fn plan(yaml: &str) -> Plan {
    let config = Config::parse(yaml, |_| None).expect("config parses");
    Plan::try_from(config).expect("config is valid")
}

/// Runs a plan with a listener on a free loopback port.
pub async fn spawn_plan(plan: Plan) -> Exporter {
    spawn_plan_with_history(plan, loadprobe::status::history::SAMPLE_PERIOD).await
}

/// Runs a plan, sampling the status page's charts every `history_period`.
pub async fn spawn_plan_with_history(plan: Plan, history_period: Duration) -> Exporter {
    spawn_with(plan, loadprobe::ServeOptions::default(), history_period).await
}

/// Runs a plan with these serving options (web config, POST endpoint flags).
pub async fn spawn_plan_with_options(plan: Plan, options: loadprobe::ServeOptions) -> Exporter {
    spawn_with(plan, options, loadprobe::status::history::SAMPLE_PERIOD).await
}

async fn spawn_with(
    plan: Plan,
    options: loadprobe::ServeOptions,
    history_period: Duration,
) -> Exporter {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind exporter");
    let addr = listener.local_addr().expect("exporter address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        let options = loadprobe::RunOptions {
            history_period,
            ..loadprobe::RunOptions::new(options)
        };
        loadprobe::run(plan, vec![listener], options, shutdown)
            .await
            .expect("run succeeds")
    });
    Exporter {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection: (status, body, content type).
pub async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String) {
    let (status, body, _) = get_with_type(addr, path, accept).await;
    (status, body)
}

/// Like [`get`], also returning the Content-Type.
pub async fn get_with_type(
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    let headers: Vec<(&str, String)> = accept
        .map(|a| ("accept", a.to_owned()))
        .into_iter()
        .collect();
    send(addr, http::Method::GET, path, &headers).await
}

/// A POST without a body: (status, body).
pub async fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body, _) = send(addr, http::Method::POST, path, &[]).await;
    (status, body)
}

/// A POST without a body, with basic credentials (`user:password`): (status, body).
pub async fn post_as(addr: SocketAddr, path: &str, user_and_password: &str) -> (u16, String) {
    let (status, body, _) = send(addr, http::Method::POST, path, &[basic(user_and_password)]).await;
    (status, body)
}

/// An `Authorization: Basic` header for `user:password`.
fn basic(user_and_password: &str) -> (&'static str, String) {
    use base64::Engine as _;
    let credentials = base64::engine::general_purpose::STANDARD.encode(user_and_password);
    ("authorization", format!("Basic {credentials}"))
}

/// One HTTP/1.1 request with `headers` on a fresh connection: (status, body, content type).
async fn send(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, String, String) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        content_type,
    )
}

/// The value of the sample `name{labels}` in Prometheus text, where `labels` is the exact
/// label string between the braces (in exposition order).
pub fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name_and_labels)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|value| value.trim().parse().expect("numeric sample"))
}

/// Sum of every sample of metric `name` whose labels contain all of `contains`.
pub fn sum(text: &str, name: &str, contains: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| contains.iter().all(|c| line.contains(c)))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .expect("value")
                .parse::<f64>()
                .expect("numeric")
        })
        .sum()
}

/// Scrapes until `probe`'s run has ended and none of its iterations is in flight (at most
/// 15 s; see [`scrape_when_all_idle`]), and returns that scrape; `case` names the test in
/// the failure message.
pub async fn scrape_when_idle(addr: SocketAddr, probe: &str, case: &str) -> String {
    poll::settled_scrape(addr, &[probe], case).await
}

/// The exporter's `/metrics` in the Prometheus text format.
pub async fn scrape(addr: SocketAddr) -> String {
    get(addr, "/metrics", None).await.1
}

/// [`scrape`] with basic credentials (`user:password`).
pub async fn scrape_as(addr: SocketAddr, user_and_password: &str) -> String {
    let (status, body, _) = send(
        addr,
        http::Method::GET,
        "/metrics",
        &[basic(user_and_password)],
    )
    .await;
    assert_eq!(status, 200, "scrape as {user_and_password}: {body}");
    body
}

/// Like [`spawn_exporter`], sampling the status page's charts every `history_period`.
pub async fn spawn_exporter_with_history(yaml: &str, history_period: Duration) -> Exporter {
    spawn_plan_with_history(plan(yaml), history_period).await
}

/// A running exporter that reloads from `path` when told through `control`.
pub struct Reloadable {
    pub exporter: Exporter,
    pub control: loadprobe::control::Control,
}

/// Runs the config file at `path`, reloading from it on `control.reload()`.
pub async fn spawn_reloadable(path: &std::path::Path) -> Reloadable {
    spawn_reloadable_with(path, loadprobe::ServeOptions::default()).await
}

/// [`spawn_reloadable`], serving as `serve` says (auth, enabled POST endpoints).
pub async fn spawn_reloadable_with(
    path: &std::path::Path,
    serve: loadprobe::ServeOptions,
) -> Reloadable {
    let read = {
        let path = path.to_owned();
        move || -> Result<Plan, ReloadError> {
            // As the binary reports it: the error and its causes (the line is in a cause).
            let invalid = |e: anyhow::Error| ReloadError::Invalid(format!("{e:#}"));
            let config = Config::load(&path).map_err(|e| invalid(e.into()))?;
            Plan::try_from(config).map_err(|e| invalid(e.into()))
        }
    };
    let plan = read().expect("the first config is valid");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind exporter");
    let addr = listener.local_addr().expect("exporter address");
    let (control, commands) = loadprobe::control::Control::channel(8);
    let options = loadprobe::RunOptions {
        source: Some(std::sync::Arc::new(read)),
        control: (control.clone(), commands),
        history_period: Duration::from_millis(200),
        ..loadprobe::RunOptions::new(serve)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        loadprobe::run(plan, vec![listener], options, shutdown)
            .await
            .expect("run succeeds")
    });
    Reloadable {
        exporter: Exporter {
            addr,
            stop: Some(stop),
            task,
        },
        control,
    }
}
