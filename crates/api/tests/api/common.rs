//! Test harness: a real `tricircle-api` HTTP server on loopback over a fresh
//! database of the chosen backend.
#![allow(dead_code)]

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use serde_json::Value;
use tricircle_api::dispatch::DatabaseOnly;
use tricircle_api::ownership::CentralNeutron;
use tricircle_api::{AppState, Auth};
use tricircle_db::jobs::JobIntake;
use tricircle_db::testing::TestDb;
use tricircle_db::Backend;
use tricircle_policy::Enforcer;

pub const PROJECT: &str = "project-a";

pub struct TestApi {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    server: ServerHandle,
}

impl TestApi {
    pub async fn start(backend: Backend) -> TestApi {
        Self::start_with(backend, Auth::NoAuth, Enforcer::with_defaults()).await
    }

    pub async fn start_with(backend: Backend, auth: Auth, policy: Enforcer) -> TestApi {
        let db = TestDb::synced(backend).expect("backend under test is configured");
        Self::start_on(db, auth, policy).await
    }

    /// Serve an existing database (already synced by the caller).
    pub async fn start_on(db: TestDb, auth: Auth, policy: Enforcer) -> TestApi {
        Self::serve(db, auth, policy, None).await
    }

    /// Stock mode (noauth): job resources unknown to the routing table are
    /// checked in `central`.
    pub async fn start_stock(db: TestDb, central: CentralNeutron) -> TestApi {
        Self::serve(db, Auth::NoAuth, Enforcer::with_defaults(), Some(central)).await
    }

    async fn serve(
        db: TestDb,
        auth: Auth,
        policy: Enforcer,
        central: Option<CentralNeutron>,
    ) -> TestApi {
        let (base, server) = tricircle_api::testing::serve(AppState {
            db: db.db.clone(),
            intake: JobIntake::new(db.db.clone()),
            policy: policy.into(),
            auth,
            pagination_max_limit: 2000,
            dispatcher: Arc::new(DatabaseOnly),
            central,
        });
        TestApi {
            base,
            http: reqwest::Client::new(),
            db,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as the admin of PROJECT, noauth style.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.as_roles(method, path, "admin", PROJECT)
    }

    pub fn as_roles(
        &self,
        method: reqwest::Method,
        path: &str,
        roles: &str,
        project: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("X-Role", roles)
            .header("X-Tenant-Id", project)
            .header("X-User-Id", "user-1")
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// Status and body (JSON when it parses, else a JSON string) of a response.
pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    read(req.send().await.unwrap()).await
}

/// Each request is refused by policy: a 403 fault with its message.
pub async fn assert_forbidden<'a>(
    cases: impl IntoIterator<Item = (reqwest::RequestBuilder, &'a str)>,
) {
    for (req, msg) in cases {
        let (s, body) = send(req).await;
        assert_eq!(
            (s, body),
            (
                403,
                serde_json::json!({"forbidden": {"code": 403, "message": msg}})
            )
        );
    }
}

/// Run `f` once per backend under test, each on its own fresh database.
#[macro_export]
macro_rules! each_backend {
    ($f:ident) => {
        for backend in tricircle_db::testing::backends_under_test() {
            eprintln!("--- {} on {backend:?}", stringify!($f));
            let api = common::TestApi::start(backend).await;
            $f(&api).await;
            api.stop().await;
        }
    };
}
