//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading configuration.
///
/// Each variant displays as one line that names the file and, where it
/// applies, the line, section, option and (redacted) value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: cannot read configuration file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line of a configuration file is not valid oslo.config INI syntax.
    #[error("{}: line {line}{}: {reason}", path.display(), in_section(section))]
    Syntax {
        path: PathBuf,
        line: usize,
        section: Option<String>,
        reason: String,
    },

    /// An option's value is malformed. `value` is already redacted for
    /// secret options; `origin` is the file that set it, or `(default)`.
    #[error("{origin}: [{section}] {option} = '{value}': {reason}")]
    Value {
        origin: String,
        section: String,
        option: String,
        value: String,
        reason: String,
    },

    /// An option that has no default was needed but is not set.
    #[error("{0}")]
    Missing(String),

    /// The `config` crate failed while merging the parsed files.
    #[error("merging configuration files failed: {0}")]
    Merge(#[from] config::ConfigError),
}

fn in_section(section: &Option<String>) -> String {
    match section {
        Some(s) => format!(" in [{s}]"),
        None => String::new(),
    }
}
