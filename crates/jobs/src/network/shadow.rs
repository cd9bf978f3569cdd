//! Shadow ports for cross-pod L2 networking (the reference's
//! `setup_shadow_ports` helpers): which bottom ports a pod mirrors, the L2
//! agent that serves a port, and the shadow port body that carries it.
//!
//! A shadow port is a copy, in another pod, of a port bound in its own pod:
//! same address and MAC, device owner `compute:shadow`, name
//! `shadow_port_<top port id>`, and in its binding profile the agent type
//! and tunnel address of the host the real port lives on, so that the
//! other pod's agents can tunnel to it.

use serde_json::{json, Map, Value};
use tricircle_db::models::{Pod, ShadowAgent};
use tricircle_openstack::neutron::{device_owner, FixedIp, Port};

use super::bottom::shadow_port_name;
use super::ip::Cidr;
use super::lock::{self, Element};
use super::{NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
use tricircle_vocab::ResourceType;

/// Device owner of ports Nova binds to its instances.
pub const DEVICE_OWNER_NOVA: &str = "compute:nova";
/// Neutron's agent type of the Open vSwitch L2 agent.
pub const AGENT_TYPE_OVS: &str = "Open vSwitch agent";
/// `binding:vif_type` of a port the OVS mechanism driver bound.
pub const VIF_TYPE_OVS: &str = "ovs";
/// Binding profile keys the reference's local plugin understands.
pub const PROFILE_AGENT_TYPE: &str = "type";
pub const PROFILE_TUNNEL_IP: &str = "tunnel_ip";
/// Asks the local plugin to set a shadow port ACTIVE (no agent reports it).
pub const PROFILE_FORCE_UP: &str = "force_up";

/// The L2 agent type that serves ports of `vif_type`, if shadow ports are
/// supported for it (only OVS, as the reference).
pub fn agent_type_by_vif(vif_type: &str) -> Option<&'static str> {
    (vif_type == VIF_TYPE_OVS).then_some(AGENT_TYPE_OVS)
}

/// Whether a bottom port is one other pods need to know about: an instance
/// port, or a router port on the bridge network (router interfaces and
/// gateways elsewhere, DHCP and DVR ports are local matters).
pub fn needs_top_sync(port: &Port, bridge_cidr: &Cidr) -> bool {
    let owner = port.device_owner.as_deref().unwrap_or_default();
    if owner.starts_with("compute:") {
        return true;
    }
    if owner != device_owner::ROUTER_GATEWAY && owner != device_owner::ROUTER_INTERFACE {
        return false;
    }
    port.ip_addresses()
        .next()
        .is_some_and(|ip| bridge_cidr.contains(ip))
}

/// The top port id a shadow port stands for, from its name.
pub fn shadowed_port_id(shadow: &Port) -> Option<&str> {
    shadow
        .name
        .as_deref()
        .and_then(|n| n.strip_prefix("shadow_port_"))
        .filter(|id| !id.is_empty())
}

/// Whether a shadow port was already asked to come up.
pub fn forced_up(port: &Port) -> bool {
    port.binding_profile
        .as_ref()
        .is_some_and(|p| p.contains_key(PROFILE_FORCE_UP))
}

/// The update asking a shadow port to come up (the value does not matter).
pub fn force_up_body() -> Port {
    let mut profile = Map::new();
    profile.insert(PROFILE_FORCE_UP.into(), json!("True"));
    Port {
        binding_profile: Some(profile),
        ..Port::default()
    }
}

/// The shadow in `pod` (on bottom network `b_net_id`) of `port`, the real
/// port of top port `t_port_id` bound on a host served by `agent`; created
/// through the routing-table lock so a rerun or a concurrent job finds it
/// rather than making another. Returns its id.
pub async fn ensure_shadow_port(
    net: &NetworkContext,
    pod: &Pod,
    project_id: &str,
    b_net_id: &str,
    t_port_id: &str,
    port: &Port,
    agent: &ShadowAgent,
) -> NetResult<String> {
    let name = shadow_port_name(t_port_id);
    // The address alone: Neutron finds the subnet of the pod's copy by it.
    let fixed_ips = port
        .ip_addresses()
        .next()
        .map(|ip| {
            vec![FixedIp {
                subnet_id: None,
                ip_address: Some(ip.to_owned()),
            }]
        })
        .unwrap_or_default();
    let mut profile = Map::new();
    profile.insert(
        PROFILE_AGENT_TYPE.into(),
        Value::String(agent.agent_type.clone()),
    );
    profile.insert(
        PROFILE_TUNNEL_IP.into(),
        Value::String(agent.tunnel_ip.clone()),
    );
    let body = Port {
        tenant_id: Some(project_id.to_owned()),
        admin_state_up: Some(true),
        name: Some(name.clone()),
        network_id: Some(b_net_id.to_owned()),
        fixed_ips: Some(fixed_ips),
        mac_address: port.mac_address.clone(),
        device_owner: Some(DEVICE_OWNER_SHADOW.to_owned()),
        device_id: port.device_id.clone(),
        binding_host_id: port.binding_host_id.clone(),
        binding_profile: Some(profile),
        ..Port::default()
    };
    let got = lock::get_or_create(
        net,
        project_id,
        pod,
        Element {
            top_id: t_port_id,
            resource_type: ResourceType::ShadowPort,
            name: &name,
            body,
        },
    )
    .await?;
    Ok(got.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(owner: &str, ip: &str) -> Port {
        Port {
            device_owner: Some(owner.into()),
            fixed_ips: Some(vec![FixedIp::address("s", ip)]),
            ..Port::default()
        }
    }

    #[test]
    fn instance_ports_and_bridge_router_ports_are_synced() {
        let bridge = Cidr::parse("100.0.0.0/9").unwrap();
        assert!(needs_top_sync(&port("compute:nova", "10.0.1.5"), &bridge));
        assert!(needs_top_sync(&port("compute:shadow", "10.0.1.5"), &bridge));
        assert!(needs_top_sync(
            &port(device_owner::ROUTER_GATEWAY, "100.0.0.3"),
            &bridge
        ));
        assert!(!needs_top_sync(
            &port(device_owner::ROUTER_INTERFACE, "10.0.1.1"),
            &bridge
        ));
        assert!(!needs_top_sync(
            &port(device_owner::DHCP, "100.0.0.9"),
            &bridge
        ));
    }

    #[test]
    fn shadow_names_give_the_top_port() {
        let p = Port {
            name: Some("shadow_port_abc".into()),
            ..Port::default()
        };
        assert_eq!(shadowed_port_id(&p), Some("abc"));
        assert_eq!(shadowed_port_id(&Port::default()), None);
        assert_eq!(agent_type_by_vif("ovs"), Some(AGENT_TYPE_OVS));
        assert_eq!(agent_type_by_vif("binding_failed"), None);
    }
}
