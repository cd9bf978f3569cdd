//! The oslo.config dialect of INI.
//!
//! The `config` crate's INI format (rust-ini) differs from oslo.config in ways
//! that break existing files: it interprets backslash escapes (`pa\ss` fails
//! to parse), drops the earlier copy of a section that appears twice, keeps
//! only one value of a repeated option and ignores indented continuation
//! lines. So files are parsed here and only the merging is left to `config`.
//!
//! The rules followed are oslo.config's:
//! - `[section]` headers; section names other than `DEFAULT` are
//!   case-insensitive (lowercased), option names are case-sensitive;
//! - `name = value` or `name: value`, split at the first `=` or `:`;
//!   surrounding whitespace is trimmed and one pair of matching surrounding
//!   quotes is removed; everything else (including `#`) is part of the value;
//! - lines starting with `#` or `;` are comments, blank lines are ignored;
//! - a line starting with whitespace continues the previous value (joined
//!   with a newline);
//! - an option may be repeated: every occurrence is kept (the last one wins
//!   for single-valued options).

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// One `name = value` assignment.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub section: String,
    pub name: String,
    pub value: String,
}

/// A parsed configuration file.
#[derive(Debug, Clone)]
pub(crate) struct ParsedFile {
    pub path: PathBuf,
    /// Sections in order of first appearance (including empty ones).
    pub sections: Vec<String>,
    pub entries: Vec<Entry>,
}

impl ParsedFile {
    /// How the file is named in errors and warnings.
    pub fn origin(&self) -> String {
        self.path.display().to_string()
    }
}

/// oslo.config lowercases group names, except `DEFAULT`.
pub(crate) fn normalize_section(name: &str) -> String {
    if name == "DEFAULT" {
        name.to_owned()
    } else {
        name.to_lowercase()
    }
}

pub(crate) fn parse_file(path: &Path) -> Result<ParsedFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(path, &text)
}

struct Pending {
    name: String,
    lines: Vec<String>,
}

pub(crate) fn parse_str(path: &Path, text: &str) -> Result<ParsedFile, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = ParsedFile {
        path: path.to_owned(),
        sections: Vec::new(),
        entries: Vec::new(),
    };
    let mut section: Option<String> = None;
    let mut pending: Option<Pending> = None;

    let syntax = |line: usize, section: &Option<String>, reason: &str| ConfigError::Syntax {
        path: path.to_owned(),
        line,
        section: section.clone(),
        reason: reason.to_owned(),
    };

    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = raw.trim_end();

        if line.is_empty() {
            flush(&mut file, &section, &mut pending);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some(p) => p.lines.push(line.trim_start().to_owned()),
                // An indented comment is harmless; anything else has no
                // option to continue.
                None if line.trim_start().starts_with(['#', ';']) => {}
                None => {
                    return Err(syntax(
                        lineno,
                        &section,
                        "indented line does not continue any option",
                    ))
                }
            }
            continue;
        }
        flush(&mut file, &section, &mut pending);

        if let Some(header) = line.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']') else {
                return Err(syntax(
                    lineno,
                    &section,
                    "section header lacks a closing ']'",
                ));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(syntax(lineno, &section, "empty section name '[]'"));
            }
            let name = normalize_section(name);
            if !file.sections.contains(&name) {
                file.sections.push(name.clone());
            }
            section = Some(name);
        } else if line.starts_with(['#', ';']) {
            // comment
        } else {
            let Some(split) = line.find(['=', ':']) else {
                // The line is not echoed: it may be a mistyped password line.
                return Err(syntax(
                    lineno,
                    &section,
                    "expected 'name = value', a [section] header or a comment",
                ));
            };
            let name = line[..split].trim();
            if name.is_empty() {
                return Err(syntax(lineno, &section, "option name missing before '='"));
            }
            if section.is_none() {
                return Err(syntax(
                    lineno,
                    &section,
                    "option before the first [section] header",
                ));
            }
            pending = Some(Pending {
                name: name.to_owned(),
                lines: vec![unquote(line[split + 1..].trim()).to_owned()],
            });
        }
    }
    flush(&mut file, &section, &mut pending);
    Ok(file)
}

