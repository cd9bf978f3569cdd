//! `qos_delete` (RPC `delete_qos_policy`): delete the bottom copy of a QoS
//! policy in one pod and its routing, or with `pod_id = not_specified_pod`
//! record one job per pod holding a copy. It does not look at the top
//! policy (it is normally gone already).
//!
//! A copy still bound to a network or port fails the job (Neutron refuses
//! the deletion), as in the reference. Unlike the reference, a copy that is
//! already gone also has its routing removed, so a rerun after a crash
//! between the two steps finishes the work instead of leaving a routing to
//! nothing.

use tricircle_openstack::neutron::QosPolicy;

use super::RT_QOS;
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{NetResult, NetworkContext};
use crate::resource::{InPod, PodScope};
use tricircle_vocab::JobType;

pub struct QosDelete(pub NetworkContext);

#[async_trait::async_trait]
impl Job for QosDelete {
    const TYPE: JobType = JobType::QosDelete;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        delete(&self.0, ctx, &r.pod, &r.id).await?;
        Ok(())
    }
}

async fn delete(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    policy_id: &str,
) -> NetResult<()> {
    let PodScope::One(pod_id) = pod else {
        let project_id = ctx.project_id.clone().unwrap_or_default();
        return super::fan_out(net, ctx, JobType::QosDelete, policy_id, &project_id).await;
    };
    let b_pod = net.pod(pod_id).await?;
    let Some(b_policy_id) = net.bottom_id(policy_id, &b_pod, RT_QOS).await? else {
        return Ok(());
    };
    match net.neutron(&b_pod).delete::<QosPolicy>(&b_policy_id).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {
            tracing::info!(policy_id, pod = %b_pod.region_name,
                "bottom QoS policy already gone; removing its routing");
        }
        Err(e) => return Err(e.into()),
    }
    net.db
        .run(move |c| tricircle_db::routings::delete_mappings_by_bottom_id(c, &b_policy_id))
        .await?;
    Ok(())
}
