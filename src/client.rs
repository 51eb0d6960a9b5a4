//! One pooled HTTP client per target, and sending one step's request through it.
//!
//! The connector is our own (TCP, then rustls with the ring provider) so that a failure is
//! known by type to be a connect or a TLS failure: classification never reads error text.
//! The pool, timeouts and TLS settings come from the target's plan.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::outcome::Reason;
use crate::plan::Target;

mod pool;
mod tls;

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
        _ => exchange(client, request, keep_limit).await,
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

/// A failure to establish a connection, by phase.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URI has no usable host.
    #[error("URI has no host")]
    NoHost,
    /// Name resolution failed or found nothing.
    #[error("cannot resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {host}")]
    Tcp {
        /// The host name.
        host: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The connection was accepted and then reset before it could be used: the peer
    /// answered, so this is a broken connection (`io`), not a refused one.
    #[error("connection to {host} reset right after it was accepted")]
    Reset {
        /// The host name.
        host: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed")]
    Tls {
        /// The host name.
        host: String,
        /// The handshake error.
        #[source]
        source: io::Error,
    },
}

impl ConnectError {
    pub(crate) fn reason(&self) -> Reason {
        match self {
            ConnectError::Tls { .. } => Reason::Tls,
            ConnectError::Reset { .. } => Reason::Io,
            ConnectError::NoHost | ConnectError::Resolve { .. } | ConnectError::Tcp { .. } => {
                Reason::Connect
            }
        }
    }
}

/// Opens TCP (and TLS for `https`) connections for the pool.
#[derive(Clone)]
pub struct Connector {
    /// Present when the target is `https`.
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move { connect(uri, tls).await.map(TokioIo::new) })
    }
}

async fn connect(
    uri: Uri,
    tls: Option<tokio_rustls::TlsConnector>,
) -> Result<Stream, ConnectError> {
    let host = uri
        .host()
        .ok_or(ConnectError::NoHost)?
        .trim_matches(['[', ']'])
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addresses: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: host.clone(),
            source,
        })?
        .collect();
    let tcp = TcpStream::connect(&addresses[..])
        .await
        .map_err(|source| tcp_error(&host, source))?;
    // Requests are small and latency is what we measure: never wait for Nagle.
    tcp.set_nodelay(true)
        .map_err(|source| tcp_error(&host, source))?;
    let Some(tls) = tls.filter(|_| https) else {
        return Ok(Stream::Plain(tcp));
    };
    let name =
        rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| ConnectError::Tls {
            host: host.clone(),
            source: io::Error::other(e),
        })?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls { host, source })?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// A failed TCP connect: refused, unreachable and the like are `connect`; a reset means the
/// peer accepted and then dropped the connection (tokio reports it from `connect` when it
/// comes before the socket was first writable), which is `io`.
fn tcp_error(host: &str, source: io::Error) -> ConnectError {
    let host = host.to_owned();
    match source.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            ConnectError::Reset { host, source }
        }
        _ => ConnectError::Tcp { host, source },
    }
}

/// A plain or TLS connection to a target.
#[derive(Debug)]
pub enum Stream {
    /// `http`.
    Plain(TcpStream),
    /// `https`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Tls(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => {
                Connected::new().negotiated_h2()
            }
            _ => Connected::new(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
