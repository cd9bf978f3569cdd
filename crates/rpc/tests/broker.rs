//! Publisher and consumer against a real RabbitMQ.

mod common;

use std::time::Duration;

use common::Consumer;
use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::json;
use tricircle_rpc::{Incoming, Publisher, TransportUrl};

/// The next message the consumer gets, within 30 s.
async fn next_message(consumer: &mut Consumer) -> Incoming {
    tokio::time::timeout(Duration::from_secs(30), consumer.rx.recv())
        .await
        .unwrap()
        .unwrap()
}

/// Publishes a raw body, bypassing the Publisher's envelope.
async fn publish_raw(ch: &Channel, exchange: &str, routing_key: &str, body: &[u8]) {
    ch.basic_publish(
        exchange.into(),
        routing_key.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    )
    .await
    .unwrap();
}

async fn raw_connection(url: &TransportUrl) -> Connection {
    let h = &url.hosts[0];
    let vhost: String = url::form_urlencoded::byte_serialize(url.virtual_host.as_bytes()).collect();
    let uri = format!(
        "amqp://{}:{}@{}:{}/{}",
        h.username,
        h.password(),
        h.host,
        h.port,
        vhost
    );
    Connection::connect(&uri, ConnectionProperties::default())
        .await
        .expect("raw connection")
}

