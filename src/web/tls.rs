//! The rustls server configuration of loadprobe's endpoints, rebuilt when its files change.
//!
//! Like the exporter toolkit, a rotated certificate needs no restart: before each TLS
//! handshake the cert, key and client CA files are `stat`ed, and when one changed (mtime or
//! size) the configuration is rebuilt from them. A rebuild that fails (say the cert is
//! written but not yet its key) keeps the previous configuration and is retried when a file
//! changes again.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::WebError;
use super::config::{ClientAuthType, TlsServerConfig, TlsVersion};

/// What the TLS configuration is built from, with paths resolved against the web config
/// file's directory.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The server's private key (PEM).
    pub key_file: PathBuf,
    /// Whether and how clients must present a certificate.
    pub client_auth_type: ClientAuthType,
    /// CAs that sign acceptable client certificates (PEM).
    pub client_ca_file: Option<PathBuf>,
    /// Lowest and highest TLS version accepted.
    pub versions: (TlsVersion, TlsVersion),
    /// Offer `h2` by ALPN besides `http/1.1`.
    pub http2: bool,
}

impl TlsSettings {
    /// Settings from `tls_server_config`, or `None` when it names no cert and key (plain
    /// HTTP, as in the toolkit).
    pub fn from_config(config: &TlsServerConfig, base_dir: &Path, http2: bool) -> Option<Self> {
        let (cert_file, key_file) = (config.cert_file.as_ref()?, config.key_file.as_ref()?);
        Some(Self {
            cert_file: base_dir.join(cert_file),
            key_file: base_dir.join(key_file),
            client_auth_type: config.client_auth_type,
            client_ca_file: config.client_ca_file.as_ref().map(|f| base_dir.join(f)),
            versions: (config.min_version, config.max_version),
            http2,
        })
    }

    /// The files the configuration is built from, with the key of each `stat` stamp.
    fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.cert_file.as_path(), self.key_file.as_path()];
        files.extend(self.client_ca_file.as_deref());
        files
    }
}

/// A file's modification time and size; `None` when it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

fn stamps(settings: &TlsSettings) -> Vec<Stamp> {
    settings
        .files()
        .into_iter()
        .map(|file| {
            let meta = fs::metadata(file).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

/// The current TLS server configuration, rebuilt when its files change.
#[derive(Debug)]
pub struct TlsSource {
    /// Where the configuration comes from.
    settings: TlsSettings,
    /// The last configuration built and the file stamps it was built (or tried) from.
    current: Mutex<(Vec<Stamp>, Arc<ServerConfig>)>,
}

impl TlsSource {
    /// Builds the configuration once; any error here is fatal at start-up.
    pub fn load(settings: TlsSettings) -> Result<Self, WebError> {
        let stamps = stamps(&settings);
        let config = build(&settings)?;
        Ok(Self {
            settings,
            current: Mutex::new((stamps, config)),
        })
    }

    /// The configuration for the next handshake, rebuilt first if a file changed.
    pub fn current(&self) -> Arc<ServerConfig> {
        // A `stat` per file per connection: microseconds, so it stays on the async thread.
        let now = stamps(&self.settings);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != now {
            current.0 = now;
            match build(&self.settings) {
                Ok(config) => {
                    tracing::info!(cert_file = %self.settings.cert_file.display(), "TLS files changed; certificate reloaded");
                    current.1 = config;
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "TLS files changed but cannot be loaded; keeping the previous certificate");
                }
            }
        }
        current.1.clone()
    }
}

/// Builds a server configuration from the files, with the `ring` provider.
fn build(settings: &TlsSettings) -> Result<Arc<ServerConfig>, WebError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (min, max) = settings.versions;
    let versions: Vec<_> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (min..=max).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let verifier = client_verifier(settings, &provider)?;
    let certs = read_certs("cert_file", &settings.cert_file)?;
    let key = read_key(&settings.key_file)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(WebError::Tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(WebError::Tls)?;
    config.alpn_protocols = if settings.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, WebError> {
    let algorithms = provider.signature_verification_algorithms;
    let roots = || -> Result<Arc<RootCertStore>, WebError> {
        let mut store = RootCertStore::empty();
        if let Some(file) = &settings.client_ca_file {
            let (added, _) = store.add_parsable_certificates(read_certs("client_ca_file", file)?);
            if added == 0 {
                return Err(pem_error(
                    "client_ca_file",
                    file,
                    "holds no usable CA certificate",
                ));
            }
        }
        Ok(Arc::new(store))
    };
    let webpki = |roots| WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    Ok(match settings.client_auth_type {
        ClientAuthType::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuthType::RequestClientCert => Arc::new(AnyClientCert::new(false, algorithms)),
        ClientAuthType::RequireAnyClientCert => Arc::new(AnyClientCert::new(true, algorithms)),
        ClientAuthType::VerifyClientCertIfGiven => webpki(roots()?)
            .allow_unauthenticated()
            .build()
            .map_err(WebError::ClientVerifier)?,
        ClientAuthType::RequireAndVerifyClientCert => {
            webpki(roots()?).build().map_err(WebError::ClientVerifier)?
        }
    })
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, WebError> {
    fs::read(path).map_err(|source| WebError::ReadTlsFile {
        field,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(field: &'static str, path: &Path, reason: &'static str) -> WebError {
    WebError::Pem {
        field,
        path: path.to_owned(),
        reason,
    }
}

fn read_certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, WebError> {
    let pem = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| pem_error(field, path, "is not valid PEM"))?;
    if certs.is_empty() {
        return Err(pem_error(field, path, "holds no CERTIFICATE block"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, WebError> {
    let pem = read("key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| pem_error("key_file", path, "holds no PEM private key"))
}

/// `RequestClientCert` and `RequireAnyClientCert`: asks for a certificate and checks only
/// that the peer holds its key (the handshake signature), not who issued it — Go's
/// semantics for these types, which the toolkit documents as insecure.
#[derive(Debug)]
struct AnyClientCert {
    /// Whether a client without a certificate is refused.
    mandatory: bool,
    /// Signature algorithms of the crypto provider.
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    fn new(mandatory: bool, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            mandatory,
            algorithms,
        }
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
