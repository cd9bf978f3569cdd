//! Test helpers: the broker from `TRICIRCLE_TEST_RABBIT_URL` (started by
//! scripts/lib/rabbitmq.sh) and the oslo.messaging venv. Tests needing them
//! are ignored unless they are configured at build time (build.rs); a test
//! that runs without them fails.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Map, Value};
use tricircle_rpc::{RpcConfig, TransportUrl};

#[allow(unused_imports)]
pub use tricircle_rpc::testing::{interop_dir, missing, oslo_python, rabbit_url, restart_command};

pub fn config(url: TransportUrl, exchange: &str, durable: bool) -> RpcConfig {
    let mut cfg = RpcConfig::new(url);
    cfg.control_exchange = exchange.to_string();
    cfg.durable = durable;
    cfg.cast_timeout = Duration::from_secs(10);
    cfg
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A context as oslo.context's to_dict() (plus Tricircle's tenant keys).
pub fn context() -> Map<String, Value> {
    json!({
        "user": "user-1", "user_id": "user-1", "tenant": "project-1",
        "project_id": "project-1", "roles": ["admin", "member"], "is_admin": true,
        "request_id": "req-0b6f", "auth_token": "secret-token-value",
        "user_name": "alice", "tenant_name": "demo"
    })
    .as_object()
    .unwrap()
    .clone()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}
