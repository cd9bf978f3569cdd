//! Option descriptions and the conversion of option text into typed values,
//! following oslo.config's types.

use std::net::IpAddr;

use crate::secret::Secret;

/// How an option's text is validated (and labelled in the sample file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Str,
    /// One of the listed strings; the flag makes the match case-insensitive.
    Choice(&'static [&'static str], bool),
    Bool,
    /// Integer with optional inclusive minimum and maximum.
    Int(Option<i64>, Option<i64>),
    /// Float with an optional inclusive minimum.
    Float(Option<f64>),
    Port,
    Ip,
    /// Comma-separated list.
    List,
    /// oslo's MultiStrOpt: every occurrence, in every file, is one element.
    Multi,
}

impl Kind {
    pub(crate) fn label(&self) -> String {
        match self {
            Kind::Str => "string value".to_owned(),
            Kind::Choice(choices, _) => format!("string value, one of: {}", choices.join(", ")),
            Kind::Bool => "boolean value".to_owned(),
            Kind::Int(None, None) => "integer value".to_owned(),
            Kind::Int(Some(min), None) => format!("integer value, minimum {min}"),
            Kind::Int(None, Some(max)) => format!("integer value, maximum {max}"),
            Kind::Int(Some(min), Some(max)) => format!("integer value, {min} to {max}"),
            Kind::Float(None) => "floating point value".to_owned(),
            Kind::Float(Some(min)) => format!("floating point value, minimum {min}"),
            Kind::Port => "port value, 0 to 65535".to_owned(),
            Kind::Ip => "IP address value".to_owned(),
            Kind::List => "list value".to_owned(),
            Kind::Multi => "multi valued: repeat the option for each value".to_owned(),
        }
    }
}

/// The description of one option: where it lives, its default (as INI text,
/// parsed like a value from a file) and the older names it is still read
/// from.
#[derive(Debug)]
pub(crate) struct OptSpec {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub help: &'static str,
    pub secret: bool,
    /// Deprecated `(section, name)` pairs, as oslo's `deprecated_opts`.
    pub aliases: &'static [(&'static str, &'static str)],
}

/// A Rust type an option can be read into.
pub(crate) trait OptValue: Sized {
    /// Values of this type are never shown in errors or `Debug` output.
    const SECRET: bool = false;

    /// `values` holds the option's text after `$` substitution: for
    /// single-valued options the last element is the value; `None` means the
    /// option is neither set nor has a default. The error is the reason shown
    /// after the value in the error message.
    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String>;

    /// Whether an empty value means "unset" for `Option<Self>` (oslo's
    /// numeric types turn `opt =` into None).
    fn empty_is_unset() -> bool {
        false
    }
}

fn last(values: Option<&[String]>) -> Result<&str, String> {
    values
        .and_then(|v| v.last())
        .map(String::as_str)
        .ok_or_else(|| "a value is required".to_owned())
}

impl OptValue for String {
    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        let value = last(values)?;
        if let Kind::Choice(choices, ignore_case) = kind {
            let ok = choices.iter().any(|c| {
                if ignore_case {
                    c.eq_ignore_ascii_case(value)
                } else {
                    *c == value
                }
            });
            if !ok {
                return Err(format!("must be one of: {}", choices.join(", ")));
            }
        }
        Ok(value.to_owned())
    }
}

impl OptValue for Secret {
    const SECRET: bool = true;

    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        String::from_values(values, kind).map(Secret::new)
    }
}

impl OptValue for bool {
    fn from_values(values: Option<&[String]>, _: Kind) -> Result<Self, String> {
        match last(values)?.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err("not a valid boolean (true/false, yes/no, on/off, 1/0)".to_owned()),
        }
    }
}

impl OptValue for i64 {
    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        let n: i64 = last(values)?
            .trim()
            .parse()
            .map_err(|_| "not a valid integer".to_owned())?;
        if let Kind::Int(min, max) = kind {
            if let Some(min) = min.filter(|min| n < *min) {
                return Err(format!("must be at least {min}"));
            }
            if let Some(max) = max.filter(|max| n > *max) {
                return Err(format!("must be at most {max}"));
            }
        }
        Ok(n)
    }

    fn empty_is_unset() -> bool {
        true
    }
}

impl OptValue for u16 {
    fn from_values(values: Option<&[String]>, _: Kind) -> Result<Self, String> {
        last(values)?
            .trim()
            .parse()
            .map_err(|_| "not a valid port number (0-65535)".to_owned())
    }

    fn empty_is_unset() -> bool {
        true
    }
}

impl OptValue for f64 {
    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        let x: f64 = last(values)?
            .trim()
            .parse()
            .map_err(|_| "not a valid number".to_owned())?;
        if let Kind::Float(Some(min)) = kind {
            if x < min {
                return Err(format!("must be at least {min}"));
            }
        }
        Ok(x)
    }

    fn empty_is_unset() -> bool {
        true
    }
}

