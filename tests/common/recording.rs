//! [`RecordingTarget`]: an in-process HTTP target on 127.0.0.1:0 that records every request
//! it receives (arrival instant, method, path and query, headers, body) and what it answered,
//! so a test can hold what loadprobe sent against what it reports.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::{HeaderMap, Method};

/// One request as the target received it, and the reply it got.
#[derive(Debug, Clone)]
pub struct Request {
    /// When the handler saw the request (before reading its body).
    pub at: Instant,
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The path and query, as sent.
    pub path_and_query: String,
    /// Every header.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// What the target answered.
    pub reply: Reply,
}

impl Request {
    /// The value of header `name`, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer: status, headers, body, and a delay before it is sent.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// How long the target waits before answering.
    pub delay: Duration,
}

impl Default for Reply {
    /// `200 OK` with body `ok`, at once.
    fn default() -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: "ok".to_owned(),
            delay: Duration::ZERO,
        }
    }
}

impl Reply {
    /// An empty-bodied answer with `status`.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            body: String::new(),
            ..Reply::default()
        }
    }

    /// A `200` with `body`.
    pub fn body(body: impl Into<String>) -> Self {
        Reply {
            body: body.into(),
            ..Reply::default()
        }
    }

    /// A `200` with `value` as a JSON body.
    pub fn json(value: &serde_json::Value) -> Self {
        Reply::body(value.to_string()).header("content-type", "application/json")
    }

    /// The same answer with the body replaced.
    pub fn with_body(self, body: impl Into<String>) -> Self {
        Reply {
            body: body.into(),
            ..self
        }
    }

    /// The same answer with header `name: value` added.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The same answer, sent `delay` after the request arrived.
    pub fn delay(self, delay: Duration) -> Self {
        Reply { delay, ..self }
    }
}

/// Computes the reply to a request (for answers that depend on it, or differ each time).
type Responder = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// How the target answers: the first rule whose path pattern matches, else `200 ok`.
///
/// A pattern is an exact path (`/fail`), or a prefix when it ends in `*` (`/items/*`); the
/// method and query do not take part.
#[derive(Clone, Default)]
pub struct Behaviour {
    rules: Vec<(String, Responder)>,
}

impl Behaviour {
    /// `200 ok` to every request.
    pub fn ok() -> Self {
        Behaviour::default()
    }

    /// Answers `reply` to requests whose path matches `pattern`.
    pub fn on(self, pattern: &str, reply: Reply) -> Self {
        self.on_request(pattern, move |_| reply.clone())
    }

    /// Answers what `reply` makes of each request whose path matches `pattern`.
    pub fn on_request(
        mut self,
        pattern: &str,
        reply: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.rules.push((pattern.to_owned(), Arc::new(reply)));
        self
    }

    /// `reply` for every request that no rule added before this one matches.
    pub fn otherwise(self, reply: Reply) -> Self {
        self.on("*", reply)
    }

    fn reply_to(&self, request: &Request) -> Reply {
        self.rules
            .iter()
            .find(|(pattern, _)| match pattern.strip_suffix('*') {
                Some(prefix) => request.path.starts_with(prefix),
                None => request.path == *pattern,
            })
            .map(|(_, reply)| reply(request))
            .unwrap_or_default()
    }
}

/// A running recording target; it serves until the test's runtime ends.
pub struct RecordingTarget {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
}

struct Shared {
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Request>>>,
}

impl RecordingTarget {
    /// Starts a target answering as `behaviour` says on a free loopback port.
    pub async fn spawn(behaviour: Behaviour) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            behaviour,
            log: log.clone(),
        });
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let addr = super::serve(app).await;
        RecordingTarget { addr, log }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().expect("lock").clone()
    }

    /// The requests received so far whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.filtered(|r| r.path == path)
    }

    /// The requests received so far for which `keep` holds.
    pub fn filtered(&self, keep: impl Fn(&Request) -> bool) -> Vec<Request> {
        let log = self.log.lock().expect("lock");
        log.iter().filter(|r| keep(r)).cloned().collect()
    }

    /// How many requests have been received so far.
    pub fn count(&self) -> usize {
        self.log.lock().expect("lock").len()
    }

    /// The arrival instants of every request so far.
    pub fn arrivals(&self) -> Vec<Instant> {
        let log = self.log.lock().expect("lock");
        log.iter().map(|r| r.at).collect()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut request = Request {
        at,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
        reply: Reply::default(),
    };
    let reply = shared.behaviour.reply_to(&request);
    request.reply = reply.clone();
    shared.log.lock().expect("lock").push(request);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &reply.headers {
        headers.append(
            http::HeaderName::try_from(name.as_str()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    let status = http::StatusCode::from_u16(reply.status).expect("status code");
    (status, headers, reply.body).into_response()
}
