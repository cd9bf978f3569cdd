use crate::common;

use std::collections::BTreeMap;

use common::{each_synced, pod};
use tricircle_db::endpoints;
use tricircle_db::pods;

#[test]
fn upsert_inserts_then_updates_one_row() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("p1", "RegionOne", "az1")).unwrap();
        let (row, created) = endpoints::upsert(&mut c, "p1", "neutron", "http://a:9696")
            .unwrap()
            .unwrap();
        assert!(created);
        let (again, created) = endpoints::upsert(&mut c, "p1", "neutron", "http://b:9696")
            .unwrap()
            .unwrap();
        assert!(!created);
        assert_eq!(again.service_id, row.service_id);
        let (p, rows) = endpoints::for_region(&mut c, "RegionOne", "neutron")
            .unwrap()
            .unwrap();
        assert_eq!(p.pod_id, "p1");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].service_url, "http://b:9696");
        assert!(endpoints::for_region(&mut c, "Nowhere", "neutron")
            .unwrap()
            .is_none());
        assert!(endpoints::for_pod(&mut c, "p1", "nova").unwrap().is_empty());
    });
}

#[test]
fn ambiguous_rows_are_left_alone() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("p1", "RegionOne", "az1")).unwrap();
        for (id, url) in [("e1", "http://a"), ("e2", "http://b")] {
            endpoints::create(
                &mut c,
                &tricircle_db::models::CachedEndpoint {
                    service_id: id.into(),
                    pod_id: "p1".into(),
                    service_type: "neutron".into(),
                    service_url: url.into(),
                },
            )
            .unwrap();
        }
        assert!(endpoints::upsert(&mut c, "p1", "neutron", "http://c")
            .unwrap()
            .is_none());
        let urls: Vec<String> = endpoints::for_pod(&mut c, "p1", "neutron")
            .unwrap()
            .into_iter()
            .map(|e| e.service_url)
            .collect();
        assert_eq!(urls, ["http://a", "http://b"]);
    });
}

#[test]
fn refresh_covers_registered_regions_only() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("top", "CentralRegion", "")).unwrap();
        pods::create(&mut c, &pod("p1", "RegionOne", "az1")).unwrap();
        endpoints::upsert(&mut c, "p1", "neutron", "http://old:9696").unwrap();
        let urls: BTreeMap<String, String> = [
            ("CentralRegion", "http://top:9696"),
            ("RegionOne", "http://new:9696"),
            ("Unregistered", "http://x:9696"),
        ]
        .into_iter()
        .map(|(r, u)| (r.to_owned(), u.to_owned()))
        .collect();
        let out = endpoints::refresh(&mut c, "neutron", &urls).unwrap();
        assert_eq!(out.created, ["CentralRegion"]);
        assert_eq!(out.updated, ["RegionOne"]);
        assert_eq!(out.skipped_regions, ["Unregistered"]);
        let one = endpoints::for_pod(&mut c, "p1", "neutron").unwrap();
        assert_eq!(one[0].service_url, "http://new:9696");
        let top = endpoints::for_pod(&mut c, "top", "neutron").unwrap();
        assert_eq!(top[0].service_url, "http://top:9696");
    });
}
