//! The rule set and its evaluation, as an oslo.policy `Enforcer` with the
//! reference's defaults registered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::check::{list_source, parse_list, parse_text, Node};
use crate::creds::{CredSource, Credentials};
use crate::defaults::DEFAULT_RULES;
use crate::error::PolicyError;

/// `[oslo_policy] policy_default_rule`'s default.
pub const DEFAULT_RULE: &str = "default";

/// How deep `rule:` references may nest during one decision. Only reachable
/// when a lenient build kept a loop; a strict build refuses loops.
const MAX_RULE_DEPTH: usize = 64;

/// Parsed policy rules; decides whether a caller may perform an action.
///
/// Immutable once built, so it can be shared between threads as is.
#[derive(Debug, Clone)]
pub struct Enforcer {
    rules: HashMap<String, Rule>,
    default_rule: String,
}

#[derive(Debug, Clone)]
struct Rule {
    node: Node,
    /// The check string as written, for [`Enforcer::check_str`].
    source: String,
}

/// A rule definition before parsing.
#[derive(Debug, Clone)]
enum Spec {
    Text(String),
    List(Vec<Vec<String>>),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    spec: Spec,
    file: Option<PathBuf>,
}

/// Collects rule overrides (files, directories, single rules) on top of the
/// registered defaults. Later overrides of the same rule win.
#[derive(Debug, Clone)]
pub struct EnforcerBuilder {
    default_rule: String,
    entries: Vec<Entry>,
}

impl Default for EnforcerBuilder {
    fn default() -> Self {
        EnforcerBuilder {
            default_rule: DEFAULT_RULE.to_owned(),
            entries: Vec::new(),
        }
    }
}

