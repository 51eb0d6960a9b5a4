//! Securing loadprobe's own endpoints: `--web.config.file` (the exporter-toolkit format:
//! TLS, client certificates, basic auth, response headers) and the flags that enable the
//! POST endpoints.
//!
//! The file is loaded once, at start-up, where any error is fatal and names the field and
//! line. At run time only the TLS files are re-read, when they change ([`tls`]), so
//! certificates rotate without a restart.
//! - [`config`]: the YAML schema.
//! - [`tls`]: the rustls configuration, rebuilt when its files change.
//! - [`auth`]: basic auth with its verification cache, headers, and their middlewares.
//! - [`serve`]: the accept loop (plain or TLS, HTTP/1.1 and HTTP/2, graceful shutdown).

pub mod auth;
pub mod config;
pub mod serve;
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};

pub use self::auth::Access;
use self::config::{BcryptHash, FileConfig};
pub use self::serve::{Transport, serve};
use self::tls::{TlsSettings, TlsSource};

/// Why the web config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The web config file could not be read.
    #[error("cannot read web config file {}", .path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the schema; the source names field and line.
    #[error("invalid web config")]
    Parse(#[from] yaml_serde::Error),
    /// Like `Parse`, for an error in a top-level key, which the parser locates nowhere: the
    /// line is that of the key the message names.
    #[error("invalid web config at line {line}")]
    ParseAt {
        /// 1-based line of the top-level key.
        line: usize,
        /// The parser's error.
        #[source]
        source: yaml_serde::Error,
    },
    /// A file named in `tls_server_config` could not be read.
    #[error("tls_server_config.{field}: cannot read {}", .path.display())]
    ReadTlsFile {
        /// The key that names the file.
        field: &'static str,
        /// The file, resolved against the web config file's directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A file named in `tls_server_config` holds no usable PEM data.
    #[error("tls_server_config.{field}: {} {reason}", .path.display())]
    Pem {
        /// The key that names the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// rustls refused the certificate, key or protocol versions.
    #[error("tls_server_config: cannot use the certificate and key")]
    Tls(#[source] rustls::Error),
    /// The client CA cannot verify client certificates.
    #[error("tls_server_config.client_ca_file: cannot verify client certificates with it")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
}

/// A loaded web config: ready to serve with.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// TLS for every listener; plain HTTP when `None`.
    pub tls: Option<Arc<TlsSource>>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Users allowed in with basic auth; no auth when empty.
    pub users: BTreeMap<String, BcryptHash>,
}

impl Default for WebConfig {
    /// No web config file: plain HTTP, no auth, no extra headers.
    fn default() -> Self {
        Self {
            tls: None,
            headers: Vec::new(),
            users: BTreeMap::new(),
        }
    }
}

impl WebConfig {
    /// Reads and parses a web config file; relative TLS file paths are resolved against
    /// its directory, as the toolkit does.
    pub fn load(path: &Path) -> Result<Self, WebError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses web config text and loads the TLS files it names (relative to `base_dir`).
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, WebError> {
        // An empty file (or one with only comments) is a valid config that changes nothing.
        let file: FileConfig = if text.lines().all(is_blank_or_comment) {
            FileConfig::default()
        } else {
            yaml_serde::from_str(text).map_err(|error| locate(text, error))?
        };
        let http2 = file.http_server_config.http2;
        let tls = file
            .tls_server_config
            .and_then(|tls| TlsSettings::from_config(&tls, base_dir, http2))
            .map(TlsSource::load)
            .transpose()?;
        Ok(Self {
            tls: tls.map(Arc::new),
            headers: file.http_server_config.headers.0,
            users: file.basic_auth_users,
        })
    }

    /// How listeners serve connections under this config.
    pub fn transport(&self) -> Transport {
        Transport {
            tls: self.tls.clone(),
        }
    }
}

/// Adds the line of the top-level key an unlocated error names (its first word, or the
/// field of "unknown field `x`").
fn locate(text: &str, error: yaml_serde::Error) -> WebError {
    let message = error.to_string();
    // `location()` is sometimes set when the message shows none, so the text decides.
    if message.contains(" at line ") {
        return WebError::Parse(error);
    }
    let key = match message.strip_prefix("unknown field `") {
        Some(rest) => rest.split('`').next(),
        None => message.split([' ', ':']).next(),
    };
    let line = key.filter(|key| !key.is_empty()).and_then(|key| {
        text.lines().position(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
    });
    match line {
        Some(index) => WebError::ParseAt {
            line: index + 1,
            source: error,
        },
        None => WebError::Parse(error),
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line == "---"
}

/// Everything `--web.*` that shapes the endpoints beyond their addresses and paths.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// The loaded `--web.config.file`, or the default (plain, open) without one.
    pub config: WebConfig,
    /// `--web.enable-lifecycle`: allow `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// `--web.enable-run`: allow `POST /api/v1/probes/{name}/run`.
    pub enable_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_text(yaml: &str) -> String {
        let error = WebConfig::parse(yaml, Path::new(".")).expect_err("invalid");
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn empty_file_is_plain_and_open() {
        let config = WebConfig::parse("# nothing\n", Path::new(".")).expect("valid");
        assert!(config.tls.is_none() && config.users.is_empty() && config.headers.is_empty());
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let cases: &[(&str, &[&str])] = &[
            (
                "basic_auth_users:\n  a: nope\n",
                &["basic_auth_users", "not a bcrypt hash", "line 2"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  bogus: 1\n",
                &["unknown field `bogus`", "line 3"],
            ),
            (
                "tls_server_config:\n  cipher_suites: [x]\n",
                &[
                    "tls_server_config: cipher_suites is not supported",
                    "line 2",
                ],
            ),
            (
                "rate_limit: {interval: 1s, burst: 2}\n",
                &["line 1", "rate_limit is not supported"],
            ),
            (
                "tls_server_config:\n  min_version: TLS10\n",
                &["tls_server_config", "TLS10 is not supported", "line 2"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n",
                &[
                    "line 1",
                    "tls_server_config: cert_file is set but key_file is missing",
                ],
            ),
            (
                "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
                &["needs client_ca_file"],
            ),
            (
                "tls_server_config:\n  client_auth_type: Sometimes\n",
                &["client_auth_type", "unknown variant `Sometimes`"],
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                &[
                    "http_server_config: headers.X-Frame-Options must be one of",
                    "line 2",
                ],
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                &["\"Server\" cannot be configured"],
            ),
            (
                "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: k.pem\n",
                &["tls_server_config.cert_file: cannot read /nonexistent/c.pem"],
            ),
        ];
        for (yaml, expected) in cases {
            let text = error_text(yaml);
            for part in *expected {
                assert!(text.contains(part), "{yaml:?}: {text:?} lacks {part:?}");
            }
        }
    }

    #[test]
    fn unknown_top_level_keys_get_their_line() {
        let text = error_text("basic_auth_users: {}\nbasic_auth_user: {}\n");
        assert!(
            text.contains("line 2") && text.contains("unknown field `basic_auth_user`"),
            "{text}"
        );
    }

    #[test]
    fn hashes_are_redacted_in_debug() {
        let hash = bcrypt::hash("x", 4).expect("hash");
        let config = WebConfig::parse(
            &format!("basic_auth_users:\n  a: '{hash}'\n"),
            Path::new("."),
        );
        let debug = format!("{:?}", config.expect("valid"));
        assert!(!debug.contains(&hash), "{debug}");
    }
}
