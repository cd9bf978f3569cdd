//! The caller's credentials as oslo.policy sees them.
//!
//! The reference passes `context.to_dict()` as the credentials: oslo.context's
//! `RequestContext.to_dict()` (the 2020 series that Tricircle ran against)
//! plus the keys Tricircle's own context adds. Policy checks address those
//! keys by name, so the names here are part of the policy-file contract.

use serde_json::{Map, Value};

use crate::pyfmt::py_str_eq;

/// Who is making the request.
///
/// Holds no secret: the token itself never reaches the policy engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub user_name: Option<String>,
    pub project_name: Option<String>,
    pub domain_id: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_id: Option<String>,
}

/// One credential value, borrowed from [`Credentials`].
enum Field<'a> {
    Text(Option<&'a str>),
    Bool(bool),
    Roles(&'a [String]),
    UserIdentity,
}

/// Every key of the reference's credential dictionary that we can fill.
///
/// Left out on purpose: `auth_token` (a secret) and the per-request
/// identifiers `request_id`, `global_request_id` and `resource_uuid`, which
/// no policy can sensibly test. There is no `user_id` key: the reference's
/// dictionary has the user only under `user`.
const KEYS: &[&str] = &[
    "user",
    "tenant",
    "system_scope",
    "project",
    "domain",
    "user_domain",
    "project_domain",
    "is_admin",
    "read_only",
    "show_deleted",
    "roles",
    "user_identity",
    "is_admin_project",
    "user_name",
    "tenant_name",
    "tenant_id",
    "project_id",
];

impl Credentials {
    /// The credential dictionary the reference hands to oslo.policy.
    ///
    /// Keys: `user`, `tenant`, `project`, `tenant_id`, `project_id` (the last
    /// four all the project), `domain`, `user_domain`, `project_domain`,
    /// `system_scope` (always null), `is_admin`, `read_only` and
    /// `show_deleted` (false), `is_admin_project` (true), `roles`,
    /// `user_identity` (`"<user> <project> <domain> <user_domain>
    /// <project_domain>"`, `-` for unset parts), `user_name`, `tenant_name`.
    pub fn to_value(&self) -> Value {
        let mut map = Map::with_capacity(KEYS.len());
        for key in KEYS {
            let value = match self.field(key) {
                Some(Field::Text(text)) => {
                    text.map_or(Value::Null, |t| Value::String(t.to_owned()))
                }
                Some(Field::Bool(b)) => Value::Bool(b),
                Some(Field::Roles(roles)) => {
                    Value::Array(roles.iter().cloned().map(Value::String).collect())
                }
                Some(Field::UserIdentity) => Value::String(self.user_identity()),
                None => continue,
            };
            map.insert((*key).to_owned(), value);
        }
        Value::Object(map)
    }

    fn field(&self, key: &str) -> Option<Field<'_>> {
        Some(match key {
            "user" => Field::Text(self.user_id.as_deref()),
            "tenant" | "project" | "tenant_id" | "project_id" => {
                Field::Text(self.project_id.as_deref())
            }
            "system_scope" => Field::Text(None),
            "domain" => Field::Text(self.domain_id.as_deref()),
            "user_domain" => Field::Text(self.user_domain_id.as_deref()),
            "project_domain" => Field::Text(self.project_domain_id.as_deref()),
            "is_admin" => Field::Bool(self.is_admin),
            "read_only" | "show_deleted" => Field::Bool(false),
            "is_admin_project" => Field::Bool(true),
            "roles" => Field::Roles(&self.roles),
            "user_identity" => Field::UserIdentity,
            "user_name" => Field::Text(self.user_name.as_deref()),
            "tenant_name" => Field::Text(self.project_name.as_deref()),
            _ => return None,
        })
    }

    fn user_identity(&self) -> String {
        let part = |v: &Option<String>| match v.as_deref() {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => "-".to_owned(),
        };
        format!(
            "{} {} {} {} {}",
            part(&self.user_id),
            part(&self.project_id),
            part(&self.domain_id),
            part(&self.user_domain_id),
            part(&self.project_domain_id)
        )
    }
}

/// The target the reference builds when the caller gives none:
/// `{"project_id": <caller's project>, "user_id": <caller's user>}`.
pub fn default_target(creds: &Credentials) -> Value {
    serde_json::json!({
        "project_id": creds.project_id,
        "user_id": creds.user_id,
    })
}

