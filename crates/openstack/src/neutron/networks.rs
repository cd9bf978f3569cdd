//! Networks, with the provider and external-network attributes.

use super::{crud, resource};

resource! {
    /// A Neutron network.
    Network ["network", "networks", "networks"] named {
        admin_state_up: bool,
        status: String,
        shared: bool,
        subnets: Vec<String>,
        mtu: i64,
        #[serde(rename = "provider:network_type")]
        network_type: String,
        #[serde(rename = "provider:physical_network")]
        physical_network: String,
        #[serde(rename = "provider:segmentation_id")]
        segmentation_id: i64,
        #[serde(rename = "router:external")]
        external: bool,
        availability_zone_hints: Vec<String>,
        availability_zones: Vec<String>,
        #[serde(deserialize_with = "super::double_option")]
        qos_policy_id: Option<String>,
    }
}

crud!(
    Network,
    list_networks,
    get_network,
    create_network,
    create_networks,
    update_network,
    delete_network
);
