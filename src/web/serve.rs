//! The accept loop of loadprobe's endpoints: plain HTTP or TLS, HTTP/1.1 and HTTP/2, with
//! graceful shutdown.
//!
//! `axum::serve` has no TLS, so connections are accepted here, TLS-terminated with
//! tokio-rustls when configured, and served by hyper-util's auto (HTTP/1 or HTTP/2)
//! connection builder. On shutdown the loop stops accepting and every open connection is
//! told to finish its current requests and close.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::tls::TlsSource;

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections get this long to finish after shutdown before they are dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after an accept error such as too many open files, so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How connections are served.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// TLS when set; plain HTTP/1.1 otherwise.
    pub tls: Option<Arc<TlsSource>>,
}

/// Serves `router` on `listener` until `shutdown`, then lets open connections finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    if transport.tls.is_none() {
        // HTTP/2 is offered over TLS only (ALPN), as in the exporter toolkit.
        builder = builder.http1_only();
    }
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            watcher: graceful.watcher(),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(connection.run(stream, transport.tls.clone()));
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the close timeout; dropping them");
    }
    Ok(())
}

/// One accepted connection and what it needs to be served.
struct Connection {
    /// HTTP/1 and HTTP/2 connection settings.
    builder: Builder<TokioExecutor>,
    /// The endpoints.
    router: Router,
    /// Tells the connection when to shut down gracefully.
    watcher: Watcher,
    /// Cuts a pending TLS handshake short at shutdown.
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<Arc<TlsSource>>) {
        let Some(tls) = tls else {
            return self.serve_http(stream).await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
        let stream = tokio::select! {
            () = self.shutdown.cancelled() => return,
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return tracing::debug!(%error, "TLS handshake failed"),
                Err(_) => return tracing::debug!("TLS handshake timed out"),
            },
        };
        self.serve_http(stream).await;
    }

    async fn serve_http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = TowerToHyperService::new(self.router);
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        if let Err(error) = self.watcher.watch(connection).await {
            tracing::debug!(%error, "connection closed with an error");
        }
    }
}
