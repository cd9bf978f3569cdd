//! `update_network` (RPC `update_network`): push a top network's updatable
//! attributes to its bottom copy in one pod.
//!
//! With `pod_id = not_specified_pod` it records one job per pod the network
//! is mapped to and stops, as the reference casts one per pod. In a pod it
//! sets `description`, `admin_state_up` and `shared` as at the top, and
//! clears the bottom QoS policy when the top network has none (a policy
//! that is set goes down with the qos jobs). A top network that is gone, a
//! pod without a copy, or a copy deleted meanwhile leave nothing to do.
//!
//! Differences from the reference: the bottom name follows the top name in
//! the bottom naming convention (`<top id>#<top name>`). The reference
//! keeps the old name because its lock recovery looks bottom resources up
//! by the name they were created with; here the lock recomputes that name
//! from the current top network, so the copy must carry it to be found. The
//! request is only sent when something differs, so a rerun writes nothing.

use tricircle_openstack::neutron::Network;

use crate::catalog;
use crate::handler::{Handler, HandlerError, HandlerResult, JobContext};
use crate::network::bottom::network_name;
use crate::network::{rt, NetResult, NetworkContext, POD_NOT_SPECIFIED};

pub struct UpdateNetwork {
    net: NetworkContext,
}

impl UpdateNetwork {
    pub fn new(net: NetworkContext) -> UpdateNetwork {
        UpdateNetwork { net }
    }
}

#[async_trait::async_trait]
impl Handler for UpdateNetwork {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        let (Some(pod_id), Some(net_id)) = (
            ctx.field("pod_id").filter(|v| !v.is_empty()),
            ctx.field("network_id").filter(|v| !v.is_empty()),
        ) else {
            return Err(HandlerError::msg(
                "update_network job without pod_id#network_id",
            ));
        };
        update(&self.net, ctx, pod_id, net_id).await?;
        Ok(())
    }
}

async fn update(
    net: &NetworkContext,
    ctx: &JobContext,
    pod_id: &str,
    net_id: &str,
) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let Some(t_net) = net.neutron(&top_pod).find::<Network>(net_id).await? else {
        tracing::info!(net_id, "top network is gone; nothing to update");
        return Ok(());
    };
    if pod_id == POD_NOT_SPECIFIED {
        let project_id = t_net
            .tenant_id
            .clone()
            .or_else(|| ctx.project_id.clone())
            .unwrap_or_default();
        let mappings = net.mappings(net_id, rt::NETWORK).await?;
        let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
        return net
            .submit_per_pod(
                catalog::NETWORK_UPDATE,
                &pod_ids,
                net_id,
                &project_id,
                &ctx.request,
            )
            .await;
    }
    let pod = net.pod(pod_id).await?;
    let Some(b_net_id) = net.bottom_id(net_id, &pod, rt::NETWORK).await? else {
        tracing::info!(net_id, pod = %pod.region_name, "network has no copy in the pod");
        return Ok(());
    };
    let client = net.neutron(&pod);
    let Some(b_net) = client.find::<Network>(&b_net_id).await? else {
        // As the reference: logged, not retried (the copy was deleted).
        tracing::error!(b_net_id, pod = %pod.region_name, "bottom network not found");
        return Ok(());
    };
    let Some(body) = changes(&t_net, &b_net) else {
        return Ok(());
    };
    match client.update::<Network>(&b_net_id, &body).await {
        Err(e) if e.is_not_found() => {
            tracing::error!(b_net_id, pod = %pod.region_name, "bottom network not found");
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// The update that makes `b_net` carry `t_net`'s attributes, if any differ.
fn changes(t_net: &Network, b_net: &Network) -> Option<Network> {
    let mut body = Network::default();
    let mut any = false;
    let name = network_name(t_net);
    if b_net.name.as_deref() != Some(name.as_str()) {
        body.name = Some(name);
        any = true;
    }
    let description = t_net.description.clone().unwrap_or_default();
    if b_net.description.as_deref().unwrap_or_default() != description {
        body.description = Some(description);
        any = true;
    }
    let admin_up = t_net.admin_state_up.unwrap_or(true);
    if b_net.admin_state_up != Some(admin_up) {
        body.admin_state_up = Some(admin_up);
        any = true;
    }
    let shared = t_net.shared.unwrap_or(false);
    if b_net.shared.unwrap_or(false) != shared {
        body.shared = Some(shared);
        any = true;
    }
    let top_has_policy = t_net.qos_policy_id.clone().flatten().is_some();
    if !top_has_policy && b_net.qos_policy_id.clone().flatten().is_some() {
        body.qos_policy_id = Some(None);
        any = true;
    }
    any.then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, shared: bool, qos: Option<&str>) -> Network {
        Network {
            id: Some("n1".into()),
            name: Some(name.into()),
            description: Some(String::new()),
            admin_state_up: Some(true),
            shared: Some(shared),
            qos_policy_id: Some(qos.map(Into::into)),
            ..Network::default()
        }
    }

    #[test]
    fn only_differences_are_sent() {
        let top = net("net1", false, None);
        let bottom = net("n1#net1", false, None);
        assert_eq!(changes(&top, &bottom), None);
        let top = net("renamed", true, None);
        let body = changes(&top, &bottom).unwrap();
        assert_eq!(body.name.as_deref(), Some("n1#renamed"));
        assert_eq!(body.shared, Some(true));
        assert_eq!(body.admin_state_up, None);
        assert_eq!(body.qos_policy_id, None);
    }

    #[test]
    fn a_bottom_policy_is_cleared_only_when_the_top_has_none() {
        let bottom = net("n1#net1", false, Some("q"));
        let body = changes(&net("net1", false, None), &bottom).unwrap();
        assert_eq!(body.qos_policy_id, Some(None));
        assert_eq!(changes(&net("net1", false, Some("q2")), &bottom), None);
    }
}