fn flush(file: &mut ParsedFile, section: &Option<String>, pending: &mut Option<Pending>) {
    if let (Some(p), Some(section)) = (pending.take(), section) {
        file.entries.push(Entry {
            section: section.clone(),
            name: p.name,
            value: p.lines.join("\n"),
        });
    }
}

fn unquote(value: &str) -> &str {
    let bytes = value.as_bytes();
    if bytes.len() >= 2 && matches!(bytes[0], b'"' | b'\'') && bytes[0] == bytes[bytes.len() - 1] {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ParsedFile {
        parse_str(Path::new("/etc/t.conf"), text).expect("valid file")
    }

    fn values(file: &ParsedFile) -> Vec<(String, String, String)> {
        file.entries
            .iter()
            .map(|e| (e.section.clone(), e.name.clone(), e.value.clone()))
            .collect()
    }

    fn entry(s: &str, n: &str, v: &str) -> (String, String, String) {
        (s.to_owned(), n.to_owned(), v.to_owned())
    }

    #[test]
    fn assignments_comments_and_separators() {
        let f = parse(
            "# leading comment\n[DEFAULT]\n; other comment\na = 1\nb: two\nc=x=y\n\
             url = rabbit://u:p#w@h:5672/\nempty =\n",
        );
        assert_eq!(
            values(&f),
            vec![
                entry("DEFAULT", "a", "1"),
                entry("DEFAULT", "b", "two"),
                entry("DEFAULT", "c", "x=y"),
                entry("DEFAULT", "url", "rabbit://u:p#w@h:5672/"),
                entry("DEFAULT", "empty", ""),
            ]
        );
    }

    #[test]
    fn quotes_backslashes_and_case() {
        let f = parse(
            "[Keystone_AuthToken]\nPassword = \"se cret\"\nq = 'a'b'\nbs = C:\\tmp\\x\nhalf = \"x\n",
        );
        assert_eq!(
            values(&f),
            vec![
                entry("keystone_authtoken", "Password", "se cret"),
                entry("keystone_authtoken", "q", "a'b"),
                entry("keystone_authtoken", "bs", "C:\\tmp\\x"),
                entry("keystone_authtoken", "half", "\"x"),
            ]
        );
        // DEFAULT is the only case-sensitive section name.
        assert_eq!(parse("[default]\na=1\n").entries[0].section, "default");
    }

    #[test]
    fn continuation_lines_and_repeats() {
        let f = parse("[DEFAULT]\nk = a\n  b\n\tc\n\nk = d\n[client]\nx = 1\n[DEFAULT]\ny = 2\n");
        assert_eq!(
            values(&f),
            vec![
                entry("DEFAULT", "k", "a\nb\nc"),
                entry("DEFAULT", "k", "d"),
                entry("client", "x", "1"),
                entry("DEFAULT", "y", "2"),
            ]
        );
        assert_eq!(f.sections, vec!["DEFAULT", "client"]);
    }

    #[test]
    fn bom_crlf_and_indented_comment() {
        let f = parse("\u{feff}[DEFAULT]\r\na = 1\r\n\r\n   # indented comment\r\n");
        assert_eq!(values(&f), vec![entry("DEFAULT", "a", "1")]);
    }

    fn error(text: &str) -> String {
        parse_str(Path::new("/etc/t.conf"), text)
            .expect_err("invalid file")
            .to_string()
    }

    #[test]
    fn syntax_errors_name_file_line_and_section() {
        assert_eq!(
            error("[DEFAULT]\na = 1\nadmin_password secret\n"),
            "/etc/t.conf: line 3 in [DEFAULT]: expected 'name = value', a [section] header or a comment"
        );
        assert_eq!(
            error("a = 1\n"),
            "/etc/t.conf: line 1: option before the first [section] header"
        );
        assert_eq!(
            error("[DEFAULT\n"),
            "/etc/t.conf: line 1: section header lacks a closing ']'"
        );
        assert_eq!(
            error("[ ]\n"),
            "/etc/t.conf: line 1: empty section name '[]'"
        );
        assert_eq!(
            error("[client]\n = x\n"),
            "/etc/t.conf: line 2 in [client]: indented line does not continue any option"
        );
        assert_eq!(
            error("[client]\n= x\n"),
            "/etc/t.conf: line 2 in [client]: option name missing before '='"
        );
    }
}
