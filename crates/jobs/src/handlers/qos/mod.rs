//! The QoS policy jobs: `qos_create`, `qos_update`, `qos_delete` and
//! `sync_qos_rule`, one module each. A top QoS policy gets a bottom copy in
//! every pod where a network or port it is bound to lives; these jobs keep
//! the copies' attributes, bindings and rules in line with the top policy.

pub mod create;
pub mod delete;
pub mod sync_rules;
pub mod update;

use tricircle_openstack::neutron::QosPolicy;

use crate::handler::{HandlerError, JobContext};
use crate::network::{NetResult, NetworkContext};

pub use crate::network::rt::QOS_POLICY as RT_QOS;

/// The non-empty value of resource field `name`.
fn required<'a>(ctx: &'a JobContext, name: &str) -> Result<&'a str, HandlerError> {
    ctx.field(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| HandlerError::msg(format!("{} job without {name}", ctx.job_type.name)))
}

/// The top policy and the project its jobs work for (the policy's, else
/// the job's); `None` when the top policy is gone, which leaves nothing to do.
async fn top_policy(
    net: &NetworkContext,
    ctx: &JobContext,
    policy_id: &str,
) -> NetResult<Option<(QosPolicy, String)>> {
    let top_pod = net.top_pod().await?;
    let Some(t_policy) = net.neutron(&top_pod).find::<QosPolicy>(policy_id).await? else {
        tracing::info!(
            policy_id,
            job_type = ctx.job_type.name,
            "top QoS policy is gone; nothing to do"
        );
        return Ok(None);
    };
    let project_id = t_policy
        .tenant_id
        .clone()
        .or_else(|| ctx.project_id.clone())
        .unwrap_or_default();
    Ok(Some((t_policy, project_id)))
}

/// `not_specified_pod`: one `job_type` job per pod holding a copy of the
/// policy.
async fn fan_out(
    net: &NetworkContext,
    ctx: &JobContext,
    job_type: &str,
    policy_id: &str,
    project_id: &str,
) -> NetResult<()> {
    let mappings = net.mappings(policy_id, RT_QOS).await?;
    let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
    net.submit_per_pod(job_type, &pod_ids, policy_id, project_id, &ctx.request)
        .await
}
