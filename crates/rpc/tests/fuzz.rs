//! Property tests of what arrives from outside over the message bus and
//! in the configuration (issue 10, fuzzing suite): transport URLs, AMQP
//! message bodies (enveloped or bare) and notification bodies decode or are
//! refused, never panic, and deep nesting is refused rather than followed.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tricircle_rpc::message::decode;
use tricircle_rpc::notification::decode_notification;
use tricircle_rpc::TransportUrl;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A message object with the keys decoders look at, of any type.
fn message() -> impl Strategy<Value = Map<String, Value>> {
    let keys = proptest::sample::select(
        &[
            "method",
            "args",
            "version",
            "_unique_id",
            "_msg_id",
            "_reply_q",
            "_context_request_id",
            "_context_auth_token",
            "_context_roles",
            "event_type",
            "payload",
            "publisher_id",
            "priority",
            "message_id",
            "timestamp",
            "other",
        ][..],
    );
    proptest::collection::btree_map(keys, json_value(), 0..10)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A body: a bare message, a 2.0 envelope around one (or around anything),
/// or bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        message().prop_map(|m| Value::Object(m).to_string().into_bytes()),
        (message(), "(2\\.0|2|2\\.1|1\\.0|x|)").prop_map(|(m, v)| {
            json!({"oslo.version": v, "oslo.message": Value::Object(m).to_string()})
                .to_string()
                .into_bytes()
        }),
        (json_value(), json_value()).prop_map(|(v, m)| {
            json!({"oslo.version": v, "oslo.message": m})
                .to_string()
                .into_bytes()
        }),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..200),
        (1usize..100_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        (1usize..100_000).prop_map(|n| {
            let inner = format!(
                "{{\"method\": \"m\", \"args\": {}1{}}}",
                "[".repeat(n),
                "]".repeat(n)
            );
            json!({"oslo.version": "2.0", "oslo.message": inner})
                .to_string()
                .into_bytes()
        }),
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(rabbit|kombu|amqp|fake|http|)(:|://|:///)([a-z%:@]{0,10}@)?([a-z0-9.:\\[\\]]{0,20}(:[0-9a-z]{0,7})?,?){0,3}(/[a-z%/]{0,10})?(\\?[a-z=&%]{0,20})?",
        "rabbit://[^ ]{0,60}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_transport_url_parses_or_is_refused(text in url()) {
        if let Ok(u) = TransportUrl::parse(&text) {
            // What parsed prints (passwords masked) without panicking.
            let _ = (u.to_string(), format!("{u:?}"));
        }
    }

    #[test]
    fn any_message_body_decodes_or_is_refused(body in body()) {
        if let Ok(m) = decode(&body) {
            prop_assert!(!m.method.is_empty());
            prop_assert!(m.args.is_object());
            let _ = format!("{m:?}");
        }
    }

    #[test]
    fn any_notification_body_decodes_or_is_refused(body in body()) {
        if let Ok(n) = decode_notification(&body) {
            prop_assert!(!n.event_type.is_empty());
            let _ = format!("{n:?}");
        }
    }
}
