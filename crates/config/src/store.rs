//! Merged view of the configuration files: option lookup (with deprecated
//! names), `$` substitution and typed reads.
//!
//! Merging is done by the `config` crate: each parsed file is one source, so
//! a later file overrides an earlier one option by option. Each option's
//! value carries the position of its file on the command line: errors name
//! that file, and the newer file decides between an option's current and
//! deprecated names.

use std::collections::HashMap;

use config::{Map, Source, Value};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::ini::{normalize_section, ParsedFile};
use crate::options::find_spec;
use crate::secret::redact;
use crate::value::{Kind, OptSpec, OptValue};

/// oslo.config gives up on substitution chains this deep (they are loops).
const MAX_DEPTH: usize = 32;

/// The one top-level key of every source. `config` reads top-level keys as
/// paths (`a.b`, `a[0]`) but merges the keys of nested tables as they are,
/// and section names are plain strings.
const SECTIONS: &str = "sections";

/// One parsed file as a `config` source:
/// `{sections: {section: {option: {file, values}}}}`, read back as [`Merged`].
#[derive(Debug, Clone)]
struct FileSource(Value);

impl FileSource {
    fn new(file: usize, parsed: &ParsedFile) -> Self {
        let mut sections: Map<String, Map<String, Vec<&str>>> = Map::new();
        for e in &parsed.entries {
            sections
                .entry(e.section.clone())
                .or_default()
                .entry(e.name.clone())
                .or_default()
                .push(&e.value);
        }
        let sections: Map<String, Map<String, Value>> = sections
            .into_iter()
            .map(|(section, options)| {
                let options = options
                    .into_iter()
                    .map(|(name, values)| {
                        let layer = Map::from([
                            ("file".to_owned(), Value::from(file as u64)),
                            ("values".to_owned(), Value::from(values)),
                        ]);
                        (name, Value::from(layer))
                    })
                    .collect();
                (section, options)
            })
            .collect();
        FileSource(Value::from(sections))
    }
}

impl Source for FileSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(Map::from([(SECTIONS.to_owned(), self.0.clone())]))
    }
}

/// What the merge gives back.
#[derive(Deserialize)]
struct Merged {
    /// Absent when no file is loaded.
    #[serde(default)]
    sections: HashMap<String, HashMap<String, Layer>>,
}

/// An option as set by the last file that sets it.
#[derive(Deserialize)]
struct Layer {
    /// Position of that file on the command line.
    file: usize,
    /// Every occurrence in that file (the last one counts for single-valued
    /// options).
    values: Vec<String>,
}

/// An option's value as found in the files.
struct Found<'n> {
    section: &'n str,
    name: &'n str,
    values: Vec<String>,
    /// Position of the (last) file that set it.
    file: usize,
}

enum SubstError {
    Unknown(String),
    Loop,
}

pub(crate) struct Store<'a> {
    files: &'a [ParsedFile],
    merged: Merged,
}

impl<'a> Store<'a> {
    pub(crate) fn new(files: &'a [ParsedFile]) -> Result<Self, ConfigError> {
        let merged = files
            .iter()
            .enumerate()
            .fold(config::Config::builder(), |b, (i, f)| {
                b.add_source(FileSource::new(i, f))
            })
            .build()?
            .try_deserialize()?;
        Ok(Store { files, merged })
    }

    fn layer(&self, section: &str, name: &str) -> Option<&Layer> {
        self.merged.sections.get(section)?.get(name)
    }

    /// The value set for `spec`, under its name or a deprecated one. As in
    /// oslo.config, the newest file wins; within one file the current name
    /// wins over deprecated ones.
    /// `section` is where to look: `spec.section`, or the section of a
    /// template spec (one `[notifications_<region>]` per region); a
    /// template's options have no deprecated names.
    fn find<'n>(&self, section: &'n str, spec: &'n OptSpec) -> Option<Found<'n>> {
        let aliases = if section == spec.section {
            spec.aliases
        } else {
            &[]
        };
        let names = std::iter::once((section, spec.name)).chain(aliases.iter().copied());
        if spec.kind == Kind::Multi {
            return self.find_multi(names.collect());
        }
        let mut best: Option<(&str, &str, &Layer)> = None;
        for (section, name) in names {
            if let Some(layer) = self.layer(section, name) {
                if best.is_none_or(|(.., b)| layer.file > b.file) {
                    best = Some((section, name, layer));
                }
            }
        }
        best.map(|(section, name, layer)| Found {
            section,
            name,
            values: layer.values.clone(),
            file: layer.file,
        })
    }

    /// Multi-valued options collect their occurrences from every file, in
    /// command-line order, rather than letting the last file win.
    fn find_multi<'n>(&self, names: Vec<(&'n str, &'n str)>) -> Option<Found<'n>> {
        let mut found: Option<Found> = None;
        for (i, file) in self.files.iter().enumerate() {
            for e in &file.entries {
                let Some(&(section, name)) = names
                    .iter()
                    .find(|n| **n == (e.section.as_str(), e.name.as_str()))
                else {
                    continue;
                };
                let f = found.get_or_insert_with(|| Found {
                    section,
                    name,
                    values: Vec::new(),
                    file: i,
                });
                f.values.push(e.value.clone());
                f.file = i;
            }
        }
        found
    }

