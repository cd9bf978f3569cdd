//! Keystone v3: the service session and user-token validation.
//!
//! [`TokenValidator`] does for the admin API what keystonemiddleware's
//! `auth_token` does for the Python services configured by
//! `[keystone_authtoken]`: it asks Keystone about each user token with the
//! service's own token and caches the answers for a bounded time.

mod cache;
mod catalog;
mod session;
mod token;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;

pub use self::catalog::{Catalog, Interface};
pub use self::session::{AuthToken, PasswordAuth, Session};
pub use self::token::TokenInfo;
pub use crate::error::Error as KeystoneError;

use self::cache::{fingerprint, token_key, Cached, TokenCache, TokenKey};
use self::session::sensitive_header;
use self::token::TokenEnvelope;
use crate::http::{build_client, cafile_for, HttpOptions};
use crate::Secret;

/// How many validation outcomes [`TokenValidator::new`] keeps.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The longest an "invalid" answer is remembered: long enough to absorb a
/// client retrying a dead token in a loop, short enough that a token that
/// was reported invalid by mistake recovers quickly.
pub const NEGATIVE_CACHE_TTL_CAP: Duration = Duration::from_secs(60);

/// The `[keystone_authtoken]` settings the validator needs.
#[derive(Debug, Clone)]
pub struct KeystoneAuthConfig {
    pub auth_url: String,
    pub username: String,
    pub password: Secret,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// `token_cache_time`; zero disables caching.
    pub cache_ttl: Duration,
    pub timeout: Duration,
    pub insecure: bool,
    pub cafile: Option<PathBuf>,
}

impl KeystoneAuthConfig {
    /// The given credentials with keystonemiddleware's defaults for the rest
    /// (domains `Default`, a 300 s cache).
    pub fn new(
        auth_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<Secret>,
        project_name: impl Into<String>,
    ) -> Self {
        Self {
            auth_url: auth_url.into(),
            username: username.into(),
            password: password.into(),
            project_name: project_name.into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            insecure: false,
            cafile: None,
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    /// Keystone says no (unknown, expired, revoked): answer 401.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Keystone could not be asked or failed: answer 503, never 401.
    #[error("identity service unavailable: {0}")]
    Unavailable(String),
}

/// Validates user tokens against Keystone. Cheap to clone; clones share the
/// session and the cache.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    cache: Mutex<TokenCache>,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("session", &self.inner.session)
            .field("positive_ttl", &self.inner.positive_ttl)
            .field("negative_ttl", &self.inner.negative_ttl)
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Valid(TokenInfo),
    /// Cache it as invalid (Keystone's definite "no").
    Invalid(String),
    /// Invalid, but not definite enough to remember.
    InvalidUncached(String),
}

impl TokenValidator {
    pub fn new(cfg: KeystoneAuthConfig) -> Result<Self, KeystoneError> {
        Self::with_cache_capacity(cfg, DEFAULT_CACHE_CAPACITY)
    }

