//! `subnet_update` (RPC `update_subnet`): push a top subnet's updatable
//! attributes to its bottom copy in one pod (or fan out; see
//! [`super::update_copy`]). In a pod it sets `description`, `enable_dhcp`, `host_routes` and `dns_nameservers`
//! as at the top, and the top allocation pools adapted to the copy: the
//! bottom gateway (an address the top reserves for this pod) leaves them
//! and the top gateway joins them. The bottom gateway and name are kept:
//! the first is the pod's reserved address, the second is the lock's key.
//! In stock mode the pools are left to network_setup (the pod's slice).

use tricircle_openstack::neutron::Subnet;
use tricircle_vocab::{JobType, ResourceType};

use super::update_copy::{self, CopyAttributes};
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{ip, NetworkContext};
use crate::resource::InPod;

pub struct UpdateSubnet(pub NetworkContext);

#[async_trait::async_trait]
impl Job for UpdateSubnet {
    const TYPE: JobType = JobType::SubnetUpdate;
    type Resource = InPod;

    async fn run(&self, target: InPod, ctx: &JobContext) -> HandlerResult {
        update_copy::update::<UpdateSubnet>(&self.0, ctx, &target).await?;
        Ok(())
    }
}

impl CopyAttributes for UpdateSubnet {
    type R = Subnet;
    const ROUTED: ResourceType = ResourceType::Subnet;

    fn project(top: &Subnet) -> Option<String> {
        top.tenant_id.clone()
    }

    fn changes(top: &Subnet, bottom: &Subnet) -> Option<Subnet> {
        changes(top, bottom)
    }

    /// In stock mode a copy's pools are the pod's slice, which
    /// network_setup keeps (doc/networking.md): they are left out here.
    fn changes_in(net: &NetworkContext, top: &Subnet, bottom: &Subnet) -> Option<Subnet> {
        if !net.settings.stock_neutron {
            return changes(top, bottom);
        }
        let mut top = top.clone();
        top.allocation_pools = bottom.allocation_pools.clone();
        // With the bottom's pools and gateway, the top's pools come out as
        // the bottom's: nothing to send for them.
        top.gateway_ip = bottom.gateway_ip.clone();
        changes(&top, bottom).map(|mut body| {
            body.allocation_pools = None;
            body
        })
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