impl EnforcerBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rule used for actions (and `rule:` references) that have no rule
    /// of their own; `[oslo_policy] policy_default_rule`.
    pub fn default_rule(mut self, name: impl Into<String>) -> Self {
        self.default_rule = name.into();
        self
    }

    /// Overrides (or adds) one rule.
    pub fn rule(mut self, name: impl Into<String>, check_str: impl Into<String>) -> Self {
        self.entries.push(Entry {
            name: name.into(),
            spec: Spec::Text(check_str.into()),
            file: None,
        });
        self
    }

    /// Overrides rules from a policy file (YAML, or JSON). Rules the file
    /// does not mention keep their defaults.
    pub fn file(mut self, path: &Path) -> Result<Self, PolicyError> {
        for (name, spec) in read_policy_file(path)? {
            self.entries.push(Entry {
                name,
                spec,
                file: Some(path.to_path_buf()),
            });
        }
        Ok(self)
    }

    /// Overrides rules from every file of a `policy_dirs` directory, in
    /// file-name order, skipping hidden files and subdirectories. A missing
    /// directory is skipped, as oslo.policy does.
    pub fn dir(mut self, path: &Path) -> Result<Self, PolicyError> {
        if !path.exists() {
            tracing::debug!(path = %path.display(), "policy directory not found, skipped");
            return Ok(self);
        }
        if !path.is_dir() {
            return Err(PolicyError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        let io_error = |source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.path().is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        for file in files {
            self = self.file(&file)?;
        }
        Ok(self)
    }

    /// Builds the enforcer, refusing any rule oslo.policy could not fully
    /// understand and any loop of `rule:` references. The error names the
    /// rule (and its file).
    pub fn build(self) -> Result<Enforcer, PolicyError> {
        let (enforcer, mut problems) = self.assemble();
        match problems.is_empty() {
            true => Ok(enforcer),
            false => Err(problems.swap_remove(0)),
        }
    }

    /// Builds the enforcer the way oslo.policy loads rules: what cannot be
    /// understood denies, and is logged. The problems are also returned.
    pub fn build_lenient(self) -> (Enforcer, Vec<PolicyError>) {
        let (enforcer, problems) = self.assemble();
        for problem in &problems {
            tracing::error!("{problem}; the affected checks deny");
        }
        (enforcer, problems)
    }

    fn assemble(self) -> (Enforcer, Vec<PolicyError>) {
        let mut problems = Vec::new();
        let mut rules = HashMap::with_capacity(DEFAULT_RULES.len() + self.entries.len());
        for entry in self.entries {
            let (node, found, source) = match entry.spec {
                Spec::Text(text) => {
                    let (node, found) = parse_text(&text);
                    (node, found, text)
                }
                Spec::List(list) => {
                    let (node, found) = parse_list(&list);
                    (node, found, list_source(&list))
                }
            };
            problems.extend(found.into_iter().map(|reason| PolicyError::Syntax {
                file: entry.file.clone(),
                rule: Some(entry.name.clone()),
                check_str: source.clone(),
                reason,
            }));
            rules.insert(entry.name, Rule { node, source });
        }
        for default in DEFAULT_RULES {
            if rules.contains_key(default.name) {
                continue;
            }
            let (node, found) = parse_text(default.check_str);
            debug_assert!(
                found.is_empty(),
                "default rule {} is malformed",
                default.name
            );
            rules.insert(
                default.name.to_owned(),
                Rule {
                    node,
                    source: default.check_str.to_owned(),
                },
            );
        }
        let enforcer = Enforcer {
            rules,
            default_rule: self.default_rule,
        };
        if let Some(rules) = enforcer.find_cycle() {
            problems.push(PolicyError::Cycle { rules });
        }
        enforcer.warn_undefined();
        (enforcer, problems)
    }
}

impl Enforcer {
    /// The reference's defaults only, with default rule `default`.
    pub fn with_defaults() -> Enforcer {
        let (enforcer, problems) = EnforcerBuilder::new().assemble();
        debug_assert!(problems.is_empty(), "{problems:?}");
        enforcer
    }

    pub fn builder() -> EnforcerBuilder {
        EnforcerBuilder::new()
    }

    /// Defaults overridden by one policy file, strictly (see
    /// [`EnforcerBuilder::build`]).
    pub fn from_file(path: &Path, default_rule: &str) -> Result<Enforcer, PolicyError> {
        EnforcerBuilder::new()
            .default_rule(default_rule)
            .file(path)?
            .build()
    }

    /// What the service loads at start-up: defaults, then the policy file if
    /// one was found, then each `policy_dirs` directory.
    pub fn load(
        policy_file: Option<&Path>,
        policy_dirs: &[PathBuf],
        default_rule: &str,
    ) -> Result<Enforcer, PolicyError> {
        let mut builder = EnforcerBuilder::new().default_rule(default_rule);
        if let Some(path) = policy_file {
            builder = builder.file(path)?;
        }
        for dir in policy_dirs {
            builder = builder.dir(dir)?;
        }
        builder.build()
    }

    /// May `creds` perform `action` on `target`?
    ///
    /// `action` without a rule of its own is decided by the default rule;
    /// without that either, the answer is no.
    pub fn enforce(&self, action: &str, target: &Value, creds: &Credentials) -> bool {
        self.decide(action, target, creds)
    }

    /// [`Enforcer::enforce`] with a free-form credential dictionary (nested
    /// mappings and lists allowed), as oslo.policy accepts.
    pub fn enforce_value(&self, action: &str, target: &Value, creds: &Value) -> bool {
        self.decide(action, target, creds)
    }

    /// The check string in force for `name` (without default-rule fallback).
    pub fn check_str(&self, name: &str) -> Option<&str> {
        self.rules.get(name).map(|r| r.source.as_str())
    }

    /// Names of all rules in force, sorted.
    pub fn rule_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.rules.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn default_rule(&self) -> &str {
        &self.default_rule
    }

    fn decide<C: CredSource + ?Sized>(&self, action: &str, target: &Value, creds: &C) -> bool {
        let allowed = self.eval_rule(action, target, creds, 0);
        tracing::debug!(action, allowed, "policy decision");
        allowed
    }

    /// oslo.policy's `Rules.__missing__`: an unknown name stands for the
    /// default rule, if that exists.
    fn resolve<'a>(&'a self, name: &'a str) -> Option<(&'a str, &'a Rule)> {
        self.rules
            .get_key_value(name)
            .or_else(|| self.rules.get_key_value(self.default_rule.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    fn eval_rule<C: CredSource + ?Sized>(
        &self,
        name: &str,
        target: &Value,
        creds: &C,
        depth: usize,
    ) -> bool {
        if depth > MAX_RULE_DEPTH {
            tracing::warn!(
                rule = name,
                "policy rules nest too deeply (a loop?); denying"
            );
            return false;
        }
        let Some((_, rule)) = self.resolve(name) else {
            tracing::debug!(
                rule = name,
                "no such policy rule and no default rule; denying"
            );
            return false;
        };
        rule.node.eval(target, creds, &mut |next| {
            self.eval_rule(next, target, creds, depth + 1)
        })
    }

    /// A loop of `rule:` references, if any (as the names along it).
    ///
    /// Iterative depth-first search, so a long chain of rules cannot
    /// exhaust the stack.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        let refs_of = |name: &str| -> Vec<&str> {
            let mut refs = Vec::new();
            if let Some(rule) = self.rules.get(name) {
                rule.node.rule_refs(&mut refs);
            }
            // Where each reference really leads (unknown names: the default).
            refs.into_iter()
                .filter_map(|r| self.resolve(r).map(|(k, _)| k))
                .collect()
        };
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        for root in self.rule_names() {
            if marks.contains_key(root) {
                continue;
            }
            // Each frame: a rule on the current path and its next reference.
            let mut stack: Vec<(&str, Vec<&str>, usize)> = vec![(root, refs_of(root), 0)];
            marks.insert(root, Mark::Active);
            while let Some((name, refs, next)) = stack.last_mut() {
                let Some(&reference) = refs.get(*next) else {
                    marks.insert(*name, Mark::Done);
                    stack.pop();
                    continue;
                };
                *next += 1;
                match marks.get(reference) {
                    Some(Mark::Done) => {}
                    Some(Mark::Active) => {
                        let start = stack
                            .iter()
                            .position(|(n, _, _)| *n == reference)
                            .unwrap_or(0);
                        let mut cycle: Vec<String> = stack[start..]
                            .iter()
                            .map(|(n, _, _)| n.to_string())
                            .collect();
                        cycle.push(reference.to_owned());
                        return Some(cycle);
                    }
                    None => {
                        marks.insert(reference, Mark::Active);
                        stack.push((reference, refs_of(reference), 0));
                    }
                }
            }
        }
        None
    }

    /// oslo.policy warns about `rule:` references to undefined rules (they
    /// fall back to the default rule, which is rarely what was meant).
    fn warn_undefined(&self) {
        for name in self.rule_names() {
            let mut refs = Vec::new();
            self.rules[name].node.rule_refs(&mut refs);
            for reference in refs.into_iter().filter(|r| !self.rules.contains_key(*r)) {
                tracing::warn!(
                    rule = name,
                    reference,
                    default_rule = %self.default_rule,
                    "policy rule refers to an undefined rule; the default rule applies in its place"
                );
            }
        }
        if !self.rules.contains_key(&self.default_rule) {
            tracing::warn!(
                default_rule = %self.default_rule,
                "the default policy rule is not defined; actions without a rule are denied"
            );
        }
    }
}

/// Reads a policy file: JSON or YAML (JSON is tried first when the file is
/// named `*.json` or starts with `{`), a mapping of rule names to check
/// strings or legacy lists. An empty file holds no rules.
fn read_policy_file(path: &Path) -> Result<Vec<(String, Spec)>, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let document = parse_document(text, path).map_err(|message| PolicyError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    let map = match document {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => map,
        _ => {
            return Err(PolicyError::Content {
                path: path.to_path_buf(),
                rule: None,
                message: "the top level must be a mapping of rule names to check strings"
                    .to_owned(),
            })
        }
    };
    map.into_iter()
        .map(|(name, value)| {
            let spec = spec_from_value(path, &name, value)?;
            Ok((name, spec))
        })
        .collect()
}

fn parse_document(text: &str, path: &Path) -> Result<Value, String> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Value::Null);
    }
    let json_named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json_named || text.trim_start().starts_with('{') {
        match serde_json::from_str(text) {
            Ok(value) => return Ok(value),
            // JSON is YAML too (mostly); only if both fail is it an error,
            // and then the JSON complaint is the helpful one.
            Err(json_error) => {
                return serde_yaml_ng::from_str(text).map_err(|_| json_error.to_string())
            }
        }
    }
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

