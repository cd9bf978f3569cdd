//! TokenValidator and Session against the fake Keystone.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures_util::future::join_all;
use tricircle_fakecloud::FakeKeystone;
use tricircle_openstack::keystone::{
    Interface, KeystoneAuthConfig, KeystoneError, TokenValidator, ValidateError,
};

const SERVICE_PASSWORD: &str = "tc-service-Pa55";
const TOKENS: &str = "/v3/auth/tokens";

struct Env {
    ks: FakeKeystone,
    service_user: String,
    demo: String,
    demo_project: String,
    admin: String,
    admin_project: String,
}

async fn env() -> Env {
    let ks = FakeKeystone::start().await;
    let service_project = ks.add_project("service");
    let service_user = ks.add_user("tricircle", SERVICE_PASSWORD, &service_project, &["admin"]);
    let admin_project = ks.add_project("admin");
    let admin = ks.add_user("admin", "adminpw", &admin_project, &["admin", "member"]);
    let demo_project = ks.add_project("demo");
    let demo = ks.add_user("demo", "demopw", &demo_project, &["member"]);
    Env {
        ks,
        service_user,
        demo,
        demo_project,
        admin,
        admin_project,
    }
}

impl Env {
    fn config(&self, cache_ttl: Duration) -> KeystoneAuthConfig {
        let mut cfg =
            KeystoneAuthConfig::new(self.ks.url(), "tricircle", SERVICE_PASSWORD, "service");
        cfg.cache_ttl = cache_ttl;
        cfg.timeout = Duration::from_secs(5);
        cfg
    }

    fn validator(&self) -> TokenValidator {
        TokenValidator::new(self.config(Duration::from_secs(300))).unwrap()
    }

    fn demo_token(&self) -> String {
        self.ks
            .issue_token(&self.demo, &self.demo_project, Duration::from_secs(600))
    }

    fn posts(&self) -> usize {
        self.ks.request_count("POST", TOKENS)
    }

    fn gets(&self) -> usize {
        self.ks.request_count("GET", TOKENS)
    }
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, ValidateError>) {
    assert!(matches!(r, Err(ValidateError::Invalid(_))), "{r:?}");
}

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, ValidateError>) {
    assert!(matches!(r, Err(ValidateError::Unavailable(_))), "{r:?}");
}

#[tokio::test]
async fn valid_admin_token_yields_identity_and_roles() {
    let e = env().await;
    let v = e.validator();
    let tok =
        e.ks.issue_token(&e.admin, &e.admin_project, Duration::from_secs(600));
    let info = v.validate(&tok).await.unwrap();
    assert_eq!(info.user_id, e.admin);
    assert_eq!(info.user_name.as_deref(), Some("admin"));
    assert_eq!(info.user_domain_id.as_deref(), Some("default"));
    assert_eq!(info.project_id.as_deref(), Some(e.admin_project.as_str()));
    assert_eq!(info.project_name.as_deref(), Some("admin"));
    assert_eq!(info.project_domain_id.as_deref(), Some("default"));
    assert_eq!(info.domain_id, None);
    let mut roles = info.roles.clone();
    roles.sort();
    assert_eq!(roles, ["admin", "member"]);
    assert!(info.has_role("admin"));
    let left = info.expires_at - Utc::now();
    assert!(left > TimeDelta::seconds(500) && left <= TimeDelta::seconds(600));

    // One service authentication, one validation, without the catalog,
    // carrying both tokens.
    assert_eq!(e.posts(), 1);
    assert_eq!(e.gets(), 1);
    let get =
        e.ks.requests()
            .into_iter()
            .find(|r| r.method == "GET")
            .unwrap();
    assert_eq!(get.query, "nocatalog");
    assert!(get.header("X-Auth-Token").is_some());
    assert!(get.header("X-Subject-Token").is_some());
}

#[tokio::test]
async fn domain_scoped_token_reports_its_domain() {
    let e = env().await;
    let dom = e.ks.add_domain("east");
    let user = e.ks.add_user_in(&dom, "dadmin", "pw");
    e.ks.grant_domain_roles(&user, &dom, &["admin"]);
    let tok =
        e.ks.issue_domain_token(&user, &dom, Duration::from_secs(600));
    let info = e.validator().validate(&tok).await.unwrap();
    assert_eq!(info.domain_id.as_deref(), Some(dom.as_str()));
    assert_eq!(info.project_id, None);
    assert_eq!(info.user_domain_id.as_deref(), Some(dom.as_str()));
    assert_eq!(info.roles, ["admin"]);
}

