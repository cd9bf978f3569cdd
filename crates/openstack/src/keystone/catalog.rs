//! The service catalog of a scoped token, indexed for endpoint lookups.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::Error;

/// Which of a service's endpoints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interface {
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interface {
    type Err = Error;

    /// Accepts the v3 names and the v2-era `publicURL` spellings that
    /// `endpoint_type`/`interface` options still carry in old configs.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().trim_end_matches("url") {
            "public" => Ok(Interface::Public),
            "internal" => Ok(Interface::Internal),
            "admin" => Ok(Interface::Admin),
            _ => Err(Error::Config(format!(
                "unknown endpoint interface '{s}' (expected public, internal or admin)"
            ))),
        }
    }
}

/// Keystone v3 catalog entry as it appears in a token body.
#[derive(Debug, Deserialize)]
pub(crate) struct CatalogService {
    #[serde(rename = "type")]
    service_type: String,
    #[serde(default)]
    endpoints: Vec<CatalogEndpoint>,
}

#[derive(Debug, Deserialize)]
struct CatalogEndpoint {
    interface: String,
    url: String,
    #[serde(default)]
    region_id: Option<String>,
    /// Older Keystones only fill this deprecated twin of `region_id`.
    #[serde(default)]
    region: Option<String>,
}

/// `(service type, interface, region) -> url`. A BTreeMap so that a lookup
/// without a region picks the same endpoint every time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    endpoints: BTreeMap<(String, Interface, Option<String>), String>,
}

impl Catalog {
    pub(crate) fn from_services(services: Vec<CatalogService>) -> Self {
        let mut endpoints = BTreeMap::new();
        for service in services {
            for ep in service.endpoints {
                let Ok(interface) = ep.interface.parse::<Interface>() else {
                    tracing::debug!(
                        service_type = %service.service_type,
                        interface = %ep.interface,
                        "skipping catalog endpoint with an unknown interface"
                    );
                    continue;
                };
                let region = ep.region_id.or(ep.region).filter(|r| !r.is_empty());
                endpoints
                    .entry((service.service_type.clone(), interface, region))
                    .or_insert(ep.url);
            }
        }
        Self { endpoints }
    }

    /// The URL of `service_type`'s `interface` endpoint in `region`, or in
    /// any region when `region` is `None`.
    pub fn url_for(
        &self,
        service_type: &str,
        region: Option<&str>,
        interface: Interface,
    ) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|((t, i, r), _)| {
                t == service_type
                    && *i == interface
                    && region.is_none_or(|want| r.as_deref() == Some(want))
            })
            .map(|(_, url)| url.as_str())
    }

    /// Like [`Catalog::url_for`] but an absent endpoint is an error naming
    /// what was looked for.
    pub fn endpoint(
        &self,
        service_type: &str,
        region: Option<&str>,
        interface: Interface,
    ) -> Result<&str, Error> {
        self.url_for(service_type, region, interface)
            .ok_or_else(|| Error::EndpointNotFound {
                service_type: service_type.to_owned(),
                region: region.map(str::to_owned),
                interface,
            })
    }

    /// `region -> url` of every `service_type` endpoint with `interface`
    /// that names a region.
    pub fn urls_by_region(
        &self,
        service_type: &str,
        interface: Interface,
    ) -> BTreeMap<String, String> {
        self.endpoints
            .iter()
            .filter(|((t, i, _), _)| t == service_type && *i == interface)
            .filter_map(|((_, _, r), url)| r.clone().map(|r| (r, url.clone())))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let services: Vec<CatalogService> = serde_json::from_value(serde_json::json!([
            {"type": "network", "name": "neutron", "id": "n1", "endpoints": [
                {"id": "e1", "interface": "public", "region_id": "RegionTwo",
                 "region": "RegionTwo", "url": "http://pod2:9696"},
                {"id": "e2", "interface": "public", "region_id": "RegionOne",
                 "region": "RegionOne", "url": "http://pod1:9696"},
                {"id": "e3", "interface": "internal", "region": "RegionOne",
                 "url": "http://pod1-int:9696"},
                {"id": "e4", "interface": "bogus", "region_id": "RegionOne", "url": "http://x"}
            ]},
            {"type": "identity", "name": "keystone", "id": "k1", "endpoints": [
                {"id": "e5", "interface": "admin", "region_id": null, "url": "http://ks:5000/v3"}
            ]}
        ]))
        .unwrap();
        Catalog::from_services(services)
    }

    #[test]
    fn lookup_by_type_region_interface() {
        let c = catalog();
        assert_eq!(
            c.len(),
            4,
            "the endpoint with an unknown interface is skipped"
        );
        assert_eq!(
            c.url_for("network", Some("RegionOne"), Interface::Public),
            Some("http://pod1:9696")
        );
        assert_eq!(
            c.url_for("network", Some("RegionTwo"), Interface::Public),
            Some("http://pod2:9696")
        );
        // Deprecated `region` field is honoured when region_id is absent.
        assert_eq!(
            c.url_for("network", Some("RegionOne"), Interface::Internal),
            Some("http://pod1-int:9696")
        );
        assert_eq!(
            c.url_for("network", Some("RegionThree"), Interface::Public),
            None
        );
        assert_eq!(
            c.url_for("identity", None, Interface::Admin),
            Some("http://ks:5000/v3")
        );
    }

    #[test]
    fn any_region_lookup_is_deterministic() {
        // Sorted by region name, RegionOne precedes RegionTwo.
        assert_eq!(
            catalog().url_for("network", None, Interface::Public),
            Some("http://pod1:9696")
        );
    }

    #[test]
    fn missing_endpoint_is_a_named_error() {
        let err = catalog()
            .endpoint("compute", Some("RegionOne"), Interface::Public)
            .unwrap_err();
        assert_eq!(
            err,
            Error::EndpointNotFound {
                service_type: "compute".into(),
                region: Some("RegionOne".into()),
                interface: Interface::Public,
            }
        );
    }

    #[test]
    fn interface_names() {
        assert_eq!("publicURL".parse::<Interface>().unwrap(), Interface::Public);
        assert_eq!(
            "internal".parse::<Interface>().unwrap(),
            Interface::Internal
        );
        assert_eq!("AdminURL".parse::<Interface>().unwrap(), Interface::Admin);
        assert!("private".parse::<Interface>().is_err());
    }
}
