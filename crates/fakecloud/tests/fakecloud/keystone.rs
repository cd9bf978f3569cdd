//! The fake Keystone answers like Keystone v3 does.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use tricircle_fakecloud::FakeKeystone;

struct Fixture {
    ks: FakeKeystone,
    http: reqwest::Client,
    admin_project: String,
    admin: String,
    demo_project: String,
    demo: String,
}

async fn fixture() -> Fixture {
    let ks = FakeKeystone::start().await;
    let admin_project = ks.add_project("admin");
    let admin = ks.add_user("admin", "adminpw", &admin_project, &["admin"]);
    let demo_project = ks.add_project("demo");
    let demo = ks.add_user("demo", "demopw", &demo_project, &["member", "reader"]);
    ks.add_endpoint("network", "RegionOne", "public", "http://pod1:9696");
    ks.add_endpoint("network", "RegionOne", "internal", "http://pod1-int:9696");
    ks.add_endpoint("identity", "RegionOne", "public", &ks.url());
    Fixture {
        ks,
        http: reqwest::Client::new(),
        admin_project,
        admin,
        demo_project,
        demo,
    }
}

fn password_auth(user: &str, domain: &str, password: &str, scope: Option<Value>) -> Value {
    let mut auth = json!({"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}}
    }}});
    if let Some(scope) = scope {
        auth["auth"]["scope"] = scope;
    }
    auth
}

fn project_by_name(name: &str) -> Option<Value> {
    Some(json!({"project": {"name": name, "domain": {"name": "Default"}}}))
}

/// The admin's password, scoped to the admin project.
fn admin_auth() -> Value {
    password_auth("admin", "Default", "adminpw", project_by_name("admin"))
}

/// The names of a token's roles, in the order given.
fn role_names(token: &Value) -> Vec<&str> {
    token["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// From `issued_at` to `expires_at`.
fn lifetime(token: &Value) -> TimeDelta {
    let at = |key: &str| {
        token[key]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
    };
    at("expires_at") - at("issued_at")
}

impl Fixture {
    async fn post_auth(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v3/auth/tokens", self.ks.url()))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get_token(&self, auth: &str, subject: &str, query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/v3/auth/tokens{query}", self.ks.url()))
            .header("X-Auth-Token", auth)
            .header("X-Subject-Token", subject)
            .send()
            .await
            .unwrap()
    }

    /// A token of the demo user's, good for ten minutes.
    fn demo_token(&self) -> String {
        self.ks
            .issue_token(&self.demo, &self.demo_project, Duration::from_secs(600))
    }

    /// A GET without a token.
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.ks.url()))
            .send()
            .await
            .unwrap()
    }

    async fn admin_token(&self) -> String {
        let resp = self.post_auth(&admin_auth()).await;
        assert_eq!(resp.status(), 201);
        subject_header(&resp)
    }
}

fn subject_header(resp: &reqwest::Response) -> String {
    resp.headers()["X-Subject-Token"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn password_auth_issues_a_project_scoped_token() {
    let f = fixture().await;
    let resp = f.post_auth(&admin_auth()).await;
    assert_eq!(resp.status(), 201);
    let token = subject_header(&resp);
    assert!(token.starts_with("gAAAAA"), "{token}");
    let body: Value = resp.json().await.unwrap();
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["id"], json!(f.admin));
    assert_eq!(t["user"]["name"], json!("admin"));
    assert_eq!(
        t["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["project"]["id"], json!(f.admin_project));
    assert_eq!(t["project"]["name"], json!("admin"));
    assert_eq!(t["project"]["domain"]["id"], json!("default"));
    assert_eq!(role_names(t), ["admin"]);
    assert_eq!(t["roles"][0]["id"].as_str().unwrap().len(), 32);

    // Keystone's timestamp format, an hour apart by default.
    let expires = t["expires_at"].as_str().unwrap();
    assert_eq!(
        expires.len(),
        "2026-11-25T19:00:00.000000Z".len(),
        "{expires}"
    );
    assert!(expires.ends_with('Z'));
    assert_eq!(lifetime(t), TimeDelta::hours(1));

    let catalog = t["catalog"].as_array().unwrap();
    let network = catalog.iter().find(|s| s["type"] == "network").unwrap();
    assert_eq!(network["endpoints"].as_array().unwrap().len(), 2);
    assert_eq!(network["endpoints"][0]["region_id"], json!("RegionOne"));
    assert_eq!(network["endpoints"][0]["url"], json!("http://pod1:9696"));
}

#[tokio::test]
async fn project_scope_by_id_and_domain_by_id() {
    let f = fixture().await;
    let body = json!({"auth": {
        "identity": {"methods": ["password"],
            "password": {"user": {"id": f.demo, "password": "demopw"}}},
        "scope": {"project": {"id": f.demo_project}}
    }});
    let resp = f.post_auth(&body).await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], json!(f.demo_project));

    let body = password_auth(
        "demo",
        "Default",
        "demopw",
        Some(json!({"project": {"name": "demo", "domain": {"id": "default"}}})),
    );
    assert_eq!(f.post_auth(&body).await.status(), 201);
}

#[tokio::test]
async fn no_scope_uses_the_default_project_or_is_unscoped() {
    let f = fixture().await;
    let resp = f
        .post_auth(&password_auth("demo", "Default", "demopw", None))
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], json!(f.demo_project));

    let loner = f.ks.add_user_in(f.ks.default_domain_id(), "loner", "pw");
    let resp = f
        .post_auth(&password_auth("loner", "Default", "pw", None))
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["user"]["id"], json!(loner));
    assert!(body["token"].get("project").is_none());
    assert!(body["token"].get("roles").is_none());
    assert!(body["token"].get("catalog").is_none());
}

