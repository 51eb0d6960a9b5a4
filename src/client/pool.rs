//! The HTTP/1.1 connection pool of a target: each request runs on a kept-alive connection
//! that the requesting task checks out and drives itself.
//!
//! Why not hyper-util's pooled client here: it gives every connection a task of its own,
//! so each request crosses tasks (and often threads) twice — a wake-up to send, another to
//! answer. Here the iteration's task polls the connection while it waits for its response,
//! so a request is one write and one read in one task, and the result is recorded where it
//! was measured. HTTP/2 targets (which multiplex) keep hyper-util's client.
//!
//! Idle connections are reused first-in first-out: under a steady rate every connection the
//! pool ever needed stays warm, so the pool (and memory) stays the same size instead of
//! opening and idling out connections around every small burst.
//!
//! With `pool.max_connections`, a request holds one of that many slots for as long as it
//! uses a connection, so a burst beyond it waits for a connection to come back instead of
//! opening more (each one costs memory on both sides, for as long as it stays warm). The
//! wait is part of the request's latency and of its timeout, both counted from the
//! intended instant.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::connect::Resolver;
use super::{ConnectError, Stream, TransportError, connect};
use crate::outcome::Reason;

type Connection = http1::Connection<TokioIo<Stream>, Full<Bytes>>;

/// A kept-alive connection: the handle to send on and the connection to drive.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    connection: Pin<Box<Connection>>,
    idle_since: Instant,
}

/// The HTTP/1.1 pool of one target (one scheme, host and port).
pub(super) struct Pool {
    base: Uri,
    host: HeaderValue,
    tls: Option<tokio_rustls::TlsConnector>,
    resolver: Resolver,
    idle: Mutex<VecDeque<Conn>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// One permit per connection that may be open (in use or idle), when bounded: a
    /// request takes one before it checks out and gives it back after checking in, so an
    /// idle connection is always there for the next permit holder to find before it would
    /// open another.
    slots: Option<Semaphore>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("base", &self.base)
            .field("max_idle", &self.max_idle)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// What reading a response gave.
pub(super) type Exchange<T> = Result<T, TransportError>;

impl Pool {
    /// A pool for requests to `base`'s scheme, host and port.
    pub(super) fn new(
        base: Uri,
        tls: Option<tokio_rustls::TlsConnector>,
        max_idle: usize,
        idle_timeout: Duration,
        max_connections: Option<usize>,
    ) -> Option<Self> {
        let authority = base.authority()?.as_str();
        let host = HeaderValue::from_str(authority).ok()?;
        Some(Self {
            base,
            host,
            tls,
            resolver: Resolver::default(),
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            idle_timeout,
            slots: max_connections.map(Semaphore::new),
        })
    }

    /// Whether `uri` goes to this pool's scheme, host and port.
    pub(super) fn serves(&self, uri: &Uri) -> bool {
        uri.authority() == self.base.authority() && uri.scheme() == self.base.scheme()
    }

    /// Sends `request` on a pooled connection and reads its response with `read`, driving
    /// the connection meanwhile. The connection goes back to the pool only when `read`
    /// succeeded and the connection is ready for another request. With a bound on
    /// connections, first waits for a slot (first come, first served).
    pub(super) async fn send<T, F, Fut>(
        &self,
        mut request: Request<Full<Bytes>>,
        read: F,
    ) -> Exchange<T>
    where
        F: FnOnce(Response<Incoming>) -> Fut,
        Fut: Future<Output = Exchange<T>>,
    {
        self.to_origin_form(&mut request);
        // Held until the connection is back in the pool (or dropped), on every path.
        let _slot = match &self.slots {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .expect("the pool never closes its slots"),
            ),
            None => None,
        };
        let (mut conn, mut reused) = self.checkout().await?;
        let response = loop {
            let sent = conn.sender.try_send_request(request);
            match drive(sent, &mut conn.connection).await {
                Some(Ok(response)) => break response,
                Some(Err(mut unsent)) => match unsent.take_message() {
                    // A kept-alive connection the server had just closed: the request never
                    // left, so it goes once on a new connection (as hyper-util's client does).
                    Some(unsent_request) if reused => {
                        request = unsent_request;
                        (conn, reused) = (Box::pin(self.open()).await?, false);
                    }
                    _ => return Err(hyper_error(unsent.error())),
                },
                None => return Err(closed()),
            }
        };
        let result = drive(read(response), &mut conn.connection)
            .await
            .unwrap_or_else(|| Err(closed()));
        if result.is_ok() {
            self.checkin(conn).await;
        }
        result
    }

    /// HTTP/1.1 requests carry the path and a `Host` header, not the absolute URI.
    fn to_origin_form(&self, request: &mut Request<Full<Bytes>>) {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.host.clone());
    }

    /// The oldest idle connection that is still open, or a new one; `true` when reused.
    async fn checkout(&self) -> Result<(Conn, bool), TransportError> {
        loop {
            let candidate = self
                .idle
                .lock()
                .expect("pool lock is never poisoned")
                .pop_front();
            let Some(mut conn) = candidate else {
                return Ok((Box::pin(self.open()).await?, false));
            };
            if conn.idle_since.elapsed() < self.idle_timeout && still_open(&mut conn).await {
                return Ok((conn, true));
            }
        }
    }

    /// Returns `conn` to the pool once it can take another request.
    async fn checkin(&self, mut conn: Conn) {
        let ready = drive(conn.sender.ready(), &mut conn.connection).await;
        if !matches!(ready, Some(Ok(()))) {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock().expect("pool lock is never poisoned");
        if idle.len() < self.max_idle {
            idle.push_back(conn);
        }
    }

    /// A new connection (callers box this rare, large future: connecting, resolving and the
    /// TLS handshake would otherwise size every iteration's task).
    async fn open(&self) -> Result<Conn, TransportError> {
        let stream = connect(self.base.clone(), self.tls.clone(), &self.resolver)
            .await
            .map_err(connect_error)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| hyper_error(&e))?;
        Ok(Conn {
            sender,
            connection: Box::pin(connection),
            idle_since: Instant::now(),
        })
    }
}

/// Polls `work` and the connection together until `work` is done; `None` when the
/// connection ended first (closed or failed) and `work` could not finish without it.
async fn drive<F: Future>(work: F, connection: &mut Pin<Box<Connection>>) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        output = &mut work => Some(output),
        _ = connection.as_mut() => {
            // What the connection delivered before ending (a whole response) still counts.
            match std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx))).await {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            }
        }
    }
}

/// Whether an idle connection is still usable: polled once, it notices a close by the peer.
async fn still_open(conn: &mut Conn) -> bool {
    let connection = &mut conn.connection;
    let closed =
        std::future::poll_fn(|cx| std::task::Poll::Ready(connection.as_mut().poll(cx).is_ready()))
            .await;
    !closed && conn.sender.is_ready()
}

fn closed() -> TransportError {
    TransportError {
        reason: Reason::Io,
        message: "connection closed before the response was complete".to_owned(),
    }
}

fn connect_error(error: ConnectError) -> TransportError {
    TransportError {
        reason: error.reason(),
        message: error.to_string(),
    }
}

fn hyper_error(error: &hyper::Error) -> TransportError {
    let message = match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    };
    TransportError {
        reason: Reason::Io,
        message,
    }
}
