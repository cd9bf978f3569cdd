//! What `update_network` and `subnet_update` share: push a top resource's
//! updatable attributes to its bottom copy in one pod.
//!
//! With `pod_id = not_specified_pod` the job records one job per pod the
//! resource is mapped to and stops, as the reference casts one per pod. A
//! top resource that is gone, a pod without a copy, or a copy deleted
//! meanwhile leave nothing to do. The request is only sent when something
//! differs, so a rerun writes nothing.

use tricircle_openstack::neutron::Resource;
use tricircle_vocab::ResourceType;

use crate::handler::{Job, JobContext};
use crate::network::{NetResult, NetworkContext};
use crate::resource::{InPod, PodScope};

/// The job of a kind of top resource whose copies follow its attributes.
pub(super) trait CopyAttributes: Job {
    type R: Resource;
    const ROUTED: ResourceType;

    /// The project owning the top resource.
    fn project(top: &Self::R) -> Option<String>;

    /// The update that makes `bottom` carry `top`'s attributes, if any
    /// differ.
    fn changes(top: &Self::R, bottom: &Self::R) -> Option<Self::R>;

    /// [`Self::changes`] as `net`'s mode wants them.
    fn changes_in(net: &NetworkContext, top: &Self::R, bottom: &Self::R) -> Option<Self::R> {
        let _ = net;
        Self::changes(top, bottom)
    }
}

pub(super) async fn update<C: CopyAttributes>(
    net: &NetworkContext,
    ctx: &JobContext,
    target: &InPod,
) -> NetResult<()> {
    let (id, what) = (target.id.as_str(), C::ROUTED.as_str());
    let top_pod = net.top_pod().await?;
    let Some(top) = net.neutron(&top_pod).find::<C::R>(id).await? else {
        tracing::info!(id, what, "top resource is gone; nothing to update");
        return Ok(());
    };
    let pod_id = match &target.pod {
        PodScope::One(pod_id) => pod_id,
        PodScope::Every => {
            let project_id = C::project(&top)
                .or_else(|| ctx.project_id.clone())
                .unwrap_or_default();
            let mappings = net.mappings(id, C::ROUTED).await?;
            let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
            return net
                .submit_per_pod(C::TYPE, &pod_ids, id, &project_id, &ctx.request)
                .await;
        }
    };
    let pod = net.pod(pod_id).await?;
    let Some(b_id) = net.bottom_id(id, &pod, C::ROUTED).await? else {
        tracing::info!(id, what, pod = %pod.region_name, "no copy in the pod");
        return Ok(());
    };
    let client = net.neutron(&pod);
    let Some(bottom) = client.find::<C::R>(&b_id).await? else {
        // As the reference: logged, not retried (the copy was deleted).
        tracing::error!(b_id, what, pod = %pod.region_name, "bottom copy not found");
        return Ok(());
    };
    let Some(body) = C::changes_in(net, &top, &bottom) else {
        return Ok(());
    };
    match client.update::<C::R>(&b_id, &body).await {
        Err(e) if e.is_not_found() => {
            tracing::error!(b_id, what, pod = %pod.region_name, "bottom copy not found");
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}
