//! Python-compatible text: `str()`/`repr()` of JSON values, `%`-style
//! templates over a mapping, and `ast.literal_eval` of the literals a check
//! kind may be written as.
//!
//! oslo.policy compares *strings*: a generic check succeeds when the rendered
//! match equals `str(value)`. Reproducing Python's spelling (`True`, `None`,
//! `1.0`, `['a', 'b']`) is what makes existing policy files behave the same.

use std::borrow::Cow;

use serde_json::{Number, Value};

/// `str(value)` of the Python object the JSON value decodes to.
pub(crate) fn py_str(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        Value::Number(n) => Cow::Owned(py_number(n)),
        Value::Array(_) | Value::Object(_) => Cow::Owned(py_repr(value)),
    }
}

/// `match == str(value)` without allocating for the common scalar cases.
pub(crate) fn py_str_eq(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Bool(b) => expected == if *b { "True" } else { "False" },
        Value::Null => expected == "None",
        _ => py_str(value) == expected,
    }
}

/// `repr(value)` of the Python object the JSON value decodes to.
pub(crate) fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(&py_repr_str(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&py_repr_str(k));
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
        other => out.push_str(&py_str(other)),
    }
}

fn py_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        py_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// `repr(float)`: shortest round-trip digits; scientific notation when the
/// decimal exponent is below -4 or at least 16, exponent signed and at least
/// two digits wide.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` already yields the shortest round-trip mantissa.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let mut fixed = format!("{f}");
        if !fixed.contains('.') {
            fixed.push_str(".0");
        }
        fixed
    }
}

/// `repr(str)`: single quotes unless the text holds a single quote and no
/// double quote; backslash escapes for quotes and non-printable characters.
pub(crate) fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximates Python's `str.isprintable`: control characters, separators
/// other than the plain space, and the common invisible format characters.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        u32::from(c),
        0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0xfeff
    )
}

/// How a `%(key)X` placeholder converts its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// `s`: `str(value)`.
    Str,
    /// `r`: `repr(value)`.
    Repr,
    /// `d` / `i`: integer formatting.
    Int,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Key(String, Conversion),
}

/// A check's match, as the Python `match % target` would expand it.
///
/// Parsed once, when the rule is loaded; expanding it allocates only when
/// the result mixes literal text and substitutions.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `%(key)s`, `%(key)r`, `%(key)d`, `%(key)i` and `%%`. Every
    /// other `%` use is refused: Python would raise at evaluation time.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('%') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
                continue;
            }
            let Some(inner) = after.strip_prefix('(') else {
                return Err(format!(
                    "'%' must be followed by '(key)' or another '%' in {text:?}"
                ));
            };
            // Python allows balanced parentheses inside the key.
            let mut depth = 1usize;
            let mut end = None;
            for (i, c) in inner.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(end) = end else {
                return Err(format!("unclosed '%(' in {text:?}"));
            };
            let key = &inner[..end];
            let after_key = &inner[end + 1..];
            let mut chars = after_key.chars();
            let conversion = match chars.next() {
                Some('s') => Conversion::Str,
                Some('r') => Conversion::Repr,
                Some('d' | 'i') => Conversion::Int,
                Some(c) => {
                    return Err(format!(
                        "unsupported conversion '{c}' after '%({key})' in {text:?} \
                         (use %({key})s)"
                    ))
                }
                None => return Err(format!("incomplete '%({key})' at the end of {text:?}")),
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Key(key.to_owned(), conversion));
            rest = chars.as_str();
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// Expands the template against the target mapping. `None` when a key is
    /// missing (or its value cannot be converted): the check then fails.
    pub(crate) fn render<'a>(&'a self, target: &'a Value) -> Option<Cow<'a, str>> {
        match self.parts.as_slice() {
            [] => Some(Cow::Borrowed("")),
            [Part::Literal(text)] => Some(Cow::Borrowed(text)),
            [Part::Key(key, conversion)] => convert(lookup(target, key)?, *conversion),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Literal(text) => out.push_str(text),
                        Part::Key(key, conversion) => {
                            out.push_str(&convert(lookup(target, key)?, *conversion)?)
                        }
                    }
                }
                Some(Cow::Owned(out))
            }
        }
    }
}

fn lookup<'a>(target: &'a Value, key: &str) -> Option<&'a Value> {
    // `%(a.b)s` names the key "a.b" itself: Python's `%` does not descend.
    target.as_object()?.get(key)
}

