//! The fake Keystone's data: domains, projects, users, role assignments,
//! the catalog and issued tokens.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

pub(crate) const DEFAULT_DOMAIN_ID: &str = "default";
const DEFAULT_DOMAIN_NAME: &str = "Default";

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Keystone's timestamp format: microseconds and a literal `Z`.
pub(crate) fn keystone_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

struct Domain {
    name: String,
}

struct Project {
    name: String,
    domain_id: String,
}

struct User {
    name: String,
    domain_id: String,
    password: String,
    default_project_id: Option<String>,
}

/// When a new token expires.
pub(crate) enum Expiry {
    /// This long after issue.
    After(TimeDelta),
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
}

struct Service {
    id: String,
    service_type: String,
    name: String,
}

struct Endpoint {
    id: String,
    service_id: String,
    region_id: String,
    interface: String,
    url: String,
}

pub(crate) struct Token {
    pub(crate) user_id: String,
    pub(crate) scope: Scope,
    methods: Vec<String>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    audit_id: String,
    revoked: bool,
}

/// Why an authentication was refused; all are 401 in Keystone except
/// `BadRequest`.
#[derive(Debug)]
pub(crate) enum AuthError {
    BadRequest(String),
    Unauthorized(String),
}

pub(crate) struct Store {
    domains: BTreeMap<String, Domain>,
    projects: BTreeMap<String, Project>,
    users: BTreeMap<String, User>,
    /// role id -> name
    roles: BTreeMap<String, String>,
    assignments: BTreeMap<(String, Scope), BTreeSet<String>>,
    services: Vec<Service>,
    endpoints: Vec<Endpoint>,
    tokens: HashMap<String, Token>,
    pub(crate) token_ttl: TimeDelta,
    pub(crate) clock_skew: TimeDelta,
}

impl Store {
    pub(crate) fn new() -> Self {
        let mut domains = BTreeMap::new();
        domains.insert(
            DEFAULT_DOMAIN_ID.to_owned(),
            Domain {
                name: DEFAULT_DOMAIN_NAME.to_owned(),
            },
        );
        Self {
            domains,
            projects: BTreeMap::new(),
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            assignments: BTreeMap::new(),
            services: Vec::new(),
            endpoints: Vec::new(),
            tokens: HashMap::new(),
            // Keystone's default `[token] expiration`.
            token_ttl: TimeDelta::hours(1),
            clock_skew: TimeDelta::zero(),
        }
    }

