//! The QoS policy jobs: `qos_create`, `qos_update`, `qos_delete` and
//! `sync_qos_rule`, one module each. A top QoS policy gets a bottom copy in
//! every pod where a network or port it is bound to lives; these jobs keep
//! the copies' attributes, bindings and rules in line with the top policy.

pub mod create;
pub mod delete;
pub mod sync_rules;
pub mod update;

use tricircle_openstack::neutron::QosPolicy;

use tricircle_vocab::JobType;

use crate::handler::JobContext;
use crate::network::{NetResult, NetworkContext};
use tricircle_vocab::ResourceType;

/// The routing type of the policies these jobs copy.
const RT_QOS: ResourceType = ResourceType::QosPolicy;

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
            job_type = %ctx.job_type,
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
    job_type: JobType,
    policy_id: &str,
    project_id: &str,
) -> NetResult<()> {
    let mappings = net.mappings(policy_id, RT_QOS).await?;
    let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
    net.submit_per_pod(job_type, &pod_ids, policy_id, project_id, &ctx.request)
        .await
}
