//! Neutron's list query syntax: `key=value`, a repeated key for "any of",
//! and `fields` to trim the answer.

/// Query parameters of a list call, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Only resources whose `key` equals `value`.
    pub fn eq(mut self, key: &str, value: impl ToString) -> Self {
        self.pairs.push((key.to_owned(), value.to_string()));
        self
    }

    /// Only resources whose `key` is any of `values` (the key repeated).
    pub fn any<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: ToString,
    {
        for v in values {
            self.pairs.push((key.to_owned(), v.to_string()));
        }
        self
    }

    /// Ports holding this address (`fixed_ips=ip_address=...`).
    pub fn fixed_ip_address(self, ip: impl ToString) -> Self {
        let v = format!("ip_address={}", ip.to_string());
        self.eq("fixed_ips", v)
    }

    /// Return only these attributes.
    pub fn fields<I, V>(self, fields: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: ToString,
    {
        self.any("fields", fields)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_in_order() {
        let f = Filters::new()
            .eq("name", "net1")
            .any("device_owner", ["network:router_interface", "compute:nova"])
            .eq("router:external", true)
            .fields(["id", "name"]);
        let got: Vec<String> = f.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "name=net1",
                "device_owner=network:router_interface",
                "device_owner=compute:nova",
                "router:external=true",
                "fields=id",
                "fields=name"
            ]
        );
    }
}