fn convert(value: &Value, conversion: Conversion) -> Option<Cow<'_, str>> {
    match conversion {
        Conversion::Str => Some(py_str(value)),
        Conversion::Repr => Some(Cow::Owned(py_repr(value))),
        Conversion::Int => match value {
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "1" } else { "0" })),
            Value::Number(n) => {
                if n.is_f64() {
                    let f = n.as_f64()?;
                    f.is_finite()
                        .then(|| Cow::Owned(format!("{:.0}", f.trunc())))
                } else {
                    Some(Cow::Owned(py_number(n)))
                }
            }
            _ => None,
        },
    }
}

/// `str(ast.literal_eval(kind))` when the kind is a literal this module
/// understands: quoted strings, `True`/`False`/`None`, integers and floats
/// (one optional sign). `None` means "not a literal": the kind is then a
/// path into the credentials, as in oslo.policy.
pub(crate) fn literal_str(kind: &str) -> Option<String> {
    match kind {
        "True" | "False" | "None" => return Some(kind.to_owned()),
        _ => {}
    }
    if let Some(s) = string_literal(kind) {
        return Some(s);
    }
    let (negative, digits) = match kind.as_bytes().first()? {
        b'-' => (true, &kind[1..]),
        b'+' => (false, &kind[1..]),
        _ => (false, kind),
    };
    if let Some(i) = int_literal(digits) {
        return Some(if negative { -i } else { i }.to_string());
    }
    float_literal(digits).map(|f| py_float(if negative { -f } else { f }))
}

fn string_literal(kind: &str) -> Option<String> {
    let (raw, body) = match kind.as_bytes().first()? {
        b'r' | b'R' => (true, &kind[1..]),
        b'u' | b'U' => (false, &kind[1..]),
        _ => (false, kind),
    };
    let quote = *body.as_bytes().first()?;
    if quote != b'\'' && quote != b'"' {
        return None;
    }
    let triple = if quote == b'\'' { "'''" } else { "\"\"\"" };
    let inner = if body.len() >= 6 && body.starts_with(triple) && body.ends_with(triple) {
        &body[3..body.len() - 3]
    } else if body.len() >= 2 && body.as_bytes()[body.len() - 1] == quote {
        let inner = &body[1..body.len() - 1];
        if unescaped_quote(inner, quote as char) {
            return None;
        }
        inner
    } else {
        return None;
    };
    if raw {
        return Some(inner.to_owned());
    }
    unescape(inner)
}

