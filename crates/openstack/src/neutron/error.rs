//! Neutron's answers mapped to errors job handlers can match on.

use serde::Deserialize;

/// One Neutron API error, as the server described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: String,
    /// The request URL (holds no credentials).
    pub url: String,
    pub status: u16,
    /// `NeutronError.type`, e.g. `IpAddressInUse`; empty when the body was
    /// not Neutron's (a proxy, keystonemiddleware).
    pub kind: String,
    pub message: String,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} answered HTTP {}",
            self.method, self.url, self.status
        )?;
        if !self.kind.is_empty() {
            write!(f, " {}", self.kind)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// What a Neutron call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeutronError {
    /// 400 other than the kinds below.
    #[error("bad request: {0}")]
    BadRequest(Box<ApiError>),
    /// 400 `InvalidRoutes`: an extra route's nexthop is not reachable.
    #[error("invalid routes: {0}")]
    InvalidRoutes(Box<ApiError>),
    /// 401 that survived one re-authentication.
    #[error("unauthorized: {0}")]
    Unauthorized(Box<ApiError>),
    #[error("forbidden: {0}")]
    Forbidden(Box<ApiError>),
    /// 404, whatever the `type` (`NetworkNotFound`,
    /// `ExternalGatewayForFloatingIPNotFound`, ...).
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// 409 `IpAddressInUse`.
    #[error("IP address in use: {0}")]
    IpAddressInUse(Box<ApiError>),
    /// 409 `OverQuota`.
    #[error("over quota: {0}")]
    OverQuota(Box<ApiError>),
    /// 409 `*InUse` (network, subnet, port, router, security group, ...):
    /// the resource is still referenced.
    #[error("in use: {0}")]
    InUse(Box<ApiError>),
    /// Any other 409.
    #[error("conflict: {0}")]
    Conflict(Box<ApiError>),
    /// 5xx after the retries ran out.
    #[error("server error: {0}")]
    Server(Box<ApiError>),
    /// Any other unexpected status.
    #[error("unexpected status: {0}")]
    Http(Box<ApiError>),
    /// No answer (refused, reset) after the retries ran out.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// No answer within `[client] neutron_timeout` after the retries.
    #[error("{url} did not answer in time")]
    Timeout { url: String },
    /// A create was sent and no answer came (timeout, connection lost): it
    /// may have taken effect, so it is not sent again.
    #[error("{url} did not answer a create ({reason}); it may have taken effect")]
    NoAnswer { url: String, reason: String },
    /// A success status with a body we cannot use.
    #[error("unexpected response from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// No Neutron endpoint is known for the region (not in the cache, and
    /// not in the catalog either when refreshing is on).
    #[error("no Neutron endpoint for region '{region}'")]
    EndpointNotFound { region: String },
    /// The endpoint cache (database) failed.
    #[error("endpoint cache: {0}")]
    EndpointCache(crate::endpoints::CacheError),
    /// Getting the service token or catalog failed.
    #[error("identity: {0}")]
    Keystone(#[from] crate::Error),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "NeutronError")]
    neutron_error: Option<Body>,
    /// keystonemiddleware and Keystone-style bodies.
    error: Option<OtherBody>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize)]
struct OtherBody {
    #[serde(default)]
    message: String,
}

