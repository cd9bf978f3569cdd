use crate::common;

use common::each_synced;
use tricircle_db::models::{CachedEndpoint, NewPod, NewRouting};
use tricircle_db::{endpoints, pods};
use tricircle_db::{routings, DbError};

fn pod(id: &str, region: &str, az: &str) -> NewPod {
    // These tests check that the pod AZ is stored.
    NewPod {
        pod_az_name: Some(format!("paz-{az}")),
        ..common::pod(id, region, az)
    }
}

#[test]
fn create_get_list_delete() {
    each_synced(|t| {
        let b = t.backend;
        let mut c = t.db.get().unwrap();
        let created = pods::create(&mut c, &pod("p1", "RegionOne", "")).unwrap();
        assert_eq!(created.pod_id, "p1");
        assert_eq!(created.pod_az_name.as_deref(), Some("paz-"));
        assert_eq!(created.dc_name, None);
        pods::create(&mut c, &pod("p2", "Pod2", "az2")).unwrap();

        assert_eq!(pods::get(&mut c, "p2").unwrap().region_name, "Pod2");
        let mut all: Vec<String> = pods::list(&mut c)
            .unwrap()
            .into_iter()
            .map(|p| p.pod_id)
            .collect();
        all.sort();
        assert_eq!(all, ["p1", "p2"], "{b}");

        assert!(matches!(
            pods::get(&mut c, "nope"),
            Err(DbError::NotFound(_))
        ));
        pods::delete(&mut c, "p2").unwrap();
        assert!(
            matches!(pods::delete(&mut c, "p2"), Err(DbError::NotFound(_))),
            "{b}"
        );
        assert!(matches!(pods::get(&mut c, "p2"), Err(DbError::NotFound(_))));
    });
}

#[test]
fn duplicates_are_reported() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("p1", "RegionOne", "")).unwrap();
        // Same id.
        let e = pods::create(&mut c, &pod("p1", "Other", "az")).unwrap_err();
        assert!(matches!(e, DbError::Duplicate(_)), "{}: {e:?}", t.backend);
        // Same region name.
        let e = pods::create(&mut c, &pod("p9", "RegionOne", "az")).unwrap_err();
        assert!(matches!(e, DbError::Duplicate(_)), "{}: {e:?}", t.backend);
    });
}

#[test]
fn deleting_a_referenced_pod_is_a_conflict() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("p2", "Pod2", "az2")).unwrap();
        routings::create(
            &mut c,
            &NewRouting {
                top_id: "t".into(),
                bottom_id: Some("b".into()),
                pod_id: "p2".into(),
                project_id: None,
                resource_type: "network".into(),
            },
        )
        .unwrap()
        .unwrap();
        let e = pods::delete(&mut c, "p2").unwrap_err();
        assert!(matches!(e, DbError::Conflict(_)), "{}: {e:?}", t.backend);
        assert!(pods::get(&mut c, "p2").is_ok());
    });
}

#[test]
fn top_pod_and_lookups() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        assert_eq!(pods::top_pod(&mut c).unwrap(), None);
        pods::create(&mut c, &pod("b2", "Pod2", "az1")).unwrap();
        pods::create(&mut c, &pod("b1", "Pod1", "az1")).unwrap();
        pods::create(&mut c, &pod("b3", "az9", "az3")).unwrap();
        assert_eq!(pods::top_pod(&mut c).unwrap(), None);
        pods::create(&mut c, &pod("top", "RegionOne", "")).unwrap();
        assert_eq!(pods::top_pod(&mut c).unwrap().unwrap().pod_id, "top");

        assert_eq!(
            pods::by_region_name(&mut c, "Pod1")
                .unwrap()
                .unwrap()
                .pod_id,
            "b1"
        );
        assert_eq!(pods::by_region_name(&mut c, "PodX").unwrap(), None);

        // By region name.
        assert_eq!(
            pods::find_by_az_or_region(&mut c, "Pod2")
                .unwrap()
                .unwrap()
                .pod_id,
            "b2"
        );
        // By AZ, unique.
        assert_eq!(
            pods::find_by_az_or_region(&mut c, "az3")
                .unwrap()
                .unwrap()
                .pod_id,
            "b3"
        );
        // Region of one pod equals AZ of another: both match, which is ambiguous.
        pods::create(&mut c, &pod("b4", "Pod4", "az9")).unwrap();
        assert!(matches!(
            pods::find_by_az_or_region(&mut c, "az9"),
            Err(DbError::InvalidInput(_))
        ));
        // Several pods in one AZ.
        assert!(matches!(
            pods::find_by_az_or_region(&mut c, "az1"),
            Err(DbError::InvalidInput(_))
        ));
        assert!(matches!(
            pods::find_by_az_or_region(&mut c, "none"),
            Err(DbError::NotFound(_))
        ));
        assert_eq!(pods::find_by_az_or_region(&mut c, "").unwrap(), None);

        // Bottom pods in id order, skipping the top pod.
        let next = |c: &mut _, cur| pods::next_bottom_pod(c, cur).unwrap().map(|p| p.pod_id);
        assert_eq!(next(&mut c, None).as_deref(), Some("b1"));
        assert_eq!(next(&mut c, Some("b1")).as_deref(), Some("b2"));
        assert_eq!(next(&mut c, Some("b4")), None);
        assert_eq!(next(&mut c, Some("unknown")), None);
    });
}

#[test]
fn cached_endpoints() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        pods::create(&mut c, &pod("p1", "Pod1", "az1")).unwrap();
        let e = CachedEndpoint {
            service_id: "s1".into(),
            pod_id: "p1".into(),
            service_type: "network".into(),
            service_url: "http://a/".into(),
        };
        endpoints::create(&mut c, &e).unwrap();
        assert!(matches!(
            endpoints::create(&mut c, &e),
            Err(DbError::Duplicate(_))
        ));
        let bad = CachedEndpoint {
            service_id: "s2".into(),
            pod_id: "missing".into(),
            ..e.clone()
        };
        assert!(
            matches!(endpoints::create(&mut c, &bad), Err(DbError::Conflict(_))),
            "{}: foreign key enforced",
            t.backend
        );
        assert_eq!(
            endpoints::list(&mut c, Some("p1"), Some("network")).unwrap(),
            vec![e.clone()]
        );
        assert!(endpoints::list(&mut c, Some("p1"), Some("compute"))
            .unwrap()
            .is_empty());
        let u = endpoints::update_url(&mut c, "s1", "http://b/").unwrap();
        assert_eq!(u.service_url, "http://b/");
        endpoints::delete(&mut c, "s1").unwrap();
        assert!(matches!(
            endpoints::get(&mut c, "s1"),
            Err(DbError::NotFound(_))
        ));
    });
}
