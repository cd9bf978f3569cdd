//! oslo.policy for the Tricircle admin API, evaluated in Rust.
//!
//! - [`Check`]: the check-string language (`role:`, `rule:`, `kind:match`,
//!   `@`, `!`, `and`/`or`/`not`, parentheses) and the legacy list form.
//! - [`Enforcer`]: the reference's default rules ([`DEFAULT_RULES`]),
//!   overridden rule by rule from a YAML or JSON policy file and
//!   `policy_dirs`; decides an action for [`Credentials`] and a target.
//! - [`sample_yaml`]: the commented sample policy file.
//!
//! Semantics follow oslo.policy, including its quirks: matches are compared
//! with Python's `str()` of the credential (`is_admin:True`), `%(key)s`
//! takes the key from the target literally, and an unknown action or `rule:`
//! name falls back to the default rule.

mod check;
mod creds;
mod defaults;
mod enforcer;
mod error;
mod pyfmt;

pub use check::Check;
pub use creds::{default_target, Credentials};
pub use defaults::{rule_default, rules, sample_yaml, Operation, RuleDefault, DEFAULT_RULES};
pub use enforcer::{Enforcer, EnforcerBuilder, DEFAULT_RULE};
pub use error::PolicyError;
