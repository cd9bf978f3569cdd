//! The reference's built-in rules and the sample policy file generated from
//! them.

/// Rule names. The `admin_api:*` ones are the actions the API enforces.
pub mod rules {
    pub const CONTEXT_IS_ADMIN: &str = "context_is_admin";
    pub const ADMIN_API: &str = "admin_api";
    pub const ADMIN_OR_OWNER: &str = "admin_or_owner";
    pub const DEFAULT: &str = "default";

    pub const PODS_CREATE: &str = "admin_api:pods:create";
    pub const PODS_DELETE: &str = "admin_api:pods:delete";
    pub const PODS_SHOW: &str = "admin_api:pods:show";
    pub const PODS_LIST: &str = "admin_api:pods:list";

    pub const ROUTINGS_CREATE: &str = "admin_api:routings:create";
    pub const ROUTINGS_DELETE: &str = "admin_api:routings:delete";
    pub const ROUTINGS_PUT: &str = "admin_api:routings:put";
    pub const ROUTINGS_SHOW: &str = "admin_api:routings:show";
    pub const ROUTINGS_LIST: &str = "admin_api:routings:list";

    pub const JOBS_CREATE: &str = "admin_api:jobs:create";
    pub const JOBS_LIST: &str = "admin_api:jobs:list";
    pub const JOBS_SCHEMA_LIST: &str = "admin_api:jobs:schema_list";
    pub const JOBS_REDO: &str = "admin_api:jobs:redo";
    pub const JOBS_DELETE: &str = "admin_api:jobs:delete";
}

/// An API call a rule guards, for the sample file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
}

/// A rule registered in code: name, default check string and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    pub name: &'static str,
    pub check_str: &'static str,
    pub description: Option<&'static str>,
    pub operations: &'static [Operation],
}

/// One admin API rule: `rule:admin_api`, guarding a single call.
macro_rules! api_rule {
    ($name:expr, $description:literal, $method:literal, $path:literal) => {
        RuleDefault {
            name: $name,
            check_str: "rule:admin_api",
            description: Some($description),
            operations: &[Operation {
                method: $method,
                path: $path,
            }],
        }
    };
}

/// The reference's registered defaults, in its order: the four base rules,
/// then one rule per admin API call (all `rule:admin_api`).
pub static DEFAULT_RULES: &[RuleDefault] = &[
    RuleDefault {
        name: rules::CONTEXT_IS_ADMIN,
        check_str: "role:admin",
        description: None,
        operations: &[],
    },
    RuleDefault {
        name: rules::ADMIN_API,
        check_str: "is_admin:True",
        description: Some("Only cloud administrators."),
        operations: &[],
    },
    RuleDefault {
        name: rules::ADMIN_OR_OWNER,
        check_str: "is_admin:True or project_id:%(project_id)s",
        description: Some("Cloud administrators, or members of the project that owns the target."),
        operations: &[],
    },
    RuleDefault {
        name: rules::DEFAULT,
        check_str: "rule:admin_or_owner",
        description: None,
        operations: &[],
    },
    api_rule!(rules::PODS_CREATE, "Register a pod.", "POST", "/pods"),
    api_rule!(
        rules::PODS_DELETE,
        "Remove a pod.",
        "DELETE",
        "/pods/{pod_id}"
    ),
    api_rule!(rules::PODS_SHOW, "Show one pod.", "GET", "/pods/{pod_id}"),
    api_rule!(rules::PODS_LIST, "List the pods.", "GET", "/pods"),
    api_rule!(
        rules::ROUTINGS_CREATE,
        "Add a resource routing entry.",
        "POST",
        "/routings"
    ),
    api_rule!(
        rules::ROUTINGS_DELETE,
        "Remove a resource routing entry.",
        "DELETE",
        "/routings/{id}"
    ),
    api_rule!(
        rules::ROUTINGS_PUT,
        "Change a resource routing entry.",
        "PUT",
        "/routings/{id}"
    ),
    api_rule!(
        rules::ROUTINGS_SHOW,
        "Show one resource routing entry.",
        "GET",
        "/routings/{id}"
    ),
    api_rule!(
        rules::ROUTINGS_LIST,
        "List resource routing entries.",
        "GET",
        "/routings"
    ),
    api_rule!(
        rules::JOBS_CREATE,
        "Submit an asynchronous job.",
        "POST",
        "/jobs"
    ),
    api_rule!(rules::JOBS_LIST, "List asynchronous jobs.", "GET", "/jobs"),
    api_rule!(
        rules::JOBS_SCHEMA_LIST,
        "List the job types and their resource fields.",
        "GET",
        "/jobs/schemas"
    ),
    api_rule!(rules::JOBS_REDO, "Run a job again.", "PUT", "/jobs/{id}"),
    api_rule!(rules::JOBS_DELETE, "Delete a job.", "DELETE", "/jobs/{id}"),
];