#[tokio::test]
async fn domain_scoped_token() {
    let f = fixture().await;
    let dom = f.ks.add_domain("east");
    let user = f.ks.add_user_in(&dom, "dadmin", "pw");
    f.ks.grant_domain_roles(&user, &dom, &["admin"]);
    let body = password_auth(
        "dadmin",
        "east",
        "pw",
        Some(json!({"domain": {"name": "east"}})),
    );
    let resp = f.post_auth(&body).await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["domain"], json!({"id": dom, "name": "east"}));
    assert_eq!(body["token"]["user"]["domain"]["id"], json!(dom));
    assert_eq!(body["token"]["roles"][0]["name"], json!("admin"));
}

#[tokio::test]
async fn bad_credentials_are_401_with_keystone_error_body() {
    let f = fixture().await;
    for body in [
        password_auth("admin", "Default", "wrong", project_by_name("admin")),
        password_auth("nobody", "Default", "adminpw", project_by_name("admin")),
        password_auth("admin", "Nowhere", "adminpw", project_by_name("admin")),
    ] {
        let resp = f.post_auth(&body).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["WWW-Authenticate"].to_str().unwrap(),
            format!("Keystone uri=\"{}\"", f.ks.url())
        );
        assert!(resp.headers().get("X-Subject-Token").is_none());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})
        );
    }
}

#[tokio::test]
async fn scope_without_a_role_or_unknown_project_is_401() {
    let f = fixture().await;
    let demo_in = |project| password_auth("demo", "Default", "demopw", project_by_name(project));
    let resp = f.post_auth(&demo_in("admin")).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        json!(format!(
            "User {} has no access to project {}.",
            f.demo, f.admin_project
        ))
    );
    let resp = f.post_auth(&demo_in("ghost")).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn malformed_auth_requests_are_400() {
    let f = fixture().await;
    let resp = f
        .http
        .post(format!("{}/v3/auth/tokens", f.ks.url()))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(400));
    assert_eq!(body["error"]["title"], json!("Bad Request"));

    for body in [
        json!({}),
        json!({"auth": {}}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "password": "adminpw"}}}}}),
    ] {
        assert_eq!(f.post_auth(&body).await.status(), 400, "{body}");
    }
    let body = json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}});
    assert_eq!(f.post_auth(&body).await.status(), 401);
}

#[tokio::test]
async fn validate_returns_the_subject_token() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    let demo = f.demo_token();
    let resp = f.get_token(&admin, &demo, "").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(subject_header(&resp), demo);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["user"]["id"], json!(f.demo));
    assert_eq!(body["token"]["project"]["id"], json!(f.demo_project));
    let mut roles = role_names(&body["token"]);
    roles.sort();
    assert_eq!(roles, ["member", "reader"]);
    assert!(body["token"]["catalog"].is_array());

    let resp = f.get_token(&admin, &demo, "?nocatalog").await;
    let body: Value = resp.json().await.unwrap();
    assert!(body["token"].get("catalog").is_none());
}

#[tokio::test]
async fn invalid_subjects_are_404_and_echo_the_token() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    let expired =
        f.ks.issue_token_expiring_at(&f.demo, &f.demo_project, Utc::now() - TimeDelta::minutes(1));
    let revoked = f.demo_token();
    f.ks.revoke(&revoked);
    for subject in ["no-such-token", expired.as_str(), revoked.as_str()] {
        let resp = f.get_token(&admin, subject, "").await;
        assert_eq!(resp.status(), 404, "{subject}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": 404, "title": "Not Found",
                "message": format!("Could not find token: {subject}.")}})
        );
    }
}

