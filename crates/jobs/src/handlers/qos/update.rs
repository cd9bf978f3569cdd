//! `qos_update` (RPC `update_qos_policy`): copy the top policy's name,
//! description and `shared` flag onto its bottom copy in one pod, or with
//! `pod_id = not_specified_pod` record one job per pod holding a copy.
//!
//! A top policy that is gone, or a pod without a copy, leaves nothing to
//! do. Unlike the reference, a copy that already matches is not updated
//! again, so a rerun sends nothing.

use tricircle_openstack::neutron::QosPolicy;

use super::RT_QOS;
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{NetResult, NetworkContext};
use crate::resource::{InPod, PodScope};
use tricircle_vocab::JobType;

pub struct QosUpdate(pub NetworkContext);

#[async_trait::async_trait]
impl Job for QosUpdate {
    const TYPE: JobType = JobType::QosUpdate;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        update(&self.0, ctx, &r.pod, &r.id).await?;
        Ok(())
    }
}

async fn update(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    policy_id: &str,
) -> NetResult<()> {
    let Some((t_policy, project_id)) = super::top_policy(net, ctx, policy_id).await? else {
        return Ok(());
    };
    let PodScope::One(pod_id) = pod else {
        return super::fan_out(net, ctx, JobType::QosUpdate, policy_id, &project_id).await;
    };
    let b_pod = net.pod(pod_id).await?;
    let Some(b_policy_id) = net.bottom_id(policy_id, &b_pod, RT_QOS).await? else {
        return Ok(());
    };
    let b_client = net.neutron(&b_pod);
    let want = QosPolicy {
        name: Some(t_policy.name.clone().unwrap_or_default()),
        description: Some(t_policy.description.clone().unwrap_or_default()),
        shared: Some(t_policy.shared.unwrap_or(false)),
        ..QosPolicy::default()
    };
    let current = match b_client.find::<QosPolicy>(&b_policy_id).await? {
        Some(p) => p,
        None => {
            tracing::error!(policy_id, pod = %b_pod.region_name, "bottom QoS policy not found");
            return Ok(());
        }
    };
    if settable(&current) == settable(&want) {
        return Ok(());
    }
    match b_client.update_qos_policy(&b_policy_id, &want).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            tracing::error!(policy_id, pod = %b_pod.region_name, "bottom QoS policy not found");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The attributes this job keeps in line.
fn settable(p: &QosPolicy) -> (&str, &str, bool) {
    (
        p.name.as_deref().unwrap_or_default(),
        p.description.as_deref().unwrap_or_default(),
        p.shared.unwrap_or(false),
    )
}
