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

use super::ip::Cidr;
use super::lock::{self, Element};
use super::{NetError, NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
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

/// Shadow ports are named `shadow_port_<top port id>`.
const SHADOW_PORT_PREFIX: &str = "shadow_port_";

pub fn shadow_port_name(t_port_id: &str) -> String {
    format!("{SHADOW_PORT_PREFIX}{t_port_id}")
}

/// The L2 agent type that serves ports of `vif_type`, if shadow ports are
/// supported for it (only OVS, as the reference).
pub fn agent_type_by_vif(vif_type: &str) -> Option<&'static str> {
    (vif_type == VIF_TYPE_OVS).then_some(AGENT_TYPE_OVS)
}

/// The shadow agent table's entry for the L2 agent of `agent_type` on `host`.
pub async fn find_agent(
    net: &NetworkContext,
    host: &str,
    agent_type: &str,
) -> NetResult<Option<ShadowAgent>> {
    let (h, t) = (host.to_owned(), agent_type.to_owned());
    Ok(net
        .db
        .run(move |c| tricircle_db::agents::get_agent_by_host_type(c, &h, &t))
        .await?)
}

/// The known agent serving bound port `port`, if shadow ports support its
/// VIF type: what a shadow port's binding profile names.
pub async fn serving_agent(net: &NetworkContext, port: &Port) -> NetResult<Option<ShadowAgent>> {
    let vif = port.binding_vif_type.as_deref().unwrap_or_default();
    match (agent_type_by_vif(vif), port.binding_host_id.as_deref()) {
        (Some(t), Some(host)) if !host.is_empty() => find_agent(net, host, t).await,
        _ => Ok(None),
    }
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
        .and_then(|n| n.strip_prefix(SHADOW_PORT_PREFIX))
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

/// The body of the shadow, on bottom network `b_net_id`, of `port`, the
/// real port of top port `t_port_id`: the one builder for every job that
/// makes shadow ports (shadow_port_setup, and stock mode's floating IPs of
/// VMs in another pod), so the port looks the same whoever creates it.
///
/// As the reference's `prepare_shadow_port(s)`: the project's, up, named
/// `shadow_port_<top port>`, owner `compute:shadow`, the real port's MAC
/// and first address, and its host; when the serving L2 agent is known,
/// its type and tunnel address in the binding profile (what lets the pod's
/// agents tunnel to the host). Also, as both former builders did, the real
/// port's device id. No security groups: the pod's defaults apply.
///
/// The address is given alone, as the reference: Neutron picks the subnet
/// of the copy holding it (the floating-IP builder used to name the subnet
/// as well). A port without an address is an error (shadow_port_setup's
/// builder used to send no fixed IPs, which would have Neutron allocate a
/// different one); an empty host is no host (it used to be sent as is).
pub fn shadow_port_body(
    project_id: &str,
    b_net_id: &str,
    t_port_id: &str,
    port: &Port,
    agent: Option<&ShadowAgent>,
) -> NetResult<Port> {
    let ip = port
        .ip_addresses()
        .next()
        .ok_or_else(|| NetError::Missing(format!("port {} has no address", port.id())))?;
    let profile = agent.map(|a| {
        let mut profile = Map::new();
        profile.insert(
            PROFILE_AGENT_TYPE.into(),
            Value::String(a.agent_type.clone()),
        );
        profile.insert(PROFILE_TUNNEL_IP.into(), Value::String(a.tunnel_ip.clone()));
        profile
    });
    Ok(Port {
        tenant_id: Some(project_id.to_owned()),
        admin_state_up: Some(true),
        name: Some(shadow_port_name(t_port_id)),
        network_id: Some(b_net_id.to_owned()),
        fixed_ips: Some(vec![FixedIp {
            subnet_id: None,
            ip_address: Some(ip.to_owned()),
        }]),
        mac_address: port.mac_address.clone(),
        device_owner: Some(DEVICE_OWNER_SHADOW.to_owned()),
        device_id: port.device_id.clone(),
        binding_host_id: port.binding_host_id.clone().filter(|h| !h.is_empty()),
        binding_profile: profile,
        ..Port::default()
    })
}

/// The shadow in `pod` of `port` (see [`shadow_port_body`]), created
/// through the routing-table lock so a rerun or a concurrent job finds it
/// rather than making another. Returns its id.
pub async fn ensure_shadow_port(
    net: &NetworkContext,
    pod: &Pod,
    project_id: &str,
    b_net_id: &str,
    t_port_id: &str,
    port: &Port,
    agent: Option<&ShadowAgent>,
) -> NetResult<String> {
    let body = shadow_port_body(project_id, b_net_id, t_port_id, port, agent)?;
    let name = shadow_port_name(t_port_id);
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

    fn vm_port(host: &str) -> Port {
        serde_json::from_value(json!({
            "id": "b1",
            "device_owner": "compute:nova",
            "device_id": "vm1",
            "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "bsub", "ip_address": "10.0.1.5"}],
            "binding:host_id": host,
            "security_groups": ["sg1"],
        }))
        .unwrap()
    }

    #[test]
    fn a_shadow_port_copies_the_real_port_whoever_builds_it() {
        let agent = ShadowAgent {
            id: "a".into(),
            pod_id: "pod-1".into(),
            host: "host1".into(),
            agent_type: AGENT_TYPE_OVS.into(),
            tunnel_ip: "192.168.1.101".into(),
        };
        let body = shadow_port_body("proj", "bnet", "t1", &vm_port("host1"), Some(&agent)).unwrap();
        let want: Port = serde_json::from_value(json!({
            "tenant_id": "proj",
            "admin_state_up": true,
            "name": "shadow_port_t1",
            "network_id": "bnet",
            "fixed_ips": [{"ip_address": "10.0.1.5"}],
            "mac_address": "fa:16:3e:00:00:01",
            "device_owner": "compute:shadow",
            "device_id": "vm1",
            "binding:host_id": "host1",
            "binding:profile": {"type": AGENT_TYPE_OVS, "tunnel_ip": "192.168.1.101"},
        }))
        .unwrap();
        assert_eq!(body, want);
        assert_eq!(shadowed_port_id(&body), Some("t1"));

        // With no known agent (a floating IP may still need the port) only
        // the profile is missing.
        let plain = shadow_port_body("proj", "bnet", "t1", &vm_port("host1"), None).unwrap();
        assert_eq!(
            plain,
            Port {
                binding_profile: None,
                ..want
            }
        );

        // Where the old builders disagreed: the subnet is not named (the
        // floating-IP one named it), an empty host is none (shadow_port_setup's
        // sent ""), and no address is an error (it sent no fixed IPs).
        let unbound = shadow_port_body("proj", "bnet", "t1", &vm_port(""), None).unwrap();
        assert_eq!(unbound.binding_host_id, None);
        assert_eq!(unbound.fixed_ips.unwrap()[0].subnet_id, None);
        let bare = Port {
            fixed_ips: None,
            ..vm_port("host1")
        };
        assert!(shadow_port_body("proj", "bnet", "t1", &bare, None).is_err());
    }
}