    /// Whether a file sets the option `spec` describes (under its name or a
    /// deprecated one), as opposed to it taking its default.
    pub(crate) fn is_set(&self, spec: &OptSpec) -> bool {
        self.find(spec.section, spec).is_some()
    }

    /// Whether a file has a section of this name (even an empty one);
    /// section names are case-insensitive, as in oslo.config.
    pub(crate) fn has_section(&self, section: &str) -> bool {
        let section = normalize_section(section);
        self.files.iter().any(|f| f.sections.contains(&section))
    }

    /// Reads the option `spec` describes from section `in_section` (a
    /// section named at run time, e.g. `[notifications_RegionOne]`).
    pub(crate) fn get_in<T: OptValue>(
        &self,
        in_section: &str,
        spec: &OptSpec,
    ) -> Result<T, ConfigError> {
        let normalized = normalize_section(in_section);
        let in_section = normalized.as_str();
        let (section, name, raw, file) = match self.find(in_section, spec) {
            Some(f) => (f.section, f.name, Some(f.values), Some(f.file)),
            None => (
                in_section,
                spec.name,
                spec.default.map(|d| vec![d.to_owned()]),
                None,
            ),
        };
        let shown = raw
            .as_ref()
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_default();
        let error = |reason: String| ConfigError::Value {
            origin: file.map_or_else(|| "(default)".to_owned(), |i| self.files[i].origin()),
            section: section.to_owned(),
            option: name.to_owned(),
            value: display_value(&shown, spec.secret),
            reason,
        };

        // Set when a substituted reference is a secret option: the expanded
        // text must then not be shown either.
        let mut secret_used = false;
        let expanded = match &raw {
            None => None,
            Some(values) => Some(
                values
                    .iter()
                    .map(|v| self.substitute(in_section, v, 0, &mut secret_used))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| error(subst_reason(e, spec.secret)))?,
            ),
        };
        T::from_values(expanded.as_deref(), spec.kind).map_err(|reason| {
            let after = expanded.as_ref().and_then(|v| v.last());
            match after {
                Some(after) if !spec.secret && !secret_used && *after != shown => error(format!(
                    "{reason} (after substitution: '{}')",
                    after.escape_debug()
                )),
                _ => error(reason),
            }
        })
    }

    /// oslo.config's `$name` / `${name}` substitution. `$$` and `\$` give a
    /// literal `$`; a `$` not followed by a name is kept as is.
    fn substitute(
        &self,
        section: &str,
        text: &str,
        depth: usize,
        secret_used: &mut bool,
    ) -> Result<String, SubstError> {
        if depth > MAX_DEPTH {
            return Err(SubstError::Loop);
        }
        let text = text.replace("\\$", "$$");
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                continue;
            }
            let reference = match after.strip_prefix('{') {
                Some(inner) => inner
                    .find('}')
                    .filter(|end| name_len(&inner[..*end]) == *end && *end > 0)
                    .map(|end| (&inner[..end], end + 2)),
                None => Some(name_len(after))
                    .filter(|len| *len > 0)
                    .map(|len| (&after[..len], len)),
            };
            match reference {
                Some((name, consumed)) => {
                    out.push_str(&self.reference(section, name, depth, secret_used)?);
                    rest = &after[consumed..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Value of a substitution reference: `group.option`, or an option of the
    /// same section, or of `[DEFAULT]`. Registered options resolve to their
    /// value or default (unset without default gives ""); options that are
    /// only present in a file also resolve, which oslo.config would refuse.
    fn reference(
        &self,
        section: &str,
        name: &str,
        depth: usize,
        secret_used: &mut bool,
    ) -> Result<String, SubstError> {
        let candidates = match name.split_once('.') {
            Some((group, option)) => vec![
                (normalize_section(group), option),
                ("DEFAULT".to_owned(), name),
            ],
            None => vec![(section.to_owned(), name), ("DEFAULT".to_owned(), name)],
        };
        for (group, option) in candidates {
            if let Some(spec) = find_spec(&group, option) {
                *secret_used |= spec.secret;
                let found = self
                    .find(spec.section, spec)
                    .and_then(|f| f.values.last().cloned());
                return match found.or_else(|| spec.default.map(str::to_owned)) {
                    Some(value) => self.substitute(spec.section, &value, depth + 1, secret_used),
                    None => Ok(String::new()),
                };
            }
            if let Some(value) = self.layer(&group, option).and_then(|l| l.values.last()) {
                return self.substitute(&group, value, depth + 1, secret_used);
            }
        }
        Err(SubstError::Unknown(name.to_owned()))
    }
}

/// Length of the substitution name at the start of `s`: a letter or `_`,
/// then letters, digits, `_` or `.` (oslo's template pattern).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(s.len(), |(i, _)| i)
}

fn subst_reason(e: SubstError, secret: bool) -> String {
    match e {
        // Naming the reference would reveal part of a secret value.
        SubstError::Unknown(_) if secret => {
            "refers to an unknown option with '$' (write '$$' for a literal '$')".to_owned()
        }
        SubstError::Unknown(name) => {
            format!("refers to unknown option ${name} (write '$$' for a literal '$')")
        }
        SubstError::Loop => "substitution with '$' loops".to_owned(),
    }
}

/// A value as shown in an error: one line, secrets redacted.
fn display_value(value: &str, secret: bool) -> String {
    if secret {
        redact(value)
    } else {
        value.escape_debug().to_string()
    }
}
