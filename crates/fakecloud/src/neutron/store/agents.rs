//! Port binding as ML2 with the Open vSwitch mechanism driver does it: a
//! port whose `binding:host_id` names a host with an OVS agent is bound
//! (`binding:vif_type = ovs`), on any other host binding fails, and a port
//! without a host stays unbound. Agents are declared by the test
//! ([`crate::FakeNeutron::add_ovs_agent`]); there is no agents API.

use serde_json::{json, Value};

use super::{s, Store};

impl Store {
    pub(super) fn bind(&self, v: &mut Value) {
        let host = s(v, "binding:host_id").to_owned();
        let (vif_type, details) = if host.is_empty() {
            ("unbound", json!({}))
        } else if self.ovs_hosts.contains(&host) {
            (
                "ovs",
                json!({"connectivity": "l2", "port_filter": true,
                    "ovs_hybrid_plug": false, "datapath_type": "system",
                    "bridge_name": "br-int"}),
            )
        } else {
            ("binding_failed", json!({}))
        };
        v["binding:vif_type"] = json!(vif_type);
        v["binding:vif_details"] = details;
    }
}
