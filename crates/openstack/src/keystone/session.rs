//! A password-authenticated Keystone v3 session: one service token, reused
//! until shortly before it expires, renewed by a single request at a time.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::HeaderValue;
use serde_json::json;
use tokio::sync::Mutex;
use url::Url;

use super::catalog::{Catalog, Interface};
use super::token::{identity_v3_url, keystone_error_message, tokens_url, TokenEnvelope};
use crate::{Error, Secret};

/// The longest head start a token is renewed with before it expires.
const MAX_RENEW_MARGIN: TimeDelta = TimeDelta::seconds(30);

/// Credentials for Keystone v3 `password` authentication, scoped to a
/// project named within a domain.
#[derive(Debug, Clone)]
pub struct PasswordAuth {
    pub auth_url: String,
    pub username: String,
    pub password: Secret,
    pub user_domain_name: String,
    pub project_name: String,
    pub project_domain_name: String,
}

/// A token Keystone issued to this session.
#[derive(Debug)]
pub struct AuthToken {
    token: Secret,
    header: HeaderValue,
    pub user_id: String,
    pub project_id: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    renew_at: DateTime<Utc>,
    pub catalog: Catalog,
}

impl AuthToken {
    /// The token itself, for an `X-Auth-Token` header.
    pub fn secret(&self) -> &Secret {
        &self.token
    }

    /// Still usable without renewal at `now`.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.renew_at
    }

    /// The token as a header value marked sensitive, so HTTP-level debug
    /// output skips it.
    pub fn header_value(&self) -> HeaderValue {
        self.header.clone()
    }
}

pub(crate) fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

#[derive(Default)]
struct State {
    current: Option<Arc<AuthToken>>,
    /// When the last authentication failed and why; callers that were
    /// queued behind that attempt share its outcome instead of each
    /// hammering a Keystone that just failed.
    last_failure: Option<(Instant, Error)>,
}