#[tokio::test]
async fn validate_requires_a_valid_caller_token() {
    let f = fixture().await;
    let demo = f.demo_token();
    let resp = f.get_token("bogus", &demo, "").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("WWW-Authenticate"));

    let admin = f.admin_token().await;
    f.ks.revoke(&admin);
    assert_eq!(f.get_token(&admin, &demo, "").await.status(), 401);

    let resp = f
        .http
        .get(format!("{}/v3/auth/tokens", f.ks.url()))
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn non_admins_validate_only_their_own_tokens() {
    let f = fixture().await;
    let demo = f.demo_token();
    let demo2 = f.demo_token();
    assert_eq!(f.get_token(&demo, &demo2, "").await.status(), 200);
    let admin_tok =
        f.ks.issue_token(&f.admin, &f.admin_project, Duration::from_secs(600));
    let resp = f.get_token(&demo, &admin_tok, "").await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(403));
}

#[tokio::test]
async fn revoking_a_users_tokens_spares_others() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    let demo = f.demo_token();
    f.ks.revoke_user_tokens(&f.demo);
    assert_eq!(f.get_token(&admin, &demo, "").await.status(), 404);
    // The admin's own token is unaffected.
    let other =
        f.ks.issue_token(&f.admin, &f.admin_project, Duration::from_secs(60));
    assert_eq!(f.get_token(&admin, &other, "").await.status(), 200);
}

#[tokio::test]
async fn clock_skew_moves_expiry() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    f.ks.set_clock_skew(TimeDelta::hours(-2));
    // Expired by our clock, valid by the fake's.
    let tok =
        f.ks.issue_token_expiring_at(&f.demo, &f.demo_project, Utc::now() - TimeDelta::hours(1));
    let resp = f.get_token(&admin, &tok, "").await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_ttl_is_configurable() {
    let f = fixture().await;
    f.ks.set_token_ttl(Duration::from_secs(90));
    let resp = f.post_auth(&admin_auth()).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(lifetime(&body["token"]), TimeDelta::seconds(90));
}

#[tokio::test]
async fn version_documents() {
    let f = fixture().await;
    for path in ["/v3", "/v3/"] {
        let resp = f.get(path).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["version"]["status"], json!("stable"));
        assert!(body["version"]["id"].as_str().unwrap().starts_with("v3."));
        assert_eq!(
            body["version"]["links"][0]["href"],
            json!(format!("{}/v3/", f.ks.url()))
        );
    }
    let resp = f.get("").await;
    assert_eq!(resp.status(), 300);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["versions"]["values"][0]["status"], json!("stable"));
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let f = fixture().await;
    let resp = f.get("/v3/nope").await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["title"], json!("Not Found"));
    let resp = f
        .http
        .put(format!("{}/v3/auth/tokens", f.ks.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn requests_are_recorded_without_secrets() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    let demo = f.demo_token();
    f.get_token(&admin, &demo, "?nocatalog").await;
    f.get_token(&admin, &demo, "").await;
    assert_eq!(f.ks.request_count("POST", "/v3/auth/tokens"), 1);
    assert_eq!(f.ks.request_count("GET", "/v3/auth/tokens"), 2);
    let reqs = f.ks.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].query, "nocatalog");
    assert_eq!(reqs[1].header("x-auth-token"), Some("<redacted>"));
    assert_eq!(reqs[1].header("X-Subject-Token"), Some("<redacted>"));
    let dump = format!("{reqs:?}");
    for secret in [admin.as_str(), demo.as_str(), "adminpw"] {
        assert!(!dump.contains(secret), "recorded requests leak a secret");
    }
    f.ks.clear_requests();
    assert!(f.ks.requests().is_empty());
}

#[tokio::test]
async fn forced_status_answers_every_request() {
    let f = fixture().await;
    f.ks.set_forced_status(Some(503));
    let resp = f.post_auth(&admin_auth()).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(503));
    // Still recorded.
    assert_eq!(f.ks.request_count("POST", "/v3/auth/tokens"), 1);
    f.ks.set_forced_status(None);
    assert!(!f.admin_token().await.is_empty());
}

#[tokio::test]
async fn down_refuses_connections_and_comes_back() {
    let f = fixture().await;
    let admin = f.admin_token().await;
    f.ks.set_down(true).await.unwrap();
    let err = reqwest::Client::new()
        .get(format!("{}/v3", f.ks.url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    f.ks.set_down(false).await.unwrap();
    // Same URL, same data: the token issued before still validates.
    let demo =
        f.ks.issue_token(&f.demo, &f.demo_project, Duration::from_secs(60));
    let resp = reqwest::Client::new()
        .get(format!("{}/v3/auth/tokens", f.ks.url()))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