/// True when `inner` holds the quote character without a backslash before it
/// (which would end the literal early, e.g. `'a'b'`).
fn unescaped_quote(inner: &str, quote: char) -> bool {
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

fn unescape(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            // A trailing lone backslash escapes the closing quote: not a literal.
            return None;
        };
        match e {
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'x' | 'u' | 'U' => {
                let width = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..width).filter_map(|_| chars.next()).collect();
                if hex.len() != width {
                    return None;
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            '0'..='7' => {
                let mut code = e.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code)?);
            }
            other => {
                // Python keeps unknown escapes verbatim.
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// Python integer literal without sign: decimal (no leading zeros except for
/// zero itself), `0x`, `0o`, `0b`, with single underscores between digits.
fn int_literal(text: &str) -> Option<i128> {
    let lower = text.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &text[2..]),
        Some("0o") => (8, &text[2..]),
        Some("0b") => (2, &text[2..]),
        _ => (10, text),
    };
    // After a radix prefix Python allows one underscore before the digits.
    let digits = if radix != 10 {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if !valid_digit_groups(digits, |c| c.is_digit(radix)) {
        return None;
    }
    if radix == 10
        && digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().any(|b| b != b'0' && b != b'_')
    {
        return None;
    }
    i128::from_str_radix(&digits.replace('_', ""), radix).ok()
}

fn float_literal(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(pos) => (&text[..pos], Some(&text[pos + 1..])),
        None => (text, None),
    };
    let (whole, frac) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    if exponent.is_none() && frac.is_none() {
        return None;
    }
    let digits_ok = |s: &str| valid_digit_groups(s, |c| c.is_ascii_digit());
    let whole_ok = whole.is_empty() || digits_ok(whole);
    let frac_ok = frac.is_none_or(|f| f.is_empty() || digits_ok(f));
    let has_digits = !whole.is_empty() || frac.is_some_and(|f| !f.is_empty());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        digits_ok(e)
    });
    if !(whole_ok && frac_ok && has_digits && exp_ok) {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Non-empty, only digits accepted by `is_digit`, underscores only between
/// two digits.
fn valid_digit_groups(text: &str, is_digit: impl Fn(char) -> bool) -> bool {
    !text.is_empty()
        && !text.starts_with('_')
        && !text.ends_with('_')
        && !text.contains("__")
        && text.chars().all(|c| c == '_' || is_digit(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_of_values_matches_python() {
        let cases = [
            (json!("abc"), "abc"),
            (json!(true), "True"),
            (json!(false), "False"),
            (json!(null), "None"),
            (json!(5), "5"),
            (json!(-7), "-7"),
            (json!(18446744073709551615u64), "18446744073709551615"),
            (json!(1.0), "1.0"),
            (json!(0.5), "0.5"),
            (json!(1e16), "1e+16"),
            (json!(1e15), "1000000000000000.0"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(-2.5e-7), "-2.5e-07"),
            (json!(["a", 1, null, true]), "['a', 1, None, True]"),
            (json!({"k": "v", "n": [1.5]}), "{'k': 'v', 'n': [1.5]}"),
            (json!(["it's"]), "[\"it's\"]"),
            (json!(["a\nb\\"]), "['a\\nb\\\\']"),
            (json!(["\u{1}"]), "['\\x01']"),
        ];
        for (value, expected) in cases {
            assert_eq!(py_str(&value), expected, "str({value})");
            assert!(py_str_eq(&value, expected), "str_eq({value})");
        }
        assert!(!py_str_eq(&json!(true), "true"));
        assert!(!py_str_eq(&json!(null), "null"));
    }

    #[test]
    fn templates_expand_like_python_percent() {
        let target = json!({
            "project_id": "p1",
            "n": 3,
            "f": 2.9,
            "flag": true,
            "nothing": null,
            "dotted.key": "d",
            "nested": {"key": "x"},
            "s": "it"
        });
        let cases = [
            ("%(project_id)s", Some("p1")),
            ("plain", Some("plain")),
            ("", Some("")),
            ("100%%", Some("100%")),
            ("a-%(project_id)s-%(n)s", Some("a-p1-3")),
            ("%(flag)s", Some("True")),
            ("%(nothing)s", Some("None")),
            ("%(dotted.key)s", Some("d")),
            ("%(nested.key)s", None),
            ("%(missing)s", None),
            ("%(s)r", Some("'it'")),
            ("%(n)d", Some("3")),
            ("%(f)d", Some("2")),
            ("%(flag)i", Some("1")),
            ("%(s)d", None),
            ("%(nested)s", Some("{'key': 'x'}")),
        ];
        for (text, expected) in cases {
            let template = Template::parse(text).expect(text);
            assert_eq!(template.render(&target).as_deref(), expected, "{text}");
        }
        // A target that is not a mapping has no keys.
        let t = Template::parse("%(a)s").unwrap();
        assert_eq!(t.render(&json!(null)), None);
        assert_eq!(
            Template::parse("x")
                .unwrap()
                .render(&json!(null))
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn templates_refuse_what_python_cannot_format() {
        for text in ["50%", "%s", "%(a", "%(a)", "%(a)q", "%(a)10s", "%d"] {
            assert!(Template::parse(text).is_err(), "{text} should be refused");
        }
        assert!(Template::parse("%((a))s").is_ok());
    }

    #[test]
    fn literal_kinds_follow_literal_eval() {
        let cases = [
            ("'member'", Some("member")),
            ("\"member\"", Some("member")),
            ("u'x'", Some("x")),
            ("r'a\\n'", Some("a\\n")),
            ("'a\\tb'", Some("a\tb")),
            ("'\\x41'", Some("A")),
            ("'''x'y'''", Some("x'y")),
            ("''", Some("")),
            ("True", Some("True")),
            ("False", Some("False")),
            ("None", Some("None")),
            ("5", Some("5")),
            ("-5", Some("-5")),
            ("+5", Some("5")),
            ("0", Some("0")),
            ("000", Some("0")),
            ("1_000", Some("1000")),
            ("0x1F", Some("31")),
            ("0o17", Some("15")),
            ("0b101", Some("5")),
            ("1.5", Some("1.5")),
            ("1.", Some("1.0")),
            (".5", Some("0.5")),
            ("1e3", Some("1000.0")),
            ("1E-5", Some("1e-05")),
            ("007", None),
            ("1__0", None),
            ("--5", None),
            ("is_admin", None),
            ("true", None),
            ("user.id", None),
            ("'a'b'", None),
            ("'abc", None),
            ("inf", None),
            ("nan", None),
            ("e5", None),
            ("1e", None),
            ("", None),
        ];
        for (kind, expected) in cases {
            assert_eq!(literal_str(kind).as_deref(), expected, "{kind}");
        }
    }
}