    /// Keystone's own clock, which tests may set off from ours.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_skew
    }

    // ----- fixtures -------------------------------------------------------

    pub(crate) fn add_domain(&mut self, name: &str) -> String {
        let id = new_id();
        self.domains
            .insert(id.clone(), Domain { name: name.into() });
        id
    }

    /// Fixtures name ids they were given: a wrong one is a test's bug.
    fn assert_domain(&self, domain_id: &str) {
        assert!(
            self.domains.contains_key(domain_id),
            "fake keystone: no domain with id {domain_id}"
        );
    }

    pub(crate) fn add_project(&mut self, domain_id: &str, name: &str) -> String {
        self.assert_domain(domain_id);
        let id = new_id();
        self.projects.insert(
            id.clone(),
            Project {
                name: name.into(),
                domain_id: domain_id.into(),
            },
        );
        id
    }

    pub(crate) fn add_user(
        &mut self,
        domain_id: &str,
        name: &str,
        password: &str,
        default_project_id: Option<&str>,
    ) -> String {
        self.assert_domain(domain_id);
        if let Some(p) = default_project_id {
            assert!(
                self.projects.contains_key(p),
                "fake keystone: no project with id {p}"
            );
        }
        let id = new_id();
        self.users.insert(
            id.clone(),
            User {
                name: name.into(),
                domain_id: domain_id.into(),
                password: password.into(),
                default_project_id: default_project_id.map(str::to_owned),
            },
        );
        id
    }

    fn role_id(&mut self, name: &str) -> String {
        if let Some((id, _)) = self.roles.iter().find(|(_, n)| n.as_str() == name) {
            return id.clone();
        }
        let id = new_id();
        self.roles.insert(id.clone(), name.to_owned());
        id
    }

    pub(crate) fn grant(&mut self, user_id: &str, target: Scope, roles: &[&str]) {
        assert!(
            self.users.contains_key(user_id),
            "fake keystone: no user with id {user_id}"
        );
        match &target {
            Scope::Project(p) => assert!(
                self.projects.contains_key(p),
                "fake keystone: no project with id {p}"
            ),
            Scope::Domain(d) => assert!(
                self.domains.contains_key(d),
                "fake keystone: no domain with id {d}"
            ),
            Scope::Unscoped => panic!("fake keystone: roles are granted on a project or domain"),
        }
        let ids: Vec<String> = roles.iter().map(|r| self.role_id(r)).collect();
        self.assignments
            .entry((user_id.to_owned(), target))
            .or_default()
            .extend(ids);
    }

    pub(crate) fn add_endpoint(
        &mut self,
        service_type: &str,
        region_id: &str,
        interface: &str,
        url: &str,
    ) -> String {
        assert!(
            matches!(interface, "public" | "internal" | "admin"),
            "fake keystone: interface must be public, internal or admin, not {interface}"
        );
        let service_id = match self
            .services
            .iter()
            .find(|s| s.service_type == service_type)
        {
            Some(s) => s.id.clone(),
            None => {
                let id = new_id();
                self.services.push(Service {
                    id: id.clone(),
                    service_type: service_type.into(),
                    name: service_type.into(),
                });
                id
            }
        };
        let id = new_id();
        self.endpoints.push(Endpoint {
            id: id.clone(),
            service_id,
            region_id: region_id.into(),
            interface: interface.into(),
            url: url.into(),
        });
        id
    }

    pub(crate) fn set_endpoint_url(&mut self, endpoint_id: &str, url: &str) {
        let ep = self
            .endpoints
            .iter_mut()
            .find(|e| e.id == endpoint_id)
            .unwrap_or_else(|| panic!("fake keystone: no endpoint with id {endpoint_id}"));
        ep.url = url.into();
    }

    /// The catalog a token sees now (`GET /v3/auth/catalog`).
    pub(crate) fn current_catalog(&self) -> Value {
        self.catalog()
    }

    /// The project a live project-scoped token is for.
    pub(crate) fn token_project(&self, id: &str) -> Option<String> {
        match &self.live_token(id)?.scope {
            Scope::Project(p) => Some(p.clone()),
            _ => None,
        }
    }

    // ----- tokens ---------------------------------------------------------

    pub(crate) fn issue(
        &mut self,
        user_id: &str,
        scope: Scope,
        methods: &[&str],
        expiry: Expiry,
    ) -> String {
        assert!(
            self.users.contains_key(user_id),
            "fake keystone: no user with id {user_id}"
        );
        // Shaped like a Fernet token: the same prefix, URL-safe characters.
        let id = format!("gAAAAAB{}{}", new_id(), new_id());
        let issued_at = self.now();
        let expires_at = match expiry {
            Expiry::After(ttl) => issued_at + ttl,
            Expiry::At(at) => at,
        };
        self.tokens.insert(
            id.clone(),
            Token {
                user_id: user_id.into(),
                scope,
                methods: methods.iter().map(|m| (*m).to_owned()).collect(),
                issued_at,
                expires_at,
                audit_id: new_id()[..22].to_owned(),
                revoked: false,
            },
        );
        id
    }

    pub(crate) fn revoke(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    pub(crate) fn revoke_user(&mut self, user_id: &str) {
        for t in self.tokens.values_mut().filter(|t| t.user_id == user_id) {
            t.revoked = true;
        }
    }

    /// The token if Keystone would accept it now: known, not revoked, not
    /// expired, its user still there and, when scoped, still holding a role.
    pub(crate) fn live_token(&self, id: &str) -> Option<&Token> {
        let t = self.tokens.get(id)?;
        let ok = !t.revoked
            && t.expires_at > self.now()
            && self.users.contains_key(&t.user_id)
            && (t.scope == Scope::Unscoped || !self.role_names(&t.user_id, &t.scope).is_empty());
        ok.then_some(t)
    }

    pub(crate) fn role_names(&self, user_id: &str, scope: &Scope) -> Vec<String> {
        self.roles_of(user_id, scope)
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    }

    fn roles_of(&self, user_id: &str, scope: &Scope) -> Vec<(String, String)> {
        self.assignments
            .get(&(user_id.to_owned(), scope.clone()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.roles.get(id).map(|n| (id.clone(), n.clone())))
            .collect()
    }

    // ----- password authentication ----------------------------------------

    /// Checks a v3 `auth` object and returns the user and scope to issue a
    /// token for.
    pub(crate) fn authenticate(&self, auth: &Value) -> Result<(String, Scope), AuthError> {
        let bad = |m: &str| AuthError::BadRequest(m.to_owned());
        let identity = auth
            .get("identity")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                bad("Invalid input for field 'identity': 'identity' is a required property")
            })?;
        let methods: Vec<&str> = identity
            .get("methods")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad("Invalid input for field 'identity/methods': 'methods' is a required property")
            })?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if !methods.contains(&"password") {
            return Err(AuthError::Unauthorized(
                "Attempted to authenticate with an unsupported method.".into(),
            ));
        }
        let user = identity
            .pointer("/password/user")
            .filter(|v| v.is_object())
            .ok_or_else(|| bad("Expecting to find user in password. The server could not comply with the request because it is malformed."))?;
        let password = user
            .get("password")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Expecting to find password in user. The server could not comply with the request because it is malformed."))?;
        let user_id = self.find_user(user)?;
        if self.users[&user_id].password != password {
            return Err(AuthError::Unauthorized(
                "The request you have made requires authentication.".into(),
            ));
        }
        let scope = match auth.get("scope") {
            None | Some(Value::Null) => self.default_scope(&user_id),
            Some(scope) => self.explicit_scope(scope)?,
        };
        if scope != Scope::Unscoped && self.roles_of(&user_id, &scope).is_empty() {
            let what = match &scope {
                Scope::Project(p) => format!("project {p}"),
                Scope::Domain(d) => format!("domain {d}"),
                Scope::Unscoped => unreachable!(),
            };
            return Err(AuthError::Unauthorized(format!(
                "User {user_id} has no access to {what}."
            )));
        }
        Ok((user_id, scope))
    }

    fn find_user(&self, user: &Value) -> Result<String, AuthError> {
        let unauthorized =
            || AuthError::Unauthorized("The request you have made requires authentication.".into());
        if let Some(id) = user.get("id").and_then(Value::as_str) {
            return self
                .users
                .contains_key(id)
                .then(|| id.to_owned())
                .ok_or_else(unauthorized);
        }
        let name = user.get("name").and_then(Value::as_str).ok_or_else(|| {
            AuthError::BadRequest(
                "Expecting to find id or name in user. The server could not comply with the request because it is malformed.".into(),
            )
        })?;
        let domain_id = self.find_domain(user.get("domain").ok_or_else(|| {
            AuthError::BadRequest(
                "Expecting to find domain in user. The server could not comply with the request because it is malformed.".into(),
            )
        })?)?;
        self.users
            .iter()
            .find(|(_, u)| u.name == name && u.domain_id == domain_id)
            .map(|(id, _)| id.clone())
            .ok_or_else(unauthorized)
    }

    fn find_domain(&self, domain: &Value) -> Result<String, AuthError> {
        let found = if let Some(id) = domain.get("id").and_then(Value::as_str) {
            self.domains.contains_key(id).then(|| id.to_owned())
        } else if let Some(name) = domain.get("name").and_then(Value::as_str) {
            self.domains
                .iter()
                .find(|(_, d)| d.name == name)
                .map(|(id, _)| id.clone())
        } else {
            return Err(AuthError::BadRequest(
                "Expecting to find id or name in domain. The server could not comply with the request because it is malformed.".into(),
            ));
        };
        found.ok_or_else(|| {
            AuthError::Unauthorized("The request you have made requires authentication.".into())
        })
    }

    fn default_scope(&self, user_id: &str) -> Scope {
        match &self.users[user_id].default_project_id {
            Some(p)
                if !self
                    .roles_of(user_id, &Scope::Project(p.clone()))
                    .is_empty() =>
            {
                Scope::Project(p.clone())
            }
            _ => Scope::Unscoped,
        }
    }

    fn explicit_scope(&self, scope: &Value) -> Result<Scope, AuthError> {
        if let Some(project) = scope.get("project") {
            let not_found =
                |what: &str| AuthError::Unauthorized(format!("Could not find project: {what}."));
            if let Some(id) = project.get("id").and_then(Value::as_str) {
                return self
                    .projects
                    .contains_key(id)
                    .then(|| Scope::Project(id.to_owned()))
                    .ok_or_else(|| not_found(id));
            }
            let name = project.get("name").and_then(Value::as_str).ok_or_else(|| {
                AuthError::BadRequest(
                    "Expecting to find id or name in project. The server could not comply with the request because it is malformed.".into(),
                )
            })?;
            let domain_id = self.find_domain(project.get("domain").ok_or_else(|| {
                AuthError::BadRequest(
                    "Expecting to find domain in project. The server could not comply with the request because it is malformed.".into(),
                )
            })?)?;
            return self
                .projects
                .iter()
                .find(|(_, p)| p.name == name && p.domain_id == domain_id)
                .map(|(id, _)| Scope::Project(id.clone()))
                .ok_or_else(|| not_found(name));
        }
        if let Some(domain) = scope.get("domain") {
            return self.find_domain(domain).map(Scope::Domain);
        }
        Err(AuthError::BadRequest(
            "Invalid input for field 'scope': only project and domain scopes are supported.".into(),
        ))
    }

    // ----- rendering -------------------------------------------------------

    fn domain_ref(&self, id: &str) -> Value {
        json!({"id": id, "name": self.domains.get(id).map(|d| d.name.as_str())})
    }

    /// The `{"token": ...}` body Keystone returns for issue and validate.
    pub(crate) fn render(&self, id: &str, include_catalog: bool) -> Option<Value> {
        let t = self.tokens.get(id)?;
        let user = self.users.get(&t.user_id)?;
        let mut body = json!({
            "methods": t.methods,
            "user": {
                "id": t.user_id,
                "name": user.name,
                "domain": self.domain_ref(&user.domain_id),
                "password_expires_at": null,
            },
            "audit_ids": [t.audit_id],
            "expires_at": keystone_time(t.expires_at),
            "issued_at": keystone_time(t.issued_at),
        });
        let obj = body.as_object_mut()?;
        match &t.scope {
            Scope::Unscoped => return Some(json!({ "token": body })),
            Scope::Project(p) => {
                let project = self.projects.get(p)?;
                obj.insert(
                    "project".into(),
                    json!({"id": p, "name": project.name,
                           "domain": self.domain_ref(&project.domain_id)}),
                );
                obj.insert("is_domain".into(), json!(false));
            }
            Scope::Domain(d) => {
                obj.insert("domain".into(), self.domain_ref(d));
            }
        }
        let roles: Vec<Value> = self
            .roles_of(&t.user_id, &t.scope)
            .into_iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        obj.insert("roles".into(), json!(roles));
        if include_catalog {
            obj.insert("catalog".into(), self.catalog());
        }
        Some(json!({ "token": body }))
    }

    fn catalog(&self) -> Value {
        let services: Vec<Value> = self
            .services
            .iter()
            .map(|s| {
                let endpoints: Vec<Value> = self
                    .endpoints
                    .iter()
                    .filter(|e| e.service_id == s.id)
                    .map(|e| {
                        json!({"id": e.id, "interface": e.interface, "region_id": e.region_id,
                               "region": e.region_id, "url": e.url})
                    })
                    .collect();
                json!({"id": s.id, "type": s.service_type, "name": s.name,
                       "endpoints": endpoints})
            })
            .collect();
        json!(services)
    }
}