/// The registered default with this name.
pub fn rule_default(name: &str) -> Option<&'static RuleDefault> {
    DEFAULT_RULES.iter().find(|r| r.name == name)
}

/// A commented sample policy file of the defaults, laid out like
/// `oslopolicy-sample-generator --format yaml`: per rule, its description,
/// the calls it guards, then the rule itself commented out.
pub fn sample_yaml() -> String {
    let mut out = String::new();
    for rule in DEFAULT_RULES {
        if let Some(description) = rule.description {
            for line in wrap_comment(description, 70) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        for op in rule.operations {
            out.push_str(&format!("# {}  {}\n", op.method, op.path));
        }
        out.push_str(&format!("#\"{}\": \"{}\"\n\n", rule.name, rule.check_str));
    }
    out
}

/// Greedy word wrap into `# `-prefixed lines no longer than `width` (a word
/// longer than the width gets a line of its own).
fn wrap_comment(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, String::from("#")));
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 1 {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_rule_is_registered_with_an_operation() {
        let api = [
            (rules::PODS_CREATE, "POST", "/pods"),
            (rules::PODS_DELETE, "DELETE", "/pods/{pod_id}"),
            (rules::PODS_SHOW, "GET", "/pods/{pod_id}"),
            (rules::PODS_LIST, "GET", "/pods"),
            (rules::ROUTINGS_CREATE, "POST", "/routings"),
            (rules::ROUTINGS_DELETE, "DELETE", "/routings/{id}"),
            (rules::ROUTINGS_PUT, "PUT", "/routings/{id}"),
            (rules::ROUTINGS_SHOW, "GET", "/routings/{id}"),
            (rules::ROUTINGS_LIST, "GET", "/routings"),
            (rules::JOBS_CREATE, "POST", "/jobs"),
            (rules::JOBS_LIST, "GET", "/jobs"),
            (rules::JOBS_SCHEMA_LIST, "GET", "/jobs/schemas"),
            (rules::JOBS_REDO, "PUT", "/jobs/{id}"),
            (rules::JOBS_DELETE, "DELETE", "/jobs/{id}"),
        ];
        for (name, method, path) in api {
            let rule = rule_default(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(rule.check_str, "rule:admin_api", "{name}");
            assert_eq!(rule.operations, &[Operation { method, path }], "{name}");
            assert!(rule.description.is_some(), "{name}");
        }
        assert_eq!(DEFAULT_RULES.len(), api.len() + 4);
        assert_eq!(
            rule_default("admin_api").unwrap().check_str,
            "is_admin:True"
        );
        assert_eq!(
            rule_default("context_is_admin").unwrap().check_str,
            "role:admin"
        );
        assert_eq!(
            rule_default("admin_or_owner").unwrap().check_str,
            "is_admin:True or project_id:%(project_id)s"
        );
        assert_eq!(
            rule_default("default").unwrap().check_str,
            "rule:admin_or_owner"
        );
    }

    #[test]
    fn sample_lists_every_rule_commented_out() {
        let sample = sample_yaml();
        for rule in DEFAULT_RULES {
            let line = format!("#\"{}\": \"{}\"\n", rule.name, rule.check_str);
            assert!(sample.contains(&line), "missing {line}");
        }
        assert!(sample.contains("# POST  /pods\n#\"admin_api:pods:create\": \"rule:admin_api\"\n"));
        assert!(sample.contains("# Register a pod.\n# POST  /pods\n"));
        assert!(sample.lines().all(|l| l.is_empty() || l.starts_with('#')));
        assert!(sample.lines().all(|l| l.len() <= 72), "{sample}");
    }

    #[test]
    fn comments_wrap_at_the_width() {
        let lines = wrap_comment("aaa bbb ccc ddd", 9);
        assert_eq!(lines, vec!["# aaa bbb", "# ccc ddd"]);
        assert_eq!(wrap_comment("", 70), Vec::<String>::new());
        assert_eq!(
            wrap_comment("averyveryverylongword x", 5),
            vec!["# averyveryverylongword", "# x"]
        );
    }
}
