//! `--web.config.file` end to end, over real sockets on 127.0.0.1: basic auth (real
//! bcrypt), TLS and client certificates (real rustls, certificates made by rcgen), response
//! headers, certificate rotation, config errors, and the gating of the two POST endpoints.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use loadprobe::ServeOptions;
use loadprobe::control::{Command, Control, ReloadError, ReloadSummary, RunNowError};
use loadprobe::metrics::Metrics;
use loadprobe::server::{self, AppState};
use loadprobe::status::StatusBoard;
use loadprobe::web::{Access, Transport, WebConfig, WebOptions};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A config with no probe: these tests are about the endpoints, not the load.
const NO_LOAD: &str = "targets: {}\nprobes: []\n";

/// An answer: status, headers, body.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// One HTTP/1.1 request over `io`, with basic credentials if given.
async fn request_on<I>(
    io: I,
    method: Method,
    path: &str,
    auth: Option<&str>,
) -> Result<Reply, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(user_and_password) = auth {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_and_password);
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn http(addr: SocketAddr, method: Method, path: &str, auth: Option<&str>) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    request_on(stream, method, path, auth)
        .await
        .expect("plain HTTP request")
}

/// A GET over TLS as `client`; `Err` if the handshake or the request fails.
async fn https(addr: SocketAddr, client: &Arc<rustls::ClientConfig>) -> Result<Reply, String> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let connector = tokio_rustls::TlsConnector::from(client.clone());
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    request_on(tls, Method::GET, "/-/healthy", None).await
}

/// A certificate authority issuing server and client certificates.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        Self {
            ca: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// A leaf certificate and key (PEM) for `localhost`, for `usage`.
    fn issue(&self, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a server certificate and key (and this CA) into `dir`.
    fn write_server_files(&self, dir: &Path) {
        let (cert, key) = self.issue(ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(dir.join("server.crt"), cert).expect("write cert");
        std::fs::write(dir.join("server.key"), key).expect("write key");
        std::fs::write(dir.join("ca.crt"), self.ca.pem()).expect("write CA");
    }

    /// A client that trusts this CA, presenting a certificate from `identity` if given.
    fn client(&self, identity: Option<&Pki>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("trust CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(issuer) => {
                let (cert, key) = issuer.issue(ExtendedKeyUsagePurpose::ClientAuth);
                let cert = CertificateDer::from_pem_slice(cert.as_bytes()).expect("client cert");
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
                builder
                    .with_client_auth_cert(vec![cert], key)
                    .expect("client auth")
            }
        };
        Arc::new(config)
    }
}

/// Writes `yaml` as `web.yml` in `dir` and loads it.
fn load_web_config(dir: &Path, yaml: &str) -> WebConfig {
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).expect("write web config");
    WebConfig::load(&path).expect("web config loads")
}

async fn spawn(config: WebConfig) -> common::Exporter {
    let web = WebOptions {
        config,
        ..WebOptions::default()
    };
    let options = ServeOptions {
        web,
        ..ServeOptions::default()
    };
    common::spawn_plan_with_options(common::plan(NO_LOAD), options).await
}

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

#[tokio::test]
async fn basic_auth_refuses_missing_and_wrong_credentials_and_admits_the_right_ones() {
    let dir = TempDir::new().expect("temp dir");
    let yaml = format!("basic_auth_users:\n  alice: '{}'\n", hash("s3cret"));
    let exporter = spawn(load_web_config(dir.path(), &yaml)).await;
    for path in ["/metrics", "/-/healthy", "/api/v1/status", "/"] {
        let anonymous = http(exporter.addr, Method::GET, path, None).await;
        assert_eq!(anonymous.status, 401, "{path}");
        assert_eq!(anonymous.headers["www-authenticate"], "Basic");
        let wrong = http(exporter.addr, Method::GET, path, Some("alice:guess")).await;
        assert_eq!(wrong.status, 401, "{path}");
        let unknown = http(exporter.addr, Method::GET, path, Some("bob:s3cret")).await;
        assert_eq!(unknown.status, 401, "{path}");
        let right = http(exporter.addr, Method::GET, path, Some("alice:s3cret")).await;
        assert_eq!(right.status, 200, "{path}");
    }
    exporter.shutdown().await;
}