#[tokio::test]
async fn unknown_token_is_invalid() {
    let e = env().await;
    let r = e.validator().validate("gAAAAABnot-a-real-token").await;
    assert_eq!(r, Err(ValidateError::Invalid("token not found".into())));
}

#[tokio::test]
async fn expired_token_is_invalid() {
    let e = env().await;
    let tok =
        e.ks.issue_token_expiring_at(&e.demo, &e.demo_project, Utc::now() - TimeDelta::seconds(5));
    assert_invalid(e.validator().validate(&tok).await);
}

#[tokio::test]
async fn expired_token_is_invalid_even_when_keystone_accepts_it() {
    let e = env().await;
    let v = e.validator();
    // Authenticate the service while both clocks agree.
    v.validate(&e.demo_token()).await.unwrap();
    // Keystone's clock runs an hour behind: a token it thinks has ten
    // minutes left expired fifty minutes ago by ours.
    e.ks.set_clock_skew(TimeDelta::hours(-1));
    let tok = e.demo_token();
    let r = v.validate(&tok).await;
    assert!(
        matches!(&r, Err(ValidateError::Invalid(m)) if m.starts_with("token expired at")),
        "{r:?}"
    );
    assert_eq!(e.gets(), 2, "Keystone was asked and said yes");
}

#[tokio::test]
async fn cache_hit_does_not_call_keystone() {
    let e = env().await;
    let v = e.validator();
    let tok = e.demo_token();
    let first = v.validate(&tok).await.unwrap();
    let second = v.validate(&tok).await.unwrap();
    // A clone shares the cache.
    let third = v.clone().validate(&tok).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert_eq!(e.gets(), 1);

    // "Invalid" is remembered too.
    assert_invalid(v.validate("bogus").await);
    assert_invalid(v.validate("bogus").await);
    assert_eq!(e.gets(), 2);
}