    pub fn with_cache_capacity(
        cfg: KeystoneAuthConfig,
        capacity: usize,
    ) -> Result<Self, KeystoneError> {
        let http = build_client(&HttpOptions {
            timeout: cfg.timeout,
            insecure: cfg.insecure,
            cafile: cafile_for(&cfg.auth_url, cfg.cafile.as_ref()),
        })?;
        let session = Session::new(
            http,
            PasswordAuth {
                auth_url: cfg.auth_url,
                username: cfg.username,
                password: cfg.password,
                user_domain_name: cfg.user_domain_name,
                project_name: cfg.project_name,
                project_domain_name: cfg.project_domain_name,
            },
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                cache: Mutex::new(TokenCache::new(capacity)),
                positive_ttl: cfg.cache_ttl,
                negative_ttl: cfg.cache_ttl.min(NEGATIVE_CACHE_TTL_CAP),
            }),
        })
    }

    /// The service session, e.g. for its catalog.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// What Keystone says about `token`, from the cache when it is there.
    pub async fn validate(&self, token: &str) -> Result<TokenInfo, ValidateError> {
        if token.is_empty() {
            return Err(ValidateError::Invalid("empty token".into()));
        }
        let Some(subject) = sensitive_header(token) else {
            return Err(ValidateError::Invalid(
                "token holds characters not allowed in a header".into(),
            ));
        };
        let key = token_key(token);
        let fp = fingerprint(&key);
        if let Some(hit) = self.cache_get(&key) {
            tracing::debug!(token = %fp, "token validation answered from cache");
            return match hit {
                Cached::Valid(info) => Ok(info),
                Cached::Invalid(reason) => Err(ValidateError::Invalid(reason)),
            };
        }
        match self.ask_keystone(subject, &fp).await {
            Ok(Outcome::Valid(info)) => {
                // Never remember a token past its own expiry.
                let left = (info.expires_at - Utc::now()).to_std().unwrap_or_default();
                let ttl = self.inner.positive_ttl.min(left);
                self.cache_put(key, Cached::Valid(info.clone()), ttl);
                tracing::debug!(token = %fp, user_id = %info.user_id, "token valid");
                Ok(info)
            }
            Ok(Outcome::Invalid(reason)) => {
                tracing::info!(token = %fp, reason = %reason, "token rejected");
                self.cache_put(
                    key,
                    Cached::Invalid(reason.clone()),
                    self.inner.negative_ttl,
                );
                Err(ValidateError::Invalid(reason))
            }
            Ok(Outcome::InvalidUncached(reason)) => {
                tracing::info!(token = %fp, reason = %reason, "token rejected");
                Err(ValidateError::Invalid(reason))
            }
            Err(err) => {
                tracing::warn!(token = %fp, error = %err, "cannot validate token");
                Err(err)
            }
        }
    }

    fn cache_get(&self, key: &TokenKey) -> Option<Cached> {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(key, Instant::now())? {
            // The wall clock may have moved past expiry before the TTL did.
            Cached::Valid(info) if info.is_expired(Utc::now()) => {
                cache.remove(key);
                None
            }
            hit => Some(hit),
        }
    }

    fn cache_put(&self, key: TokenKey, value: Cached, ttl: Duration) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(key, value, ttl, Instant::now());
    }

    async fn ask_keystone(
        &self,
        subject: reqwest::header::HeaderValue,
        fp: &str,
    ) -> Result<Outcome, ValidateError> {
        let session = &self.inner.session;
        let mut url = session.tokens_url().clone();
        // The API needs identity and roles, not the catalog.
        url.set_query(Some("nocatalog"));
        let unavailable = |e: KeystoneError| ValidateError::Unavailable(e.to_string());

        let mut retried = false;
        loop {
            let service = session.token().await.map_err(unavailable)?;
            tracing::trace!(token = %fp, "asking Keystone about a token");
            let resp = session
                .http()
                .get(url.clone())
                .header("X-Auth-Token", service.header_value())
                .header("X-Subject-Token", subject.clone())
                .send()
                .await
                .map_err(|e| unavailable(KeystoneError::unreachable(url.as_str(), &e)))?;
            let status = resp.status();
            match status {
                StatusCode::OK => {
                    let bytes = resp
                        .bytes()
                        .await
                        .map_err(|e| unavailable(KeystoneError::unreachable(url.as_str(), &e)))?;
                    let body = serde_json::from_slice::<TokenEnvelope>(&bytes).map_err(|e| {
                        unavailable(KeystoneError::Protocol {
                            url: url.to_string(),
                            reason: format!("bad token body: {e}"),
                        })
                    })?;
                    let info = TokenInfo::from_body(body.token);
                    if info.is_expired(Utc::now()) {
                        return Ok(Outcome::Invalid(format!(
                            "token expired at {}",
                            info.expires_at
                        )));
                    }
                    return Ok(Outcome::Valid(info));
                }
                // Keystone's 404 body names the token, so it is not read.
                StatusCode::NOT_FOUND => {
                    return Ok(Outcome::Invalid("token not found".into()));
                }
                StatusCode::UNAUTHORIZED if !retried => {
                    // Most likely our own token expired or was revoked early.
                    session.invalidate(&service).await;
                    retried = true;
                }
                StatusCode::UNAUTHORIZED => {
                    // A token Keystone has just issued is not the problem,
                    // so the rejection is about the subject. Not cached: it
                    // is not Keystone's usual way of saying "invalid".
                    return Ok(Outcome::InvalidUncached(
                        "Keystone refused the token".into(),
                    ));
                }
                _ => {
                    return Err(ValidateError::Unavailable(format!(
                        "GET {url} answered HTTP {}",
                        status.as_u16()
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_password() {
        let cfg = KeystoneAuthConfig::new("http://ks:5000", "tricircle", "s3cr3t-pw", "service");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(shown.contains("tricircle"), "{shown}");
    }

    #[test]
    fn bad_auth_url_is_a_config_error() {
        let cfg = KeystoneAuthConfig::new("not a url", "tricircle", "pw", "service");
        assert!(matches!(
            TokenValidator::new(cfg),
            Err(KeystoneError::Config(_))
        ));
    }

    #[test]
    fn empty_username_is_a_config_error() {
        let cfg = KeystoneAuthConfig::new("http://ks:5000", " ", "pw", "service");
        let err = TokenValidator::new(cfg).unwrap_err();
        assert_eq!(
            err,
            KeystoneError::Config("username must not be empty".into())
        );
    }

    #[tokio::test]
    async fn malformed_tokens_are_invalid_without_asking() {
        // Nothing listens on port 9 (discard); were Keystone contacted,
        // the answer would be Unavailable rather than Invalid.
        let cfg = KeystoneAuthConfig::new("http://127.0.0.1:9", "tricircle", "pw", "service");
        let v = TokenValidator::new(cfg).unwrap();
        assert!(matches!(
            v.validate("").await,
            Err(ValidateError::Invalid(_))
        ));
        assert!(matches!(
            v.validate("abc\ndef").await,
            Err(ValidateError::Invalid(_))
        ));
    }
}