#[tokio::test]
async fn configured_headers_are_on_every_response() {
    let dir = TempDir::new().expect("temp dir");
    let yaml = format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    \
         Content-Security-Policy: \"default-src 'self'\"\nbasic_auth_users:\n  alice: '{}'\n",
        hash("pw")
    );
    let exporter = spawn(load_web_config(dir.path(), &yaml)).await;
    let refused = http(exporter.addr, Method::GET, "/metrics", None).await;
    let served = http(exporter.addr, Method::GET, "/metrics", Some("alice:pw")).await;
    let missing = http(exporter.addr, Method::GET, "/nowhere", Some("alice:pw")).await;
    for reply in [&refused, &served, &missing] {
        assert_eq!(reply.headers["x-frame-options"], "deny");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        assert_eq!(
            reply.headers["content-security-policy"],
            "default-src 'self'"
        );
    }
    assert_eq!(
        (refused.status, served.status, missing.status),
        (401, 200, 404)
    );
    exporter.shutdown().await;
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_ca_and_fails_the_others() {
    let dir = TempDir::new().expect("temp dir");
    let pki = Pki::new("loadprobe test CA");
    pki.write_server_files(dir.path());
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let exporter = spawn(load_web_config(dir.path(), yaml)).await;
    let trusted = https(exporter.addr, &pki.client(None))
        .await
        .expect("trusting client");
    assert_eq!((trusted.status, trusted.body.as_str()), (200, "Healthy\n"));
    let stranger = Pki::new("another CA");
    let error = https(exporter.addr, &stranger.client(None))
        .await
        .err()
        .expect("untrusted fails");
    assert!(
        error.contains("TLS") && error.contains("certificate"),
        "{error}"
    );
    // Plain HTTP on a TLS listener gets no answer.
    let stream = TcpStream::connect(exporter.addr).await.expect("connect");
    assert!(
        request_on(stream, Method::GET, "/-/healthy", None)
            .await
            .is_err()
    );
    exporter.shutdown().await;
}

#[tokio::test]
async fn require_and_verify_client_cert_admits_only_certificates_from_the_client_ca() {
    let dir = TempDir::new().expect("temp dir");
    let pki = Pki::new("loadprobe test CA");
    pki.write_server_files(dir.path());
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    let exporter = spawn(load_web_config(dir.path(), yaml)).await;
    // With TLS 1.3 the client may finish its handshake before the server refuses, so the
    // refusal can surface at the request: either way no response comes back.
    assert!(
        https(exporter.addr, &pki.client(None)).await.is_err(),
        "no client cert"
    );
    let stranger = Pki::new("another CA");
    assert!(
        https(exporter.addr, &pki.client(Some(&stranger)))
            .await
            .is_err(),
        "foreign cert"
    );
    let admitted = https(exporter.addr, &pki.client(Some(&pki)))
        .await
        .expect("client cert from the CA");
    assert_eq!(admitted.status, 200);
    exporter.shutdown().await;
}

#[tokio::test]
async fn rotated_certificate_files_are_served_to_new_connections() {
    let dir = TempDir::new().expect("temp dir");
    let old = Pki::new("old CA");
    old.write_server_files(dir.path());
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let exporter = spawn(load_web_config(dir.path(), yaml)).await;
    assert_eq!(
        https(exporter.addr, &old.client(None))
            .await
            .expect("old cert")
            .status,
        200
    );
    let new = Pki::new("new CA");
    new.write_server_files(dir.path());
    let renewed = https(exporter.addr, &new.client(None))
        .await
        .expect("new cert without restart");
    assert_eq!(renewed.status, 200);
    assert!(
        https(exporter.addr, &old.client(None)).await.is_err(),
        "old CA no longer matches"
    );
    exporter.shutdown().await;
}

