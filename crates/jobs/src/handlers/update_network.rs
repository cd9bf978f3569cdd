//! `update_network` (RPC `update_network`): push a top network's updatable
//! attributes to its bottom copy in one pod (or fan out; see
//! [`super::update_copy`]). In a pod it sets `description`, `admin_state_up` and `shared` as at the top, and
//! clears the bottom QoS policy when the top network has none (a policy
//! that is set goes down with the qos jobs).
//!
//! Differences from the reference: the bottom name follows the top name in
//! the bottom naming convention (`<top id>#<top name>`). The reference
//! keeps the old name because its lock recovery looks bottom resources up
//! by the name they were created with; here the lock recomputes that name
//! from the current top network, so the copy must carry it to be found.

use tricircle_openstack::neutron::Network;
use tricircle_vocab::{JobType, ResourceType};

use super::update_copy::{self, CopyAttributes};
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::bottom::network_name;
use crate::network::NetworkContext;
use crate::resource::InPod;

pub struct UpdateNetwork(pub NetworkContext);

#[async_trait::async_trait]
impl Job for UpdateNetwork {
    const TYPE: JobType = JobType::NetworkUpdate;
    type Resource = InPod;

    async fn run(&self, target: InPod, ctx: &JobContext) -> HandlerResult {
        update_copy::update::<UpdateNetwork>(&self.0, ctx, &target).await?;
        Ok(())
    }
}

impl CopyAttributes for UpdateNetwork {
    type R = Network;
    const ROUTED: ResourceType = ResourceType::Network;

    fn project(top: &Network) -> Option<String> {
        top.tenant_id.clone()
    }

    fn changes(top: &Network, bottom: &Network) -> Option<Network> {
        changes(top, bottom)
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
