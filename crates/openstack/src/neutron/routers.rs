//! Routers: gateway, interfaces and extra routes.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{crud, resource, FixedIp, NeutronClient, NeutronError};

/// An extra route (`routes` attribute).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

impl Route {
    pub fn new(destination: impl Into<String>, nexthop: impl Into<String>) -> Self {
        Self {
            destination: destination.into(),
            nexthop: nexthop.into(),
        }
    }
}

/// `external_gateway_info` of a router.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalGatewayInfo {
    pub network_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_snat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_fixed_ips: Option<Vec<FixedIp>>,
}

resource! {
    /// A Neutron router. `external_gateway_info: Some(None)` clears the
    /// gateway on update.
    Router ["router", "routers", "routers"] named {
        admin_state_up: bool,
        status: String,
        #[serde(deserialize_with = "super::double_option")]
        external_gateway_info: Option<ExternalGatewayInfo>,
        routes: Vec<Route>,
        distributed: bool,
        ha: bool,
        availability_zone_hints: Vec<String>,
    }
}

/// What `add_router_interface`/`remove_router_interface` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterInterface {
    /// The router's id.
    pub id: String,
    #[serde(default)]
    pub tenant_id: String,
    pub port_id: String,
    pub subnet_id: String,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub network_id: String,
}

crud!(
    Router,
    list_routers,
    get_router,
    create_router,
    create_routers,
    update_router,
    delete_router
);

/// One of the four interface calls (add or remove, by subnet or by port):
/// `$key` names both the argument and the body's only attribute.
macro_rules! interface_call {
    ($(#[$m:meta])* $fn:ident, $action:literal, $key:ident) => {
        $(#[$m])*
        pub async fn $fn(
            &self,
            router_id: &str,
            $key: &str,
        ) -> Result<RouterInterface, NeutronError> {
            self.interface_action(router_id, $action, json!({ stringify!($key): $key }))
                .await
        }
    };
}

impl NeutronClient {
    /// Held while a change of `router_id` is sent: one at a time per
    /// router ([`crate::router_writes`]).
    async fn router_write(&self, router_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.inner
            .set
            .router_writes
            .lock(self.region(), router_id)
            .await
    }

    async fn interface_action(
        &self,
        router_id: &str,
        action: &str,
        body: serde_json::Value,
    ) -> Result<RouterInterface, NeutronError> {
        let resp = {
            let _one_at_a_time = self.router_write(router_id).await;
            self.action("routers", router_id, action, &body).await?
        };
        let v = resp.ok_or_else(|| NeutronError::Protocol {
            url: format!("routers/{router_id}/{action}"),
            reason: "empty body".into(),
        })?;
        serde_json::from_value(v).map_err(|e| NeutronError::Protocol {
            url: format!("routers/{router_id}/{action}"),
            reason: e.to_string(),
        })
    }

    interface_call!(
        /// Attach a subnet: Neutron creates a `network:router_interface` port
        /// holding the subnet's gateway IP.
        add_interface_subnet, "add_router_interface", subnet_id
    );
    interface_call!(
        /// Attach an existing port, which becomes the interface.
        add_interface_port, "add_router_interface", port_id
    );
    interface_call!(
        remove_interface_subnet,
        "remove_router_interface",
        subnet_id
    );
    interface_call!(remove_interface_port, "remove_router_interface", port_id);

    /// Replace the router's extra routes (`PUT` of `routes`).
    pub async fn set_routes(
        &self,
        router_id: &str,
        routes: &[Route],
    ) -> Result<Router, NeutronError> {
        let body = Router {
            routes: Some(routes.to_vec()),
            ..Router::default()
        };
        let _one_at_a_time = self.router_write(router_id).await;
        self.update_router(router_id, &body).await
    }

    /// Set (or with `None` clear) the router's external gateway.
    pub async fn set_gateway(
        &self,
        router_id: &str,
        gateway: Option<ExternalGatewayInfo>,
    ) -> Result<Router, NeutronError> {
        let body = Router {
            external_gateway_info: Some(gateway),
            ..Router::default()
        };
        let _one_at_a_time = self.router_write(router_id).await;
        self.update_router(router_id, &body).await
    }
}
