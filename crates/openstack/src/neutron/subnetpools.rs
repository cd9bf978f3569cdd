//! Subnet pools: prefixes from which Neutron allocates subnet CIDRs (a
//! subnet created with `subnetpool_id` and `prefixlen` instead of `cidr`).

use super::{crud, resource};

resource! {
    /// A Neutron subnet pool.
    SubnetPool ["subnetpool", "subnetpools", "subnetpools"] {
        id: String,
        name: String,
        description: String,
        tenant_id: String,
        project_id: String,
        prefixes: Vec<String>,
        ip_version: u8,
        shared: bool,
        is_default: bool,
        default_prefixlen: u8,
        min_prefixlen: u8,
        max_prefixlen: u8,
    }
}

crud!(
    SubnetPool,
    list_subnetpools,
    get_subnetpool,
    create_subnetpool,
    create_subnetpools,
    update_subnetpool,
    delete_subnetpool
);
