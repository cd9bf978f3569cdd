//! Property tests of the policy language (issue 10, fuzzing suite): any
//! check string, and any soup of its tokens, parses or is refused, and a
//! parsed rule evaluates against any target and credentials, without a
//! panic or unbounded recursion.

use proptest::prelude::*;
use serde_json::{json, Value};
use tricircle_policy::{Check, Enforcer};

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("and".to_owned()),
        Just("or".to_owned()),
        Just("not".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("@".to_owned()),
        Just("!".to_owned()),
        Just("role:admin".to_owned()),
        Just("rule:admin_api".to_owned()),
        Just("rule:nope".to_owned()),
        Just("project_id:%(project_id)s".to_owned()),
        Just("is_admin:True".to_owned()),
        Just("'x':%(target.a.b)s".to_owned()),
        Just("%(".to_owned()),
        "[a-z_]{0,6}:[a-z%()._]{0,12}",
        "[\"'][^ ]{0,6}[\"']",
        any::<String>(),
    ]
}

fn check_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(token(), 0..40).prop_map(|t| t.join(" ")),
        proptest::collection::vec(token(), 0..40).prop_map(|t| t.concat()),
        (0usize..5000, token()).prop_map(|(n, t)| format!("{}{t}{}", "(".repeat(n), ")".repeat(n))),
        (0usize..5000, token()).prop_map(|(n, t)| format!("{}{t}", "not ".repeat(n))),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[a-z_]{1,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_.]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_check_string_parses_or_is_refused(text in check_string()) {
        let strict = Check::parse(&text);
        let lenient = Check::parse_lenient(&text);
        if let Ok(c) = strict {
            prop_assert_eq!(c.to_string(), lenient.to_string());
        }
    }

    #[test]
    fn any_rule_evaluates_against_any_target(
        text in check_string(),
        target in json_value(),
        creds in json_value(),
        roles in proptest::collection::vec("[a-z]{1,6}", 0..3),
    ) {
        let (enforcer, _) = Enforcer::builder()
            .rule("admin_api", "role:admin")
            .rule("fuzzed", text)
            .build_lenient();
        let mut creds = creds;
        if let Value::Object(m) = &mut creds {
            m.insert("roles".into(), json!(roles));
        }
        let _ = enforcer.enforce_value("fuzzed", &target, &creds);
    }
}
