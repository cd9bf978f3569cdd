//! The enforcer as the API uses it: defaults, policy files, policy_dirs.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use tempfile::TempDir;
use tricircle_policy::{
    default_target, rules, sample_yaml, Credentials, Enforcer, PolicyError, DEFAULT_RULES,
};

const API_RULES: [&str; 14] = [
    rules::PODS_CREATE,
    rules::PODS_DELETE,
    rules::PODS_SHOW,
    rules::PODS_LIST,
    rules::ROUTINGS_CREATE,
    rules::ROUTINGS_DELETE,
    rules::ROUTINGS_PUT,
    rules::ROUTINGS_SHOW,
    rules::ROUTINGS_LIST,
    rules::JOBS_CREATE,
    rules::JOBS_LIST,
    rules::JOBS_SCHEMA_LIST,
    rules::JOBS_REDO,
    rules::JOBS_DELETE,
];

fn admin() -> Credentials {
    Credentials {
        user_id: Some("admin-user".into()),
        project_id: Some("admin-project".into()),
        roles: vec!["admin".into()],
        is_admin: true,
        ..Default::default()
    }
}

fn member(project: &str) -> Credentials {
    Credentials {
        user_id: Some("demo-user".into()),
        project_id: Some(project.into()),
        roles: vec!["member".into()],
        is_admin: false,
        ..Default::default()
    }
}

fn allowed(enforcer: &Enforcer, action: &str, creds: &Credentials) -> bool {
    enforcer.enforce(action, &default_target(creds), creds)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_allow_admins_and_deny_members_on_every_api_rule() {
    let enforcer = Enforcer::with_defaults();
    for action in API_RULES {
        assert!(
            allowed(&enforcer, action, &admin()),
            "admin denied {action}"
        );
        assert!(
            !allowed(&enforcer, action, &member("p1")),
            "member allowed {action}"
        );
        // The admin API looks at the is_admin flag, not at the role list.
        let role_only = Credentials {
            roles: vec!["admin".into()],
            ..member("p1")
        };
        assert!(
            !allowed(&enforcer, action, &role_only),
            "role-only admin allowed {action}"
        );
    }
    let role_only = Credentials {
        roles: vec!["Admin".into()],
        ..member("p1")
    };
    assert!(allowed(&enforcer, rules::CONTEXT_IS_ADMIN, &role_only));
    assert!(!allowed(&enforcer, rules::CONTEXT_IS_ADMIN, &member("p1")));
}

#[test]
fn unknown_actions_use_the_default_rule() {
    let enforcer = Enforcer::with_defaults();
    // default = admin_or_owner = is_admin:True or project_id:%(project_id)s
    let owner = member("p1");
    assert!(allowed(&enforcer, "admin_api:unknown", &owner));
    assert!(!enforcer.enforce("admin_api:unknown", &json!({"project_id": "p2"}), &owner));
    assert!(enforcer.enforce("admin_api:unknown", &json!({"project_id": "p2"}), &admin()));
    assert!(!enforcer.enforce("admin_api:unknown", &json!({}), &owner));
    assert!(allowed(&enforcer, rules::ADMIN_OR_OWNER, &owner));
}

#[test]
fn yaml_file_overrides_only_the_rules_it_names() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "policy.yaml",
        "# operators may list pods\n\"admin_api:pods:list\": \"role:member\"\nadmin_api:jobs:list: role:member or rule:admin_api\n",
    );
    let enforcer = Enforcer::from_file(&path, "default").unwrap();
    assert!(allowed(&enforcer, rules::PODS_LIST, &member("p1")));
    assert!(allowed(&enforcer, rules::JOBS_LIST, &member("p1")));
    assert!(allowed(&enforcer, rules::JOBS_LIST, &admin()));
    assert!(
        !allowed(&enforcer, rules::PODS_LIST, &admin()),
        "admin lacks the member role"
    );
    assert!(!allowed(&enforcer, rules::PODS_CREATE, &member("p1")));
    assert!(allowed(&enforcer, rules::PODS_CREATE, &admin()));
    assert_eq!(enforcer.check_str(rules::PODS_LIST), Some("role:member"));
    assert_eq!(enforcer.check_str(rules::PODS_SHOW), Some("rule:admin_api"));
}