impl NeutronError {
    /// Maps a non-success answer.
    pub(crate) fn from_response(method: &str, url: &str, status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<Envelope>(body).ok();
        let (kind, message, detail) = match parsed {
            Some(Envelope {
                neutron_error: Some(b),
                ..
            }) => (b.kind, b.message, b.detail),
            Some(Envelope { error: Some(e), .. }) => (String::new(), e.message, String::new()),
            _ => {
                // webob's plain-text pages; short enough to keep.
                let text = String::from_utf8_lossy(body);
                let text: String = text.trim().chars().take(200).collect();
                (String::new(), text, String::new())
            }
        };
        let e = Box::new(ApiError {
            method: method.to_owned(),
            url: url.to_owned(),
            status,
            kind,
            message,
            detail,
        });
        match (status, e.kind.as_str()) {
            (400, "InvalidRoutes") => NeutronError::InvalidRoutes(e),
            (400, _) => NeutronError::BadRequest(e),
            (401, _) => NeutronError::Unauthorized(e),
            (403, _) => NeutronError::Forbidden(e),
            (404, _) => NeutronError::NotFound(e),
            (409, "IpAddressInUse") => NeutronError::IpAddressInUse(e),
            (409, "OverQuota") => NeutronError::OverQuota(e),
            (409, k) if k.contains("InUse") => NeutronError::InUse(e),
            (409, _) => NeutronError::Conflict(e),
            (500..=599, _) => NeutronError::Server(e),
            _ => NeutronError::Http(e),
        }
    }

    /// The server's error, when there was an answer.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            NeutronError::BadRequest(e)
            | NeutronError::InvalidRoutes(e)
            | NeutronError::Unauthorized(e)
            | NeutronError::Forbidden(e)
            | NeutronError::NotFound(e)
            | NeutronError::IpAddressInUse(e)
            | NeutronError::OverQuota(e)
            | NeutronError::InUse(e)
            | NeutronError::Conflict(e)
            | NeutronError::Server(e)
            | NeutronError::Http(e) => Some(e),
            _ => None,
        }
    }

    /// `NeutronError.type` of the answer, e.g. `SubnetInUse`.
    pub fn kind(&self) -> Option<&str> {
        self.api()
            .map(|e| e.kind.as_str())
            .filter(|k| !k.is_empty())
    }

    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, NeutronError::NotFound(_))
    }

    /// The endpoint did not answer at all: what makes a cached endpoint
    /// suspect.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            NeutronError::Unreachable { .. }
                | NeutronError::Timeout { .. }
                | NeutronError::NoAnswer { .. }
        )
    }

    /// A create whose outcome is unknown: the resource may exist.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, NeutronError::NoAnswer { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> NeutronError {
        NeutronError::from_response("POST", "http://n/v2.0/ports", status, body.as_bytes())
    }

    fn neutron(kind: &str) -> String {
        format!(r#"{{"NeutronError": {{"type": "{kind}", "message": "m", "detail": ""}}}}"#)
    }

    #[test]
    fn kinds_and_statuses() {
        assert!(matches!(
            map(409, &neutron("IpAddressInUse")),
            NeutronError::IpAddressInUse(_)
        ));
        assert!(matches!(
            map(409, &neutron("OverQuota")),
            NeutronError::OverQuota(_)
        ));
        assert!(matches!(
            map(409, &neutron("SubnetInUse")),
            NeutronError::InUse(_)
        ));
        assert!(matches!(
            map(409, &neutron("RouterInterfaceInUseByRoute")),
            NeutronError::InUse(_)
        ));
        assert!(matches!(
            map(409, &neutron("MacAddressInUse")),
            NeutronError::InUse(_)
        ));
        assert!(matches!(
            map(409, &neutron("IpAddressGenerationFailure")),
            NeutronError::Conflict(_)
        ));
        assert!(matches!(
            map(400, &neutron("InvalidRoutes")),
            NeutronError::InvalidRoutes(_)
        ));
        assert!(matches!(
            map(400, &neutron("InvalidInput")),
            NeutronError::BadRequest(_)
        ));
        assert!(matches!(
            map(404, &neutron("NetworkNotFound")),
            NeutronError::NotFound(_)
        ));
        assert!(matches!(
            map(503, "<html>busy</html>"),
            NeutronError::Server(_)
        ));
        let e = map(409, &neutron("IpAddressInUse"));
        assert_eq!(e.kind(), Some("IpAddressInUse"));
        assert_eq!(e.status(), Some(409));
        let e = map(401, r#"{"error": {"code": 401, "message": "auth needed"}}"#);
        assert_eq!(e.api().unwrap().message, "auth needed");
        assert_eq!(e.kind(), None);
    }
}
