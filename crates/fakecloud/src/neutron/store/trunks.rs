//! Trunks: a parent port used once, VLAN subports with unique
//! segmentation ids, added and removed as Neutron's trunk extension does.

use serde_json::{json, Map, Value};

use super::{bad, fault, required, s, Res, Store};

const TRUNK_WRITABLE: &[&str] = &["name", "admin_state_up", "description"];

impl Store {
    fn check_subports(
        &self,
        trunk_id: &str,
        parent: &str,
        current: &[Value],
        new: &Value,
    ) -> Res<Vec<Value>> {
        let mut all: Vec<Value> = current.to_vec();
        for sp in new
            .as_array()
            .ok_or_else(|| bad("sub_ports must be a list"))?
        {
            let pid = s(sp, "port_id");
            self.must("ports", pid)?;
            let st = sp
                .get("segmentation_type")
                .and_then(Value::as_str)
                .unwrap_or("vlan");
            let sid = sp.get("segmentation_id").and_then(Value::as_i64);
            if st != "vlan" {
                return Err(bad(format!("segmentation_type '{st}' is not supported")));
            }
            let Some(sid) = sid.filter(|i| (1..=4094).contains(i)) else {
                return Err(bad("segmentation_id must be in 1..4094"));
            };
            if pid == parent || self.all("trunks").iter().any(|t| s(t, "port_id") == pid) {
                return Err(fault(
                    409,
                    "ParentPortInUse",
                    format!(
                        "Port {pid} is currently in use and is not eligible for use as a subport."
                    ),
                ));
            }
            let in_other = self.all("trunks").iter().any(|t| {
                t["sub_ports"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| s(x, "port_id") == pid))
            });
            if in_other || all.iter().any(|x| s(x, "port_id") == pid) {
                return Err(fault(
                    409,
                    "PortInUseAsSubPort",
                    format!("Port {pid} is currently a subport for trunk {trunk_id}."),
                ));
            }
            if all
                .iter()
                .any(|x| x["segmentation_id"].as_i64() == Some(sid))
            {
                return Err(fault(409, "DuplicateSubPort", format!("segmentation_type {st} and segmentation_id {sid} already in use on trunk {trunk_id}.")));
            }
            all.push(json!({"port_id": pid, "segmentation_type": st, "segmentation_id": sid}));
        }
        Ok(all)
    }

    pub(crate) fn create_trunk(&mut self, project: &str, body: &Map<String, Value>) -> Res<Value> {
        let pid = required(body, "port_id")?;
        self.must("ports", &pid)?;
        if self.all("trunks").iter().any(|t| s(t, "port_id") == pid) {
            return Err(fault(
                409,
                "TrunkPortInUse",
                format!("Port {pid} is in use by another trunk."),
            ));
        }
        let mut attrs = body.clone();
        attrs.remove("port_id");
        let subs = attrs.remove("sub_ports").unwrap_or(json!([]));
        let mut m = self.build(
            project,
            &attrs,
            [
                ("name", json!("")),
                ("admin_state_up", json!(true)),
                ("status", json!("DOWN")),
            ],
            TRUNK_WRITABLE,
            "trunk",
        )?;
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        let subs = self.check_subports(&id, &pid, &[], &subs)?;
        m.insert("port_id".into(), json!(pid));
        m.insert("sub_ports".into(), json!(subs));
        Ok(self.insert("trunks", Value::Object(m)))
    }

    pub(crate) fn update_trunk(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        self.update_attrs("trunks", id, body, TRUNK_WRITABLE, "trunk")
    }

    pub(crate) fn delete_trunk(&mut self, id: &str) -> Res<()> {
        self.must("trunks", id)?;
        self.remove("trunks", id);
        Ok(())
    }

    pub(crate) fn add_subports(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut t = self.must("trunks", id)?;
        let current = t["sub_ports"].as_array().cloned().unwrap_or_default();
        let all = self.check_subports(
            id,
            s(&t, "port_id"),
            &current,
            body.get("sub_ports").unwrap_or(&json!([])),
        )?;
        t["sub_ports"] = json!(all);
        Ok(self.commit("trunks", id, t))
    }

    pub(crate) fn remove_subports(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut t = self.must("trunks", id)?;
        let mut current = t["sub_ports"].as_array().cloned().unwrap_or_default();
        for sp in body
            .get("sub_ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let pid = s(sp, "port_id");
            if !current.iter().any(|x| s(x, "port_id") == pid) {
                return Err(fault(
                    404,
                    "SubPortNotFound",
                    format!("SubPort {pid} could not be found in trunk {id}."),
                ));
            }
            current.retain(|x| s(x, "port_id") != pid);
        }
        t["sub_ports"] = json!(current);
        Ok(self.commit("trunks", id, t))
    }
}
