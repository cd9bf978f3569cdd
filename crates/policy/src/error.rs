use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading policy rules.
///
/// Evaluation itself never fails: a check that cannot be decided denies.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A check string that oslo.policy would also fail to understand.
    #[error("{}cannot parse {check_str:?}: {reason}", location(file.as_deref(), rule.as_deref()))]
    Syntax {
        file: Option<PathBuf>,
        rule: Option<String>,
        check_str: String,
        reason: String,
    },
    #[error("cannot read policy file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy file {} is neither valid JSON nor valid YAML: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// Well-formed JSON/YAML whose shape is not a policy (not a mapping, a
    /// rule that is neither a string nor a list of lists, ...).
    #[error("{}{message}", location(Some(path), rule.as_deref()))]
    Content {
        path: PathBuf,
        rule: Option<String>,
        message: String,
    },
    /// Rules that refer to each other in a loop (including through the
    /// default rule, which stands in for any undefined name).
    #[error("policy rules refer to each other in a loop: {}", rules.join(" -> "))]
    Cycle { rules: Vec<String> },
    #[error("policy_dirs entry {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
}

impl PolicyError {
    /// The rule the error is about, when there is one.
    pub fn rule(&self) -> Option<&str> {
        match self {
            PolicyError::Syntax { rule, .. } | PolicyError::Content { rule, .. } => rule.as_deref(),
            PolicyError::Cycle { rules } => rules.first().map(String::as_str),
            _ => None,
        }
    }
}

fn location(file: Option<&Path>, rule: Option<&str>) -> String {
    match (file, rule) {
        (Some(file), Some(rule)) => format!("policy file {}, rule {rule:?}: ", file.display()),
        (Some(file), None) => format!("policy file {}: ", file.display()),
        (None, Some(rule)) => format!("policy rule {rule:?}: "),
        (None, None) => String::new(),
    }
}
