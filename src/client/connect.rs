//! Opening a target's connections: TCP (and rustls for `https`), with each failure typed
//! by phase so classification never reads error text.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::outcome::Reason;

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
    pub(super) tls: Option<tokio_rustls::TlsConnector>,
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
        // Side requests are rare: a fresh resolver each (IP literals still skip the lookup).
        Box::pin(async move {
            connect(uri, tls, &Resolver::default())
                .await
                .map(TokioIo::new)
        })
    }
}

/// How long a resolved host name is reused by a pool's new connections.
const RESOLVE_TTL: Duration = Duration::from_secs(30);

/// Resolves a pool's host: an IP literal without a lookup; a name through the system
/// resolver (a blocking thread), reused for [`RESOLVE_TTL`]. Without the cache, a burst of
/// new connections would start a blocking thread each, and each thread's stack and malloc
/// arena stays in resident memory.
#[derive(Debug, Default)]
pub(super) struct Resolver {
    cached: Mutex<Option<(Instant, Vec<SocketAddr>)>>,
}

impl Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let cached = self
            .cached
            .lock()
            .expect("resolver lock is never poisoned")
            .clone();
        if let Some((_, addresses)) = cached.filter(|(at, _)| at.elapsed() < RESOLVE_TTL) {
            return Ok(addresses);
        }
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| ConnectError::Resolve {
                host: host.to_owned(),
                source,
            })?
            .collect();
        *self.cached.lock().expect("resolver lock is never poisoned") =
            Some((Instant::now(), addresses.clone()));
        Ok(addresses)
    }
}

pub(super) async fn connect(
    uri: Uri,
    tls: Option<tokio_rustls::TlsConnector>,
    resolver: &Resolver,
) -> Result<Stream, ConnectError> {
    let host = uri
        .host()
        .ok_or(ConnectError::NoHost)?
        .trim_matches(['[', ']'])
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addresses = resolver.resolve(&host, port).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_literals_need_no_lookup_and_names_are_cached() {
        let resolver = Resolver::default();
        let literal = resolver.resolve("127.0.0.1", 8080).await.expect("literal");
        assert_eq!(literal, [SocketAddr::from(([127, 0, 0, 1], 8080))]);
        assert!(resolver.cached.lock().expect("lock").is_none(), "no lookup");
        let first = resolver.resolve("localhost", 80).await.expect("resolves");
        let cached = resolver.cached.lock().expect("lock").clone();
        assert_eq!(cached.map(|(_, a)| a), Some(first.clone()));
        assert_eq!(
            resolver.resolve("localhost", 80).await.expect("cached"),
            first
        );
    }
}
