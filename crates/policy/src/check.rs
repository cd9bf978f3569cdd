//! oslo.policy check strings: tokenizer, parser and the parsed check tree.
//!
//! The language (`@`, `!`, `kind:match`, `and`, `or`, `not`, parentheses)
//! and its quirks follow oslo.policy's parser: words are split on
//! whitespace, parentheses are peeled off the ends of words, keywords are
//! case-insensitive, precedence is `not` > `and` > `or`.
//!
//! Failure handling mirrors oslo.policy too: a single check it cannot
//! understand becomes "never" inside an otherwise good expression, and an
//! expression it cannot parse as a whole becomes "never". Every such problem
//! is also reported, so a service can refuse a malformed policy file.

use std::fmt;

use crate::creds::CredSource;
use crate::error::PolicyError;
use crate::pyfmt::{literal_str, Template};

/// A parsed check string.
#[derive(Debug, Clone)]
pub struct Check {
    pub(crate) node: Node,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Always,
    Never,
    /// `rule:<name>`: the named rule (or the default rule if undefined).
    Rule(String),
    /// `role:<match>`.
    Role(Atom),
    /// `<kind>:<match>` for any other kind.
    Generic(Atom, Kind),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

#[derive(Debug, Clone)]
pub(crate) struct Atom {
    /// Written form, kept for display.
    kind: String,
    raw_match: String,
    template: Template,
}

/// What a generic check compares the expanded match with.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `str()` of a Python literal (`True`, `'member'`, `5`).
    Literal(String),
    /// Dotted path into the credentials.
    Path(Vec<String>),
}

impl Check {
    /// Parses a check string, refusing anything oslo.policy would have had
    /// to replace by "never".
    pub fn parse(text: &str) -> Result<Check, PolicyError> {
        let (node, mut problems) = parse_text(text);
        match problems.is_empty() {
            true => Ok(Check { node }),
            false => Err(syntax(text, problems.swap_remove(0))),
        }
    }

    /// Parses a check string the way oslo.policy does: whatever cannot be
    /// understood is logged and denies.
    pub fn parse_lenient(text: &str) -> Check {
        let (node, problems) = parse_text(text);
        for problem in problems {
            tracing::error!(
                check_str = text,
                "policy check string not understood, it will deny: {problem}"
            );
        }
        Check { node }
    }

    /// Parses the legacy list-of-lists form (outer list "or", inner list
    /// "and"; each element one check, not an expression), strictly.
    pub fn parse_list(list: &[Vec<String>]) -> Result<Check, PolicyError> {
        let (node, mut problems) = parse_list(list);
        match problems.is_empty() {
            true => Ok(Check { node }),
            false => Err(syntax(&list_source(list), problems.swap_remove(0))),
        }
    }
}

fn syntax(text: &str, reason: String) -> PolicyError {
    PolicyError::Syntax {
        file: None,
        rule: None,
        check_str: text.to_owned(),
        reason,
    }
}

/// JSON spelling of a list rule, for messages and [`crate::Enforcer::check_str`].
pub(crate) fn list_source(list: &[Vec<String>]) -> String {
    serde_json::to_string(list).unwrap_or_default()
}

/// oslo.policy's string form: `@`, `!`, `kind:match`, `not x`,
/// `(a and b)`, `(a or b)`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Node], op: &str| {
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                item.fmt(f)?;
            }
            f.write_str(")")
        };
        match self {
            Node::Always => f.write_str("@"),
            Node::Never => f.write_str("!"),
            Node::Rule(name) => write!(f, "rule:{name}"),
            Node::Role(atom) | Node::Generic(atom, _) => {
                write!(f, "{}:{}", atom.kind, atom.raw_match)
            }
            Node::Not(inner) => write!(f, "not {inner}"),
            Node::And(items) => join(f, items, "and"),
            Node::Or(items) => join(f, items, "or"),
        }
    }
}

impl Node {
    /// Names this check refers to with `rule:`, in order.
    pub(crate) fn rule_refs<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Rule(name) => out.push(name),
            Node::Not(inner) => inner.rule_refs(out),
            Node::And(items) | Node::Or(items) => items.iter().for_each(|i| i.rule_refs(out)),
            _ => {}
        }
    }

    /// Decides a check that has no `rule:` inside; `rules` decides those.
    pub(crate) fn eval<C: CredSource + ?Sized>(
        &self,
        target: &serde_json::Value,
        creds: &C,
        rules: &mut dyn FnMut(&str) -> bool,
    ) -> bool {
        match self {
            Node::Always => true,
            Node::Never => false,
            Node::Rule(name) => rules(name),
            Node::Role(atom) => match atom.template.render(target) {
                Some(role) => creds.has_role(&role),
                None => false,
            },
            Node::Generic(atom, kind) => {
                let Some(expected) = atom.template.render(target) else {
                    return false;
                };
                match kind {
                    Kind::Literal(text) => *text == expected,
                    Kind::Path(path) => creds.path_matches(path, &expected),
                }
            }
            Node::Not(inner) => !inner.eval(target, creds, rules),
            Node::And(items) => items.iter().all(|i| i.eval(target, creds, rules)),
            Node::Or(items) => items.iter().any(|i| i.eval(target, creds, rules)),
        }
    }
}