#[test]
fn json_file_overrides_including_always_never_and_empty() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "policy.json",
        r#"{
    "admin_api:pods:list": "@",
    "admin_api:pods:show": "",
    "admin_api:pods:create": "!",
    "admin_api:jobs:list": [["role:member", "project_id:%(project_id)s"], ["is_admin:True"]],
    "admin_api:jobs:redo": [],
    "admin_api": "role:superuser"
}"#,
    );
    let enforcer = Enforcer::from_file(&path, "default").unwrap();
    let anyone = Credentials::default();
    assert!(allowed(&enforcer, rules::PODS_LIST, &anyone));
    assert!(allowed(&enforcer, rules::PODS_SHOW, &anyone));
    assert!(!allowed(&enforcer, rules::PODS_CREATE, &admin()));
    assert!(allowed(&enforcer, rules::JOBS_LIST, &member("p1")));
    assert!(!enforcer.enforce(
        rules::JOBS_LIST,
        &json!({"project_id": "p2"}),
        &member("p1")
    ));
    assert!(enforcer.enforce(rules::JOBS_LIST, &json!({"project_id": "p2"}), &admin()));
    assert!(
        allowed(&enforcer, rules::JOBS_REDO, &anyone),
        "an empty list allows"
    );
    // Overriding a base rule changes every default that refers to it.
    let superuser = Credentials {
        roles: vec!["SuperUser".into()],
        ..member("p1")
    };
    assert!(allowed(&enforcer, rules::ROUTINGS_DELETE, &superuser));
    assert!(!allowed(&enforcer, rules::ROUTINGS_DELETE, &admin()));
}

#[test]
fn a_file_can_replace_the_default_rule() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "policy.yaml",
        "\"default\": \"!\"\n\"custom\": \"role:member\"\n",
    );
    let enforcer = Enforcer::from_file(&path, "default").unwrap();
    assert!(!allowed(&enforcer, "anything", &admin()));
    let enforcer = Enforcer::from_file(&path, "custom").unwrap();
    assert!(allowed(&enforcer, "anything", &member("p1")));
    assert!(!allowed(&enforcer, "anything", &admin()));
}

#[test]
fn malformed_rule_in_a_file_is_an_error_naming_file_and_rule() {
    let dir = TempDir::new().unwrap();
    for (name, text) in [
        (
            "bad.yaml",
            "\"admin_api:pods:list\": \"role:admin and (is_admin:True\"\n",
        ),
        (
            "bad.json",
            r#"{"admin_api:pods:list": "role:admin and (is_admin:True"}"#,
        ),
    ] {
        let path = write(dir.path(), name, text);
        let err = Enforcer::from_file(&path, "default").unwrap_err();
        assert_eq!(err.rule(), Some(rules::PODS_LIST), "{err}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("\"admin_api:pods:list\""), "{message}");
        assert!(message.contains("missing ')'"), "{message}");
    }
}

#[test]
fn unreadable_or_misshapen_files_are_errors() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nope.yaml");
    assert!(matches!(
        Enforcer::from_file(&missing, "default"),
        Err(PolicyError::Io { path, .. }) if path == missing
    ));

    let bad_json = write(dir.path(), "broken.json", "{\"a\": ");
    let err = Enforcer::from_file(&bad_json, "default").unwrap_err();
    assert!(matches!(err, PolicyError::Format { .. }), "{err}");

    let bad_yaml = write(dir.path(), "broken.yaml", "a: [unclosed\n");
    let err = Enforcer::from_file(&bad_yaml, "default").unwrap_err();
    assert!(matches!(err, PolicyError::Format { .. }), "{err}");

    let list = write(dir.path(), "list.yaml", "- role:admin\n");
    let err = Enforcer::from_file(&list, "default").unwrap_err();
    assert!(
        err.to_string().contains("top level must be a mapping"),
        "{err}"
    );

    let number = write(dir.path(), "number.yaml", "admin_api: 5\n");
    let err = Enforcer::from_file(&number, "default").unwrap_err();
    assert_eq!(err.rule(), Some("admin_api"), "{err}");

    let nested = write(dir.path(), "nested.json", r#"{"x": [["role:a", 1]]}"#);
    let err = Enforcer::from_file(&nested, "default").unwrap_err();
    assert!(err.to_string().contains("must be a string"), "{err}");

    let cycle = write(dir.path(), "cycle.yaml", "a: rule:b\nb: rule:a\n");
    let err = Enforcer::from_file(&cycle, "default").unwrap_err();
    assert!(matches!(err, PolicyError::Cycle { .. }), "{err}");
}

