//! Subnet pools: prefixes from which Neutron allocates subnet CIDRs (a
//! subnet created with `subnetpool_id` and `prefixlen` instead of `cidr`).

use serde::{Deserialize, Deserializer};

use super::{crud, resource};

/// Neutron (Zed, measured) answers prefix lengths as strings (`"8"`) though
/// it takes numbers; accept both.
fn prefixlen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u8),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => t.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("prefix length {t:?} is not a number 0-255"))
        }),
    }
}

resource! {
    /// A Neutron subnet pool.
    SubnetPool ["subnetpool", "subnetpools", "subnetpools"] named {
        prefixes: Vec<String>,
        ip_version: u8,
        shared: bool,
        is_default: bool,
        #[serde(deserialize_with = "prefixlen")]
        default_prefixlen: u8,
        #[serde(deserialize_with = "prefixlen")]
        min_prefixlen: u8,
        #[serde(deserialize_with = "prefixlen")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lengths_as_neutron_answers_them() {
        let p: SubnetPool = serde_json::from_value(serde_json::json!({
            "id": "p", "default_prefixlen": "8", "min_prefixlen": 8, "max_prefixlen": null
        }))
        .unwrap();
        assert_eq!(
            (p.default_prefixlen, p.min_prefixlen, p.max_prefixlen),
            (Some(8), Some(8), None)
        );
        let bad = serde_json::from_value::<SubnetPool>(serde_json::json!({"min_prefixlen": "x"}));
        assert!(bad.unwrap_err().to_string().contains("\"x\""));
    }
}
