//! networking-sfc's service function chaining API: port pairs, port pair
//! groups, flow classifiers and port chains (all under `/v2.0/sfc/`).

use serde_json::{Map, Value};

use super::{crud, resource};

resource! {
    /// A service function's ingress and egress ports.
    PortPair ["port_pair", "port_pairs", "sfc/port_pairs"] named {
        ingress: String,
        egress: String,
        service_function_parameters: Map<String, Value>,
    }
}

resource! {
    /// Port pairs that load-share one hop of a chain.
    PortPairGroup ["port_pair_group", "port_pair_groups", "sfc/port_pair_groups"] named {
        port_pairs: Vec<String>,
        port_pair_group_parameters: Map<String, Value>,
        tap_enabled: bool,
        /// Assigned by the server; never in a request body.
        group_id: i64,
    }
}

resource! {
    /// The traffic a chain steers.
    FlowClassifier ["flow_classifier", "flow_classifiers", "sfc/flow_classifiers"] named {
        ethertype: String,
        protocol: String,
        source_port_range_min: i64,
        source_port_range_max: i64,
        destination_port_range_min: i64,
        destination_port_range_max: i64,
        source_ip_prefix: String,
        destination_ip_prefix: String,
        logical_source_port: String,
        logical_destination_port: String,
        l7_parameters: Map<String, Value>,
    }
}

resource! {
    /// Port pair groups traversed in order by the classified traffic.
    PortChain ["port_chain", "port_chains", "sfc/port_chains"] named {
        port_pair_groups: Vec<String>,
        flow_classifiers: Vec<String>,
        chain_parameters: Map<String, Value>,
        chain_id: i64,
    }
}

crud!(
    PortPair,
    list_port_pairs,
    get_port_pair,
    create_port_pair,
    create_port_pairs,
    update_port_pair,
    delete_port_pair
);
crud!(
    PortPairGroup,
    list_port_pair_groups,
    get_port_pair_group,
    create_port_pair_group,
    create_port_pair_groups,
    update_port_pair_group,
    delete_port_pair_group
);
crud!(
    FlowClassifier,
    list_flow_classifiers,
    get_flow_classifier,
    create_flow_classifier,
    create_flow_classifiers,
    update_flow_classifier,
    delete_flow_classifier
);
crud!(
    PortChain,
    list_port_chains,
    get_port_chain,
    create_port_chain,
    create_port_chains,
    update_port_chain,
    delete_port_chain
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::neutron::Resource;

    #[test]
    fn answers_parse_with_nulls_and_unknown_keys() {
        let fc: FlowClassifier = serde_json::from_value(json!({
            "id": "fc1", "name": "", "ethertype": "IPv4", "protocol": null,
            "source_port_range_min": null, "destination_port_range_min": 80,
            "source_ip_prefix": "10.0.0.0/24", "logical_source_port": "p1",
            "logical_destination_port": null, "l7_parameters": {}, "future": 1
        }))
        .unwrap();
        assert_eq!(fc.id(), "fc1");
        assert_eq!(fc.protocol, None);
        assert_eq!(fc.source_port_range_min, None);
        assert_eq!(fc.destination_port_range_min, Some(80));
        assert_eq!(fc.logical_destination_port, None);
        assert_eq!(fc.extra["future"], json!(1));

        let pc: PortChain = serde_json::from_value(json!({
            "id": "pc1", "port_pair_groups": ["g1", "g2"], "flow_classifiers": ["fc1"],
            "chain_parameters": {"correlation": "mpls", "symmetric": false}, "chain_id": 3
        }))
        .unwrap();
        assert_eq!(
            pc.port_pair_groups.as_deref(),
            Some(&["g1".to_owned(), "g2".to_owned()][..])
        );
        assert_eq!(pc.chain_id, Some(3));
        assert_eq!(PortChain::PATH, "sfc/port_chains");
        assert_eq!(PortPairGroup::SINGULAR, "port_pair_group");
    }

    #[test]
    fn bodies_carry_only_what_is_set() {
        let pp = PortPair {
            name: Some("pp".into()),
            ingress: Some("in".into()),
            egress: Some("out".into()),
            ..PortPair::default()
        };
        assert_eq!(
            serde_json::to_value(&pp).unwrap(),
            json!({"name": "pp", "ingress": "in", "egress": "out"})
        );
        let ppg = PortPairGroup {
            port_pairs: Some(vec![]),
            ..PortPairGroup::default()
        };
        assert_eq!(
            serde_json::to_value(&ppg).unwrap(),
            json!({"port_pairs": []})
        );
    }
}
