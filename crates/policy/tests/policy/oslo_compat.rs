//! Decisions compared with the real oslo.policy.
//!
//! `data/oslo_cases.json` was produced by `data/gen_oslo_cases.py` running
//! oslo.policy 6.0.1: random (partly damaged) check strings, whether oslo
//! reported a parse problem, and its decision for each credentials/target
//! pair; plus Python's `repr(float)` and `str(ast.literal_eval(x))`.

use serde_json::{json, Value};
use tricircle_policy::{Check, Enforcer};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../data/oslo_cases.json")).expect("fixture is JSON")
}

#[test]
fn parse_problems_and_decisions_match_oslo() {
    let data = fixture();
    let creds = data["creds"].as_array().unwrap();
    let targets = data["targets"].as_array().unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 200);
    for case in cases {
        let rule = case["rule"].as_str().unwrap();
        let oslo_problem = case["errors"].as_bool().unwrap();
        assert_eq!(
            Check::parse(rule).is_err(),
            oslo_problem,
            "problem for {rule:?}"
        );

        // Lenient loading is what oslo does with a problematic rule.
        let (enforcer, _) = Enforcer::builder()
            .rule("t", rule)
            .rule("r_admin", "role:admin")
            .rule("default", "is_admin:True")
            .build_lenient();
        let ours: Vec<Value> = creds
            .iter()
            .flat_map(|c| {
                targets
                    .iter()
                    .map(|t| json!(enforcer.enforce_value("t", t, c)))
            })
            .collect();
        assert_eq!(
            &ours,
            case["results"].as_array().unwrap(),
            "decisions for {rule:?}"
        );
    }
}

#[test]
fn float_and_literal_spelling_match_python() {
    let data = fixture();
    for pair in data["float_bits_repr"].as_array().unwrap() {
        let value = f64::from_bits(pair[0].as_u64().unwrap());
        let python = pair[1].as_str().unwrap();
        let enforcer = Enforcer::builder()
            .rule("t", format!("x:{python}"))
            .build()
            .unwrap();
        assert!(
            enforcer.enforce_value("t", &json!({}), &json!({ "x": value })),
            "repr({value}) = {python}"
        );
    }
    for pair in data["literal_str"].as_array().unwrap() {
        let literal = pair[0].as_str().unwrap();
        let Some(python) = pair[1].as_str() else {
            continue;
        };
        let enforcer = Enforcer::builder()
            .rule("t", format!("{literal}:%(s)s"))
            .build()
            .unwrap();
        assert!(
            enforcer.enforce_value("t", &json!({ "s": python }), &json!({})),
            "str({literal}) = {python}"
        );
        assert!(!enforcer.enforce_value("t", &json!({ "s": format!("{python}x") }), &json!({})));
    }
}
