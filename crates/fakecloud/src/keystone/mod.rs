//! A fake Keystone v3 identity service.
//!
//! It speaks what clients use: password authentication
//! (`POST /v3/auth/tokens`, project, domain or no scope), token validation
//! (`GET /v3/auth/tokens`) and the version documents, with Keystone's status
//! codes, headers and body shapes. Tests set up domains, projects, users,
//! roles and the catalog, mint or revoke tokens directly, skew the fake's
//! clock, and take it down.
//!
//! Fixture methods panic on references to things that do not exist (an
//! unknown user id, say): that is a mistake in the test, not an input to
//! handle.

mod api;
mod store;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, TimeDelta, Utc};

use self::api::BaseUrl;
use self::store::{Expiry, Scope, Store, DEFAULT_DOMAIN_ID};
use crate::record::RecordedRequest;
use crate::server::{lock, Configure, LoopbackServer};

pub struct FakeKeystone {
    server: LoopbackServer,
    store: web::Data<Mutex<Store>>,
}

impl std::fmt::Debug for FakeKeystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKeystone")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl FakeKeystone {
    /// Starts on a free loopback port. Panics if no port can be bound.
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .expect("fake keystone: cannot listen on 127.0.0.1")
    }

    pub async fn try_start() -> io::Result<Self> {
        Self::try_start_on(0).await
    }

    /// Starts on loopback port `port` (0: a free one).
    pub async fn try_start_on(port: u16) -> io::Result<Self> {
        let store = web::Data::new(Mutex::new(Store::new()));
        let configure_for = |url: &str| -> Configure {
            let store = store.clone();
            let base = BaseUrl(Arc::from(url));
            Arc::new(move |cfg: &mut web::ServiceConfig| {
                api::configure(cfg, store.clone(), base.clone());
            })
        };
        let server = LoopbackServer::start(port, configure_for, api::error_response)?;
        Ok(Self { server, store })
    }

    /// The identity root, e.g. `http://127.0.0.1:40123`; `/v3` is under it.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The id of the `Default` domain (`default`, as in Keystone).
    pub fn default_domain_id(&self) -> &'static str {
        DEFAULT_DOMAIN_ID
    }

    pub fn add_domain(&self, name: &str) -> String {
        lock(&self.store).add_domain(name)
    }

    /// A project in the `Default` domain; returns its id.
    pub fn add_project(&self, name: &str) -> String {
        self.add_project_in(DEFAULT_DOMAIN_ID, name)
    }

    pub fn add_project_in(&self, domain_id: &str, name: &str) -> String {
        lock(&self.store).add_project(domain_id, name)
    }

    /// A user in the `Default` domain whose default project is `project_id`
    /// and who holds `roles` there; returns the user id.
    pub fn add_user(&self, name: &str, password: &str, project_id: &str, roles: &[&str]) -> String {
        let mut store = lock(&self.store);
        let id = store.add_user(DEFAULT_DOMAIN_ID, name, password, Some(project_id));
        store.grant(&id, Scope::Project(project_id.to_owned()), roles);
        id
    }

    /// A user without a default project or any role.
    pub fn add_user_in(&self, domain_id: &str, name: &str, password: &str) -> String {
        lock(&self.store).add_user(domain_id, name, password, None)
    }

    pub fn grant_project_roles(&self, user_id: &str, project_id: &str, roles: &[&str]) {
        lock(&self.store).grant(user_id, Scope::Project(project_id.to_owned()), roles);
    }

    pub fn grant_domain_roles(&self, user_id: &str, domain_id: &str, roles: &[&str]) {
        lock(&self.store).grant(user_id, Scope::Domain(domain_id.to_owned()), roles);
    }

    /// Adds a catalog endpoint (and the service, named after its type, the
    /// first time the type is seen); returns the endpoint id.
    pub fn add_endpoint(
        &self,
        service_type: &str,
        region_id: &str,
        interface: &str,
        url: &str,
    ) -> String {
        lock(&self.store).add_endpoint(service_type, region_id, interface, url)
    }

    /// Points an endpoint at a new URL, as `openstack endpoint set --url`.
    pub fn set_endpoint_url(&self, endpoint_id: &str, url: &str) {
        lock(&self.store).set_endpoint_url(endpoint_id, url);
    }

    /// A check other fakes use to accept only tokens this Keystone would:
    /// the project of a live project-scoped token.
    pub fn token_checker(&self) -> crate::TokenCheck {
        let store = self.store.clone();
        std::sync::Arc::new(move |token: &str| lock(&store).token_project(token))
    }

    /// Mints a project-scoped token for `user_id`, valid for `ttl` by the
    /// fake's clock, as if the user had authenticated with a password.
    pub fn issue_token(&self, user_id: &str, project_id: &str, ttl: Duration) -> String {
        lock(&self.store).issue(
            user_id,
            Scope::Project(project_id.to_owned()),
            &["password"],
            Expiry::After(to_delta(ttl)),
        )
    }

    /// Like [`FakeKeystone::issue_token`] with an explicit expiry, which may
    /// be in the past.
    pub fn issue_token_expiring_at(
        &self,
        user_id: &str,
        project_id: &str,
        expires_at: DateTime<Utc>,
    ) -> String {
        lock(&self.store).issue(
            user_id,
            Scope::Project(project_id.to_owned()),
            &["password"],
            Expiry::At(expires_at),
        )
    }

    /// A domain-scoped token.
    pub fn issue_domain_token(&self, user_id: &str, domain_id: &str, ttl: Duration) -> String {
        lock(&self.store).issue(
            user_id,
            Scope::Domain(domain_id.to_owned()),
            &["password"],
            Expiry::After(to_delta(ttl)),
        )
    }

    /// Revokes one token; unknown tokens are ignored.
    pub fn revoke(&self, token: &str) {
        lock(&self.store).revoke(token);
    }

    /// Revokes every token of a user, as a password change does.
    pub fn revoke_user_tokens(&self, user_id: &str) {
        lock(&self.store).revoke_user(user_id);
    }

    /// Lifetime of tokens issued through `POST /v3/auth/tokens` (one hour
    /// unless set).
    pub fn set_token_ttl(&self, ttl: Duration) {
        lock(&self.store).token_ttl = to_delta(ttl);
    }

    /// Puts the fake's clock `skew` ahead of (or, negative, behind) ours.
    pub fn set_clock_skew(&self, skew: TimeDelta) {
        lock(&self.store).clock_skew = skew;
    }

    /// Down: the port stops listening and connections are refused. Up
    /// again: the same URL answers, with the same data.
    pub async fn set_down(&self, down: bool) -> io::Result<()> {
        self.server.set_down(down).await
    }

    /// Answer every request with `status` and Keystone's error body (e.g.
    /// 503), or serve normally again with `None`.
    pub fn set_forced_status(&self, status: Option<u16>) {
        let status = status.map(|s| {
            StatusCode::from_u16(s)
                .unwrap_or_else(|_| panic!("fake keystone: {s} is not an HTTP status"))
        });
        self.server.control().set_forced_status(status);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.control().requests()
    }

    /// How many requests had this method and path (query ignored).
    pub fn request_count(&self, method: &str, path: &str) -> usize {
        self.server.control().request_count(method, path)
    }

    pub fn clear_requests(&self) {
        self.server.control().clear_requests();
    }
}