#[tokio::test]
async fn cache_entry_expires_after_ttl() {
    let e = env().await;
    let v = TokenValidator::new(e.config(Duration::from_secs(1))).unwrap();
    let tok = e.demo_token();
    v.validate(&tok).await.unwrap();
    v.validate(&tok).await.unwrap();
    assert_eq!(e.gets(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    v.validate(&tok).await.unwrap();
    assert_eq!(e.gets(), 2);
}

#[tokio::test]
async fn revoked_token_is_invalid_once_the_cache_entry_expires() {
    let e = env().await;
    let v = TokenValidator::new(e.config(Duration::from_secs(1))).unwrap();
    let tok = e.demo_token();
    v.validate(&tok).await.unwrap();
    e.ks.revoke(&tok);
    // Within the cache TTL the earlier answer stands, as with
    // keystonemiddleware.
    v.validate(&tok).await.unwrap();
    assert_eq!(e.gets(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        v.validate(&tok).await,
        Err(ValidateError::Invalid("token not found".into()))
    );
    assert_eq!(e.gets(), 2);
}

#[tokio::test]
async fn never_cached_past_the_tokens_expiry() {
    let e = env().await;
    let v = e.validator(); // 300 s cache
    let tok =
        e.ks.issue_token(&e.demo, &e.demo_project, Duration::from_secs(1));
    v.validate(&tok).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_invalid(v.validate(&tok).await);
    assert_eq!(e.gets(), 2);
}

#[tokio::test]
async fn zero_cache_ttl_asks_every_time() {
    let e = env().await;
    let v = TokenValidator::new(e.config(Duration::ZERO)).unwrap();
    let tok = e.demo_token();
    v.validate(&tok).await.unwrap();
    v.validate(&tok).await.unwrap();
    assert_eq!(e.gets(), 2);
}

#[tokio::test]
async fn full_cache_evicts_the_oldest_entry() {
    let e = env().await;
    let v = TokenValidator::with_cache_capacity(e.config(Duration::from_secs(300)), 2).unwrap();
    let (a, b, c) = (e.demo_token(), e.demo_token(), e.demo_token());
    v.validate(&a).await.unwrap();
    v.validate(&b).await.unwrap();
    v.validate(&c).await.unwrap(); // evicts a
    assert_eq!(e.gets(), 3);
    v.validate(&c).await.unwrap();
    v.validate(&b).await.unwrap();
    assert_eq!(e.gets(), 3, "b and c are still cached");
    v.validate(&a).await.unwrap();
    assert_eq!(e.gets(), 4, "a was evicted");
}

#[tokio::test]
async fn service_token_is_reused() {
    let e = env().await;
    let v = e.validator();
    for _ in 0..3 {
        v.validate(&e.demo_token()).await.unwrap();
    }
    assert_eq!(e.posts(), 1);
    assert_eq!(e.gets(), 3);
}

#[tokio::test]
async fn rejected_service_token_means_one_reauthentication() {
    let e = env().await;
    let v = e.validator();
    v.validate(&e.demo_token()).await.unwrap();
    assert_eq!(e.posts(), 1);
    // The service's token is revoked behind its back.
    e.ks.revoke_user_tokens(&e.service_user);
    let info = v.validate(&e.demo_token()).await.unwrap();
    assert_eq!(info.user_id, e.demo);
    assert_eq!(e.posts(), 2, "one re-authentication");
    assert_eq!(e.gets(), 3, "first try, 401, retry");
    v.validate(&e.demo_token()).await.unwrap();
    assert_eq!(e.posts(), 2, "the new service token is reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_validations_with_an_expired_service_token_reauthenticate_once() {
    let e = env().await;
    e.ks.set_token_ttl(Duration::from_secs(1));
    let v = e.validator();
    v.validate(&e.demo_token()).await.unwrap();
    assert_eq!(e.posts(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    e.ks.set_token_ttl(Duration::from_secs(3600));

    let tokens: Vec<String> = (0..8).map(|_| e.demo_token()).collect();
    let results = join_all(tokens.iter().map(|t| {
        let v = v.clone();
        async move { v.validate(t).await }
    }))
    .await;
    for r in results {
        assert_eq!(r.unwrap().user_id, e.demo);
    }
    assert_eq!(e.posts(), 2, "exactly one renewal for eight callers");
    assert_eq!(
        e.gets(),
        9,
        "no validation was rejected for the stale token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rejections_of_the_service_token_reauthenticate_once() {
    let e = env().await;
    let v = e.validator();
    v.validate(&e.demo_token()).await.unwrap();
    e.ks.revoke_user_tokens(&e.service_user);

    let tasks = (0..8).map(|_| {
        let v = v.clone();
        let t = e.demo_token();
        tokio::spawn(async move { v.validate(&t).await })
    });
    for r in join_all(tasks).await {
        assert_eq!(r.unwrap().unwrap().user_id, e.demo);
    }
    assert_eq!(e.posts(), 2);
}

#[tokio::test]
async fn keystone_down_is_unavailable_not_invalid() {
    let e = env().await;
    let v = e.validator();
    let cached = e.demo_token();
    v.validate(&cached).await.unwrap();

    e.ks.set_down(true).await.unwrap();
    assert_unavailable(v.validate(&e.demo_token()).await);
    // Already-validated tokens keep working from the cache meanwhile.
    v.validate(&cached).await.unwrap();
    // A validator that has no service token yet cannot get one either.
    assert_unavailable(e.validator().validate(&e.demo_token()).await);

    e.ks.set_down(false).await.unwrap();
    let tok = e.demo_token();
    v.validate(&tok).await.unwrap();
}

#[tokio::test]
async fn keystone_5xx_is_unavailable_and_not_cached() {
    let e = env().await;
    let v = e.validator();
    v.validate(&e.demo_token()).await.unwrap();
    let tok = e.demo_token();
    e.ks.set_forced_status(Some(503));
    assert_unavailable(v.validate(&tok).await);
    e.ks.set_forced_status(Some(500));
    assert_unavailable(v.validate(&tok).await);
    e.ks.set_forced_status(None);
    v.validate(&tok).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_authentication_is_shared_by_queued_callers() {
    let e = env().await;
    e.ks.set_forced_status(Some(503));
    let v = e.validator();
    let results = join_all((0..6).map(|_| {
        let v = v.clone();
        async move { v.validate("some-user-token").await }
    }))
    .await;
    for r in results {
        assert_unavailable(r);
    }
    assert_eq!(e.posts(), 1, "callers queued behind a failure share it");
    // A later call tries again.
    e.ks.set_forced_status(None);
    assert_invalid(v.validate("some-user-token").await);
    assert_eq!(e.posts(), 2);
}

#[tokio::test]
async fn wrong_service_password_is_unavailable() {
    let e = env().await;
    let mut cfg = e.config(Duration::from_secs(300));
    cfg.password = "wrong".into();
    let v = TokenValidator::new(cfg).unwrap();
    let r = v.validate(&e.demo_token()).await;
    assert!(
        matches!(&r, Err(ValidateError::Unavailable(m)) if m.contains("rejected the credentials")),
        "{r:?}"
    );
}

#[tokio::test]
async fn service_user_without_privilege_is_unavailable() {
    let e = env().await;
    let p = e.ks.add_project("weak");
    e.ks.add_user("weak", "weakpw", &p, &["member"]);
    let mut cfg = KeystoneAuthConfig::new(e.ks.url(), "weak", "weakpw", "weak");
    cfg.timeout = Duration::from_secs(5);
    let v = TokenValidator::new(cfg).unwrap();
    // Keystone answers 403: a deployment problem, not the user's fault.
    let r = v.validate(&e.demo_token()).await;
    assert!(
        matches!(&r, Err(ValidateError::Unavailable(m)) if m.contains("403")),
        "{r:?}"
    );
}

#[tokio::test]
async fn auth_url_may_carry_the_version() {
    let e = env().await;
    for suffix in ["/v3", "/v3/", "/"] {
        let mut cfg = e.config(Duration::from_secs(300));
        cfg.auth_url = format!("{}{suffix}", e.ks.url());
        let v = TokenValidator::new(cfg).unwrap();
        v.validate(&e.demo_token()).await.unwrap();
    }
    assert!(e.ks.requests().iter().all(|r| r.path == TOKENS));
}

#[tokio::test]
async fn session_exposes_the_service_catalog() {
    let e = env().await;
    e.ks.add_endpoint("network", "CentralRegion", "public", "http://central:9696");
    e.ks.add_endpoint("network", "RegionOne", "public", "http://pod1:9696");
    e.ks.add_endpoint("network", "RegionOne", "admin", "http://pod1-admin:9696");
    let v = e.validator();
    let session = v.session();
    assert_eq!(
        session.identity_url().as_str(),
        format!("{}/v3", e.ks.url())
    );
    assert_eq!(
        session
            .endpoint_url("network", Some("RegionOne"), Interface::Public)
            .await
            .unwrap(),
        "http://pod1:9696"
    );
    assert_eq!(
        session
            .endpoint_url("network", Some("RegionOne"), Interface::Admin)
            .await
            .unwrap(),
        "http://pod1-admin:9696"
    );
    assert_eq!(
        session
            .endpoint_url("network", Some("RegionTwo"), Interface::Public)
            .await,
        Err(KeystoneError::EndpointNotFound {
            service_type: "network".into(),
            region: Some("RegionTwo".into()),
            interface: Interface::Public,
        })
    );
    let tok = session.token().await.unwrap();
    assert_eq!(tok.user_id, e.service_user);
    assert_eq!(tok.catalog.len(), 3);
    assert!(tok.expires_at > Utc::now() + TimeDelta::minutes(59));
    assert_eq!(e.posts(), 1, "lookups reuse the token");
}

#[tokio::test]
async fn debug_output_hides_secrets() {
    let e = env().await;
    let v = e.validator();
    let user_token = e.demo_token();
    v.validate(&user_token).await.unwrap();
    let service_token = v.session().token().await.unwrap();
    let shown = format!(
        "{v:?} {:?} {service_token:?} {:?}",
        v.session(),
        e.config(Duration::ZERO)
    );
    assert!(shown.contains("tricircle"), "{shown}");
    assert!(!shown.contains(SERVICE_PASSWORD), "{shown}");
    assert!(!shown.contains(service_token.secret().expose()), "{shown}");
    assert!(!shown.contains(&user_token), "{shown}");
}

#[tokio::test]
async fn a_401_that_survives_reauthentication_is_invalid_and_not_cached() {
    let e = env().await;
    // Every token Keystone issues is dead on arrival, so even a freshly
    // obtained service token gets 401.
    e.ks.set_token_ttl(Duration::ZERO);
    let v = e.validator();
    let tok = e.demo_token();
    assert_eq!(
        v.validate(&tok).await,
        Err(ValidateError::Invalid("Keystone refused the token".into()))
    );
    assert_eq!(e.posts(), 2, "one re-authentication, no more");
    assert_eq!(e.gets(), 2);
    assert_invalid(v.validate(&tok).await);
    assert_eq!(e.gets(), 4, "that answer was not cached");
}
