//! Subnets.

use serde::{Deserialize, Serialize};

use super::{crud, resource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

resource! {
    /// A Neutron subnet. `gateway_ip: Some(None)` asks for no gateway;
    /// `None` leaves Neutron's default (the first host).
    Subnet ["subnet", "subnets", "subnets"] named {
        network_id: String,
        cidr: String,
        ip_version: u8,
        #[serde(deserialize_with = "super::double_option")]
        gateway_ip: Option<String>,
        enable_dhcp: bool,
        allocation_pools: Vec<AllocationPool>,
        host_routes: Vec<HostRoute>,
        dns_nameservers: Vec<String>,
        #[serde(deserialize_with = "super::double_option")]
        subnetpool_id: Option<String>,
        /// Create only: the size of the CIDR to take from `subnetpool_id`.
        prefixlen: u8,
    }
}

crud!(
    Subnet,
    list_subnets,
    get_subnet,
    create_subnet,
    create_subnets,
    update_subnet,
    delete_subnet
);
