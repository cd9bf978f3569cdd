//! The embedded two-pod cloud of `scripts/run` (`tricircle-demo`) and of
//! the chaos suite (`tricircle-fakecloud`): the test-grade fake Keystone
//! and the fake Neutron of `CentralRegion` and of the pods `RegionOne`
//! (zone az1) and `RegionTwo` (az2) on fixed loopback ports, with a tenant.
//! Built only with the `demo` feature: production builds hold no fake.

pub mod relay;

use std::path::Path;

use tricircle_fakecloud::FakeCloud;

pub const TOP: &str = "CentralRegion";
/// The pods: region and availability zone.
pub const PODS: [(&str, &str); 2] = [("RegionOne", "az1"), ("RegionTwo", "az2")];
/// The tenant: user, password, project.
pub const TENANT: (&str, &str, &str) = ("demo", "demo-password", "demo");

/// The cloud and its tenant's project id.
pub struct DemoCloud {
    pub cloud: FakeCloud,
    pub tenant_project_id: String,
}

/// Start the cloud: Keystone on `port_base`, the Neutron of CentralRegion,
/// RegionOne and RegionTwo on the next three. The admin account
/// (`tricircle`, project `service`) gets a new password on every start:
/// only the files written from it hold it.
pub async fn start(port_base: u16) -> std::io::Result<DemoCloud> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    let cloud = FakeCloud::builder()
        .region(TOP)
        .region(PODS[0].0)
        .region(PODS[1].0)
        .admin("tricircle", &password, "service")
        .port_base(port_base)
        .try_build()
        .await?;
    let top = cloud.neutron(TOP);
    for (region, zone) in PODS {
        // Networks are created in the central region with zone hints, as
        // the guide does; the pods' Neutron know their own zone only.
        top.add_availability_zone(zone);
        cloud.neutron(region).add_availability_zone(zone);
    }
    let keystone = cloud.keystone();
    let tenant_project_id = keystone.add_project(TENANT.2);
    keystone.add_user(TENANT.0, TENANT.1, &tenant_project_id, &["member"]);
    Ok(DemoCloud {
        cloud,
        tenant_project_id,
    })
}

impl DemoCloud {
    /// The `[client]` section (the admin account) and `top_region_name`,
    /// for xjob's (or the API's) configuration.
    pub fn client_section(&self) -> String {
        format!(
            "{}top_region_name = {TOP}\nauto_refresh_endpoint = true\n",
            self.cloud.admin().client_section()
        )
    }

    /// Shell variables: the services' addresses and the tenant (what the
    /// walk-through sources).
    pub fn env(&self) -> String {
        let cloud = &self.cloud;
        let mut out = format!(
            "KEYSTONE={}\nDEMO_USER={}\nDEMO_PASSWORD={}\nDEMO_PROJECT={}\nDEMO_PROJECT_ID={}\n",
            cloud.keystone().url(),
            TENANT.0,
            TENANT.1,
            TENANT.2,
            self.tenant_project_id
        );
        for (var, region) in [
            ("CENTRAL", TOP),
            ("REGION_ONE", PODS[0].0),
            ("REGION_TWO", PODS[1].0),
        ] {
            out.push_str(&format!("{var}={}/v2.0\n", cloud.neutron(region).url()));
        }
        out
    }

    /// `openstack --os-cloud tricircle-demo` (the tenant) and
    /// `tricircle-demo-admin`, in the central region.
    pub fn clouds_yaml(&self) -> String {
        let a = self.cloud.admin();
        let entry = |name: &str, user: &str, password: &str, project: &str| {
            format!(
                "  {name}:\n    auth:\n      auth_url: {url}/v3\n      username: {user}\n      \
                 password: {password}\n      project_name: {project}\n      \
                 user_domain_name: Default\n      project_domain_name: Default\n    \
                 region_name: {TOP}\n    identity_api_version: 3\n",
                url = a.auth_url,
            )
        };
        format!(
            "clouds:\n{}{}",
            entry("tricircle-demo", TENANT.0, TENANT.1, TENANT.2),
            entry(
                "tricircle-demo-admin",
                &a.username,
                &a.password,
                &a.project_name
            ),
        )
    }
}

/// Write `text` to `path` readable by its owner only (it may hold the
/// admin password), or exit with one line.
pub fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        crate::fail(&format!("cannot write {}: {e}", path.display()));
    }
}
