//! The QoS policy jobs: `qos_create`, `qos_update`, `qos_delete` and
//! `sync_qos_rule`, one module each. A top QoS policy gets a bottom copy in
//! every pod where a network or port it is bound to lives; these jobs keep
//! the copies' attributes, bindings and rules in line with the top policy.

pub mod create;
pub mod delete;
pub mod sync_rules;
pub mod update;

use crate::handler::{HandlerError, JobContext};

/// Routing-table resource type of QoS policies (the reference's `RT_QOS`).
pub const RT_QOS: &str = "qos_policy";

/// The non-empty value of resource field `name`.
fn required<'a>(ctx: &'a JobContext, name: &str) -> Result<&'a str, HandlerError> {
    ctx.field(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| HandlerError::msg(format!("{} job without {name}", ctx.job_type.name)))
}
