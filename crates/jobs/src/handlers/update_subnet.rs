//! `subnet_update` (RPC `update_subnet`): push a top subnet's updatable
//! attributes to its bottom copy in one pod.
//!
//! With `pod_id = not_specified_pod` it records one job per pod the subnet
//! is mapped to and stops, as the reference casts one per pod. In a pod it
//! sets `description`, `enable_dhcp`, `host_routes` and `dns_nameservers`
//! as at the top, and the top allocation pools adapted to the copy: the
//! bottom gateway (an address the top reserves for this pod) leaves them
//! and the top gateway joins them. The bottom gateway and name are kept:
//! the first is the pod's reserved address, the second is the lock's key.
//! A top subnet that is gone, a pod without a copy, or a copy deleted
//! meanwhile leave nothing to do.
//!
//! Difference from the reference: the request is only sent when something
//! differs, so a rerun writes nothing.

use tricircle_openstack::neutron::Subnet;

use crate::catalog;
use crate::handler::{Handler, HandlerError, HandlerResult, JobContext};
use crate::network::{ip, rt, NetResult, NetworkContext, POD_NOT_SPECIFIED};

pub struct UpdateSubnet {
    net: NetworkContext,
}

impl UpdateSubnet {
    pub fn new(net: NetworkContext) -> UpdateSubnet {
        UpdateSubnet { net }
    }
}

#[async_trait::async_trait]
impl Handler for UpdateSubnet {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        let (Some(pod_id), Some(subnet_id)) = (
            ctx.field("pod_id").filter(|v| !v.is_empty()),
            ctx.field("subnet_id").filter(|v| !v.is_empty()),
        ) else {
            return Err(HandlerError::msg(
                "subnet_update job without pod_id#subnet_id",
            ));
        };
        update(&self.net, ctx, pod_id, subnet_id).await?;
        Ok(())
    }
}

async fn update(
    net: &NetworkContext,
    ctx: &JobContext,
    pod_id: &str,
    subnet_id: &str,
) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let Some(t_sub) = net.neutron(&top_pod).find::<Subnet>(subnet_id).await? else {
        tracing::info!(subnet_id, "top subnet is gone; nothing to update");
        return Ok(());
    };
    if pod_id == POD_NOT_SPECIFIED {
        let project_id = t_sub
            .tenant_id
            .clone()
            .or_else(|| ctx.project_id.clone())
            .unwrap_or_default();
        let mappings = net.mappings(subnet_id, rt::SUBNET).await?;
        let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
        return net
            .submit_per_pod(
                catalog::SUBNET_UPDATE,
                &pod_ids,
                subnet_id,
                &project_id,
                &ctx.request,
            )
            .await;
    }
    let pod = net.pod(pod_id).await?;
    let Some(b_sub_id) = net.bottom_id(subnet_id, &pod, rt::SUBNET).await? else {
        tracing::info!(subnet_id, pod = %pod.region_name, "subnet has no copy in the pod");
        return Ok(());
    };
    let client = net.neutron(&pod);
    let Some(b_sub) = client.find::<Subnet>(&b_sub_id).await? else {
        // As the reference: logged, not retried (the copy was deleted).
        tracing::error!(b_sub_id, pod = %pod.region_name, "bottom subnet not found");
        return Ok(());
    };
    let Some(body) = changes(&t_sub, &b_sub) else {
        return Ok(());
    };
    match client.update::<Subnet>(&b_sub_id, &body).await {
        Err(e) if e.is_not_found() => {
            tracing::error!(b_sub_id, pod = %pod.region_name, "bottom subnet not found");
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// The update that makes `b_sub` carry `t_sub`'s attributes, if any differ.
fn changes(t_sub: &Subnet, b_sub: &Subnet) -> Option<Subnet> {
    let top_pools = t_sub.allocation_pools.clone().unwrap_or_default();
    let pools = match b_sub.gateway_ip.clone().flatten() {
        Some(b_gw) => ip::bottom_pools(
            &top_pools,
            t_sub.gateway_ip.clone().flatten().as_deref(),
            &b_gw,
        ),
        // A copy without a gateway has no reserved address to take out.
        None => top_pools,
    };
    let wanted = Subnet {
        description: Some(t_sub.description.clone().unwrap_or_default()),
        enable_dhcp: Some(t_sub.enable_dhcp.unwrap_or(false)),
        allocation_pools: Some(pools),
        host_routes: Some(t_sub.host_routes.clone().unwrap_or_default()),
        dns_nameservers: Some(t_sub.dns_nameservers.clone().unwrap_or_default()),
        ..Subnet::default()
    };
    let current = Subnet {
        description: Some(b_sub.description.clone().unwrap_or_default()),
        enable_dhcp: Some(b_sub.enable_dhcp.unwrap_or(false)),
        allocation_pools: Some(b_sub.allocation_pools.clone().unwrap_or_default()),
        host_routes: Some(b_sub.host_routes.clone().unwrap_or_default()),
        dns_nameservers: Some(b_sub.dns_nameservers.clone().unwrap_or_default()),
        ..Subnet::default()
    };
    (wanted != current).then_some(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricircle_openstack::neutron::AllocationPool;

    fn pool(start: &str, end: &str) -> AllocationPool {
        AllocationPool {
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn pools_swap_the_gateways_and_equal_copies_send_nothing() {
        let top = Subnet {
            gateway_ip: Some(Some("10.0.1.1".into())),
            allocation_pools: Some(vec![pool("10.0.1.2", "10.0.1.254")]),
            dns_nameservers: Some(vec!["8.8.8.8".into()]),
            ..Subnet::default()
        };
        let mut bottom = Subnet {
            gateway_ip: Some(Some("10.0.1.5".into())),
            allocation_pools: Some(vec![
                pool("10.0.1.1", "10.0.1.4"),
                pool("10.0.1.6", "10.0.1.254"),
            ]),
            ..Subnet::default()
        };
        let body = changes(&top, &bottom).unwrap();
        assert_eq!(body.dns_nameservers, Some(vec!["8.8.8.8".to_owned()]));
        assert_eq!(body.allocation_pools, bottom.allocation_pools);
        assert_eq!(body.gateway_ip, None);
        assert_eq!(body.name, None);
        bottom.dns_nameservers = Some(vec!["8.8.8.8".into()]);
        assert_eq!(changes(&top, &bottom), None);
    }
}
