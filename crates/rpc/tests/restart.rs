//! A consumer survives a broker restart (its own test binary: the restart
//! would disturb other tests running alongside).

mod common;

use std::time::Duration;

use common::Consumer;
use serde_json::json;
use tricircle_rpc::Publisher;

async fn deliver(publisher: &Publisher, topic: &str, consumer: &mut Consumer, id: &str) {
    let args = json!({"payload": {"configure_route": id}});
    for _ in 0..120 {
        // Casts fail while the broker is away; keep trying.
        if publisher
            .cast(topic, &common::context(), "configure_route", args.clone())
            .await
            .is_ok()
        {
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(1000), consumer.rx.recv()).await
            {
                if m.args == args {
                    return;
                }
            }
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    panic!("message {id} never delivered");
}

#[tokio::test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_rabbit_restart)),
    ignore = "needs a RabbitMQ it can restart: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_TEST_RABBIT_RESTART (scripts/test starts one)"
)]
async fn consumer_keeps_receiving_after_broker_restart() {
    common::init_tracing();
    let url = common::rabbit_url();
    let restart = common::restart_command();
    let cfg = common::config(url, &common::unique("ex"), false);
    let topic = common::unique("xjob");
    let mut consumer = Consumer::start(cfg.clone(), &topic, "node-r");
    let publisher = Publisher::new(cfg);
    deliver(&publisher, &topic, &mut consumer, "before").await;

    let status = tokio::process::Command::new(&restart)
        .status()
        .await
        .expect("run restart");
    assert!(status.success(), "broker restart failed: {status}");

    // Non-durable queues are gone with the old node: the consumer must have
    // reconnected and declared them again for this to arrive.
    deliver(&publisher, &topic, &mut consumer, "after").await;
    consumer.stop().await;
}
