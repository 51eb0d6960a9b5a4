//! A purpose-built misbehaving target for the fault-injection suite (`tests/faults.rs`).
//!
//! Raw tokio sockets on 127.0.0.1:0 and hand-written HTTP/1.1 bytes: no HTTP library on
//! this side tidies a fault up, so each one is exactly what goes over the wire. One
//! [`Fault`] per listener. The server counts what it saw ([`Seen`]), so a test can hold
//! loadprobe's numbers against the target's own.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, DropGuard};

/// A self-signed certificate for `127.0.0.1` and `localhost` (valid 2000–2100), which no
/// trust store holds. There is no certificate-generation crate in the tree, so it was made
/// once with `openssl ca -selfsign` (P-256, `CA:FALSE`) and is pasted here.
pub const UNTRUSTED_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATigAwIBAgIBATAKBggqhkjOPQQDAjArMSkwJwYDVQQDDCBsb2FkcHJv
YmUgZmF1bHQgdGVzdCAodW50cnVzdGVkKTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAw
MDEwMTAwMDAwMFowKzEpMCcGA1UEAwwgbG9hZHByb2JlIGZhdWx0IHRlc3QgKHVu
dHJ1c3RlZCkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARtawLvDpLJa3Aqy81W
clQ83AmTZypSByzngMaftPNlUxrRQggyKqNNdaTM/D0KtQNaQFuDyLx0fo1WQhv6
Z37uo0swSTAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwDAYDVR0TAQH/BAIw
ADAdBgNVHQ4EFgQUtBq1EYnE56TDEgc61tTFEh3awCgwCgYIKoZIzj0EAwIDSQAw
RgIhAKjiFeHmvlXLNstYoYnr4OLISTw2BYe6IZ1BKjdXweVQAiEAtIm91dyChFR8
nsLz964PySOQMUpT0MTRtlAS/AlejPA=
-----END CERTIFICATE-----
";

/// The PKCS#8 key of [`UNTRUSTED_CERT_PEM`] (a throwaway test key).
const UNTRUSTED_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghH5bZaVyLID4fQzg
fdNvJPYf4UvitB/5RHyxFI16CzWhRANCAARtawLvDpLJa3Aqy81WclQ83AmTZypS
ByzngMaftPNlUxrRQggyKqNNdaTM/D0KtQNaQFuDyLx0fo1WQhv6Z37u
-----END PRIVATE KEY-----
";

/// Longest request head read before the connection is dropped (loadprobe's are tiny).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the server misbehaves, for every connection of its listener.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Reset (RST, through `SO_LINGER` 0) right after accept, before reading anything.
    ResetOnAccept,
    /// Read the request, send headers promising 1000 bytes and 100 of them, then reset.
    ResetMidBody,
    /// Read the request and never answer; the connection stays open until the client
    /// gives up.
    Silent,
    /// Answer `200` with `body` (`Content-Length` sent up front), one byte every `every`.
    Dribble {
        /// The whole body.
        body: &'static str,
        /// Pause before each byte.
        every: Duration,
    },
    /// Answer `200` with a `len`-byte body that starts with `prefix`, written from one
    /// fixed 64 KiB buffer so the server itself stays small. Keep-alive.
    Huge {
        /// Body length in bytes (`Content-Length`).
        len: u64,
        /// The first bytes of the body.
        prefix: &'static str,
    },
    /// Speak first with bytes that are not HTTP (nor TLS), then close: the client's
    /// request, or its TLS ClientHello, is answered with garbage.
    Garbage,
    /// A chunked body whose second chunk-size line is not hex; the connection then stays
    /// open, so only the parse can end the request early.
    BadChunkSize,
    /// A chunked body cut off (clean close) before its last chunk.
    TruncatedChunked,
    /// `302 Found` back to the requested path, forever (keep-alive).
    RedirectLoop,
    /// `200 OK`, then close the connection after every response; `announce` says whether
    /// `Connection: close` is sent or the close comes unannounced after a keep-alive answer.
    CloseAfterResponse {
        /// Send `Connection: close`.
        announce: bool,
    },
    /// TLS with [`UNTRUSTED_CERT_PEM`]; clients that complete the handshake get `200 OK`.
    UntrustedTls,
}

