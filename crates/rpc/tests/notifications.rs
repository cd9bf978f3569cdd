//! The notification listener against a real broker, fed by Python
//! oslo.messaging's Notifier (tests/interop/notify.py) as a region's Neutron
//! publishes: pooled queues, and acknowledgement by the receiver.

mod common;

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tricircle_rpc::notification::{listen, notification_topology, Delivery, DEFAULT_PRIORITIES};
use tricircle_rpc::{CancellationToken, RpcConfig};

/// Python publishing `count` notifications of `event_type` on `topic`.
fn notify(topic: &str, event_type: &str, count: u32) -> Child {
    let ctx = json!({"user_id": "user-1", "project_id": "project-1",
                     "auth_token": "py-secret-token", "request_id": "req-n-1"});
    Command::new(common::oslo_python())
        .current_dir(common::interop_dir())
        .arg("notify.py")
        .args(["--topic", topic, "--event-type", event_type])
        .args([
            "--payload",
            &json!({"router_interface": {"id": "r1"}}).to_string(),
        ])
        .args(["--context", &ctx.to_string()])
        .args(["--count", &count.to_string(), "--every", "0.3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start notify.py")
}

/// A listener of pool `pool` on `topic`, with its stop token.
fn listener(
    cfg: &RpcConfig,
    topic: &str,
    pool: &str,
) -> (
    mpsc::Receiver<Delivery>,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let decls = notification_topology(
        cfg,
        "neutron",
        &[topic.to_owned()],
        DEFAULT_PRIORITIES,
        Some(pool),
    );
    let (tx, rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (cfg, stop, pool) = (cfg.clone(), stop.clone(), pool.to_owned());
        async move { listen(cfg, decls, &pool, tx, stop).await.unwrap() }
    });
    (rx, stop, task)
}

async fn next(rx: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("no notification within 60 s")
        .expect("listener ended")
}

#[tokio::test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_oslo_venv)),
    ignore = "needs RabbitMQ and the oslo.messaging venv: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_OSLO_VENV (scripts/test makes both)"
)]
async fn python_notifications_reach_the_listener() {
    common::init_tracing();
    let cfg = common::config(common::rabbit_url(), "neutron", false);
    let topic = common::unique("notifications");
    let (mut rx, stop, task) = listener(&cfg, &topic, &common::unique("pool"));
    let mut py = notify(&topic, "router.interface.create", 100);
    let d = next(&mut rx).await;
    let n = &d.notification;
    assert_eq!(n.event_type, "router.interface.create");
    assert_eq!(n.publisher_id, "network.interop-host");
    assert_eq!(n.priority, "INFO");
    assert_eq!(n.payload["router_interface"]["id"], "r1");
    assert_eq!(n.context["project_id"], "project-1");
    assert_eq!(n.context["request_id"], "req-n-1");
    assert!(!format!("{d:?}").contains("py-secret-token"));
    d.ack().await.unwrap();
    let _ = py.kill().await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_oslo_venv)),
    ignore = "needs RabbitMQ and the oslo.messaging venv: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_OSLO_VENV (scripts/test makes both)"
)]
async fn a_notification_not_acknowledged_comes_again_to_the_pool() {
    common::init_tracing();
    let cfg = common::config(common::rabbit_url(), "neutron", false);
    let (topic, pool) = (common::unique("notifications"), common::unique("pool"));
    let (mut rx1, stop1, task1) = listener(&cfg, &topic, &pool);
    let mut py = notify(&topic, "port.delete.end", 100);
    // The first listener takes one and dies before acknowledging it.
    let first = next(&mut rx1).await;
    let seq = first.notification.payload["seq"].clone();
    let _ = py.kill().await;
    stop1.cancel();
    task1.await.unwrap();
    drop(first);
    drop(rx1);

    // Another listener of the same pool gets it again (among any others
    // that were queued), and an acknowledged one is not seen twice.
    let (mut rx2, stop2, task2) = listener(&cfg, &topic, &pool);
    let mut seen = Vec::new();
    loop {
        let d = next(&mut rx2).await;
        let s = d.notification.payload["seq"].clone();
        d.ack().await.unwrap();
        if s == seq {
            break;
        }
        assert!(!seen.contains(&s), "acknowledged {s} came twice");
        seen.push(s);
    }
    stop2.cancel();
    task2.await.unwrap();
}