/// Holds the service's token and renews it on demand.
pub struct Session {
    http: reqwest::Client,
    auth: PasswordAuth,
    identity_url: Url,
    tokens_url: Url,
    state: Mutex<State>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("identity_url", &self.identity_url.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn new(http: reqwest::Client, auth: PasswordAuth) -> Result<Self, Error> {
        for (name, value) in [
            ("username", &auth.username),
            ("project_name", &auth.project_name),
            ("user_domain_name", &auth.user_domain_name),
            ("project_domain_name", &auth.project_domain_name),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Config(format!("{name} must not be empty")));
            }
        }
        let identity_url = identity_v3_url(&auth.auth_url)?;
        let tokens_url = tokens_url(&identity_url);
        Ok(Self {
            http,
            auth,
            identity_url,
            tokens_url,
            state: Mutex::new(State::default()),
        })
    }

    /// The identity v3 root, e.g. `http://ks:5000/v3`.
    pub fn identity_url(&self) -> &Url {
        &self.identity_url
    }

    pub(crate) fn tokens_url(&self) -> &Url {
        &self.tokens_url
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A fresh token, authenticating first when there is none or the
    /// current one is about to expire. Concurrent callers wait for a single
    /// in-flight authentication.
    pub async fn token(&self) -> Result<Arc<AuthToken>, Error> {
        let queued_at = Instant::now();
        let mut state = self.state.lock().await;
        if let Some(tok) = &state.current {
            if tok.is_fresh(Utc::now()) {
                return Ok(tok.clone());
            }
        }
        if let Some((failed_at, err)) = &state.last_failure {
            if *failed_at >= queued_at {
                return Err(err.clone());
            }
        }
        match self.authenticate().await {
            Ok(tok) => {
                let tok = Arc::new(tok);
                state.current = Some(tok.clone());
                state.last_failure = None;
                Ok(tok)
            }
            Err(err) => {
                state.current = None;
                state.last_failure = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    /// Forget `rejected` after Keystone answered 401 to it, so the next
    /// [`Session::token`] authenticates again. A token that another caller
    /// already replaced is left alone, which keeps concurrent rejections of
    /// the same token down to one renewal.
    pub async fn invalidate(&self, rejected: &Arc<AuthToken>) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|cur| Arc::ptr_eq(cur, rejected))
        {
            tracing::info!(user_id = %rejected.user_id, "service token rejected; will re-authenticate");
            state.current = None;
        }
    }

    /// The catalog URL for a service, from the current token's catalog.
    pub async fn endpoint_url(
        &self,
        service_type: &str,
        region: Option<&str>,
        interface: Interface,
    ) -> Result<String, Error> {
        let tok = self.token().await?;
        tok.catalog
            .endpoint(service_type, region, interface)
            .map(str::to_owned)
    }

    /// The catalog as Keystone has it now (`GET /v3/auth/catalog`), which
    /// may differ from the one in the current token when endpoints moved
    /// after it was issued.
    pub async fn fetch_catalog(&self) -> Result<Catalog, Error> {
        let url = format!(
            "{}/auth/catalog",
            self.identity_url.as_str().trim_end_matches('/')
        );
        let mut retried = false;
        loop {
            let tok = self.token().await?;
            let resp = self
                .http
                .get(&url)
                .header("X-Auth-Token", tok.header_value())
                .send()
                .await
                .map_err(|e| Error::unreachable(&url, &e))?;
            let status = resp.status();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| Error::unreachable(&url, &e))?;
            if status == reqwest::StatusCode::UNAUTHORIZED && !retried {
                self.invalidate(&tok).await;
                retried = true;
                continue;
            }
            if !status.is_success() {
                return Err(Error::Status {
                    method: "GET".into(),
                    url,
                    status: status.as_u16(),
                    message: keystone_error_message(&bytes),
                });
            }
            #[derive(serde::Deserialize)]
            struct Body {
                catalog: Vec<super::catalog::CatalogService>,
            }
            let body: Body = serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
                url: url.clone(),
                reason: format!("bad catalog body: {e}"),
            })?;
            let catalog = Catalog::from_services(body.catalog);
            tracing::debug!(url = %url, endpoints = catalog.len(), "read the service catalog");
            return Ok(catalog);
        }
    }

    async fn authenticate(&self) -> Result<AuthToken, Error> {
        let url = self.tokens_url.as_str();
        tracing::debug!(
            url,
            username = %self.auth.username,
            project = %self.auth.project_name,
            "authenticating with Keystone"
        );
        let body = json!({"auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "name": self.auth.username,
                    "domain": {"name": self.auth.user_domain_name},
                    "password": self.auth.password.expose(),
                }}
            },
            "scope": {"project": {
                "name": self.auth.project_name,
                "domain": {"name": self.auth.project_domain_name},
            }}
        }});
        let resp = self
            .http
            .post(self.tokens_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::unreachable(url, &e))?;
        let status = resp.status();
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::unreachable(url, &e))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let err = Error::Unauthorized {
                url: url.to_owned(),
                message: keystone_error_message(&bytes),
            };
            tracing::error!(error = %err, "Keystone refused the service credentials");
            return Err(err);
        }
        if !status.is_success() {
            let err = Error::Status {
                method: "POST".into(),
                url: url.to_owned(),
                status: status.as_u16(),
                message: keystone_error_message(&bytes),
            };
            tracing::warn!(error = %err, "Keystone authentication failed");
            return Err(err);
        }
        let protocol = |reason: String| Error::Protocol {
            url: url.to_owned(),
            reason,
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("no X-Subject-Token header".into()))?;
        let header = sensitive_header(token.expose())
            .ok_or_else(|| protocol("X-Subject-Token is not a valid header value".into()))?;
        let mut body = serde_json::from_slice::<TokenEnvelope>(&bytes)
            .map_err(|e| protocol(format!("bad token body: {e}")))?
            .token;
        let issued_at = body.issued_at.unwrap_or_else(Utc::now);
        let lifetime = body.expires_at - issued_at;
        let renew_at = body.expires_at - (lifetime / 10).clamp(TimeDelta::zero(), MAX_RENEW_MARGIN);
        let catalog = body.take_catalog();
        let tok = AuthToken {
            token,
            header,
            user_id: body.user.id,
            project_id: body.project.map(|p| p.id),
            issued_at,
            expires_at: body.expires_at,
            renew_at,
            catalog,
        };
        tracing::info!(
            user_id = %tok.user_id,
            expires_at = %tok.expires_at,
            endpoints = tok.catalog.len(),
            "obtained a service token"
        );
        Ok(tok)
    }
}
