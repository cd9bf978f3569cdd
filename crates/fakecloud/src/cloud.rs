//! One fake Keystone and any number of fake Neutron regions wired
//! together: Neutron accepts only Keystone's live tokens, and Keystone's
//! catalog lists each region's Neutron.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::keystone::FakeKeystone;
use crate::neutron::FakeNeutron;

/// The `[client]` admin account the fake cloud was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl AdminCredentials {
    /// A `[client]` section for a Tricircle config file.
    pub fn client_section(&self) -> String {
        format!(
            "[client]\nauth_url = {}\nadmin_username = {}\nadmin_password = {}\nadmin_tenant = {}\nadmin_user_domain_name = {}\nadmin_tenant_domain_name = {}\n",
            self.auth_url,
            self.username,
            self.password,
            self.project_name,
            self.user_domain_name,
            self.project_domain_name
        )
    }
}

#[derive(Debug, Clone)]
pub struct FakeCloudBuilder {
    regions: Vec<String>,
    username: String,
    password: String,
    project: String,
    token_ttl: Option<Duration>,
    port_base: Option<u16>,
}

impl Default for FakeCloudBuilder {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            username: "admin".into(),
            password: "fake-admin-password".into(),
            project: "admin".into(),
            token_ttl: None,
            port_base: None,
        }
    }
}

impl FakeCloudBuilder {
    /// Adds a Neutron region (its catalog entry is a `network` endpoint,
    /// public and internal, in region `name`).
    pub fn region(mut self, name: &str) -> Self {
        self.regions.push(name.to_owned());
        self
    }

    pub fn admin(mut self, username: &str, password: &str, project: &str) -> Self {
        self.username = username.into();
        self.password = password.into();
        self.project = project.into();
        self
    }

    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = Some(ttl);
        self
    }

    /// Listen on fixed ports instead of free ones: Keystone on `base`,
    /// the regions on `base + 1`, `base + 2`... in the order they were
    /// added (for a cloud people reach at known addresses, as the demo's).
    pub fn port_base(mut self, base: u16) -> Self {
        self.port_base = Some(base);
        self
    }

    /// Panics when a port cannot be bound; [`FakeCloudBuilder::try_build`]
    /// says why instead.
    pub async fn build(self) -> FakeCloud {
        self.try_build()
            .await
            .expect("fake cloud: cannot listen on 127.0.0.1")
    }

    pub async fn try_build(self) -> std::io::Result<FakeCloud> {
        let base = self.port_base;
        let port = move |i: u16| -> std::io::Result<u16> {
            match base {
                None => Ok(0),
                Some(base) => base.checked_add(i).ok_or_else(|| {
                    std::io::Error::other(format!(
                        "port base {base} leaves no room for service {i}"
                    ))
                }),
            }
        };
        let kp = port(0)?;
        let keystone = FakeKeystone::try_start_on(kp)
            .await
            .map_err(|e| annotate(e, "keystone", kp))?;
        if let Some(ttl) = self.token_ttl {
            keystone.set_token_ttl(ttl);
        }
        let project_id = keystone.add_project(&self.project);
        let admin_user_id =
            keystone.add_user(&self.username, &self.password, &project_id, &["admin"]);
        keystone.add_endpoint("identity", "CentralRegion", "public", &keystone.url());
        let mut regions = BTreeMap::new();
        for (i, name) in self.regions.iter().enumerate() {
            let p = port(u16::try_from(i + 1).unwrap_or(u16::MAX))?;
            let neutron = FakeNeutron::try_start_on(name, Some(keystone.token_checker()), p)
                .await
                .map_err(|e| annotate(e, &format!("neutron {name}"), p))?;
            let public = keystone.add_endpoint("network", name, "public", &neutron.url());
            let internal = keystone.add_endpoint("network", name, "internal", &neutron.url());
            regions.insert(name.clone(), (neutron, [public, internal]));
        }
        Ok(FakeCloud {
            admin: AdminCredentials {
                auth_url: keystone.url(),
                username: self.username,
                password: self.password,
                project_name: self.project,
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            },
            admin_user_id,
            admin_project_id: project_id,
            keystone,
            regions,
        })
    }
}

/// The bind error, naming the service and the port.
fn annotate(e: std::io::Error, what: &str, port: u16) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("fake {what} on 127.0.0.1:{port}: {e}"))
}

/// A Keystone and named Neutron regions on loopback.
pub struct FakeCloud {
    keystone: FakeKeystone,
    regions: BTreeMap<String, (FakeNeutron, [String; 2])>,
    admin: AdminCredentials,
    pub admin_user_id: String,
    pub admin_project_id: String,
}

impl std::fmt::Debug for FakeCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloud")
            .field("keystone", &self.keystone)
            .field("regions", &self.regions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FakeCloud {
    pub fn builder() -> FakeCloudBuilder {
        FakeCloudBuilder::default()
    }

    pub fn keystone(&self) -> &FakeKeystone {
        &self.keystone
    }

    /// Panics on a region the cloud was not built with.
    pub fn neutron(&self, region: &str) -> &FakeNeutron {
        &self
            .regions
            .get(region)
            .unwrap_or_else(|| panic!("fake cloud: no region {region}"))
            .0
    }

    pub fn region_names(&self) -> Vec<String> {
        self.regions.keys().cloned().collect()
    }

    pub fn admin(&self) -> &AdminCredentials {
        &self.admin
    }

    /// Restart a region's Neutron on another port and update the catalog,
    /// as an operator moving the service would; returns the new URL.
    pub async fn move_region(&self, region: &str) -> String {
        let (neutron, endpoints) = self
            .regions
            .get(region)
            .unwrap_or_else(|| panic!("fake cloud: no region {region}"));
        let url = neutron
            .move_to_new_port()
            .await
            .expect("fake neutron: cannot listen on 127.0.0.1");
        for id in endpoints {
            self.keystone.set_endpoint_url(id, &url);
        }
        url
    }
}