/// Declares with the given flags on a fresh channel: Ok when the broker
/// holds an equivalent entity, Err (PRECONDITION_FAILED) otherwise.
async fn queue_equivalent(conn: &Connection, name: &str, durable: bool, args: FieldTable) -> bool {
    let ch = conn.create_channel().await.unwrap();
    let opts = QueueDeclareOptions {
        durable,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(name.into(), opts, args).await.is_ok()
}

async fn exchange_equivalent(
    conn: &Connection,
    name: &str,
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
) -> bool {
    let ch = conn.create_channel().await.unwrap();
    let opts = ExchangeDeclareOptions {
        durable,
        auto_delete,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(name.into(), kind, opts, FieldTable::default())
        .await
        .is_ok()
}

#[tokio::test]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
async fn cast_reaches_consumer_with_method_args_and_context() {
    common::init_tracing();
    let url = common::rabbit_url();
    let cfg = common::config(url, &common::unique("ex"), false);
    let topic = common::unique("xjob");
    let mut consumer = Consumer::start(cfg.clone(), &topic, "node-a");
    let publisher = Publisher::new(cfg);
    let args = json!({"payload": {"configure_route": "router-1"}});
    let got = consumer
        .cast_until_received(&publisher, &topic, "configure_route", args.clone())
        .await;
    assert_eq!(got.method, "configure_route");
    assert_eq!(got.args, args);
    assert_eq!(got.context, common::context());
    assert_eq!(got.version.as_deref(), Some("1.0"));
    assert_eq!(got.unique_id.as_ref().map(|u| u.len()), Some(32));
    assert!(!format!("{got:?}").contains("secret-token-value"));

    // The server-specific topic reaches the same consumer; a clone of the
    // publisher shares its connection.
    let args = json!({"payload": {"router_setup": "pod-1#router-1#net-1"}});
    let got = consumer
        .cast_until_received(
            &publisher.clone(),
            &format!("{topic}.node-a"),
            "setup_bottom_router",
            args.clone(),
        )
        .await;
    assert_eq!(got.method, "setup_bottom_router");
    assert_eq!(got.args, args);

    consumer.stop().await;
}

#[tokio::test]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
async fn declarations_follow_amqp_durable_queues() {
    common::init_tracing();
    let url = common::rabbit_url();
    let conn = raw_connection(&url).await;
    for durable in [false, true] {
        let exchange = common::unique("ex");
        let topic = common::unique("xjob");
        let cfg = common::config(url.clone(), &exchange, durable);
        let mut consumer = Consumer::start(cfg.clone(), &topic, "node-b");
        let publisher = Publisher::new(cfg);
        consumer
            .cast_until_received(
                &publisher,
                &topic,
                "configure_route",
                json!({"payload": {"configure_route": "r"}}),
            )
            .await;

        for q in [topic.clone(), format!("{topic}.node-b")] {
            assert!(
                queue_equivalent(&conn, &q, durable, FieldTable::default()).await,
                "{q} durable={durable}"
            );
            assert!(
                !queue_equivalent(&conn, &q, !durable, FieldTable::default()).await,
                "{q} not durable={}",
                !durable
            );
        }
        assert!(exchange_equivalent(&conn, &exchange, ExchangeKind::Topic, durable, false).await);
        assert!(!exchange_equivalent(&conn, &exchange, ExchangeKind::Topic, !durable, false).await);
        let fanout = format!("{topic}_fanout");
        assert!(exchange_equivalent(&conn, &fanout, ExchangeKind::Fanout, false, true).await);
        assert!(!exchange_equivalent(&conn, &fanout, ExchangeKind::Fanout, true, true).await);

        // The per-server fanout queue is bound: a fanout cast arrives.
        let ch = conn.create_channel().await.unwrap();
        let body =
            json!({"method": "recycle_resources", "args": {"payload": {"resource_recycle": "p"}}});
        publish_raw(&ch, &fanout, &topic, body.to_string().as_bytes()).await;
        let got = next_message(&mut consumer).await;
        assert_eq!(got.method, "recycle_resources");

        consumer.stop().await;
        for q in [topic.clone(), format!("{topic}.node-b")] {
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
        ch.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }
}

#[tokio::test]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
async fn malformed_messages_are_dropped_and_consumption_continues() {
    common::init_tracing();
    let url = common::rabbit_url();
    let cfg = common::config(url.clone(), &common::unique("ex"), false);
    let topic = common::unique("xjob");
    let mut consumer = Consumer::start(cfg.clone(), &topic, "node-c");
    let publisher = Publisher::new(cfg.clone());
    consumer
        .cast_until_received(
            &publisher,
            &topic,
            "configure_route",
            json!({"payload": {"configure_route": "first"}}),
        )
        .await;

    let conn = raw_connection(&url).await;
    let ch = conn.create_channel().await.unwrap();
    let legacy = json!({"method": "update_network", "args": {"payload": {"update_network": "pod#net"}}, "_context_user": "u"});
    for body in [
        b"not json at all".to_vec(),
        br#"{"oslo.version": "9.0", "oslo.message": "{}"}"#.to_vec(),
        br#"{"oslo.version": "2.0", "oslo.message": "{broken"}"#.to_vec(),
        br#"{"args": {}}"#.to_vec(),
        legacy.to_string().into_bytes(),
    ] {
        publish_raw(&ch, &cfg.control_exchange, &topic, &body).await;
    }
    // Only the legacy (un-enveloped) message is delivered.
    let got = next_message(&mut consumer).await;
    assert_eq!(got.method, "update_network");
    assert_eq!(got.context.get("user"), Some(&json!("u")));
    // ... and the consumer is still alive.
    publisher
        .cast(
            &topic,
            &common::context(),
            "configure_route",
            json!({"payload": {"configure_route": "after"}}),
        )
        .await
        .unwrap();
    let got = next_message(&mut consumer).await;
    assert_eq!(got.args["payload"]["configure_route"], "after");

    // Everything was acked: the queue is empty.
    let q = ch
        .queue_declare(
            topic.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0);
    consumer.stop().await;
}

#[tokio::test]
async fn cast_with_broker_down_returns_an_error() {
    common::init_tracing();
    // Nothing listens on port 1.
    let url =
        TransportUrl::parse("rabbit://guest:guest@127.0.0.1:1,guest:guest@127.0.0.1:2/").unwrap();
    let cfg = common::config(url, "openstack", false);
    let publisher = Publisher::new(cfg.clone());
    for _ in 0..3 {
        let err = publisher
            .cast(
                "xjob",
                &common::context(),
                "configure_route",
                json!({"payload": {"configure_route": "r"}}),
            )
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("guest:guest"), "{err}");
    }
    // A consumer without a broker keeps retrying and stops on shutdown.
    let consumer = Consumer::start(cfg, "xjob", "node-d");
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.stop().await;
}
