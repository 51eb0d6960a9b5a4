//! Who may use loadprobe's endpoints: basic auth against bcrypt hashes, the extra response
//! headers, and the flags that enable the POST endpoints; with the axum middlewares that
//! apply them.
//!
//! bcrypt is slow on purpose (about 50 ms at cost 10), so, as in the exporter toolkit, a
//! successful check is cached under a SHA-256 of user, hash and password: a scrape every
//! 15 s pays bcrypt once, and the cache never holds a password. A miss runs bcrypt on the
//! blocking pool, one at a time, so a flood of bad passwords cannot take the runtime's
//! threads from the load.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::sync::Semaphore;

use super::WebOptions;
use super::config::BcryptHash;

/// Successful checks remembered; beyond it an arbitrary entry makes room (as the toolkit's
/// cache of 100).
const CACHE_CAPACITY: usize = 100;

/// The access policy of loadprobe's endpoints, shared by every request.
#[derive(Debug)]
pub struct Access {
    /// Users and their bcrypt hashes; when empty, no endpoint asks for credentials.
    users: BTreeMap<String, BcryptHash>,
    /// SHA-256 keys of (user, hash, password) that passed bcrypt.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt at a time.
    bcrypt: Semaphore,
    /// Added to every response.
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    /// `--web.enable-lifecycle`: `POST /-/reload` is allowed.
    pub enable_lifecycle: bool,
    /// `--web.enable-run`: `POST /api/v1/probes/{name}/run` is allowed.
    pub enable_run: bool,
}

impl Access {
    /// The policy of `options`.
    pub fn new(options: &WebOptions) -> Self {
        Self {
            users: options.config.users.clone(),
            verified: Mutex::new(HashSet::new()),
            bcrypt: Semaphore::new(1),
            headers: options.config.headers.clone(),
            enable_lifecycle: options.enable_lifecycle,
            enable_run: options.enable_run,
        }
    }

    /// Whether basic auth is configured.
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether the request may pass: always without users, else with valid credentials.
    pub async fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.has_users() {
            return true;
        }
        let Some((user, password)) = credentials(headers) else {
            return false;
        };
        // An unknown user is checked against a real hash anyway and then refused, so the
        // response time does not tell which user names exist.
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash),
            None => match self.users.values().next() {
                Some(hash) => (false, hash),
                None => return false,
            },
        };
        let key = cache_key(&user, hash, &password);
        if known && self.is_cached(&key) {
            return true;
        }
        let valid = self.bcrypt_verify(password, hash).await;
        if known && valid {
            self.remember(key);
        }
        known && valid
    }

    async fn bcrypt_verify(&self, password: String, hash: &BcryptHash) -> bool {
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        let hash = hash.as_str().to_owned();
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
    }

    fn is_cached(&self, key: &[u8; 32]) -> bool {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.contains(key)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= CACHE_CAPACITY
            && let Some(evicted) = verified.iter().next().copied()
        {
            verified.remove(&evicted);
        }
        verified.insert(key);
    }
}

/// User and password of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The cache key: a digest, so the cache never holds the password; each part is
/// length-prefixed so that no two (user, hash, password) triples share an input.
fn cache_key(user: &str, hash: &BcryptHash, password: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash.as_str(), password] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut key = [0; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// The answer to missing or wrong credentials.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic")],
        "Unauthorized\n",
    )
        .into_response()
}

/// Middleware: refuses requests without valid credentials when basic auth is configured.
pub async fn require_auth(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    if access.admits(request.headers()).await {
        next.run(request).await
    } else {
        unauthorized()
    }
}

/// Middleware: adds `http_server_config.headers` to every response.
pub async fn add_headers(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in &access.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_and_password: &str) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_and_password);
        let mut headers = HeaderMap::new();
        let value = format!("Basic {encoded}").parse().expect("header value");
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn reads_basic_credentials_with_colons_in_the_password() {
        let parsed = credentials(&basic("alice:pa:ss"));
        assert_eq!(parsed, Some(("alice".into(), "pa:ss".into())));
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn cache_keys_differ_when_parts_shift() {
        let hash = BcryptHash::try_from(bcrypt::hash("x", 4).expect("hash")).expect("valid");
        assert_ne!(cache_key("ab", &hash, "c"), cache_key("a", &hash, "bc"));
    }

    #[tokio::test]
    async fn caches_only_successes_and_refuses_unknown_users() {
        let hash = BcryptHash::try_from(bcrypt::hash("secret", 4).expect("hash")).expect("valid");
        let mut options = WebOptions::default();
        options.config.users.insert("alice".into(), hash);
        let access = Access::new(&options);
        assert!(!access.admits(&basic("alice:wrong")).await);
        assert!(access.verified.lock().expect("lock").is_empty());
        assert!(access.admits(&basic("alice:secret")).await);
        assert_eq!(access.verified.lock().expect("lock").len(), 1);
        assert!(access.admits(&basic("alice:secret")).await);
        assert!(!access.admits(&basic("bob:secret")).await);
    }
}
