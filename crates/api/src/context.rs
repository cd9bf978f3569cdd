//! Who is calling: the request context built by the auth middleware and
//! handed to handlers, and the policy check made with it.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};
use tricircle_policy::{Credentials, Enforcer};

/// Identity of the caller, as the reference's request context holds it.
#[derive(Clone, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub auth_token: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub domain_id: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_id: Option<String>,
    pub roles: Vec<String>,
    pub is_admin: bool,
}

// Tokens must never reach a log line, so Debug leaves the token out.
impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("request_id", &self.request_id)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("roles", &self.roles)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

impl RequestContext {
    /// The reference grants admin when the role list holds exactly `admin`.
    pub fn roles_grant_admin(roles: &[String]) -> bool {
        roles.iter().any(|r| r == "admin")
    }

    pub fn credentials(&self) -> Credentials {
        Credentials {
            user_id: self.user_id.clone(),
            project_id: self.project_id.clone(),
            roles: self.roles.clone(),
            is_admin: self.is_admin,
            user_name: self.user_name.clone(),
            project_name: self.project_name.clone(),
            domain_id: self.domain_id.clone(),
            user_domain_id: self.user_domain_id.clone(),
            project_domain_id: self.project_domain_id.clone(),
        }
    }

    /// Evaluate a policy rule for this caller against the default target
    /// (the caller's own project and user), as the reference's controllers do.
    pub fn allowed(&self, policy: &Enforcer, rule: &str) -> bool {
        let creds = self.credentials();
        let target = tricircle_policy::default_target(&creds);
        let ok = policy.enforce(rule, &target, &creds);
        if !ok {
            tracing::info!(rule, user_id = ?self.user_id, project_id = ?self.project_id, "policy denied");
        }
        ok
    }
}

impl RequestContext {
    /// The context as the reference's `ContextBase.to_dict()` gives it
    /// (oslo.context's keys plus Tricircle's), which oslo.messaging sends
    /// as `_context_*` keys: xjob and Python consumers rebuild it from these.
    pub fn to_dict(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::{json, Value};
        let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let json = json!({
            "user": opt(&self.user_id),
            "user_id": opt(&self.user_id),
            "tenant": opt(&self.project_id),
            "tenant_id": opt(&self.project_id),
            "project_id": opt(&self.project_id),
            "domain": opt(&self.domain_id),
            "user_domain": opt(&self.user_domain_id),
            "project_domain": opt(&self.project_domain_id),
            "user_name": opt(&self.user_name),
            "tenant_name": opt(&self.project_name),
            "project_name": opt(&self.project_name),
            "is_admin": self.is_admin,
            "read_only": false,
            "show_deleted": false,
            "read_deleted": "no",
            "auth_token": opt(&self.auth_token),
            "request_id": self.request_id,
            "global_request_id": Value::Null,
            "resource_uuid": Value::Null,
            "roles": self.roles,
        });
        match json {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }
}

impl FromRequest for RequestContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The auth middleware always inserts one; an absent context means an
        // anonymous caller, which every policy rule refuses.
        ready(Ok(req
            .extensions()
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_has_the_reference_keys() {
        let ctx = RequestContext {
            request_id: "req-1".into(),
            auth_token: Some("tok".into()),
            user_id: Some("u".into()),
            project_id: Some("p".into()),
            roles: vec!["admin".into()],
            is_admin: true,
            ..Default::default()
        };
        let d = ctx.to_dict();
        assert_eq!(d["user"], "u");
        assert_eq!(d["tenant"], "p");
        assert_eq!(d["project_id"], "p");
        assert_eq!(d["tenant_id"], "p");
        assert_eq!(d["is_admin"], true);
        assert_eq!(d["request_id"], "req-1");
        assert_eq!(d["auth_token"], "tok");
        assert_eq!(d["roles"], serde_json::json!(["admin"]));
        assert_eq!(d["read_deleted"], "no");
    }
}
