//! Wire interop with Python oslo.messaging (scripts in tests/interop/).
//! Both tests use the reference's real names (exchange `openstack`, topic
//! `xjob`), so they run one at a time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::Consumer;
use serde_json::json;
use tokio::process::Command;
use tokio::sync::{Mutex, MutexGuard};
use tricircle_rpc::testing::PythonServer;
use tricircle_rpc::{Publisher, TransportUrl, TOPIC_XJOB};

static XJOB: Mutex<()> = Mutex::const_new(());

/// What both tests need: the broker, the venv's interpreter, and the real
/// names to themselves (held until the guard drops).
async fn setup() -> (TransportUrl, PathBuf, MutexGuard<'static, ()>) {
    common::init_tracing();
    let url = common::rabbit_url();
    let py = common::oslo_python();
    (url, py, XJOB.lock().await)
}

fn python_command(py: &Path, script: &str) -> Command {
    let mut cmd = Command::new(py);
    cmd.current_dir(common::interop_dir())
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_oslo_venv)),
    ignore = "needs RabbitMQ and the oslo.messaging venv: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_OSLO_VENV (scripts/test makes both)"
)]
async fn python_cast_reaches_our_consumer() {
    let (url, py, _serial) = setup().await;
    let cfg = common::config(url, "openstack", false);
    let server = common::unique("node");
    let mut consumer = Consumer::start(cfg.clone(), TOPIC_XJOB, &server);
    // Wait until our queues are bound: probe through our server's topic.
    let publisher = Publisher::new(cfg);
    let probe_topic = format!("{TOPIC_XJOB}.{server}");
    consumer
        .cast_until_received(&publisher, &probe_topic, "probe", json!({}))
        .await;

    let router = common::unique("router");
    let ctx = json!({"user_id": "user-1", "project_id": "project-1", "is_admin": true,
                     "roles": ["admin"], "auth_token": "py-secret-token", "request_id": "req-py-1"});
    let status = python_command(&py, "cast.py")
        .args([
            "--method",
            "configure_route",
            "--job-type",
            "configure_route",
            "--resource-id",
            &router,
        ])
        .args(["--context", &ctx.to_string()])
        .stdout(Stdio::null())
        .status()
        .await
        .expect("run cast.py");
    assert!(status.success(), "cast.py failed: {status}");

    let got = loop {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.rx.recv())
            .await
            .expect("python cast not received")
            .expect("consumer ended");
        if m.args["payload"]["configure_route"] == json!(router) {
            break m;
        }
    };
    assert_eq!(got.method, "configure_route");
    assert_eq!(got.args, json!({"payload": {"configure_route": router}}));
    assert_eq!(got.version.as_deref(), Some("1.0"));
    assert_eq!(got.unique_id.as_ref().map(|u| u.len()), Some(32));
    let c = &got.context;
    assert_eq!(c["user"], "user-1");
    assert_eq!(c["project_id"], "project-1");
    assert_eq!(c["is_admin"], true);
    assert_eq!(c["roles"], json!(["admin"]));
    assert_eq!(c["request_id"], "req-py-1");
    assert_eq!(c["auth_token"], "py-secret-token");
    assert!(!format!("{got:?}").contains("py-secret-token"));
    consumer.stop().await;
}

#[tokio::test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_oslo_venv)),
    ignore = "needs RabbitMQ and the oslo.messaging venv: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_OSLO_VENV (scripts/test makes both)"
)]
async fn our_cast_reaches_python_rpc_server() {
    let (url, _py, _serial) = setup().await;
    let mut server = PythonServer::start(&common::unique("pynode")).await;

    let publisher = Publisher::new(common::config(url, "openstack", false));
    let resource = format!("pod-1#{}#net-1", common::unique("router"));
    publisher
        .cast(
            TOPIC_XJOB,
            &common::context(),
            "setup_bottom_router",
            json!({"payload": {"router_setup": resource}}),
        )
        .await
        .expect("cast");
    let got = server.received("router_setup", &json!(resource)).await;
    assert_eq!(got["method"], "setup_bottom_router");
    assert_eq!(got["payload"], json!({"router_setup": resource}));
    assert_eq!(got["context"]["user"], "user-1");
    assert_eq!(got["context"]["project_id"], "project-1");
    assert_eq!(got["context"]["auth_token"], "secret-token-value");
    server.stop().await;
}