#[test]
fn empty_files_and_empty_values() {
    let dir = TempDir::new().unwrap();
    for (name, text) in [
        ("empty.yaml", ""),
        ("comments.yaml", "# nothing\n\n"),
        ("empty.json", "{}"),
    ] {
        let path = write(dir.path(), name, text);
        let enforcer = Enforcer::from_file(&path, "default").unwrap();
        assert_eq!(enforcer.rule_names().len(), DEFAULT_RULES.len(), "{name}");
        assert!(
            !allowed(&enforcer, rules::PODS_LIST, &member("p1")),
            "{name}"
        );
    }
    // A rule with no value allows everyone, as in oslo.policy.
    let path = write(dir.path(), "null.yaml", "\"admin_api:pods:list\":\n");
    let enforcer = Enforcer::from_file(&path, "default").unwrap();
    assert!(allowed(
        &enforcer,
        rules::PODS_LIST,
        &Credentials::default()
    ));
}

#[test]
fn policy_dirs_apply_in_name_order_after_the_file() {
    let dir = TempDir::new().unwrap();
    let file = write(
        dir.path(),
        "policy.yaml",
        "\"admin_api:pods:list\": \"role:a\"\n\"admin_api:pods:show\": \"role:a\"\n",
    );
    let policy_d = dir.path().join("policy.d");
    fs::create_dir(&policy_d).unwrap();
    write(
        &policy_d,
        "10-first.yaml",
        "\"admin_api:pods:list\": \"role:b\"\n",
    );
    write(
        &policy_d,
        "20-second.json",
        r#"{"admin_api:pods:list": "role:c"}"#,
    );
    write(
        &policy_d,
        ".hidden.yaml",
        "\"admin_api:pods:list\": \"@\"\n",
    );
    fs::create_dir(policy_d.join("sub")).unwrap();
    write(
        &policy_d.join("sub"),
        "x.yaml",
        "\"admin_api:pods:list\": \"@\"\n",
    );

    let dirs = vec![policy_d.clone(), dir.path().join("absent.d")];
    let enforcer = Enforcer::load(Some(&file), &dirs, "default").unwrap();
    assert_eq!(enforcer.check_str(rules::PODS_LIST), Some("role:c"));
    assert_eq!(enforcer.check_str(rules::PODS_SHOW), Some("role:a"));
    assert_eq!(
        enforcer.check_str(rules::PODS_CREATE),
        Some("rule:admin_api")
    );

    let enforcer = Enforcer::load(None, &dirs, "default").unwrap();
    assert_eq!(enforcer.check_str(rules::PODS_LIST), Some("role:c"));
    assert_eq!(enforcer.check_str(rules::PODS_SHOW), Some("rule:admin_api"));

    let err = Enforcer::load(None, std::slice::from_ref(&file), "default").unwrap_err();
    assert!(matches!(err, PolicyError::NotADirectory { .. }), "{err}");
}

#[test]
fn uncommented_sample_reproduces_the_defaults() {
    let dir = TempDir::new().unwrap();
    let uncommented: String = sample_yaml()
        .lines()
        .map(|l| {
            l.strip_prefix("#\"")
                .map_or(String::new(), |rest| format!("\"{rest}\n"))
        })
        .collect();
    let path = write(dir.path(), "policy.yaml", &uncommented);
    let from_sample = Enforcer::from_file(&path, "default").unwrap();
    let defaults = Enforcer::with_defaults();
    assert_eq!(from_sample.rule_names(), defaults.rule_names());
    for name in defaults.rule_names() {
        assert_eq!(
            from_sample.check_str(name),
            defaults.check_str(name),
            "{name}"
        );
        for creds in [admin(), member("p1")] {
            assert_eq!(
                allowed(&from_sample, name, &creds),
                allowed(&defaults, name, &creds),
                "{name}"
            );
        }
    }
}

#[test]
fn enforcer_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Enforcer>();
    let enforcer = std::sync::Arc::new(Enforcer::with_defaults());
    let worker = {
        let enforcer = enforcer.clone();
        std::thread::spawn(move || allowed(&enforcer, rules::PODS_LIST, &admin()))
    };
    assert!(worker.join().unwrap());
}
