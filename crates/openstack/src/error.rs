//! The one error type of this crate.

use crate::keystone::Interface;

/// What can go wrong talking to an OpenStack service.
///
/// Messages never carry tokens or passwords: they name URLs (which hold
/// neither), statuses and the service's own error message where that message
/// is known not to echo credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The client was configured with something unusable (bad URL, CA file).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// No HTTP answer at all: refused, reset, timed out, TLS failure.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },

    /// The service refused our own credentials (401 on authentication).
    #[error("{url} rejected the credentials: {message}")]
    Unauthorized { url: String, message: String },

    /// Any other non-success status.
    #[error("{method} {url} answered HTTP {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },

    /// A success status with a body or headers we cannot use.
    #[error("unexpected response from {url}: {reason}")]
    Protocol { url: String, reason: String },

    /// The catalog has no endpoint matching the lookup.
    #[error("no {interface} endpoint for service type '{service_type}'{} in the catalog",
        .region.as_deref().map(|r| format!(" in region '{r}'")).unwrap_or_default())]
    EndpointNotFound {
        service_type: String,
        region: Option<String>,
        interface: Interface,
    },
}

impl Error {
    /// True when the service is down or failing rather than saying "no":
    /// callers answer 503 for these, not 401/404.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Protocol { .. } => true,
            Error::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn unreachable(url: &str, err: &reqwest::Error) -> Self {
        Error::Unreachable {
            url: url.to_owned(),
            reason: error_chain(err),
        }
    }
}

/// reqwest's own message omits the underlying cause ("connection refused"),
/// which is the useful part for an operator, so the chain is flattened.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_not_found_names_region_only_when_given() {
        let e = Error::EndpointNotFound {
            service_type: "network".into(),
            region: Some("RegionOne".into()),
            interface: Interface::Public,
        };
        assert_eq!(
            e.to_string(),
            "no public endpoint for service type 'network' in region 'RegionOne' in the catalog"
        );
        let e = Error::EndpointNotFound {
            service_type: "network".into(),
            region: None,
            interface: Interface::Admin,
        };
        assert_eq!(
            e.to_string(),
            "no admin endpoint for service type 'network' in the catalog"
        );
    }

    #[test]
    fn unavailable_classification() {
        let status = |s| Error::Status {
            method: "GET".into(),
            url: "u".into(),
            status: s,
            message: String::new(),
        };
        assert!(status(503).is_unavailable());
        assert!(status(500).is_unavailable());
        assert!(!status(403).is_unavailable());
        assert!(Error::Unreachable {
            url: "u".into(),
            reason: "refused".into()
        }
        .is_unavailable());
        assert!(!Error::Unauthorized {
            url: "u".into(),
            message: "no".into()
        }
        .is_unavailable());
    }
}