/// One `kind:match` (or `@` / `!`), as oslo.policy's `_parse_check`.
/// Problems make it "never" and are pushed onto `problems`.
fn parse_single(text: &str, problems: &mut Vec<String>) -> Node {
    match text {
        "@" => return Node::Always,
        "!" => return Node::Never,
        _ => {}
    }
    let Some((kind, raw_match)) = text.split_once(':') else {
        problems.push(format!(
            "{text:?} is not a check: expected '@', '!' or 'kind:match'"
        ));
        return Node::Never;
    };
    if kind == "rule" {
        return Node::Rule(raw_match.to_owned());
    }
    if kind == "http" || kind == "https" {
        // oslo.policy would POST the target and credentials to that URL; this
        // service does not send credentials to third parties.
        problems.push(format!("remote checks ({text:?}) are not supported"));
        return Node::Never;
    }
    let template = match Template::parse(raw_match) {
        Ok(template) => template,
        Err(reason) => {
            problems.push(format!("in check {text:?}: {reason}"));
            return Node::Never;
        }
    };
    let atom = Atom {
        kind: kind.to_owned(),
        raw_match: raw_match.to_owned(),
        template,
    };
    if kind == "role" {
        return Node::Role(atom);
    }
    let kind = match literal_str(kind) {
        Some(text) => Kind::Literal(text),
        None => Kind::Path(kind.split('.').map(str::to_owned).collect()),
    };
    Node::Generic(atom, kind)
}

/// The legacy form. Empty list: always; inner lists that are empty are
/// skipped; nothing left: never.
pub(crate) fn parse_list(list: &[Vec<String>]) -> (Node, Vec<String>) {
    let mut problems = Vec::new();
    if list.is_empty() {
        return (Node::Always, problems);
    }
    let mut alternatives: Vec<Node> = list
        .iter()
        .filter(|inner| !inner.is_empty())
        .map(|inner| {
            let mut all: Vec<Node> = inner
                .iter()
                .map(|c| parse_single(c, &mut problems))
                .collect();
            if all.len() == 1 {
                all.swap_remove(0)
            } else {
                Node::And(all)
            }
        })
        .collect();
    let node = match alternatives.len() {
        0 => Node::Never,
        1 => alternatives.swap_remove(0),
        _ => Node::Or(alternatives),
    };
    (node, problems)
}

#[derive(Debug)]
enum Token<'a> {
    Open,
    Close,
    And,
    Or,
    Not,
    Quoted(&'a str),
    Check(&'a str),
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
            Token::And => f.write_str("'and'"),
            Token::Or => f.write_str("'or'"),
            Token::Not => f.write_str("'not'"),
            Token::Quoted(s) => write!(f, "quoted string {s:?}"),
            Token::Check(s) => write!(f, "{s:?}"),
        }
    }
}

/// oslo.policy's tokenizer: parentheses count only at the start or end of a
/// whitespace-separated word, so `%(key)s` inside a check is left alone.
fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    for word in text.split_whitespace() {
        let word = {
            let stripped = word.trim_start_matches('(');
            tokens.extend((0..word.len() - stripped.len()).map(|_| Token::Open));
            stripped
        };
        if word.is_empty() {
            continue;
        }
        let clean = word.trim_end_matches(')');
        let trailing = word.len() - clean.len();
        if clean.eq_ignore_ascii_case("and") {
            tokens.push(Token::And);
        } else if clean.eq_ignore_ascii_case("or") {
            tokens.push(Token::Or);
        } else if clean.eq_ignore_ascii_case("not") {
            tokens.push(Token::Not);
        } else if !clean.is_empty() {
            let bytes = word.as_bytes();
            let quoted = bytes.len() >= 2
                && (bytes[0] == b'"' || bytes[0] == b'\'')
                && bytes[bytes.len() - 1] == bytes[0];
            if quoted {
                tokens.push(Token::Quoted(&word[1..word.len() - 1]));
            } else {
                tokens.push(Token::Check(clean));
            }
        }
        tokens.extend((0..trailing).map(|_| Token::Close));
    }
    tokens
}

