//! Neutron's list query syntax: `key=value`, a repeated key for "any of",
//! and `fields` to trim the answer; which whole list holds the answer to
//! a narrower one.

use std::collections::BTreeMap;

use serde_json::Value;

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

/// Query keys that page, sort or trim a list: a list with them is not a
/// whole answer, and one asking for them is left to Neutron.
const NOT_FILTERS: &[&str] = &[
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
    "fields",
];

/// Attributes a narrower list may be filtered on here. Neutron compares
/// them as plain values (ids, owners, booleans); others (names on a
/// case-blind database, `fixed_ips`, tags) it filters in ways of its own.
const LOCAL_FILTERS: &[&str] = &[
    "id",
    "network_id",
    "device_id",
    "device_owner",
    "tenant_id",
    "project_id",
    "router_id",
    "port_id",
    "floating_network_id",
    "subnetpool_id",
    "router:external",
    "shared",
    "admin_state_up",
];

/// The values of each filter key, in first-seen order of keys.
fn by_key(pairs: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        out.entry(k.as_str()).or_default().push(v.as_str());
    }
    out
}

/// Whether `value` (an item's attribute) is one of the filter's `wanted`.
fn attribute_matches(value: Option<&Value>, wanted: &[&str]) -> bool {
    match value {
        Some(Value::String(s)) => wanted.contains(&s.as_str()),
        Some(Value::Bool(b)) => wanted.iter().any(|w| {
            matches!(
                (w.to_ascii_lowercase().as_str(), b),
                ("true" | "1", true) | ("false" | "0", false)
            )
        }),
        Some(Value::Number(n)) => wanted.contains(&n.to_string().as_str()),
        _ => false,
    }
}

/// Whether list `path` read with `filters` holds every resource they
/// match (not trimmed to some attributes, not one page of many), so that
/// narrower lists can be answered from it.
pub(crate) fn is_whole_list(path: &str, filters: &[(String, String)]) -> bool {
    !path.contains('/')
        && !filters
            .iter()
            .any(|(k, _)| NOT_FILTERS.contains(&k.as_str()))
}

/// The local filters that make whole list `list` (its filters) the answer
/// to list `query` on the same collection, if it holds every item the
/// query would: each of the list's filters is in the query with no other
/// value, and the query's narrower filters can be applied here.
pub(crate) fn narrowing<'a>(
    list: &'a [(String, String)],
    query: &'a [(String, String)],
) -> Option<Vec<(&'a str, Vec<&'a str>)>> {
    let (mine, theirs) = (by_key(list), by_key(query));
    if theirs
        .keys()
        .any(|k| *k != "fields" && NOT_FILTERS.contains(k))
        || theirs.values().flatten().any(|v| v.is_empty())
    {
        return None;
    }
    for (k, values) in &mine {
        let asked = theirs.get(k)?;
        if !asked.iter().all(|v| values.contains(v)) {
            return None;
        }
    }
    // The filters still to apply: the query's, but those the list applied
    // with the very same values.
    let mut narrower = Vec::new();
    for (k, asked) in theirs {
        if k == "fields" {
            continue;
        }
        let same = mine.get(k).is_some_and(|values| {
            values.iter().all(|v| asked.contains(v)) && asked.iter().all(|v| values.contains(v))
        });
        if !same {
            if !LOCAL_FILTERS.contains(&k) {
                return None;
            }
            narrower.push((k, asked));
        }
    }
    Some(narrower)
}

/// `body` (whole list `list`) narrowed to the answer of list `query`, if
/// it holds it ([`narrowing`]).
pub(crate) fn narrowed(
    list: &[(String, String)],
    body: &Value,
    query: &[(String, String)],
) -> Option<Value> {
    let narrower = narrowing(list, query)?;
    let obj = body.as_object()?;
    let (key, items) = obj.iter().find_map(|(k, v)| v.as_array().map(|a| (k, a)))?;
    let kept: Vec<Value> = items
        .iter()
        .filter(|item| {
            narrower
                .iter()
                .all(|(k, wanted)| attribute_matches(item.get(*k), wanted))
        })
        .cloned()
        .collect();
    Some(serde_json::json!({ key.as_str(): kept }))
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