impl OptValue for IpAddr {
    fn from_values(values: Option<&[String]>, _: Kind) -> Result<Self, String> {
        last(values)?
            .trim()
            .parse()
            .map_err(|_| "not a valid IP address".to_owned())
    }

    fn empty_is_unset() -> bool {
        true
    }
}

impl OptValue for Vec<String> {
    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        let Some(values) = values else {
            return Ok(Vec::new());
        };
        if kind == Kind::Multi {
            return Ok(values.to_vec());
        }
        Ok(values.last().map(|v| split_list(v)).unwrap_or_default())
    }
}

impl<T: OptValue> OptValue for Option<T> {
    const SECRET: bool = T::SECRET;

    fn from_values(values: Option<&[String]>, kind: Kind) -> Result<Self, String> {
        match values.and_then(|v| v.last()) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() && T::empty_is_unset() => Ok(None),
            Some(_) => T::from_values(values, kind).map(Some),
        }
    }
}

/// oslo's list type: items separated by commas, whitespace around items and
/// trailing commas ignored, an empty value is an empty list.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let text = text.trim().trim_end_matches(',');
    if text.trim().is_empty() {
        return Vec::new();
    }
    text.split(',').map(|item| item.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<String> {
        vec![text.to_owned()]
    }

    #[test]
    fn booleans_accept_oslo_spellings() {
        for t in ["true", "TRUE", "Yes", "on", "1", " True "] {
            assert_eq!(
                bool::from_values(Some(&one(t)), Kind::Bool),
                Ok(true),
                "{t}"
            );
        }
        for f in ["false", "False", "NO", "off", "0"] {
            assert_eq!(
                bool::from_values(Some(&one(f)), Kind::Bool),
                Ok(false),
                "{f}"
            );
        }
        assert!(bool::from_values(Some(&one("maybe")), Kind::Bool).is_err());
        assert!(bool::from_values(Some(&one("")), Kind::Bool).is_err());
    }

    #[test]
    fn integers_respect_bounds() {
        let kind = Kind::Int(Some(1), Some(10));
        assert_eq!(i64::from_values(Some(&one(" 7 ")), kind), Ok(7));
        assert_eq!(
            i64::from_values(Some(&one("0")), kind),
            Err("must be at least 1".to_owned())
        );
        assert_eq!(
            i64::from_values(Some(&one("11")), kind),
            Err("must be at most 10".to_owned())
        );
        assert_eq!(
            i64::from_values(Some(&one("1.5")), kind),
            Err("not a valid integer".to_owned())
        );
    }

    #[test]
    fn optional_numbers_treat_empty_as_unset() {
        let kind = Kind::Int(None, None);
        assert_eq!(Option::<i64>::from_values(Some(&one("")), kind), Ok(None));
        assert_eq!(Option::<i64>::from_values(None, kind), Ok(None));
        assert_eq!(
            Option::<i64>::from_values(Some(&one("5")), kind),
            Ok(Some(5))
        );
        // ...but an empty string option stays an empty string.
        assert_eq!(
            Option::<String>::from_values(Some(&one("")), Kind::Str),
            Ok(Some(String::new()))
        );
        assert!(i64::from_values(Some(&one("")), kind).is_err());
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(split_list("a, b ,c,"), vec!["a", "b", "c"]);
        assert_eq!(split_list("  "), Vec::<String>::new());
        assert_eq!(split_list("a,,b"), vec!["a", "", "b"]);
        let multi = vec!["x,y".to_owned(), "z".to_owned()];
        assert_eq!(
            Vec::<String>::from_values(Some(&multi), Kind::Multi),
            Ok(multi.clone())
        );
        assert_eq!(
            Vec::<String>::from_values(Some(&multi), Kind::List),
            Ok(vec!["z".to_owned()])
        );
    }

    #[test]
    fn choices_ports_ips_floats() {
        let kind = Kind::Choice(&["None", "MAC"], true);
        assert_eq!(
            String::from_values(Some(&one("mac")), kind),
            Ok("mac".to_owned())
        );
        assert_eq!(
            String::from_values(Some(&one("x")), Kind::Choice(&["a", "b"], false)),
            Err("must be one of: a, b".to_owned())
        );
        assert_eq!(u16::from_values(Some(&one("65535")), Kind::Port), Ok(65535));
        assert!(u16::from_values(Some(&one("65536")), Kind::Port).is_err());
        assert!(u16::from_values(Some(&one("-1")), Kind::Port).is_err());
        assert_eq!(
            IpAddr::from_values(Some(&one("::1")), Kind::Ip),
            Ok("::1".parse().unwrap())
        );
        assert!(IpAddr::from_values(Some(&one("localhost")), Kind::Ip).is_err());
        assert_eq!(
            f64::from_values(Some(&one("0.5")), Kind::Float(None)),
            Ok(0.5)
        );
        assert!(f64::from_values(Some(&one("-1")), Kind::Float(Some(0.0))).is_err());
    }
}
