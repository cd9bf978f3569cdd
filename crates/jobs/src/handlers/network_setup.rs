//! `network_setup` (xjob's own, stock mode): the pod copies of a top
//! network and its subnets, made before any VM needs them.
//!
//! With `pod_id = not_specified_pod` it records one job per pod the network
//! spans ([`bottom::network_pods`]: the pods its zone hints name and those
//! holding a copy; every bottom pod for a network without hints) and stops.
//! In a pod it makes sure of the copy of the network (VLAN/flat on the
//! top's segment) and of every top subnet, each offering the pod's slice of
//! the top pools only (an existing copy's pools follow when the pods of the
//! network changed); copies of subnets gone from the top are deleted with
//! their routings. External networks and xjob's bridge networks are not
//! the tenant's: left alone.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Filters, Network, Subnet};
use tricircle_vocab::{JobType, ResourceType};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::bottom::{self, Copy};
use crate::network::{bridge, NetResult, NetworkContext};
use crate::resource::{InPod, PodScope};

pub struct NetworkSetup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for NetworkSetup {
    const TYPE: JobType = JobType::NetworkSetup;
    type Resource = InPod;

    async fn run(&self, target: InPod, ctx: &JobContext) -> HandlerResult {
        setup(&self.0, ctx, &target.pod, &target.id).await?;
        Ok(())
    }
}

/// A network the tenant may boot VMs on: neither external nor one of
/// xjob's bridge networks (`bridge_net_<project>`).
pub fn is_tenant_network(t_net: &Network) -> bool {
    let bridge_prefix = bridge::net_name("");
    !t_net.external.unwrap_or(false)
        && !t_net
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with(&bridge_prefix))
}

async fn setup(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    net_id: &str,
) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    let Some(t_net) = top.find::<Network>(net_id).await? else {
        tracing::info!(net_id, "top network is gone; nothing to set up");
        return Ok(());
    };
    if !is_tenant_network(&t_net) {
        tracing::info!(net_id, "not a tenant network; no pod copies");
        return Ok(());
    }
    let project_id = t_net
        .tenant_id
        .clone()
        .or_else(|| ctx.project_id.clone())
        .unwrap_or_default();
    let PodScope::One(pod_id) = pod else {
        let pods = bottom::network_pods(net, &t_net).await?;
        let pod_ids: Vec<&str> = pods.iter().map(|p| p.pod_id.as_str()).collect();
        return net
            .submit_per_pod(
                JobType::NetworkSetup,
                &pod_ids,
                net_id,
                &project_id,
                &ctx.request,
            )
            .await;
    };
    let b_pod = net.pod(pod_id).await?;
    let t_subnets = top
        .list_subnets(&Filters::new().eq("network_id", net_id))
        .await?;
    let (b_net, _) = bottom::network_subnets(
        net,
        &top_pod,
        &b_pod,
        &project_id,
        &t_net,
        &t_subnets,
        Copy::Own,
    )
    .await?;
    remove_gone_subnets(net, &top_pod, &b_pod, &b_net, &t_subnets).await
}

/// Delete the copies on `b_net` of subnets the top network no longer has
/// (named by their top id, routed to it in this pod), with their routings
/// and the routing of the top port that reserved the pod's gateway on it
/// (that port went with the top subnet).
async fn remove_gone_subnets(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    b_net: &str,
    t_subnets: &[Subnet],
) -> NetResult<()> {
    let client = net.neutron(b_pod);
    let copies = client
        .list_subnets(&Filters::new().eq("network_id", b_net))
        .await?;
    for b_sub in copies {
        let t_id = b_sub.name.clone().unwrap_or_default();
        if t_subnets.iter().any(|t| t.id() == t_id) {
            continue;
        }
        let routed = net
            .bottom_id(&t_id, b_pod, ResourceType::Subnet)
            .await?
            .is_some_and(|b| b == b_sub.id());
        if !routed {
            // Not a copy xjob made: not ours to delete.
            continue;
        }
        match client.delete_subnet(b_sub.id()).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            // In use (a VM or an interface still there): the job fails and
            // the periodic redo tries again.
            Err(e) => return Err(e.into()),
        }
        tracing::info!(subnet = %t_id, pod = %b_pod.region_name, "copy of a deleted subnet removed");
        let b_id = b_sub.id().to_owned();
        let reservation = bottom::interface_port_name(&b_pod.region_name, &t_id);
        let top_pod_id = top_pod.pod_id.clone();
        net.db
            .transaction(move |c| {
                tricircle_db::routings::delete_mappings_by_bottom_id(c, &b_id)?;
                if let Some(r) = tricircle_db::routings::get_by_top_pod_type(
                    c,
                    &reservation,
                    &top_pod_id,
                    ResourceType::Port.as_str(),
                )? {
                    tricircle_db::routings::delete(c, r.id)?;
                }
                Ok(())
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_networks_are_neither_external_nor_bridges() {
        let n = |name: &str, external: Option<bool>| Network {
            name: Some(name.into()),
            external,
            ..Network::default()
        };
        assert!(is_tenant_network(&n("net1", None)));
        assert!(is_tenant_network(&n("net1", Some(false))));
        assert!(!is_tenant_network(&n("ext-net", Some(true))));
        assert!(!is_tenant_network(&n(&bridge::net_name("p"), None)));
    }
}