/// What the server saw, counted as it happens.
#[derive(Debug, Default)]
pub struct Seen {
    connections: AtomicU64,
    requests: AtomicU64,
    responses: AtomicU64,
    cut: AtomicU64,
    handshakes: AtomicU64,
}

/// A copy of [`Seen`] at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenCounts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Request heads read in full.
    pub requests: u64,
    /// Responses written in full.
    pub responses: u64,
    /// Responses whose writing failed because the client went away.
    pub cut: u64,
    /// TLS handshakes completed (server side).
    pub handshakes: u64,
}

impl Seen {
    /// The counts now.
    pub fn counts(&self) -> SeenCounts {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        SeenCounts {
            connections: get(&self.connections),
            requests: get(&self.requests),
            responses: get(&self.responses),
            cut: get(&self.cut),
            handshakes: get(&self.handshakes),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A running misbehaving server; it stops, and drops every connection, when dropped.
pub struct FaultyServer {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    /// What it saw.
    pub seen: Arc<Seen>,
    _stop: DropGuard,
}

impl FaultyServer {
    /// Starts a server with `fault` on a free loopback port.
    pub async fn spawn(fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind faulty");
        let addr = listener.local_addr().expect("faulty address");
        let seen = Arc::new(Seen::default());
        let stop = CancellationToken::new();
        let tls = matches!(fault, Fault::UntrustedTls).then(untrusted_acceptor);
        tokio::spawn(accept_loop(
            listener,
            fault,
            tls,
            seen.clone(),
            stop.clone(),
        ));
        Self {
            addr,
            seen,
            _stop: stop.drop_guard(),
        }
    }

    /// Waits (up to 5 s) until `done` holds for the server's counts, and returns them.
    /// For what the server learns after the client has moved on (a cut response).
    pub async fn counts_when(&self, done: impl Fn(&SeenCounts) -> bool) -> SeenCounts {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let counts = self.seen.counts();
            if done(&counts) || tokio::time::Instant::now() >= deadline {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    fault: Fault,
    tls: Option<TlsAcceptor>,
    seen: Arc<Seen>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        Seen::bump(&seen.connections);
        let (fault, tls, seen, stop) = (fault.clone(), tls.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = misbehave(fault, stream, tls, &seen) => {}
            }
        });
    }
}

/// Serves one connection the way `fault` says.
async fn misbehave(fault: Fault, mut stream: TcpStream, tls: Option<TlsAcceptor>, seen: &Seen) {
    let mut buf = Vec::new();
    match fault {
        Fault::ResetOnAccept => reset(stream),
        Fault::ResetMidBody => {
            if read_head(&mut stream, &mut buf, seen).await.is_some() {
                let partial = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{}",
                    "x".repeat(100)
                );
                let _ = stream.write_all(partial.as_bytes()).await;
                // Let the client see the headers and part of the body before the reset.
                tokio::time::sleep(Duration::from_millis(20)).await;
                reset(stream);
            }
        }
        Fault::Silent => {
            if read_head(&mut stream, &mut buf, seen).await.is_some() {
                wait_for_close(&mut stream).await;
            }
        }
        Fault::Dribble { body, every } => {
            while read_head(&mut stream, &mut buf, seen).await.is_some() {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                if !respond(&mut stream, head.as_bytes(), seen).await {
                    return;
                }
                for byte in body.bytes() {
                    tokio::time::sleep(every).await;
                    if stream.write_all(&[byte]).await.is_err() {
                        Seen::bump(&seen.cut);
                        return;
                    }
                }
                Seen::bump(&seen.responses);
            }
        }
        Fault::Huge { len, prefix } => {
            while read_head(&mut stream, &mut buf, seen).await.is_some() {
                if !write_huge(&mut stream, len, prefix).await {
                    Seen::bump(&seen.cut);
                    return;
                }
                Seen::bump(&seen.responses);
            }
        }
        Fault::Garbage => {
            let garbage = b"\x00\xff\xfeSSH-2.0-definitely-not-http\r\n\x16\x03\x09garbage\r\n\r\n";
            let _ = stream.write_all(garbage).await;
            close(&mut stream).await;
        }
        Fault::BadChunkSize => {
            if read_head(&mut stream, &mut buf, seen).await.is_some() {
                let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                                 5\r\nhello\r\nnot-hex\r\nworld\r\n0\r\n\r\n";
                let _ = stream.write_all(response).await;
                wait_for_close(&mut stream).await;
            }
        }
        Fault::TruncatedChunked => {
            if read_head(&mut stream, &mut buf, seen).await.is_some() {
                let response =
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
                let _ = stream.write_all(response).await;
                close(&mut stream).await;
            }
        }
        Fault::RedirectLoop => {
            while let Some(path) = read_head(&mut stream, &mut buf, seen).await {
                let response =
                    format!("HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n");
                if !respond(&mut stream, response.as_bytes(), seen).await {
                    return;
                }
                Seen::bump(&seen.responses);
            }
        }
        Fault::CloseAfterResponse { announce } => {
            if read_head(&mut stream, &mut buf, seen).await.is_some() {
                let connection = if announce {
                    "Connection: close\r\n"
                } else {
                    ""
                };
                let response =
                    format!("HTTP/1.1 200 OK\r\n{connection}Content-Length: 2\r\n\r\nok");
                if respond(&mut stream, response.as_bytes(), seen).await {
                    Seen::bump(&seen.responses);
                }
                close(&mut stream).await;
            }
        }
        Fault::UntrustedTls => {
            let acceptor = tls.expect("a TLS acceptor for UntrustedTls");
            let Ok(mut stream) = acceptor.accept(stream).await else {
                return;
            };
            Seen::bump(&seen.handshakes);
            while read_head(&mut stream, &mut buf, seen).await.is_some() {
                let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if !respond(&mut stream, ok, seen).await {
                    return;
                }
                Seen::bump(&seen.responses);
            }
        }
    }
}

/// Reads one request head (loadprobe's requests here have no body), keeping any bytes of
/// the next request in `buf`; returns the request path, or `None` at EOF or on error.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    seen: &Seen,
) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            Seen::bump(&seen.requests);
            let line = String::from_utf8_lossy(&head);
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            return Some(path);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `bytes`; counts a cut response and returns false when the client is gone.
async fn respond<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8], seen: &Seen) -> bool {
    if stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok() {
        true
    } else {
        Seen::bump(&seen.cut);
        false
    }
}

