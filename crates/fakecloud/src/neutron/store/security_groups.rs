//! Security groups and their rules: new groups get the two egress rules,
//! rules are validated and duplicates refused, groups in use by ports
//! cannot be deleted.

use serde_json::{json, Map, Value};

use super::{bad, fault, required, s, Res, Store};
use crate::neutron::ipam::Cidr;

/// What makes a rule: two rules equal in these are duplicates.
const RULE_IDENTITY: &[&str] = &[
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
];

impl Store {
    pub(crate) fn create_security_group(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let m = self.build(
            project,
            body,
            [("name", json!("")), ("stateful", json!(true))],
            &["name", "description", "stateful"],
            "security_group",
        )?;
        let v = self.insert("security_groups", Value::Object(m));
        // Neutron gives every new group egress-anywhere rules.
        for eth in ["IPv4", "IPv6"] {
            let rule = json!({"security_group_id": v["id"], "direction": "egress", "ethertype": eth, "tenant_id": v["tenant_id"]});
            self.create_security_group_rule(project, rule.as_object().expect("object"))?;
        }
        Ok(self.render("security_groups", &v))
    }

    pub(crate) fn update_security_group(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let v = self.update_attrs(
            "security_groups",
            id,
            body,
            &["name", "description"],
            "security_group",
        )?;
        Ok(self.render("security_groups", &v))
    }

    pub(crate) fn delete_security_group(&mut self, id: &str) -> Res<()> {
        self.must("security_groups", id)?;
        if self.all("ports").iter().any(|p| {
            p["security_groups"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(id)))
        }) {
            return Err(fault(
                409,
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        self.all_mut("security_group_rules")
            .retain(|r| s(r, "security_group_id") != id);
        self.remove("security_groups", id);
        Ok(())
    }

    pub(crate) fn create_security_group_rule(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let sg = required(body, "security_group_id")?;
        self.must("security_groups", &sg)?;
        let defaults = [
            ("protocol", Value::Null),
            ("port_range_min", Value::Null),
            ("port_range_max", Value::Null),
            ("remote_ip_prefix", Value::Null),
            ("remote_group_id", Value::Null),
            ("ethertype", json!("IPv4")),
        ];
        let writable = [RULE_IDENTITY, &["description"]].concat();
        let m = self.build(project, body, defaults, &writable, "security_group_rule")?;
        let v = Value::Object(m);
        if !matches!(s(&v, "direction"), "ingress" | "egress") {
            return Err(bad(format!(
                "direction '{}' is not in ['ingress', 'egress']",
                s(&v, "direction")
            )));
        }
        if !matches!(s(&v, "ethertype"), "IPv4" | "IPv6") {
            return Err(bad(format!(
                "ethertype '{}' is not in ['IPv4', 'IPv6']",
                s(&v, "ethertype")
            )));
        }
        if !v["remote_ip_prefix"].is_null() && !v["remote_group_id"].is_null() {
            return Err(fault(
                400,
                "InvalidInput",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        if let Some(p) = v["remote_ip_prefix"].as_str() {
            let c = Cidr::parse(p).ok_or_else(|| bad(format!("'{p}' is not a valid IP subnet")))?;
            if c.v6 != (s(&v, "ethertype") == "IPv6") {
                return Err(bad(format!(
                    "Conflicting value ethertype {} for CIDR {p}",
                    s(&v, "ethertype")
                )));
            }
        }
        if let (Some(a), Some(b)) = (v["port_range_min"].as_i64(), v["port_range_max"].as_i64()) {
            if a > b {
                return Err(fault(
                    400,
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ));
            }
        }
        let same = |r: &Value| RULE_IDENTITY.iter().all(|k| r[*k] == v[*k]);
        if let Some(dup) = self.all("security_group_rules").iter().find(|r| same(r)) {
            return Err(fault(
                409,
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    s(dup, "id")
                ),
            ));
        }
        Ok(self.insert("security_group_rules", v))
    }

    pub(crate) fn delete_security_group_rule(&mut self, id: &str) -> Res<()> {
        self.must("security_group_rules", id)?;
        self.remove("security_group_rules", id);
        Ok(())
    }
}
