//! Floating IPs.

use super::{crud, resource, NeutronClient, NeutronError};

resource! {
    /// A floating IP. `port_id: Some(None)` disassociates on update.
    FloatingIp ["floatingip", "floatingips", "floatingips"] {
        id: String,
        description: String,
        tenant_id: String,
        project_id: String,
        floating_network_id: String,
        floating_ip_address: String,
        #[serde(deserialize_with = "super::double_option")]
        port_id: Option<String>,
        #[serde(deserialize_with = "super::double_option")]
        fixed_ip_address: Option<String>,
        #[serde(deserialize_with = "super::double_option")]
        router_id: Option<String>,
        status: String,
    }
}

crud!(
    FloatingIp,
    list_floatingips,
    get_floatingip,
    create_floatingip,
    create_floatingips,
    update_floatingip,
    delete_floatingip
);

impl NeutronClient {
    /// Point the floating IP at `port_id` (and, when the port has several,
    /// one of its addresses).
    pub async fn associate_floatingip(
        &self,
        fip_id: &str,
        port_id: &str,
        fixed_ip_address: Option<&str>,
    ) -> Result<FloatingIp, NeutronError> {
        let body = FloatingIp {
            port_id: Some(Some(port_id.to_owned())),
            fixed_ip_address: fixed_ip_address.map(|a| Some(a.to_owned())),
            ..FloatingIp::default()
        };
        self.update_floatingip(fip_id, &body).await
    }

    pub async fn disassociate_floatingip(&self, fip_id: &str) -> Result<FloatingIp, NeutronError> {
        let body = FloatingIp {
            port_id: Some(None),
            ..FloatingIp::default()
        };
        self.update_floatingip(fip_id, &body).await
    }
}
