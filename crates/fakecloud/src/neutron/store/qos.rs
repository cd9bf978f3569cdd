//! QoS policies (`/v2.0/qos/policies`) and their bandwidth limit, DSCP
//! marking and minimum bandwidth rules, one per type and direction;
//! policies in use by ports or networks cannot be deleted.

use serde_json::{json, Map, Value};

use super::{bad, fault, new_id, s, Res, Store};

const POLICY_WRITABLE: &[&str] = &["name", "description", "shared", "is_default"];

impl Store {
    pub(crate) fn create_qos_policy(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let m = self.build(
            project,
            body,
            [
                ("name", json!("")),
                ("shared", json!(false)),
                ("is_default", json!(false)),
            ],
            POLICY_WRITABLE,
            "policy",
        )?;
        let v = self.insert("policies", Value::Object(m));
        Ok(self.render("policies", &v))
    }

    pub(crate) fn update_qos_policy(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let v = self.update_attrs("policies", id, body, POLICY_WRITABLE, "policy")?;
        Ok(self.render("policies", &v))
    }

    pub(crate) fn delete_qos_policy(&mut self, id: &str) -> Res<()> {
        self.must("policies", id)?;
        for (coll, what) in [("ports", "port"), ("networks", "network")] {
            if let Some(user) = self
                .all(coll)
                .iter()
                .find(|x| x["qos_policy_id"].as_str() == Some(id))
            {
                return Err(fault(
                    409,
                    "QosPolicyInUse",
                    format!("QoS Policy {id} is used by {what} {}.", s(user, "id")),
                ));
            }
        }
        self.all_mut("qos_rules")
            .retain(|r| s(r, "qos_policy_id") != id);
        self.remove("policies", id);
        Ok(())
    }

    pub(crate) fn qos_rules(&self, policy: &str, kind: &str) -> Res<Vec<Value>> {
        self.must("policies", policy)?;
        Ok(self
            .all("qos_rules")
            .iter()
            .filter(|r| s(r, "qos_policy_id") == policy && s(r, "type") == kind)
            .map(|r| (**r).clone())
            .collect())
    }

    pub(crate) fn qos_rule(&self, policy: &str, kind: &str, id: &str) -> Res<Value> {
        self.qos_rules(policy, kind)?
            .into_iter()
            .find(|r| s(r, "id") == id)
            .ok_or_else(|| {
                fault(
                    404,
                    "QosRuleNotFound",
                    format!("QoS rule {id} for policy {policy} could not be found."),
                )
            })
    }

    fn rule_fields(kind: &str) -> &'static [&'static str] {
        match kind {
            "bandwidth_limit" => &["max_kbps", "max_burst_kbps", "direction"],
            "dscp_marking" => &["dscp_mark"],
            _ => &["min_kbps", "direction"],
        }
    }

    fn check_rule(kind: &str, v: &Value) -> Res<()> {
        match kind {
            "bandwidth_limit" if v["max_kbps"].as_i64().is_none() => {
                Err(bad("max_kbps is required"))
            }
            "minimum_bandwidth" if v["min_kbps"].as_i64().is_none() => {
                Err(bad("min_kbps is required"))
            }
            "dscp_marking" => {
                const VALID: &[i64] = &[
                    0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 46, 48,
                    56,
                ];
                match v["dscp_mark"].as_i64() {
                    Some(m) if VALID.contains(&m) => Ok(()),
                    _ => Err(bad(format!(
                        "dscp_mark {} is not a valid DSCP mark",
                        v["dscp_mark"]
                    ))),
                }
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn create_qos_rule(
        &mut self,
        policy: &str,
        kind: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let existing = self.qos_rules(policy, kind)?;
        let mut m = Map::new();
        m.insert("id".into(), json!(new_id()));
        m.insert("qos_policy_id".into(), json!(policy));
        m.insert("type".into(), json!(kind));
        if kind != "dscp_marking" {
            m.insert("direction".into(), json!("egress"));
        }
        if kind == "bandwidth_limit" {
            m.insert("max_burst_kbps".into(), json!(0));
        }
        Self::apply(&mut m, body, Self::rule_fields(kind), kind)?;
        let v = Value::Object(m);
        Self::check_rule(kind, &v)?;
        if existing
            .iter()
            .any(|r| r.get("direction") == v.get("direction"))
        {
            return Err(fault(
                409,
                "QoSRulesConflict",
                format!("Rule {kind} already exists in QoS policy {policy}."),
            ));
        }
        Ok(self.insert("qos_rules", v))
    }

    pub(crate) fn update_qos_rule(
        &mut self,
        policy: &str,
        kind: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.qos_rule(policy, kind, id)?;
        Self::apply_to(&mut v, body, Self::rule_fields(kind), kind)?;
        Self::check_rule(kind, &v)?;
        self.save("qos_rules", id, &v);
        Ok(v)
    }

    pub(crate) fn delete_qos_rule(&mut self, policy: &str, kind: &str, id: &str) -> Res<()> {
        self.qos_rule(policy, kind, id)?;
        self.remove("qos_rules", id);
        Ok(())
    }
}