/// Writes a `200` with a `len`-byte body starting with `prefix`; false when cut.
async fn write_huge(stream: &mut TcpStream, len: u64, prefix: &str) -> bool {
    static FILL: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n{prefix}");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut left = len - prefix.len() as u64;
    while left > 0 {
        let n = left.min(FILL.len() as u64) as usize;
        if stream.write_all(&FILL[..n]).await.is_err() {
            return false;
        }
        left -= n as u64;
    }
    true
}

/// Abortive close: `SO_LINGER` 0, then drop, so the peer gets an RST instead of a FIN.
fn reset(stream: TcpStream) {
    stream.set_zero_linger().expect("set SO_LINGER 0");
    drop(stream);
}

/// Clean close: FIN, then read until the client closes too, so that unread request bytes
/// do not turn the close into a reset.
async fn close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    wait_for_close(stream).await;
}

/// Reads and discards until the client closes the connection (or 10 s pass).
async fn wait_for_close(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
}

fn untrusted_acceptor() -> TlsAcceptor {
    let cert = CertificateDer::from_pem_slice(UNTRUSTED_CERT_PEM.as_bytes()).expect("test cert");
    let key = PrivateKeyDer::from_pem_slice(UNTRUSTED_KEY_PEM.as_bytes()).expect("test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("test cert and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}
