//! The YAML schema of `--web.config.file`, the exporter-toolkit web configuration format.
//!
//! Every struct denies unknown keys. Keys of the toolkit format that loadprobe does not
//! implement are rejected by name ("not supported"), never silently ignored, so a file
//! written for a Go exporter cannot quietly lose a restriction here.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

/// The whole web config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "`rejected_*` fields exist only to refuse a key by name"
)]
pub(crate) struct FileConfig {
    /// TLS for loadprobe's endpoints; plain HTTP when absent.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP protocol and response header settings.
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// Users allowed in with basic auth and their bcrypt hashes; no auth when empty.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, BcryptHash>,
    #[serde(
        rename = "rate_limit",
        default,
        deserialize_with = "unsupported::rate_limit"
    )]
    rejected_rate_limit: (),
}

/// `tls_server_config`, checked as a whole (file pairs, versions, client CA).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawTlsServerConfig")]
pub struct TlsServerConfig {
    /// The server certificate chain (PEM); absent with `key_file` means plain HTTP.
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Whether and how clients must present a certificate.
    pub client_auth_type: ClientAuthType,
    /// CAs that sign acceptable client certificates (PEM).
    pub client_ca_file: Option<PathBuf>,
    /// Lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// Highest TLS version accepted.
    pub max_version: TlsVersion,
}

/// `tls_server_config` as written, before the checks across its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "`rejected_*` fields exist only to refuse a key by name"
)]
struct RawTlsServerConfig {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: ClientAuthType,
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<TlsVersion>,
    #[serde(default)]
    max_version: Option<TlsVersion>,
    #[serde(rename = "cert", default, deserialize_with = "unsupported::cert")]
    rejected_cert: (),
    #[serde(rename = "key", default, deserialize_with = "unsupported::key")]
    rejected_key: (),
    #[serde(
        rename = "client_ca",
        default,
        deserialize_with = "unsupported::client_ca"
    )]
    rejected_client_ca: (),
    #[serde(
        rename = "client_allowed_sans",
        default,
        deserialize_with = "unsupported::client_allowed_sans"
    )]
    rejected_client_allowed_sans: (),
    #[serde(
        rename = "cipher_suites",
        default,
        deserialize_with = "unsupported::cipher_suites"
    )]
    rejected_cipher_suites: (),
    #[serde(
        rename = "prefer_server_cipher_suites",
        default,
        deserialize_with = "unsupported::prefer_server_cipher_suites"
    )]
    rejected_prefer_server_cipher_suites: (),
    #[serde(
        rename = "curve_preferences",
        default,
        deserialize_with = "unsupported::curve_preferences"
    )]
    rejected_curve_preferences: (),
}

/// Prefix of the checks across `tls_server_config`'s keys: the parser gives such errors no
/// path of their own.
const SECTION: &str = "tls_server_config";

impl TryFrom<RawTlsServerConfig> for TlsServerConfig {
    type Error = String;

    fn try_from(raw: RawTlsServerConfig) -> Result<Self, String> {
        match (&raw.cert_file, &raw.key_file) {
            (Some(_), None) => {
                return Err(format!(
                    "{SECTION}: cert_file is set but key_file is missing"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{SECTION}: key_file is set but cert_file is missing"
                ));
            }
            _ => {}
        }
        let auth = raw.client_auth_type;
        match (&raw.client_ca_file, auth.verifies()) {
            (Some(_), _) if auth == ClientAuthType::NoClientCert => {
                return Err(format!(
                    "{SECTION}: client_ca_file is set but client_auth_type is NoClientCert"
                ));
            }
            (None, true) => {
                return Err(format!(
                    "{SECTION}: client_auth_type {auth:?} needs client_ca_file"
                ));
            }
            _ => {}
        }
        let min_version = raw.min_version.unwrap_or(TlsVersion::Tls12);
        let max_version = raw.max_version.unwrap_or(TlsVersion::Tls13);
        if min_version > max_version {
            return Err(format!(
                "{SECTION}: min_version {min_version} is above max_version {max_version}"
            ));
        }
        Ok(Self {
            cert_file: raw.cert_file,
            key_file: raw.key_file,
            client_auth_type: auth,
            client_ca_file: raw.client_ca_file,
            min_version,
            max_version,
        })
    }
}

/// `client_auth_type`, with Go's `tls.ClientAuthType` names as the toolkit uses them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// A certificate is asked for but neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must verify against the client CA.
    VerifyClientCertIfGiven,
    /// A certificate is required and must verify against the client CA (the secure choice).
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether certificates are verified against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version that rustls speaks (TLS10 and TLS11 are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`).
    Tls12,
    /// TLS 1.3 (`TLS13`).
    Tls13,
}

impl TryFrom<String> for TlsVersion {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "TLS12" => Ok(Self::Tls12),
            "TLS13" => Ok(Self::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "TLS version {text} is not supported (loadprobe speaks TLS12 and TLS13)"
            )),
            _ => Err(format!(
                "unknown TLS version {text:?}, expected TLS12 or TLS13"
            )),
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tls12 => "TLS12",
            Self::Tls13 => "TLS13",
        })
    }
}

/// `http_server_config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// Offer HTTP/2 (over TLS, by ALPN) besides HTTP/1.1.
    pub http2: bool,
    /// Headers added to every response.
    pub headers: Headers,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            http2: true,
            headers: Headers::default(),
        }
    }
}

/// Response headers from `http_server_config.headers`: only the toolkit's security
/// headers, with its allowed values where those are an enumeration; blank means unset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct Headers(pub Vec<(HeaderName, HeaderValue)>);

/// Headers that may be set, with their allowed values (empty: any value).
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl TryFrom<BTreeMap<String, String>> for Headers {
    type Error = String;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        let mut headers = Vec::new();
        for (name, value) in map {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(known, _)| *known == name)
            else {
                let known: Vec<_> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "headers: {name:?} cannot be configured (allowed: {})",
                    known.join(", ")
                ));
            };
            if value.is_empty() {
                continue;
            }
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!(
                    "headers.{name} must be one of {allowed:?}, not {value:?}"
                ));
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("headers.{name}: {value:?} is not a valid header value"))?;
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
            headers.push((name, value));
        }
        Ok(Self(headers))
    }
}

/// A bcrypt hash from `basic_auth_users`, checked to be one when the file loads. Its
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BcryptHash(String);

impl BcryptHash {
    /// The hash as written (`$2y$10$...`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BcryptHash {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        // The value itself stays out of the message: it is a secret.
        text.parse::<bcrypt::HashParts>()
            .map_err(|error| format!("not a bcrypt hash ({error})"))?;
        Ok(Self(text))
    }
}

impl fmt::Debug for BcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BcryptHash(<redacted>)")
    }
}

/// One function per toolkit key that loadprobe does not implement, each rejecting its key
/// by name (the parser adds the section and line).
macro_rules! reject {
    ($($key:ident),*) => {$(
        pub(super) fn $key<'de, D: Deserializer<'de>>(_: D) -> Result<(), D::Error> {
            Err(serde::de::Error::custom(concat!(
                stringify!($key),
                " is not supported by loadprobe; remove it (see docs/operations.md)"
            )))
        }
    )*};
}

/// Deserializers that reject the toolkit keys loadprobe does not implement.
mod unsupported {
    use serde::Deserializer;

    reject!(
        rate_limit,
        cert,
        key,
        client_ca,
        client_allowed_sans,
        cipher_suites,
        prefer_server_cipher_suites,
        curve_preferences
    );
}
