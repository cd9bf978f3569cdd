//! Trunks and their subports.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{crud, resource, NeutronClient, NeutronError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubPort {
    pub port_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation_id: Option<i64>,
}

impl SubPort {
    pub fn vlan(port_id: &str, vlan: i64) -> Self {
        Self {
            port_id: port_id.to_owned(),
            segmentation_type: Some("vlan".into()),
            segmentation_id: Some(vlan),
        }
    }
}

resource! {
    Trunk ["trunk", "trunks", "trunks"] named {
        port_id: String,
        admin_state_up: bool,
        status: String,
        sub_ports: Vec<SubPort>,
    }
}

crud!(
    Trunk,
    list_trunks,
    get_trunk,
    create_trunk,
    create_trunks,
    update_trunk,
    delete_trunk
);

impl NeutronClient {
    async fn subport_action(
        &self,
        trunk_id: &str,
        action: &str,
        body: Value,
    ) -> Result<Trunk, NeutronError> {
        let resp = self.action("trunks", trunk_id, action, &body).await?;
        serde_json::from_value(resp.unwrap_or_default()).map_err(|e| NeutronError::Protocol {
            url: format!("trunks/{trunk_id}/{action}"),
            reason: e.to_string(),
        })
    }

    pub async fn add_subports(
        &self,
        trunk_id: &str,
        sub_ports: &[SubPort],
    ) -> Result<Trunk, NeutronError> {
        self.subport_action(trunk_id, "add_subports", json!({ "sub_ports": sub_ports }))
            .await
    }

    /// Only `port_id` of each subport matters here.
    pub async fn remove_subports(
        &self,
        trunk_id: &str,
        sub_ports: &[SubPort],
    ) -> Result<Trunk, NeutronError> {
        let ids: Vec<Value> = sub_ports
            .iter()
            .map(|s| json!({"port_id": s.port_id}))
            .collect();
        self.subport_action(trunk_id, "remove_subports", json!({ "sub_ports": ids }))
            .await
    }

    pub async fn get_subports(&self, trunk_id: &str) -> Result<Vec<SubPort>, NeutronError> {
        let path = format!("trunks/{trunk_id}/get_subports");
        let body = self
            .request(reqwest::Method::GET, &path, &[], None)
            .await?
            .unwrap_or_default();
        serde_json::from_value(body.get("sub_ports").cloned().unwrap_or_default()).map_err(|e| {
            NeutronError::Protocol {
                url: path,
                reason: e.to_string(),
            }
        })
    }
}
