//! Test helpers: the broker from `TRICIRCLE_TEST_RABBIT_URL` (started by
//! scripts/lib/rabbitmq.sh) and the oslo.messaging venv. Tests needing them
//! are ignored unless they are configured at build time (build.rs); a test
//! that runs without them fails.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tricircle_rpc::{consume, CancellationToken, Incoming, Publisher, RpcConfig, TransportUrl};

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

/// A `consume` task and the channel it delivers to.
pub struct Consumer {
    pub rx: mpsc::Receiver<Incoming>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Consumer {
    pub fn start(cfg: RpcConfig, topic: &str, server: &str) -> Consumer {
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        let (topic, server, s) = (topic.to_string(), server.to_string(), stop.clone());
        let task = tokio::spawn(async move {
            consume(cfg, &topic, &server, tx, s).await.expect("consume");
        });
        Consumer { rx, stop, task }
    }

    /// Casts until this consumer (whose queues may not be bound yet) gets
    /// the message.
    pub async fn cast_until_received(
        &mut self,
        publisher: &Publisher,
        topic: &str,
        method: &str,
        args: Value,
    ) -> Incoming {
        for _ in 0..60 {
            publisher
                .cast(topic, &context(), method, args.clone())
                .await
                .expect("cast");
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(500), self.rx.recv()).await
            {
                if m.method == method && m.args == args {
                    return m;
                }
            }
        }
        panic!("consumer never received {method}");
    }

    /// Shuts the consumer down; it must end without error.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}
