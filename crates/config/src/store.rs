//! Merged view of the configuration files: option lookup (with deprecated
//! names), `$` substitution and typed reads.
//!
//! Merging is done by the `config` crate: each parsed file is one source, so
//! a later file overrides an earlier one option by option, and
//! `config::Value::origin()` tells which file the winning value came from.

use std::collections::HashMap;

use config::{Map, Source, Value, ValueKind};

use crate::error::ConfigError;
use crate::ini::{normalize_section, ParsedFile};
use crate::options::find_spec;
use crate::secret::redact;
use crate::value::{Kind, OptSpec, OptValue};

/// oslo.config gives up on substitution chains this deep (they are loops).
const MAX_DEPTH: usize = 32;

/// One parsed file as a `config` source: `{section: {option: [values...]}}`,
/// every value tagged with the file's path as origin.
#[derive(Debug, Clone)]
struct FileSource {
    origin: String,
    sections: HashMap<String, HashMap<String, Vec<String>>>,
}

impl FileSource {
    fn new(file: &ParsedFile) -> Self {
        let mut sections: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        for section in &file.sections {
            sections.entry(section.clone()).or_default();
        }
        for e in &file.entries {
            sections
                .entry(e.section.clone())
                .or_default()
                .entry(e.name.clone())
                .or_default()
                .push(e.value.clone());
        }
        FileSource {
            origin: file.origin(),
            sections,
        }
    }
}

impl Source for FileSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let origin = Some(&self.origin);
        Ok(self
            .sections
            .iter()
            .map(|(section, options)| {
                let table: Map<String, Value> = options
                    .iter()
                    .map(|(name, values)| {
                        let items: Vec<Value> = values
                            .iter()
                            .map(|v| Value::new(origin, v.as_str()))
                            .collect();
                        (name.clone(), Value::new(origin, ValueKind::Array(items)))
                    })
                    .collect();
                (section.clone(), Value::new(origin, ValueKind::Table(table)))
            })
            .collect())
    }

    /// The default implementation reads each top-level key as a path
    /// expression, which would turn a section named `a.b` into nested tables;
    /// section names are plain strings here, so merge them directly.
    fn collect_to(&self, cache: &mut Value) -> Result<(), config::ConfigError> {
        if !matches!(cache.kind, ValueKind::Table(_)) {
            cache.kind = ValueKind::Table(Map::new());
        }
        let ValueKind::Table(root) = &mut cache.kind else {
            return Ok(());
        };
        for (section, value) in self.collect()? {
            let ValueKind::Table(options) = value.kind else {
                continue;
            };
            let slot = root
                .entry(section)
                .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
            match &mut slot.kind {
                ValueKind::Table(existing) => existing.extend(options),
                other => *other = ValueKind::Table(options),
            }
        }
        Ok(())
    }
}

/// The winning value of one option across all files.
#[derive(Debug, Clone)]
struct Merged {
    values: Vec<String>,
    origin: String,
}

/// An option's value as found in the files.
struct Found {
    section: String,
    name: String,
    values: Vec<String>,
    origin: String,
}

enum SubstError {
    Unknown(String),
    Loop,
}

pub(crate) struct Store<'a> {
    files: &'a [ParsedFile],
    merged: HashMap<String, HashMap<String, Merged>>,
}

impl<'a> Store<'a> {
    pub(crate) fn new(files: &'a [ParsedFile]) -> Result<Self, ConfigError> {
        let layers = files
            .iter()
            .fold(config::Config::builder(), |b, f| {
                b.add_source(FileSource::new(f))
            })
            .build()?;

        let mut merged: HashMap<String, HashMap<String, Merged>> = HashMap::new();
        for (section, table) in layers.collect()? {
            let options = merged.entry(section).or_default();
            for (name, value) in table.into_table()? {
                let origin = value.origin().unwrap_or_default().to_owned();
                let values = value
                    .into_array()?
                    .into_iter()
                    .map(Value::into_string)
                    .collect::<Result<Vec<_>, _>>()?;
                options.insert(name, Merged { values, origin });
            }
        }
        Ok(Store { files, merged })
    }

    /// Position of a file in the command line (the last one if repeated).
    fn rank(&self, origin: &str) -> usize {
        self.files
            .iter()
            .rposition(|f| f.origin() == origin)
            .unwrap_or(0)
    }

    fn merged(&self, section: &str, name: &str) -> Option<&Merged> {
        self.merged.get(section)?.get(name)
    }

    /// The value set for `spec`, under its name or a deprecated one. As in
    /// oslo.config, the newest file wins; within one file the current name
    /// wins over deprecated ones.
    fn find(&self, spec: &OptSpec) -> Option<Found> {
        let names = std::iter::once((spec.section, spec.name)).chain(spec.aliases.iter().copied());
        if spec.kind == Kind::Multi {
            return self.find_multi(names.collect());
        }
        let mut best: Option<(usize, &str, &str, &Merged)> = None;
        for (section, name) in names {
            if let Some(m) = self.merged(section, name) {
                let rank = self.rank(&m.origin);
                if best.is_none_or(|(r, ..)| rank > r) {
                    best = Some((rank, section, name, m));
                }
            }
        }
        best.map(|(_, section, name, m)| Found {
            section: section.to_owned(),
            name: name.to_owned(),
            values: m.values.clone(),
            origin: m.origin.clone(),
        })
    }

    /// Multi-valued options collect their occurrences from every file, in
    /// command-line order, rather than letting the last file win.
    fn find_multi(&self, names: Vec<(&str, &str)>) -> Option<Found> {
        let mut found: Option<Found> = None;
        for file in self.files {
            for e in &file.entries {
                if !names.contains(&(e.section.as_str(), e.name.as_str())) {
                    continue;
                }
                let f = found.get_or_insert_with(|| Found {
                    section: e.section.clone(),
                    name: e.name.clone(),
                    values: Vec::new(),
                    origin: String::new(),
                });
                f.values.push(e.value.clone());
                f.origin = file.origin();
            }
        }
        found
    }

    /// Reads the option described by `spec` as a `T`.
    pub(crate) fn get<T: OptValue>(&self, spec: &OptSpec) -> Result<T, ConfigError> {
        let (section, name, raw, origin) = match self.find(spec) {
            Some(f) => (f.section, f.name, Some(f.values), Some(f.origin)),
            None => (
                spec.section.to_owned(),
                spec.name.to_owned(),
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
            origin: origin.clone().unwrap_or_else(|| "(default)".to_owned()),
            section: section.clone(),
            option: name.clone(),
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
                    .map(|v| self.substitute(spec.section, v, 0, &mut secret_used))
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
                let found = self.find(spec).and_then(|f| f.values.last().cloned());
                return match found.or_else(|| spec.default.map(str::to_owned)) {
                    Some(value) => self.substitute(spec.section, &value, depth + 1, secret_used),
                    None => Ok(String::new()),
                };
            }
            if let Some(value) = self.merged(&group, option).and_then(|m| m.values.last()) {
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