/// What the evaluator needs from credentials, so that checks run directly on
/// [`Credentials`] without building a JSON dictionary per request.
pub(crate) trait CredSource {
    /// `role:` check: any role equal to `role`, ignoring case.
    fn has_role(&self, role: &str) -> bool;
    /// Generic check: does the value at `path` (or, through lists, any value
    /// there) print as `expected`?
    fn path_matches(&self, path: &[String], expected: &str) -> bool;
}

impl CredSource for Credentials {
    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| eq_lowercase(r, role))
    }

    fn path_matches(&self, path: &[String], expected: &str) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Some(field) = self.field(first) else {
            return false;
        };
        if !rest.is_empty() {
            // Every value here is a string, bool, None or list of strings:
            // none can be indexed by a key (Python raises; we deny).
            return false;
        }
        match field {
            Field::Text(Some(text)) => text == expected,
            Field::Text(None) => expected == "None",
            Field::Bool(b) => expected == if b { "True" } else { "False" },
            Field::Roles(roles) => roles.iter().any(|r| r == expected),
            Field::UserIdentity => self.user_identity() == expected,
        }
    }
}

impl CredSource for Value {
    fn has_role(&self, role: &str) -> bool {
        match self.get("roles") {
            Some(Value::Array(roles)) => roles
                .iter()
                .any(|r| r.as_str().is_some_and(|r| eq_lowercase(r, role))),
            _ => false,
        }
    }

    fn path_matches(&self, path: &[String], expected: &str) -> bool {
        find_in(self, path, expected)
    }
}

/// Walks `path` into nested mappings; a list on the way means "any element".
fn find_in(value: &Value, path: &[String], expected: &str) -> bool {
    let Some((key, rest)) = path.split_first() else {
        return py_str_eq(value, expected);
    };
    let Some(next) = value.as_object().and_then(|m| m.get(key)) else {
        return false;
    };
    match next {
        Value::Array(items) => items.iter().any(|item| find_in(item, rest, expected)),
        other => find_in(other, rest, expected),
    }
}

/// Python's `a.lower() == b.lower()`, without allocating for ASCII text.
pub(crate) fn eq_lowercase(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Credentials {
        Credentials {
            user_id: Some("u1".into()),
            project_id: Some("p1".into()),
            roles: vec!["Member".into(), "reader".into()],
            is_admin: false,
            user_name: Some("alice".into()),
            project_name: Some("demo".into()),
            domain_id: None,
            user_domain_id: Some("default".into()),
            project_domain_id: Some("default".into()),
        }
    }

    #[test]
    fn to_value_has_the_reference_keys() {
        let v = sample().to_value();
        assert_eq!(
            v,
            json!({
                "user": "u1",
                "tenant": "p1",
                "system_scope": null,
                "project": "p1",
                "domain": null,
                "user_domain": "default",
                "project_domain": "default",
                "is_admin": false,
                "read_only": false,
                "show_deleted": false,
                "roles": ["Member", "reader"],
                "user_identity": "u1 p1 - default default",
                "is_admin_project": true,
                "user_name": "alice",
                "tenant_name": "demo",
                "tenant_id": "p1",
                "project_id": "p1",
            })
        );
        assert!(v.get("user_id").is_none());
        assert!(v.get("auth_token").is_none());
    }

    #[test]
    fn struct_and_dictionary_answer_alike() {
        let creds = sample();
        let value = creds.to_value();
        let probes = [
            ("user", "u1"),
            ("tenant", "p1"),
            ("project_id", "p1"),
            ("tenant_id", "p1"),
            ("domain", "None"),
            ("system_scope", "None"),
            ("is_admin", "False"),
            ("is_admin", "false"),
            ("is_admin_project", "True"),
            ("read_only", "False"),
            ("roles", "Member"),
            ("roles", "member"),
            ("user_identity", "u1 p1 - default default"),
            ("tenant_name", "demo"),
            ("user_name", "alice"),
            ("user_id", "u1"),
            ("nothing", "None"),
        ];
        for (key, expected) in probes {
            let path = [key.to_owned()];
            assert_eq!(
                creds.path_matches(&path, expected),
                value.path_matches(&path, expected),
                "{key}:{expected}"
            );
        }
        for role in ["member", "MEMBER", "Reader", "admin"] {
            assert_eq!(creds.has_role(role), value.has_role(role), "{role}");
        }
    }

    #[test]
    fn default_target_holds_project_and_user() {
        assert_eq!(
            default_target(&sample()),
            json!({"project_id": "p1", "user_id": "u1"})
        );
        assert_eq!(
            default_target(&Credentials::default()),
            json!({"project_id": null, "user_id": null})
        );
    }
}