/// Parses the policy language. The empty string is "always"; any structural
/// error makes the whole rule "never" (with one problem reported).
pub(crate) fn parse_text(text: &str) -> (Node, Vec<String>) {
    let mut problems = Vec::new();
    if text.is_empty() {
        return (Node::Always, problems);
    }
    let tokens = tokenize(text);
    if tokens.is_empty() {
        problems.push(
            "the check string is only whitespace (use \"\" or \"@\" to allow everyone)".to_owned(),
        );
        return (Node::Never, problems);
    }
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        depth: 0,
        problems: &mut problems,
    };
    let parsed = parser
        .expression()
        .and_then(|node| match parser.tokens.get(parser.pos) {
            None => Ok(node),
            Some(Token::Close) => Err("unbalanced parentheses: unexpected ')'".to_owned()),
            Some(token) => Err(format!("expected 'and' or 'or' before {token}")),
        });
    match parsed {
        Ok(node) => (node, problems),
        Err(reason) => {
            // The whole rule denies; single-check problems found so far are
            // moot next to the structural one.
            problems.clear();
            problems.push(reason);
            (Node::Never, problems)
        }
    }
}

/// Recursive descent equivalent to oslo.policy's shift-reduce grammar:
/// `or_expr := and_expr ('or' and_expr)*`, `and_expr := unary ('and' unary)*`,
/// `unary := 'not' unary | '(' or_expr ')' | check`.
struct Parser<'t, 'p> {
    tokens: &'t [Token<'t>],
    pos: usize,
    /// Current `not` / parenthesis nesting, bounded to keep recursion shallow.
    depth: usize,
    problems: &'p mut Vec<String>,
}

/// Far beyond any real policy; deeper input is refused, not a stack overflow.
const MAX_NESTING: usize = 100;

