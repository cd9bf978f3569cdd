//! Nothing this crate (or the HTTP stack under it) logs, even at TRACE,
//! contains the service password, the service token or a user token.
//!
//! Its own test binary: the subscriber is process-wide so that events from
//! every thread (runtime workers, the fake's server) are captured.

#[path = "openstack/common_cloud/mod.rs"]
mod common_cloud;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tricircle_fakecloud::{FakeCloud, FakeKeystone};
use tricircle_openstack::endpoints::MemoryEndpointCache;
use tricircle_openstack::keystone::{KeystoneAuthConfig, TokenValidator, ValidateError};
use tricircle_openstack::neutron::{Filters, NeutronError, RetryPolicy, Subnet};
use tricircle_openstack::{Clients, ClientsConfig};

const SERVICE_PASSWORD: &str = "Sekr1t-service-pw";
const ADMIN_PASSWORD: &str = "Xjob-Adm1n-pw";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_validation_log_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    // `init` also routes `log` records (used by parts of the HTTP stack)
    // into tracing.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let ks = FakeKeystone::start().await;
    let service_project = ks.add_project("service");
    let service_user = ks.add_user("tricircle", SERVICE_PASSWORD, &service_project, &["admin"]);
    let demo_project = ks.add_project("demo");
    let demo = ks.add_user("demo", "demo-pw", &demo_project, &["member"]);

    let mut cfg = KeystoneAuthConfig::new(ks.url(), "tricircle", SERVICE_PASSWORD, "service");
    cfg.timeout = Duration::from_secs(5);
    let v = TokenValidator::new(cfg).unwrap();

    let good = ks.issue_token(&demo, &demo_project, Duration::from_secs(600));
    v.validate(&good).await.unwrap();
    v.validate(&good).await.unwrap(); // cache hit
    let first_service_token = v.session().token().await.unwrap();

    // Keystone's 404 body echoes the unknown token back.
    let unknown = "gAAAAABunknown-token-value-0123456789";
    assert_eq!(
        v.validate(unknown).await,
        Err(ValidateError::Invalid("token not found".into()))
    );

    // Force a re-authentication so a second service token is issued.
    ks.revoke_user_tokens(&service_user);
    let other = ks.issue_token(&demo, &demo_project, Duration::from_secs(600));
    v.validate(&other).await.unwrap();
    let second_service_token = v.session().token().await.unwrap();
    assert!(!Arc::ptr_eq(&first_service_token, &second_service_token));

    // And a failing Keystone.
    ks.set_forced_status(Some(503));
    let third = ks.issue_token(&demo, &demo_project, Duration::from_secs(600));
    assert!(matches!(
        v.validate(&third).await,
        Err(ValidateError::Unavailable(_))
    ));

    // The job daemon's clients: auth, catalog refresh, Neutron calls,
    // errors, retries and a renewal after revocation.
    let cloud = FakeCloud::builder()
        .region("RegionOne")
        .admin("xjob-admin", ADMIN_PASSWORD, "service")
        .build()
        .await;
    // Short backoffs keep the retry (whose log line is checked) quick.
    let cfg = ClientsConfig {
        retry: RetryPolicy {
            retries: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        },
        ..common_cloud::config(&cloud, true)
    };
    let clients = Clients::new(cfg, Arc::new(MemoryEndpointCache::new())).unwrap();
    let n = clients.neutron("RegionOne");
    let net = n.create_network(&common_cloud::net("n1")).await.unwrap();
    let first_admin_token = clients.session().token().await.unwrap();
    let bad = n
        .create_subnet(&Subnet {
            network_id: net.id.clone(),
            cidr: Some("not-a-cidr".into()),
            ..Subnet::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(bad, NeutronError::BadRequest(_)));
    cloud
        .neutron("RegionOne")
        .fail_next(None, "/v2.0/ports", 1, 500);
    n.list_ports(&Filters::new()).await.unwrap();
    cloud.keystone().revoke_user_tokens(&cloud.admin_user_id);
    n.list_networks(&Filters::new()).await.unwrap();
    let second_admin_token = clients.session().token().await.unwrap();
    assert!(!Arc::ptr_eq(&first_admin_token, &second_admin_token));
    cloud.move_region("RegionOne").await;
    n.list_networks(&Filters::new()).await.unwrap();

    let logs = captured.text();
    assert!(logs.contains("retrying Neutron call"), "{logs}");
    assert!(logs.contains("Neutron endpoint moved"), "{logs}");
    assert!(logs.contains("Neutron refused the service token"), "{logs}");
    // The capture works and saw this crate's events.
    assert!(logs.contains("obtained a service token"), "{logs}");
    assert!(logs.contains("token rejected"), "{logs}");
    assert!(logs.contains("TRACE"), "{logs}");
    for secret in [
        SERVICE_PASSWORD,
        ADMIN_PASSWORD,
        first_admin_token.secret().expose(),
        second_admin_token.secret().expose(),
        first_service_token.secret().expose(),
        second_service_token.secret().expose(),
        good.as_str(),
        other.as_str(),
        third.as_str(),
        unknown,
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}
