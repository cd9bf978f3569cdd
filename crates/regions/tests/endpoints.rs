//! The `cached_endpoints` table as the clients' endpoint cache, against the
//! fake cloud.

use std::sync::Arc;

use tricircle_fakecloud::FakeCloud;
use tricircle_openstack::endpoints::EndpointCache;
use tricircle_openstack::neutron::{Filters, NeutronError};
use tricircle_openstack::testing::clients_config;
use tricircle_openstack::{Clients, ClientsConfig};
use tricircle_regions::DbEndpointCache;

async fn cloud() -> FakeCloud {
    FakeCloud::builder()
        .region("RegionOne")
        .region("RegionTwo")
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await
}

fn config(cloud: &FakeCloud, auto_refresh: bool) -> ClientsConfig {
    clients_config(
        tricircle_openstack::test_password_auth!(cloud.admin()),
        auto_refresh,
    )
}

#[tokio::test]
async fn endpoint_refresh_after_a_region_moves_updates_the_db_cache() {
    use tricircle_db::models::NewPod;
    use tricircle_db::testing::TestDb;
    use tricircle_db::Backend;

    let c = cloud().await;
    let t = TestDb::synced(Backend::Sqlite).unwrap();
    t.db.run(|conn| {
        for (id, region, az) in [("top", "CentralRegion", ""), ("pod1", "RegionOne", "az1")] {
            tricircle_db::pods::create(
                conn,
                &NewPod {
                    pod_id: id.into(),
                    region_name: region.into(),
                    pod_az_name: None,
                    dc_name: None,
                    az_name: az.into(),
                },
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let cache: Arc<dyn EndpointCache> = Arc::new(DbEndpointCache::new(t.db.clone()));
    let cl = Clients::new(config(&c, true), cache).unwrap();
    let n = cl.neutron("RegionOne");
    let rows = |db: tricircle_db::Db| async move {
        db.run(|conn| tricircle_db::endpoints::for_pod(conn, "pod1", "neutron"))
            .await
            .unwrap()
    };

    // First use: nothing cached, so the catalog is read and stored.
    n.list_networks(&Filters::new()).await.unwrap();
    let before = rows(t.db.clone()).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].service_url, c.neutron("RegionOne").url());
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 1);
    // RegionTwo is not a pod: not cached, not reachable through the cache.
    let e = cl
        .neutron("RegionTwo")
        .list_networks(&Filters::new())
        .await
        .unwrap_err();
    assert!(matches!(e, NeutronError::EndpointNotFound { .. }), "{e}");

    let old = c.neutron("RegionOne").url();
    let new = c.move_region("RegionOne").await;
    assert_ne!(old, new);
    c.neutron("RegionOne").clear_requests();
    let nets = n.list_networks(&Filters::new()).await.unwrap();
    assert!(nets.is_empty());
    assert_eq!(
        c.neutron("RegionOne")
            .request_count("GET", "/v2.0/networks"),
        1
    );
    let after = rows(t.db.clone()).await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].service_id, before[0].service_id,
        "the row is updated in place"
    );
    assert_eq!(after[0].service_url, new);
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 3);

    // A region that is down but not moved: one catalog read, then the error.
    c.neutron("RegionOne").set_down(true).await.unwrap();
    let e = n.list_networks(&Filters::new()).await.unwrap_err();
    assert!(e.is_connection_failure(), "{e}");
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 4);
}