#[test]
fn a_bad_web_config_names_the_field_and_line() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("web.yml");
    let yaml = "http_server_config:\n  http2: true\ntls_server_config:\n  cert_file: a.crt\n  keyfile: a.key\n";
    std::fs::write(&path, yaml).expect("write");
    let error = WebConfig::load(&path).expect_err("unknown key");
    let text = format!("{:#}", anyhow::Error::from(error));
    assert!(
        text.contains("tls_server_config: unknown field `keyfile`"),
        "{text}"
    );
    assert!(text.contains("line 5"), "{text}");
}

/// `config/examples/web-config.yml` with its `/etc/loadprobe/` paths moved into `dir`,
/// where real certificate files are written.
fn example_in(dir: &Path) -> std::path::PathBuf {
    let example = std::fs::read_to_string("config/examples/web-config.yml").expect("example");
    let tls_dir = dir.join("tls");
    std::fs::create_dir(&tls_dir).expect("tls dir");
    let pki = Pki::new("example CA");
    let (cert, key) = pki.issue(ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(tls_dir.join("tls.crt"), cert).expect("cert");
    std::fs::write(tls_dir.join("tls.key"), key).expect("key");
    std::fs::write(tls_dir.join("ca.crt"), pki.ca.pem()).expect("ca");
    let path = dir.join("web-config.yml");
    let moved = example.replace("/etc/loadprobe/", &format!("{}/", dir.display()));
    std::fs::write(&path, moved).expect("write example");
    path
}

#[test]
fn the_example_web_config_loads_and_passes_promtool() {
    let dir = TempDir::new().expect("temp dir");
    let path = example_in(dir.path());
    let config = WebConfig::load(&path).expect("example loads");
    assert!(config.tls.is_some() && config.users.contains_key("prometheus"));
    match std::process::Command::new("promtool")
        .arg("check")
        .arg("web-config")
        .arg(&path)
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "promtool check web-config: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => {
            eprintln!("promtool not installed (scripts/test.sh installs it): skipping its check")
        }
    }
}

