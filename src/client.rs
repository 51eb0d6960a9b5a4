//! One pooled HTTP client per target, and sending one step's request through it.
//!
//! The connector is our own (TCP, then rustls with the ring provider) so that a failure is
//! known by type to be a connect or a TLS failure: classification never reads error text.
//! The pool, timeouts and TLS settings come from the target's plan.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::outcome::Reason;
use crate::plan::Target;

mod connect;
mod pool;
mod tls;

use connect::connect;
pub use connect::{ConnectError, Connector, Stream};

/// Bytes of every response body kept for failure snippets (redacted and cut again later).
const PREFIX_BYTES: usize = 256;

/// The client of one target: its own HTTP/1.1 pool for the steps (see `pool.rs`), and
/// hyper-util's pooled client for HTTP/2 targets and side requests to other hosts (memory
/// samples). Cheap to clone; clones share the pools.
#[derive(Debug, Clone)]
pub struct HttpClient {
    shared: Client<Connector, Full<Bytes>>,
    steps: Option<Arc<pool::Pool>>,
}

/// Builds the client of `target` with its pool and TLS settings.
pub fn build(target: &Target) -> Result<HttpClient, ClientError> {
    let tls = if target.url.scheme_str() == Some("https") {
        Some(tls::connector(target)?)
    } else {
        None
    };
    let steps = (!target.http2)
        .then(|| {
            pool::Pool::new(
                target.url.clone(),
                tls.clone(),
                target.max_idle_per_host,
                target.idle_timeout,
                target.max_connections,
            )
        })
        .flatten()
        .map(Arc::new);
    let connector = Connector { tls };
    let shared = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(target.max_idle_per_host)
        .pool_idle_timeout(target.idle_timeout)
        .pool_timer(TokioTimer::new())
        .http2_only(target.http2)
        .build(connector);
    Ok(HttpClient { shared, steps })
}

/// Why a target's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS configuration was rejected.
    #[error("cannot configure TLS for target `{target}`")]
    Tls {
        /// Target name.
        target: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// What came back for one request.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers (for checks and extraction).
    pub headers: http::HeaderMap,
    /// The first bytes of the body, always (for failure snippets).
    pub prefix: Bytes,
    /// The body, when the step's checks need it (at most its `max_body_bytes`).
    pub body: Option<Bytes>,
}

/// A request that got no complete response, with its bounded reason.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// The label value this failure is counted under.
    pub reason: Reason,
    /// Human-readable detail for logs and the status page (never a label).
    pub message: String,
}

/// Sends `request` and reads the whole body, keeping up to `keep_limit` bytes of it when
/// given: a longer body fails with `io`, and dropping it mid-way closes the connection
/// rather than returning it to the pool.
pub async fn send(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    keep_limit: Option<usize>,
) -> Result<Response, TransportError> {
    match &client.steps {
        Some(pool) if pool.serves(request.uri()) => {
            pool.send(request, |response| read(response, keep_limit))
                .await
        }
        // Boxed: the shared client's future would otherwise size every iteration's task,
        // which the hot path above moves on each spawn.
        _ => Box::pin(exchange(client, request, keep_limit)).await,
    }
}

/// GETs `uri` and keeps up to `limit` bytes of body (for side requests such as memory
/// samples, whose bodies can be larger than a step's).
pub async fn fetch(
    client: &HttpClient,
    uri: Uri,
    limit: usize,
) -> Result<Response, TransportError> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri;
    exchange(client, request, Some(limit)).await
}

async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    keep_limit: Option<usize>,
) -> Result<Response, TransportError> {
    let response = client
        .shared
        .request(request)
        .await
        .map_err(classify_request_error)?;
    read(response, keep_limit).await
}

/// Reads a response's body, keeping its first bytes and, when `keep_limit` is given, up
/// to that many bytes of it (a longer body fails with `io`).
async fn read(
    response: http::Response<hyper::body::Incoming>,
    keep_limit: Option<usize>,
) -> Result<Response, TransportError> {
    let status = response.status().as_u16();
    let (parts, mut body) = response.into_parts();
    let mut kept = keep_limit.map(|limit| (limit, Vec::new()));
    let mut prefix = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransportError {
            reason: Reason::Io,
            message: format!("reading body: {e}"),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if prefix.len() < PREFIX_BYTES {
            prefix.extend_from_slice(&data[..data.len().min(PREFIX_BYTES - prefix.len())]);
        }
        if let Some((limit, kept)) = kept.as_mut() {
            if kept.len() + data.len() > *limit {
                return Err(TransportError {
                    reason: Reason::Io,
                    message: format!("body longer than {limit} bytes"),
                });
            }
            kept.extend_from_slice(&data);
        }
    }
    Ok(Response {
        status,
        headers: parts.headers,
        prefix: Bytes::from(prefix),
        body: kept.map(|(_, body)| Bytes::from(body)),
    })
}

/// Maps a client error to its reason by looking for our connector's typed error.
fn classify_request_error(error: hyper_util::client::legacy::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return TransportError {
                reason: connect.reason(),
                message: connect.to_string(),
            };
        }
        source = cause.source();
    }
    let reason = if error.is_connect() {
        Reason::Connect
    } else {
        Reason::Io
    };
    let message = match std::error::Error::source(&error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    };
    TransportError { reason, message }
}
