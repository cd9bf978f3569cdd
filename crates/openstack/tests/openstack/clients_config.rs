//! `[client]` options as xjob reads them into its clients' settings.

use std::time::Duration;

use tricircle_config::Config;
use tricircle_openstack::clients::ClientsConfig;

fn client_section(ini: &str) -> tricircle_config::ClientOptions {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xjob.conf");
    std::fs::write(&path, ini).unwrap();
    Config::load(&[path]).unwrap().0.client
}

#[test]
fn the_install_guide_settings_are_read() {
    let o = client_section(
        "[client]\n\
         auth_url = http://127.0.0.1/identity\n\
         auto_refresh_endpoint = True\n\
         top_region_name = CentralRegion\n\
         admin_username = admin\n\
         admin_password = password\n\
         admin_tenant = demo\n\
         admin_user_domain_name = Default\n\
         admin_tenant_domain_name = Default\n\
         neutron_timeout = 7\n",
    );
    let c = ClientsConfig::from_options(&o).unwrap();
    assert_eq!(c.auth.auth_url, "http://127.0.0.1/identity");
    assert_eq!(c.auth.username, "admin");
    assert_eq!(c.auth.password.expose(), "password");
    assert_eq!(c.auth.project_name, "demo");
    assert_eq!(c.auth.user_domain_name, "Default");
    assert_eq!(c.auth.project_domain_name, "Default");
    assert!(c.auto_refresh_endpoint);
    assert_eq!(c.timeout, Duration::from_secs(7));
    // The password never shows in debug output.
    assert!(!format!("{c:?}").contains("password\""));
}

#[test]
fn the_admin_account_is_required() {
    let o = client_section("[client]\nadmin_username = admin\nadmin_tenant = demo\n");
    let e = ClientsConfig::from_options(&o).unwrap_err().to_string();
    assert!(e.contains("[client] admin_password"), "{e}");
}

#[test]
fn a_non_positive_timeout_is_refused() {
    let o = client_section(
        "[client]\nadmin_username = a\nadmin_password = p\nadmin_tenant = t\nneutron_timeout = 0\n",
    );
    let e = ClientsConfig::from_options(&o).unwrap_err().to_string();
    assert!(e.contains("neutron_timeout"), "{e}");
}