impl<'t> Parser<'t, '_> {
    fn next(&mut self) -> Option<&'t Token<'t>> {
        let tokens: &'t [Token<'t>] = self.tokens;
        let token = tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn eat(&mut self, want: fn(&Token<'_>) -> bool) -> bool {
        let hit = self.tokens.get(self.pos).is_some_and(want);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expression(&mut self) -> Result<Node, String> {
        let mut items = vec![self.conjunction()?];
        while self.eat(|t| matches!(t, Token::Or)) {
            items.push(self.conjunction()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn conjunction(&mut self) -> Result<Node, String> {
        let mut items = vec![self.unary()?];
        while self.eat(|t| matches!(t, Token::And)) {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::And(items)
        })
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "'not' and parentheses nest deeper than {MAX_NESTING} levels"
            ));
        }
        self.depth += 1;
        let node = self.unary_inner();
        self.depth -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, String> {
        let after = |prev: Option<&Token<'_>>| match prev {
            Some(token) => format!(" after {token}"),
            None => String::new(),
        };
        let prev = self.pos.checked_sub(1).and_then(|p| self.tokens.get(p));
        let prev_text = after(prev);
        match self.next() {
            Some(Token::Not) => Ok(Node::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                if self.eat(|t| matches!(t, Token::Close)) {
                    return Err("empty parentheses '()'".to_owned());
                }
                let inner = self.expression()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    None => Err("unbalanced parentheses: missing ')'".to_owned()),
                    Some(token) => Err(format!("expected 'and', 'or' or ')' before {token}")),
                }
            }
            Some(Token::Check(text)) => Ok(parse_single(text, self.problems)),
            Some(Token::Quoted(text)) => Err(format!(
                "quoted string {text:?} is not a check (a quoted literal needs ':match' after it)"
            )),
            Some(token @ (Token::And | Token::Or)) => {
                Err(format!("expected a check{prev_text} but found {token}"))
            }
            Some(Token::Close) => Err(format!("expected a check{prev_text} but found ')'")),
            None => Err(format!("expected a check{prev_text} but the rule ends")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_with_oslo_precedence_and_shape() {
        let cases = [
            ("", "@"),
            ("@", "@"),
            ("!", "!"),
            ("role:admin", "role:admin"),
            ("rule:admin_api", "rule:admin_api"),
            (
                "is_admin:True or project_id:%(project_id)s",
                "(is_admin:True or project_id:%(project_id)s)",
            ),
            ("a:1 or b:2 and c:3", "(a:1 or (b:2 and c:3))"),
            ("a:1 and b:2 or c:3", "((a:1 and b:2) or c:3)"),
            (
                "a:1 and b:2 or c:3 and d:4",
                "((a:1 and b:2) or (c:3 and d:4))",
            ),
            ("a:1 or b:2 or c:3", "(a:1 or b:2 or c:3)"),
            ("a:1 and b:2 and c:3", "(a:1 and b:2 and c:3)"),
            ("not a:1 and b:2", "(not a:1 and b:2)"),
            ("not a:1 or b:2", "(not a:1 or b:2)"),
            ("a:1 or not b:2 and c:3", "(a:1 or (not b:2 and c:3))"),
            ("not (a:1 or b:2)", "not (a:1 or b:2)"),
            ("not not a:1", "not not a:1"),
            ("(a:1 or b:2) and c:3", "((a:1 or b:2) and c:3)"),
            ("((a:1))", "a:1"),
            ("(role:admin)", "role:admin"),
            ("( role:admin )", "role:admin"),
            ("a:1 AND b:2 Or NOT c:3", "((a:1 and b:2) or not c:3)"),
            ("  a:1 \t or\n b:2  ", "(a:1 or b:2)"),
            ("'member':%(role.name)s", "'member':%(role.name)s"),
            ("('member':%(role.name)s)", "'member':%(role.name)s"),
            ("user_id:%(target.user.id)s", "user_id:%(target.user.id)s"),
            ("role:compute:admin", "role:compute:admin"),
            ("a:", "a:"),
        ];
        for (input, shown) in cases {
            let check = Check::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(check.to_string(), shown, "{input:?}");
        }
    }

    #[test]
    fn refuses_malformed_check_strings() {
        let deep_parens = format!("{}a:1", "(".repeat(100_000));
        let deep_nots = format!("{}a:1", "not ".repeat(100_000));
        let cases = [
            ("a:1 and", "ends"),
            ("or a:1", "found 'or'"),
            ("(a:1", "missing ')'"),
            ("a:1)", "unexpected ')'"),
            ("a:1 b:2", "expected 'and' or 'or' before \"b:2\""),
            ("(a:1 b:2)", "before \"b:2\""),
            ("'quoted'", "quoted string"),
            ("not", "ends"),
            ("()", "empty parentheses"),
            ("   ", "only whitespace"),
            ("foo", "not a check"),
            ("http://example.com/check", "remote checks"),
            ("a:%(x", "unclosed"),
            ("a:%(x)q", "unsupported conversion"),
            ("a:50%", "'%' must be followed"),
            ("role:admin or foo", "not a check"),
            ("a:1 and and b:2", "after 'and' but found 'and'"),
            (deep_parens.as_str(), "nest deeper"),
            (deep_nots.as_str(), "nest deeper"),
        ];
        for (input, needle) in cases {
            let err = Check::parse(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
        }
    }

    #[test]
    fn lenient_parse_denies_what_it_cannot_understand() {
        let cases = [
            // A bad single check becomes "never" in place.
            ("role:admin or foo", "(role:admin or !)"),
            ("https://x:1 or @", "(! or @)"),
            // A structural error makes the whole rule "never".
            ("role:admin and", "!"),
            ("role:admin or foo)", "!"),
            ("  ", "!"),
        ];
        for (input, shown) in cases {
            assert_eq!(Check::parse_lenient(input).to_string(), shown, "{input:?}");
        }
    }

    #[test]
    fn list_form_is_or_of_ands() {
        let l = |v: &[&[&str]]| -> Vec<Vec<String>> {
            v.iter()
                .map(|i| i.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        let cases: [(&[&[&str]], &str); 6] = [
            (&[], "@"),
            (&[&[]], "!"),
            (&[&["role:admin"]], "role:admin"),
            (
                &[&["role:admin"], &["project_id:%(project_id)s"]],
                "(role:admin or project_id:%(project_id)s)",
            ),
            (
                &[&["role:a", "role:b"], &[], &["@"]],
                "((role:a and role:b) or @)",
            ),
            // Elements are single checks, never expressions.
            (&[&["role:admin or role:x"]], "role:admin or role:x"),
        ];
        for (list, shown) in cases {
            assert_eq!(Check::parse_list(&l(list)).unwrap().to_string(), shown);
        }
        let err = Check::parse_list(&l(&[&["nocolon"]])).unwrap_err();
        assert!(
            matches!(&err, PolicyError::Syntax { check_str, .. } if check_str == r#"[["nocolon"]]"#),
            "{err}"
        );
    }

    #[test]
    fn role_match_text_is_kept_whole() {
        // oslo splits at the first ':' only.
        let check = Check::parse("role:compute:admin").unwrap();
        let mut no_rules = |_: &str| false;
        let creds = json!({"roles": ["Compute:Admin"]});
        assert!(check.node.eval(&json!({}), &creds, &mut no_rules));
    }
}