/// The engine's side of [`Control`] for these HTTP tests only (the real engine is another
/// module's): reload answers with a fixed summary or `reload_error`, and a run request is
/// answered by the probe's name: `ok`, `busy`, `stopping`, anything else is unknown.
fn engine_double(reload_error: Option<&'static str>) -> Control {
    let (control, mut commands) = Control::channel(4);
    tokio::spawn(async move {
        while let Some(command) = commands.recv().await {
            match command {
                Command::Reload { reply } => {
                    let summary = ReloadSummary {
                        started: vec!["new".into()],
                        restarted: vec![],
                        unchanged: vec!["kept".into()],
                        stopped: vec![],
                    };
                    let _ = reply.send(
                        reload_error
                            .map_or(Ok(summary), |e| Err(ReloadError::Invalid(e.to_owned()))),
                    );
                }
                Command::RunNow { probe, reply } => {
                    let answer = match probe.as_str() {
                        "ok" => Ok(()),
                        "busy" => Err(RunNowError::AlreadyRunning(probe)),
                        "stopping" => Err(RunNowError::ShuttingDown),
                        _ => Err(RunNowError::UnknownProbe(probe)),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
    });
    control
}

/// How one gating case's server is set up.
#[derive(Clone, Copy)]
struct Setup {
    enabled: bool,
    users: bool,
    control: bool,
    reload_error: Option<&'static str>,
}

const ON: Setup = Setup {
    enabled: true,
    users: true,
    control: true,
    reload_error: None,
};

/// Serves the router alone (no engine: the POST endpoints talk to [`engine_double`]).
async fn serve_gated(setup: Setup, password_hash: &str) -> (SocketAddr, CancellationToken) {
    let plan = common::plan(NO_LOAD);
    let mut config = WebConfig::default();
    if setup.users {
        config = WebConfig::parse(
            &format!("basic_auth_users:\n  admin: '{password_hash}'\n"),
            Path::new("."),
        )
        .expect("web config");
    }
    let web = WebOptions {
        config,
        enable_lifecycle: setup.enabled,
        enable_run: setup.enabled,
    };
    let state = AppState {
        metrics: Arc::new(Metrics::new(&plan)),
        status: Arc::new(StatusBoard::default()),
        telemetry_path: "/metrics".into(),
        history_period: std::time::Duration::from_secs(5),
        access: Arc::new(Access::new(&web)),
        control: setup.control.then(|| engine_double(setup.reload_error)),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(
        listener,
        server::router(state),
        Transport::default(),
        stop.clone(),
    ));
    (addr, stop)
}

#[tokio::test]
async fn post_endpoints_are_gated_by_flag_then_auth_then_engine() {
    let password_hash = hash("adm1n");
    let off = Setup {
        enabled: false,
        ..ON
    };
    let no_users = Setup { users: false, ..ON };
    let no_engine = Setup {
        control: false,
        ..ON
    };
    let rejected = Setup {
        reload_error: Some("probes[0].name: duplicate"),
        ..ON
    };
    let good = Some("admin:adm1n");
    let cases: &[(Setup, &str, Option<&str>, u16, &str)] = &[
        (off, "/-/reload", None, 403, "--web.enable-lifecycle"),
        (off, "/api/v1/probes/ok/run", good, 403, "--web.enable-run"),
        (no_users, "/-/reload", good, 403, "requires basic auth"),
        (
            no_users,
            "/api/v1/probes/ok/run",
            good,
            403,
            "requires basic auth",
        ),
        (ON, "/-/reload", None, 401, "Unauthorized"),
        (
            ON,
            "/api/v1/probes/ok/run",
            Some("admin:wrong"),
            401,
            "Unauthorized",
        ),
        (no_engine, "/-/reload", good, 503, "does not take commands"),
        (
            no_engine,
            "/api/v1/probes/ok/run",
            good,
            503,
            "does not take commands",
        ),
        (ON, "/-/reload", good, 200, r#""started":["new"]"#),
        (
            rejected,
            "/-/reload",
            good,
            500,
            "probes[0].name: duplicate",
        ),
        (
            ON,
            "/api/v1/probes/ok/run",
            good,
            202,
            "run of probe ok started",
        ),
        (
            ON,
            "/api/v1/probes/nope/run",
            good,
            404,
            "no probe named nope",
        ),
        (
            ON,
            "/api/v1/probes/busy/run",
            good,
            409,
            "probe busy is already running",
        ),
        (
            ON,
            "/api/v1/probes/stopping/run",
            good,
            503,
            "shutting down",
        ),
    ];
    for (setup, path, auth, status, body) in cases {
        let (addr, stop) = serve_gated(*setup, &password_hash).await;
        let reply = http(addr, Method::POST, path, *auth).await;
        assert_eq!(reply.status, *status, "{path} {auth:?}: {}", reply.body);
        assert!(
            reply.body.contains(body),
            "{path} {auth:?}: {:?} lacks {body:?}",
            reply.body
        );
        if *status == 401 {
            assert_eq!(reply.headers["www-authenticate"], "Basic");
        }
        stop.cancel();
    }
}

#[tokio::test]
async fn post_endpoints_are_off_in_a_default_exporter() {
    let exporter = common::spawn_exporter(NO_LOAD).await;
    let reload = http(exporter.addr, Method::POST, "/-/reload", None).await;
    assert_eq!(reload.status, 403);
    let get = http(exporter.addr, Method::GET, "/-/reload", None).await;
    assert_eq!(get.status, 405);
    exporter.shutdown().await;
}
