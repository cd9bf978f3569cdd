//! Keystone v3 token bodies, the identity URL, and what a validated token
//! tells the API about its bearer.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use super::catalog::{Catalog, CatalogService};
use crate::Error;

/// The identity v3 root for an `auth_url` written either as the service root
/// (`http://ks:5000`, `http://host/identity`) or with its version
/// (`.../v3`, or a leftover `.../v2.0`, which is served as v3 nowadays).
pub(crate) fn identity_v3_url(auth_url: &str) -> Result<Url, Error> {
    let mut url = Url::parse(auth_url.trim())
        .map_err(|e| Error::Config(format!("auth_url '{auth_url}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "auth_url '{auth_url}' must use http or https"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/');
    let root = path
        .strip_suffix("/v3")
        .or_else(|| path.strip_suffix("/v2.0"))
        .unwrap_or(path);
    let v3 = format!("{root}/v3");
    url.set_path(&v3);
    Ok(url)
}

/// `{identity v3 root}/auth/tokens`.
pub(crate) fn tokens_url(identity_v3: &Url) -> Url {
    let mut url = identity_v3.clone();
    let path = format!("{}/auth/tokens", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenEnvelope {
    pub(crate) token: TokenBody,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenBody {
    pub(crate) expires_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) issued_at: Option<DateTime<Utc>>,
    pub(crate) user: IdName,
    #[serde(default)]
    pub(crate) project: Option<IdName>,
    /// Present on domain-scoped tokens only.
    #[serde(default)]
    pub(crate) domain: Option<IdName>,
    #[serde(default)]
    pub(crate) roles: Vec<IdName>,
    #[serde(default)]
    pub(crate) catalog: Option<Vec<CatalogService>>,
}

/// Users, projects, domains and roles all share this `{id, name, domain}`
/// shape in token bodies.
#[derive(Debug, Deserialize)]
pub(crate) struct IdName {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) domain: Option<Box<IdName>>,
}

impl TokenBody {
    pub(crate) fn take_catalog(&mut self) -> Catalog {
        self.catalog
            .take()
            .map(Catalog::from_services)
            .unwrap_or_default()
    }
}

/// Who presented a token and in which scope, as Keystone described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub user_id: String,
    pub user_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    /// Set for domain-scoped tokens.
    pub domain_id: Option<String>,
    /// Role names in the token's scope.
    pub roles: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

impl TokenInfo {
    /// Role match is case-insensitive, as oslo.policy's `role:` check is.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    pub(crate) fn from_body(body: TokenBody) -> Self {
        let domain_of = |x: &IdName| x.domain.as_ref().map(|d| d.id.clone());
        Self {
            user_domain_id: domain_of(&body.user),
            project_domain_id: body.project.as_ref().and_then(domain_of),
            project_id: body.project.as_ref().map(|p| p.id.clone()),
            project_name: body.project.and_then(|p| p.name),
            user_id: body.user.id,
            user_name: body.user.name,
            domain_id: body.domain.map(|d| d.id),
            roles: body
                .roles
                .into_iter()
                .map(|r| r.name.unwrap_or(r.id))
                .collect(),
            expires_at: body.expires_at,
        }
    }
}

/// The `message` of Keystone's `{"error": {...}}` body, for errors whose
/// message is known not to echo credentials (authentication failures).
pub(crate) fn keystone_error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => e.error.message,
        Err(_) => "no error message in the response".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_url_forms() {
        let cases = [
            ("http://ks:5000", "http://ks:5000/v3"),
            ("http://ks:5000/", "http://ks:5000/v3"),
            ("http://ks:5000/v3", "http://ks:5000/v3"),
            ("http://ks:5000/v3/", "http://ks:5000/v3"),
            ("http://ks:5000/v2.0", "http://ks:5000/v3"),
            ("https://host/identity", "https://host/identity/v3"),
            ("https://host/identity/v3/", "https://host/identity/v3"),
        ];
        for (input, want) in cases {
            let url = identity_v3_url(input).unwrap();
            assert_eq!(url.as_str(), want, "{input}");
            assert_eq!(
                tokens_url(&url).as_str(),
                format!("{want}/auth/tokens"),
                "{input}"
            );
        }
    }

    #[test]
    fn identity_url_rejects_junk() {
        assert!(matches!(identity_v3_url("ks:5000"), Err(Error::Config(_))));
        assert!(matches!(identity_v3_url(""), Err(Error::Config(_))));
        assert!(matches!(
            identity_v3_url("ftp://ks/v3"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn token_info_from_project_scoped_body() {
        let env: TokenEnvelope = serde_json::from_value(serde_json::json!({"token": {
            "methods": ["password"],
            "expires_at": "2026-11-25T19:00:00.000000Z",
            "issued_at": "2026-11-25T18:00:00.000000Z",
            "user": {"id": "u1", "name": "admin", "domain": {"id": "default", "name": "Default"},
                     "password_expires_at": null},
            "project": {"id": "p1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "is_domain": false,
            "roles": [{"id": "r1", "name": "admin"}, {"id": "r2", "name": "member"}],
            "catalog": []
        }}))
        .unwrap();
        let info = TokenInfo::from_body(env.token);
        assert_eq!(
            info,
            TokenInfo {
                user_id: "u1".into(),
                user_name: Some("admin".into()),
                user_domain_id: Some("default".into()),
                project_id: Some("p1".into()),
                project_name: Some("admin".into()),
                project_domain_id: Some("default".into()),
                domain_id: None,
                roles: vec!["admin".into(), "member".into()],
                expires_at: "2026-11-25T19:00:00Z".parse().unwrap(),
            }
        );
        assert!(info.has_role("Admin"));
        assert!(!info.has_role("reader"));
    }

    #[test]
    fn token_info_from_domain_scoped_body() {
        let env: TokenEnvelope = serde_json::from_value(serde_json::json!({"token": {
            "expires_at": "2026-11-25T19:00:00.000000Z",
            "user": {"id": "u1", "name": "dadmin", "domain": {"id": "d1", "name": "D"}},
            "domain": {"id": "d1", "name": "D"},
            "roles": [{"id": "r1", "name": "admin"}]
        }}))
        .unwrap();
        let info = TokenInfo::from_body(env.token);
        assert_eq!(info.domain_id.as_deref(), Some("d1"));
        assert_eq!(info.project_id, None);
        assert_eq!(info.user_domain_id.as_deref(), Some("d1"));
    }

    #[test]
    fn error_message_extraction() {
        let body = br#"{"error": {"code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}}"#;
        assert_eq!(
            keystone_error_message(body),
            "The request you have made requires authentication."
        );
        assert_eq!(
            keystone_error_message(b"<html>oops</html>"),
            "no error message in the response"
        );
    }
}
