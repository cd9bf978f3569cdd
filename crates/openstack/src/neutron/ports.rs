//! Ports, with binding attributes and fixed IPs.

use serde::{Deserialize, Serialize};

use super::{crud, resource};

/// One address of a port. Either field may be left out on create: a
/// subnet alone asks for any free address there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

impl FixedIp {
    pub fn on_subnet(subnet_id: &str) -> Self {
        Self {
            subnet_id: Some(subnet_id.to_owned()),
            ip_address: None,
        }
    }

    pub fn address(subnet_id: &str, ip: &str) -> Self {
        Self {
            subnet_id: Some(subnet_id.to_owned()),
            ip_address: Some(ip.to_owned()),
        }
    }
}

resource! {
    /// A Neutron port.
    Port ["port", "ports", "ports"] named {
        network_id: String,
        mac_address: String,
        admin_state_up: bool,
        status: String,
        device_owner: String,
        device_id: String,
        fixed_ips: Vec<FixedIp>,
        security_groups: Vec<String>,
        allowed_address_pairs: Vec<serde_json::Value>,
        #[serde(rename = "binding:host_id")]
        binding_host_id: String,
        #[serde(rename = "binding:profile")]
        binding_profile: serde_json::Map<String, serde_json::Value>,
        #[serde(rename = "binding:vif_type")]
        binding_vif_type: String,
        #[serde(rename = "binding:vnic_type")]
        binding_vnic_type: String,
        #[serde(rename = "binding:vif_details")]
        binding_vif_details: serde_json::Map<String, serde_json::Value>,
        #[serde(deserialize_with = "super::double_option")]
        qos_policy_id: Option<String>,
    }
}

impl Port {
    /// The addresses of the port, in order.
    pub fn ip_addresses(&self) -> impl Iterator<Item = &str> {
        self.fixed_ips
            .iter()
            .flatten()
            .filter_map(|f| f.ip_address.as_deref())
    }
}

crud!(
    Port,
    list_ports,
    get_port,
    create_port,
    create_ports,
    update_port,
    delete_port
);
