//! QoS policies and their rules.

use reqwest::Method;

use super::{crud, resource, Filters, NeutronClient, NeutronError};

resource! {
    QosPolicy ["policy", "policies", "qos/policies"] named {
        shared: bool,
        is_default: bool,
        rules: Vec<serde_json::Value>,
    }
}

crud!(
    QosPolicy,
    list_qos_policies,
    get_qos_policy,
    create_qos_policy,
    create_qos_policies,
    update_qos_policy,
    delete_qos_policy
);

/// The rule types Tricircle mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosRuleKind {
    BandwidthLimit,
    DscpMarking,
    MinimumBandwidth,
}

impl QosRuleKind {
    pub fn singular(self) -> &'static str {
        match self {
            QosRuleKind::BandwidthLimit => "bandwidth_limit_rule",
            QosRuleKind::DscpMarking => "dscp_marking_rule",
            QosRuleKind::MinimumBandwidth => "minimum_bandwidth_rule",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            QosRuleKind::BandwidthLimit => "bandwidth_limit_rules",
            QosRuleKind::DscpMarking => "dscp_marking_rules",
            QosRuleKind::MinimumBandwidth => "minimum_bandwidth_rules",
        }
    }
}

resource! {
    /// Any of the three rule types; only the fields of its type are set.
    QosRule ["rule", "rules", "qos/rules"] {
        id: String,
        max_kbps: i64,
        max_burst_kbps: i64,
        direction: String,
        dscp_mark: i64,
        min_kbps: i64,
    }
}

impl NeutronClient {
    fn rules_path(policy_id: &str, kind: QosRuleKind) -> String {
        format!("qos/policies/{policy_id}/{}", kind.plural())
    }

    fn rule_path(policy_id: &str, kind: QosRuleKind, rule_id: &str) -> String {
        format!("{}/{rule_id}", Self::rules_path(policy_id, kind))
    }

    pub async fn list_qos_rules(
        &self,
        policy_id: &str,
        kind: QosRuleKind,
    ) -> Result<Vec<QosRule>, NeutronError> {
        self.list_at(
            &Self::rules_path(policy_id, kind),
            kind.plural(),
            &Filters::new(),
        )
        .await
    }

    pub async fn create_qos_rule(
        &self,
        policy_id: &str,
        kind: QosRuleKind,
        rule: &QosRule,
    ) -> Result<QosRule, NeutronError> {
        let path = Self::rules_path(policy_id, kind);
        self.send_at(Method::POST, &path, kind.singular(), rule)
            .await
    }

    pub async fn get_qos_rule(
        &self,
        policy_id: &str,
        kind: QosRuleKind,
        rule_id: &str,
    ) -> Result<QosRule, NeutronError> {
        let path = Self::rule_path(policy_id, kind, rule_id);
        self.get_at(&path, kind.singular()).await
    }

    pub async fn update_qos_rule(
        &self,
        policy_id: &str,
        kind: QosRuleKind,
        rule_id: &str,
        rule: &QosRule,
    ) -> Result<QosRule, NeutronError> {
        let path = Self::rule_path(policy_id, kind, rule_id);
        self.send_at(Method::PUT, &path, kind.singular(), rule)
            .await
    }

    pub async fn delete_qos_rule(
        &self,
        policy_id: &str,
        kind: QosRuleKind,
        rule_id: &str,
    ) -> Result<(), NeutronError> {
        self.delete_at(&Self::rule_path(policy_id, kind, rule_id))
            .await
    }
}