fn spec_from_value(path: &Path, name: &str, value: Value) -> Result<Spec, PolicyError> {
    let content_error = |message: &str| PolicyError::Content {
        path: path.to_path_buf(),
        rule: Some(name.to_owned()),
        message: message.to_owned(),
    };
    match value {
        Value::String(text) => Ok(Spec::Text(text)),
        Value::Null => {
            // oslo.policy treats a rule without a value like "": everyone.
            tracing::warn!(rule = name, path = %path.display(), "policy rule has no value; it allows everyone");
            Ok(Spec::Text(String::new()))
        }
        Value::Array(outer) => {
            let mut list = Vec::with_capacity(outer.len());
            for inner in outer {
                list.push(match inner {
                    // Empty entries are skipped by the list parser.
                    Value::Null => Vec::new(),
                    Value::String(check) if check.is_empty() => Vec::new(),
                    Value::String(check) => vec![check],
                    Value::Array(checks) => checks
                        .into_iter()
                        .map(|c| match c {
                            Value::String(s) => Ok(s),
                            _ => Err(content_error("every check in a list rule must be a string")),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(content_error(
                            "a list rule must hold lists of check strings",
                        ))
                    }
                });
            }
            Ok(Spec::List(list))
        }
        _ => Err(content_error(
            "the rule must be a check string (or a list of lists of checks)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::rules;
    use serde_json::json;

    fn one_rule(check: &str) -> Enforcer {
        EnforcerBuilder::new()
            .rule("t", check)
            .build()
            .unwrap_or_else(|e| panic!("{check:?}: {e}"))
    }

    #[test]
    fn evaluates_each_check_kind() {
        let creds = json!({
            "roles": ["Admin", "member"],
            "is_admin": true,
            "is_reader": false,
            "project_id": "p1",
            "nothing": null,
            "count": 5,
            "ratio": 5.0,
            "user": {"id": "u1", "enabled": true},
            "groups": [{"name": "g1"}, {"name": "g2"}],
            "name": "'quoted'",
            "nested_list": [["a"]],
        });
        let target = json!({
            "project_id": "p1",
            "other_project": "p2",
            "role": "ADMIN",
            "uid": "u1",
            "g": "g2",
            "role.name": "member",
            "enabled": true,
            "n": 5,
            "q": "quoted",
            "nothing": null,
            "list": ["a"],
        });
        let cases = [
            ("@", true),
            ("!", false),
            ("", true),
            // role: ignores case, both ways.
            ("role:admin", true),
            ("role:MEMBER", true),
            ("role:reader", false),
            ("role:%(role)s", true),
            ("role:%(missing)s", false),
            // Generic checks compare Python's str().
            ("is_admin:True", true),
            ("is_admin:true", false),
            ("is_admin:False", false),
            ("is_reader:False", true),
            ("nothing:None", true),
            ("missing:None", false),
            ("count:5", true),
            ("count:%(n)s", true),
            ("ratio:5", false),
            ("ratio:5.0", true),
            ("project_id:%(project_id)s", true),
            ("project_id:%(other_project)s", false),
            ("project_id:%(missing)s", false),
            ("nothing:%(nothing)s", true),
            // Dotted kinds walk nested credentials; lists mean "any".
            ("user.id:%(uid)s", true),
            ("user.enabled:True", true),
            ("user.missing:u1", false),
            ("project_id.x:p1", false),
            ("groups.name:%(g)s", true),
            ("groups.name:g3", false),
            ("roles:member", true),
            ("roles:Member", false),
            ("nested_list:['a']", true),
            // Literal kinds compare with the expanded match.
            ("'member':%(role.name)s", true),
            ("'Member':%(role.name)s", false),
            ("True:%(enabled)s", true),
            ("5:%(n)s", true),
            ("'member':%(role)s", false),
            // Substitution keys are flat: no descent into the target.
            ("'u1':%(user.id)s", false),
            ("name:%(q)r", true),
            ("'100%':100%%", true),
            // Operators.
            ("not role:admin", false),
            ("not role:reader", true),
            ("role:reader or is_admin:True", true),
            ("role:admin and is_admin:False", false),
            ("not (role:reader or !) and @", true),
        ];
        for (check, expected) in cases {
            let enforcer = one_rule(check);
            assert_eq!(
                enforcer.enforce_value("t", &target, &creds),
                expected,
                "{check:?}"
            );
        }
    }

    #[test]
    fn credentials_struct_evaluates_like_its_dictionary() {
        let creds = Credentials {
            user_id: Some("u1".into()),
            project_id: Some("p1".into()),
            roles: vec!["Member".into()],
            is_admin: false,
            ..Default::default()
        };
        let dict = creds.to_value();
        let target = json!({"project_id": "p1", "user_id": "u1"});
        for check in [
            "role:member",
            "role:admin",
            "is_admin:False",
            "is_admin:True",
            "project_id:%(project_id)s",
            "tenant:%(project_id)s",
            "user:%(user_id)s",
            "user_id:%(user_id)s",
            "roles:Member",
            "domain:None",
            "user.x:u1",
        ] {
            let enforcer = one_rule(check);
            assert_eq!(
                enforcer.enforce("t", &target, &creds),
                enforcer.enforce_value("t", &target, &dict),
                "{check:?}"
            );
        }
        assert!(one_rule("user:%(user_id)s").enforce("t", &target, &creds));
        // The reference's credentials have no `user_id` key.
        assert!(!one_rule("user_id:%(user_id)s").enforce("t", &target, &creds));
    }

    #[test]
    fn rule_references_and_the_default_rule() {
        let enforcer = EnforcerBuilder::new()
            .rule("admins", "role:admin")
            .rule("t", "rule:admins")
            .rule("typo", "rule:admnis")
            .rule(rules::DEFAULT, "role:fallback")
            .build()
            .unwrap();
        let admin = json!({"roles": ["admin"]});
        let fallback = json!({"roles": ["fallback"]});
        assert!(enforcer.enforce_value("t", &json!({}), &admin));
        assert!(!enforcer.enforce_value("t", &json!({}), &fallback));
        // Unknown names, as an action or behind `rule:`, mean the default rule.
        assert!(enforcer.enforce_value("no:such:action", &json!({}), &fallback));
        assert!(!enforcer.enforce_value("no:such:action", &json!({}), &admin));
        assert!(enforcer.enforce_value("typo", &json!({}), &fallback));
        assert!(!enforcer.enforce_value("typo", &json!({}), &admin));

        // Without a default rule, unknown means no.
        let enforcer = EnforcerBuilder::new()
            .default_rule("not_defined")
            .rule("typo", "rule:admnis or role:x")
            .build()
            .unwrap();
        assert!(!enforcer.enforce_value("no:such:action", &json!({}), &admin));
        assert!(!enforcer.enforce_value("typo", &json!({}), &admin));
        assert!(enforcer.enforce_value("typo", &json!({}), &json!({"roles": ["x"]})));
        assert_eq!(enforcer.default_rule(), "not_defined");
    }

    #[test]
    fn loops_are_refused_strictly_and_deny_leniently() {
        let err = EnforcerBuilder::new()
            .rule("a", "rule:b")
            .rule("b", "role:x or rule:a")
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, PolicyError::Cycle { rules } if rules == &["a", "b", "a"]),
            "{err}"
        );

        // Through the default rule: `default` -> unknown -> `default`.
        let err = EnforcerBuilder::new()
            .rule(rules::DEFAULT, "rule:nowhere")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("default -> default"), "{err}");

        let (enforcer, problems) = EnforcerBuilder::new()
            .rule("a", "rule:b")
            .rule("b", "rule:a")
            .build_lenient();
        assert_eq!(problems.len(), 1);
        assert!(!enforcer.enforce_value("a", &json!({}), &json!({})));
    }

    #[test]
    fn long_reference_chains_are_checked_without_recursion() {
        let mut builder = EnforcerBuilder::new();
        for i in 0..50_000 {
            builder = builder.rule(format!("r{i}"), format!("rule:r{}", i + 1));
        }
        let err = builder
            .clone()
            .rule("r50000", "rule:r0")
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, PolicyError::Cycle { rules } if rules.len() == 50_002),
            "loop not found"
        );
        let enforcer = builder.rule("r50000", "@").build().unwrap();
        // Evaluation stops at the nesting limit and denies.
        assert!(!enforcer.enforce_value("r0", &json!({}), &json!({})));
        assert!(enforcer.enforce_value("r49990", &json!({}), &json!({})));
    }

    #[test]
    fn lenient_build_keeps_oslo_behaviour() {
        let (enforcer, problems) = EnforcerBuilder::new()
            .rule("broken", "role:admin or")
            .rule("half", "role:admin or nocolon")
            .build_lenient();
        assert_eq!(problems.len(), 2);
        assert!(problems
            .iter()
            .all(|p| matches!(p, PolicyError::Syntax { .. })));
        let admin = json!({"roles": ["admin"]});
        assert!(!enforcer.enforce_value("broken", &json!({}), &admin));
        assert!(enforcer.enforce_value("half", &json!({}), &admin));
        let err = EnforcerBuilder::new()
            .rule("broken", "role:admin or")
            .build()
            .unwrap_err();
        assert_eq!(err.rule(), Some("broken"));
        assert!(
            err.to_string()
                .starts_with("policy rule \"broken\": cannot parse \"role:admin or\""),
            "{err}"
        );
    }

    #[test]
    fn check_str_and_names() {
        let enforcer = EnforcerBuilder::new().rule("x", "@").build().unwrap();
        assert_eq!(enforcer.check_str("x"), Some("@"));
        assert_eq!(enforcer.check_str(rules::ADMIN_API), Some("is_admin:True"));
        assert_eq!(enforcer.check_str("nope"), None);
        let names = enforcer.rule_names();
        assert_eq!(names.len(), DEFAULT_RULES.len() + 1);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
