//! Property test of the notification -> job mapping (issue 10, fuzzing
//! suite): any payload under any event type, from the central region or a
//! pod's, maps to jobs or to an error, never to a panic.

use crate::network_common;

use network_common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use tricircle_jobs::events::{jobs_for, NeutronEvent};

const EVENT_TYPES: &[&str] = &[
    "router.interface.create",
    "router.interface.delete",
    "router.update.end",
    "router.delete.end",
    "floatingip.create.end",
    "floatingip.update.end",
    "floatingip.delete.end",
    "network.create.end",
    "network.update.end",
    "network.delete.end",
    "subnet.create.end",
    "subnet.update.end",
    "subnet.delete.end",
    "policy.update.end",
    "policy.delete.end",
    "security_group_rule.create.end",
    "security_group_rule.delete.end",
    "port.create.end",
    "port.update.end",
    "port.delete.end",
    "trunk.update.end",
    "compute.instance.create.end",
    "",
];

const KEYS: &[&str] = &[
    "router_interface",
    "router",
    "floatingip",
    "network",
    "subnet",
    "policy",
    "security_group_rule",
    "port",
    "trunk",
    "id",
    "router_id",
    "network_id",
    "subnet_id",
    "port_id",
    "tenant_id",
    "project_id",
    "device_id",
    "device_owner",
    "fixed_ips",
    "sub_ports",
    "security_group_id",
    "external_gateway_info",
    "binding:host_id",
    "name",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(json!(PROJECT)),
        "[0-9a-f-]{0,36}".prop_map(Value::from),
        "(network:router_interface|compute:nova|network:floatingip)".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(proptest::sample::select(KEYS), inner, 0..6).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

fn event() -> impl Strategy<Value = NeutronEvent> {
    (
        prop_oneof![Just(TOP.to_owned()), Just(R1.to_owned()), any::<String>()],
        prop_oneof![
            proptest::sample::select(EVENT_TYPES).prop_map(str::to_owned),
            any::<String>()
        ],
        json_value(),
        json_value(),
    )
        .prop_map(|(region, event_type, payload, context)| NeutronEvent {
            region,
            event_type,
            payload,
            context: match context {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        })
}

#[test]
fn any_event_maps_to_jobs_or_an_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(env(true));
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&event(), |ev| {
            let _ = rt.block_on(jobs_for(&e.net, &ev));
            Ok(())
        })
        .unwrap();
}
