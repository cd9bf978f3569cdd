//! What the jobs cost in Neutron calls (issue 11): the engine's per-job
//! count and the clients' per-region count agree with what the fake
//! regions received, and a rerun with nothing to change only reads, a few
//! calls per region.

use crate::network_common;

use std::collections::BTreeMap;

use network_common::*;
use serde_json::Map;
use tricircle_jobs::JobType;
use tricircle_jobs::Report;
use tricircle_openstack::calls::CallKey;

/// Reads (GET) and writes (anything else) a region may get from one job
/// rerun with nothing to change: the aim.
const MAX_RERUN_READS_PER_REGION: usize = 10;

/// (region, method) -> requests the fake regions recorded.
fn recorded(e: &Env) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for region in [TOP, R1, R2] {
        for r in e.cloud.neutron(region).requests() {
            *out.entry((region.to_owned(), r.method)).or_default() += 1;
        }
    }
    out
}

/// The requests `region` received, as "METHOD path?query".
fn requests_of(e: &Env, region: &str) -> Vec<String> {
    e.cloud
        .neutron(region)
        .requests()
        .into_iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

fn clear(e: &Env) {
    for region in [TOP, R1, R2] {
        e.cloud.neutron(region).clear_requests();
    }
}

/// (region, method) -> calls the clients counted for `job_type` since
/// `before`.
fn counted_since(
    e: &Env,
    before: &[(CallKey, u64)],
    job_type: &str,
) -> BTreeMap<(String, String), u64> {
    let old: BTreeMap<&CallKey, u64> = before.iter().map(|(k, v)| (k, *v)).collect();
    let mut out = BTreeMap::new();
    for (k, v) in e.net.clients.call_stats().snapshot() {
        let delta = v - old.get(&k).copied().unwrap_or(0);
        if k.job_type == job_type && delta > 0 {
            *out.entry((k.region.clone(), k.method.clone())).or_default() += delta;
        }
    }
    out
}

/// Every call to every region held `ms` milliseconds, as a real server
/// would take ([`release_calls`] ends it).
fn hold_every_call(e: &Env, ms: u64) {
    for region in [TOP, R1, R2] {
        e.cloud.neutron(region).delay_next(
            None,
            "/v2.0/",
            100_000,
            std::time::Duration::from_millis(ms),
        );
    }
}

fn release_calls(e: &Env) {
    for region in [TOP, R1, R2] {
        e.cloud.neutron(region).clear_faults();
    }
}

/// A floating IP on vm1 (net1 in pod-1; the external network is in
/// pod-2, so it goes through a shadow port there), its jobs run.
async fn fip_on_vm1(e: &Env, w: &World) -> serde_json::Value {
    let fip = create(
        &e.neutron(TOP),
        "floatingips",
        "floatingip",
        serde_json::json!({"floating_network_id": w.ext, "port_id": id(&w.vms[0]), "tenant_id": PROJECT}),
    )
    .await;
    let done = run_all(e, w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    fip
}

/// Record a NEW job (as the API would) and run it through `engine`.
async fn record_and_handle(
    engine: &tricircle_jobs::Engine,
    db: &tricircle_db::Db,
    t: JobType,
    resource_id: &str,
) -> Report {
    let (ty, r) = (t.name(), resource_id.to_owned());
    db.run(move |c| tricircle_db::jobs::new_job(c, PROJECT, ty, &r))
        .await
        .unwrap();
    engine.handle(t, resource_id, Map::new()).await.unwrap()
}

/// Record a NEW job and run it through the engine.
async fn run(e: &Env, t: JobType, resource_id: &str) -> Report {
    let report = record_and_handle(&e.engine, &e.db.db, t, resource_id).await;
    assert_eq!(report.runs.len(), 1, "{report:?}");
    assert!(report.runs[0].success, "{t} {resource_id}: {report:?}");
    report
}

/// The guide converged: both VMs booted and mirrored, every job run.
async fn converged(e: &Env) -> (World, Vec<String>) {
    let w = tenant_world(e).await;
    let done = run_all(e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let b_vms = boot_vms(e, &w).await;
    let done = run_all(e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    for b in &b_vms {
        for pod in ["pod-1", "pod-2"] {
            // The VM's mirror: one of the two pods holds it, the other
            // finds no such port and has nothing to do.
            run(e, JobType::PortMirror, &format!("{pod}#{b}")).await;
        }
    }
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    (w, b_vms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_call_counts_equal_the_requests_the_regions_received() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let mut total = 0;
    // A first run writes, a rerun reads: both are counted alike.
    for round in 0..2 {
        clear(&e);
        let before = e.net.clients.call_stats().snapshot();
        let report = run(
            &e,
            JobType::RouterSetup,
            &format!("pod-1#{}#{}", w.router, w.net1),
        )
        .await;
        let got = recorded(&e);
        assert_eq!(
            counted_since(&e, &before, JobType::RouterSetup.name()),
            got,
            "round {round}"
        );
        let calls = report.runs[0].calls;
        let reads: u64 = got
            .iter()
            .filter(|((_, m), _)| m == "GET")
            .map(|(_, n)| n)
            .sum();
        let writes: u64 = got
            .iter()
            .filter(|((_, m), _)| m != "GET")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            (calls.reads, calls.writes),
            (reads, writes),
            "round {round}"
        );
        if round == 0 {
            assert!(writes > 0, "the first run builds the pod: {got:?}");
        }
        total += reads + writes;
    }
    assert!(total > 0);
}

/// Rerun `t` on `resource_id` with nothing to change; a write, or more than
/// `MAX_RERUN_READS_PER_REGION` reads in a region, is a fault. Prints the
/// figures (and, with `SHOW_CALLS` set, each region's requests).
async fn cheap_rerun(e: &Env, t: JobType, resource_id: &str, faults: &mut Vec<String>) {
    clear(e);
    let report = run(e, t, resource_id).await;
    let got = recorded(e);
    let per_region: BTreeMap<&str, u64> = [TOP, R1, R2]
        .into_iter()
        .map(|r| {
            let n = got
                .iter()
                .filter(|((region, _), _)| region == r)
                .map(|(_, n)| n)
                .sum();
            (r, n)
        })
        .collect();
    println!(
        "rerun {t} {}: {} reads ({} answered from the job's own reads), {} writes; per region {per_region:?}",
        resource_id.split('#').next().unwrap_or_default(),
        report.runs[0].calls.reads,
        report.runs[0].calls.cached,
        report.runs[0].calls.writes,
    );
    if std::env::var("SHOW_CALLS").is_ok() {
        for region in [TOP, R1, R2] {
            println!("  {region}:\n    {}", requests_of(e, region).join("\n    "));
        }
    }
    let writes: Vec<_> = got.iter().filter(|((_, m), _)| m != "GET").collect();
    if !writes.is_empty() {
        faults.push(format!("{t} {resource_id} rerun wrote: {writes:?}"));
    }
    for (region, n) in per_region {
        if n as usize > MAX_RERUN_READS_PER_REGION {
            let calls = requests_of(e, region);
            faults.push(format!(
                "{t} {resource_id} rerun: {n} reads in {region}:\n  {}",
                calls.join("\n  ")
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_with_nothing_to_change_only_read_a_few_times_per_region() {
    let e = env(true).await;
    let (w, b_vms) = converged(&e).await;
    let before = e.snapshot().await;
    let mut faults = Vec::new();
    let f = &mut faults;
    for n in [&w.net1, &w.net2] {
        cheap_rerun(
            &e,
            JobType::RouterSetup,
            &format!("not_specified_pod#{}#{n}", w.router),
            f,
        )
        .await;
    }
    for (pod, n) in [("pod-1", &w.net1), ("pod-2", &w.net2)] {
        cheap_rerun(
            &e,
            JobType::RouterSetup,
            &format!("{pod}#{}#{n}", w.router),
            f,
        )
        .await;
    }
    cheap_rerun(&e, JobType::ConfigureRoute, &w.router, f).await;
    for n in [&w.net1, &w.net2] {
        cheap_rerun(
            &e,
            JobType::NetworkSetup,
            &format!("not_specified_pod#{n}"),
            f,
        )
        .await;
    }
    for (pod, n) in [("pod-1", &w.net1), ("pod-2", &w.net2)] {
        cheap_rerun(&e, JobType::NetworkSetup, &format!("{pod}#{n}"), f).await;
    }
    for (pod, b) in [("pod-1", &b_vms[0]), ("pod-2", &b_vms[1])] {
        cheap_rerun(&e, JobType::PortMirror, &format!("{pod}#{b}"), f).await;
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    assert_eq!(e.snapshot().await, before, "the reruns changed nothing");
}

/// Run every NEW job, those of one round at once (as the engine's workers
/// would), until none is left; returns the runs.
async fn run_rounds(e: &Env) -> Vec<Report> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let (_, new) = e.waiting().await;
        if new.is_empty() {
            return all;
        }
        let runs = new.iter().map(|j| {
            e.engine
                .handle(j.job_type.parse().unwrap(), &j.resource_id, Map::new())
        });
        for r in futures_util::future::join_all(runs).await {
            all.push(r.unwrap());
        }
    }
    panic!("jobs keep creating jobs");
}

/// The figure the issue aims at: a router's jobs run again with nothing to
/// change (the fan-out per network, the pod jobs, configure_route), each
/// Neutron call held 20 ms as a real server's would be. Prints the calls
/// and the time; asserts only that nothing was written and all succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routers_jobs_rerun_with_20ms_per_call() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    clear(&e);
    hold_every_call(&e, 20);
    for n in [&w.net1, &w.net2] {
        let (ty, r) = (
            JobType::RouterSetup.name(),
            format!("not_specified_pod#{}#{n}", w.router),
        );
        e.db.db
            .run(move |c| tricircle_db::jobs::new_job(c, PROJECT, ty, &r))
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    let runs = run_rounds(&e).await;
    let elapsed = started.elapsed();
    release_calls(&e);
    let got = recorded(&e);
    println!(
        "router rerun, 20 ms per call: {} job runs in {:.0} ms; calls {got:?}",
        runs.iter().map(|r| r.runs.len()).sum::<usize>(),
        elapsed.as_secs_f64() * 1000.0
    );
    assert!(
        runs.iter().all(|r| r.runs.iter().all(|x| x.success)),
        "{runs:?}"
    );
    assert!(
        got.keys().all(|(_, m)| m == "GET"),
        "a rerun only reads: {got:?}"
    );
}

/// With the region gate on (as the daemon runs): once a pod's Neutron has
/// not answered a few calls in a row, that pod's jobs fail before making
/// any call (and wait for their retry), the other pod's jobs run, and the
/// first answer from the region lets its jobs run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_regions_jobs_wait_without_calls_while_others_run() {
    let e = env(true).await;
    let net = e.net.clone().with_region_gate();
    let mut registry = tricircle_jobs::Registry::new();
    tricircle_jobs::handlers::register_all(&mut registry, &net).unwrap();
    let engine =
        tricircle_jobs::Engine::new(e.db.db.clone(), registry, e.engine.settings().clone());
    let w = tenant_world(&e).await;
    let job = |pod: &str, n: &str| format!("{pod}#{}#{n}", w.router);
    let run_on = |r: String| {
        let (engine, db) = (engine.clone(), e.db.db.clone());
        async move { record_and_handle(&engine, &db, JobType::RouterSetup, &r).await }
    };
    let breaker = net.clients.region_breaker();
    e.cloud.neutron(R1).set_down(true).await.unwrap();
    let mut failed_runs = 0;
    while !breaker.is_open(R1, std::time::Instant::now()) {
        let report = run_on(job("pod-1", &w.net1)).await;
        assert!(!report.runs[0].success);
        failed_runs += 1;
        assert!(failed_runs < 5, "the breaker opens after a few calls");
    }
    clear(&e);
    let report = run_on(job("pod-1", &w.net1)).await;
    assert!(!report.runs[0].success, "{report:?}");
    assert_eq!(report.runs[0].calls, Default::default());
    assert!(recorded(&e).is_empty(), "no call: {:?}", recorded(&e));
    let report = run_on(job("pod-2", &w.net2)).await;
    assert!(report.runs[0].success, "the other pod's job runs");
    // The region is back and answers a call: its jobs run again.
    e.cloud.neutron(R1).set_down(false).await.unwrap();
    e.neutron(R1)
        .list_networks(&Default::default())
        .await
        .unwrap();
    assert!(!breaker.is_open(R1, std::time::Instant::now()));
    let report = run_on(job("pod-1", &w.net1)).await;
    assert!(report.runs[0].success, "{report:?}");
}

/// A router_setup reads the ports of the floating IPs it looks at in one
/// list: a GET each, one after the other, was most of a rerun's time on
/// the real servers once a router had a few floating IPs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_setup_reads_its_floating_ips_ports_in_one_list() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    // A second floating IP, on vm1 (net1 in pod-1; the external network
    // is in pod-2): mirrored through a shadow port there.
    let fip = fip_on_vm1(&e, &w).await;
    let addr = fip["floating_ip_address"].as_str().unwrap();
    let mirrored = e
        .neutron(R2)
        .list_floatingips(&Default::default())
        .await
        .unwrap();
    assert!(
        mirrored
            .iter()
            .any(|f| f.floating_ip_address.as_deref() == Some(addr)),
        "{mirrored:?}"
    );
    clear(&e);
    run(
        &e,
        JobType::RouterSetup,
        &format!("pod-1#{}#{}", w.router, w.net1),
    )
    .await;
    let vm_ports = [id(&w.vms[0]), id(&w.vms[1])];
    let top = requests_of(&e, TOP);
    let one_by_one: Vec<&String> = top
        .iter()
        .filter(|r| vm_ports.iter().any(|p| r.ends_with(&format!("ports/{p}?"))))
        .collect();
    assert!(one_by_one.is_empty(), "{one_by_one:?} in {top:#?}");
    assert!(
        top.iter()
            .any(|r| r.starts_with("GET ") && vm_ports.iter().all(|p| r.contains(p.as_str()))),
        "one list of both: {top:#?}"
    );
}

/// A router_setup rerun reads the pods' copies of its networks and their
/// subnets in lists, as the top's: no GET of a network or subnet by id in
/// the pod, nor in the external network's pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_setup_reads_the_pods_copies_in_lists() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    for (pod, n) in [("pod-1", &w.net1), ("pod-2", &w.net2)] {
        clear(&e);
        run(&e, JobType::RouterSetup, &format!("{pod}#{}#{n}", w.router)).await;
        for region in [R1, R2] {
            let calls = requests_of(&e, region);
            let by_id: Vec<&String> = calls
                .iter()
                .filter(|c| c.contains("/networks/") || c.contains("/subnets/"))
                .collect();
            assert!(by_id.is_empty(), "{pod} in {region}: {calls:#?}");
        }
    }
}

/// A pod's router_setup reads what it will need while it reads the top
/// router: its rerun is one round of reads, not seven. Here the top router
/// is refused (403): the job fails, yet the pod's router and ports,
/// the networks' copies and the north-south side were already asked for
/// (before, nothing was read until the router answered). A rerun then
/// still only reads, a few times per region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_job_reads_ahead_while_the_top_router_is_read() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    clear(&e);
    e.cloud
        .neutron(TOP)
        .fail_next(Some("GET"), &format!("/v2.0/routers/{}", w.router), 1, 403);
    let resource = format!("pod-1#{}#{}", w.router, w.net1);
    let (ty, r) = (JobType::RouterSetup.name(), resource.clone());
    e.db.db
        .run(move |c| tricircle_db::jobs::new_job(c, PROJECT, ty, &r))
        .await
        .unwrap();
    let report = e
        .engine
        .handle(JobType::RouterSetup, &resource, Map::new())
        .await
        .unwrap();
    assert!(!report.runs[0].success, "{report:?}");
    let (r1, r2) = (requests_of(&e, R1), requests_of(&e, R2));
    let asked = |calls: &[String], prefix: &str| calls.iter().any(|c| c.starts_with(prefix));
    for prefix in [
        "GET /v2.0/routers/",
        "GET /v2.0/ports?device_id=",
        "GET /v2.0/networks?",
    ] {
        assert!(asked(&r1, prefix), "{prefix} in {R1}: {r1:#?}");
        assert!(asked(&r2, prefix), "{prefix} in {R2}: {r2:#?}");
    }
    assert!(
        asked(&r2, "GET /v2.0/floatingips?"),
        "the external pod's floating IPs: {r2:#?}"
    );
    assert!(
        r1.iter().chain(&r2).all(|c| c.starts_with("GET ")),
        "{r1:?} {r2:?}"
    );
    let mut faults = Vec::new();
    cheap_rerun(&e, JobType::RouterSetup, &resource, &mut faults).await;
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// A router's project and a network's zone hints never change: once this
/// process read them, a fan-out makes no call and still records a job per
/// pod. A process that never read them reads them (the first run above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_over_known_resources_makes_no_call() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    clear(&e);
    let fan_out = format!("not_specified_pod#{}#{}", w.router, w.net2);
    run(&e, JobType::RouterSetup, &fan_out).await;
    assert!(recorded(&e).is_empty(), "{:?}", recorded(&e));
    let (_, new) = e.waiting().await;
    let pod_job = format!("pod-2#{}#{}", w.router, w.net2);
    assert!(new.iter().any(|j| j.resource_id == pod_job), "{new:?}");
    e.drain().await;
}

/// configure_route reads each bottom router's interfaces' subnets and
/// ports ahead, from the interfaces the last run found, with the router
/// and its ports: a rerun is one round of reads. Here pod-1's router is
/// refused (403): the job fails, yet that read-ahead reached pod-1 (before,
/// nothing followed a failed first round).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_route_reads_its_second_round_ahead() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    run(&e, JobType::ConfigureRoute, &w.router).await;
    let pod1 = e.pod("pod-1").await;
    let b_router = e
        .net
        .bottom_id(&w.router, &pod1, tricircle_vocab::ResourceType::Router)
        .await
        .unwrap()
        .unwrap();
    clear(&e);
    e.cloud
        .neutron(R1)
        .fail_next(Some("GET"), &format!("/v2.0/routers/{b_router}"), 1, 403);
    let (ty, r) = (JobType::ConfigureRoute.name(), w.router.clone());
    e.db.db
        .run(move |c| tricircle_db::jobs::new_job(c, PROJECT, ty, &r))
        .await
        .unwrap();
    let report = e
        .engine
        .handle(JobType::ConfigureRoute, &w.router, Map::new())
        .await
        .unwrap();
    assert!(!report.runs[0].success, "{report:?}");
    let r1 = requests_of(&e, R1);
    for prefix in ["GET /v2.0/subnets?id=", "GET /v2.0/ports?network_id="] {
        assert!(
            r1.iter().any(|c| c.starts_with(prefix)),
            "{prefix}: {r1:#?}"
        );
    }
    // The run after it converges as before (the failed run's reads in the
    // other pods, dropped with it, may still reach the fakes: not counted).
    run(&e, JobType::ConfigureRoute, &w.router).await;
}

/// NEW configure_route rows of `router`.
async fn new_route_jobs(e: &Env, router: &str) -> usize {
    let (_, new) = e.waiting().await;
    new.iter()
        .filter(|j| j.job_type == JobType::ConfigureRoute.name() && j.resource_id == router)
        .count()
}

/// A pod job that changed nothing does not record a configure_route when
/// one started after it did (that run read all it found, and whatever made
/// it run); alone, or with a run that started before it, it records one as
/// the reference does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_job_that_changed_nothing_leaves_routes_to_a_run_started_after_it() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    let pod_job = format!("pod-1#{}#{}", w.router, w.net1);
    // Alone: recorded.
    run(&e, JobType::RouterSetup, &pod_job).await;
    assert_eq!(new_route_jobs(&e, &w.router).await, 1);
    run(&e, JobType::ConfigureRoute, &w.router).await;
    assert_eq!(new_route_jobs(&e, &w.router).await, 0);
    // A configure_route runs while the pod job waits for the top router.
    clear(&e);
    let router_path = format!("/v2.0/routers/{}", w.router);
    e.cloud.neutron(TOP).delay_next(
        Some("GET"),
        &router_path,
        1,
        std::time::Duration::from_millis(800),
    );
    let pod = {
        let (engine, db, r) = (e.engine.clone(), e.db.db.clone(), pod_job.clone());
        tokio::spawn(async move { record_and_handle(&engine, &db, JobType::RouterSetup, &r).await })
    };
    let asked = format!("GET {router_path}?");
    for _ in 0..200 {
        if requests_of(&e, TOP).iter().any(|c| c.starts_with(&asked)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    run(&e, JobType::ConfigureRoute, &w.router).await;
    let report = pod.await.unwrap();
    assert!(report.runs[0].success, "{report:?}");
    assert_eq!(report.runs[0].calls.writes, 0);
    assert_eq!(
        new_route_jobs(&e, &w.router).await,
        0,
        "covered by the run that started after the pod job"
    );
}

/// A pod job a fan-out here recorded before a configure_route run of its
/// router started, and that changed nothing, leaves the routes to that run
/// even though the run started before the pod job did: whatever made the
/// pod job came before it was recorded. One recorded elsewhere (the API,
/// a plugin) only knows its claim, and records one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_job_recorded_here_before_a_configure_route_started_leaves_routes_to_it() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    let pod_job = format!("pod-1#{}#{}", w.router, w.net1);
    // The fan-out records the pod job in this process.
    run(
        &e,
        JobType::RouterSetup,
        &format!("not_specified_pod#{}#{}", w.router, w.net1),
    )
    .await;
    let (_, new) = e.waiting().await;
    assert!(
        new.iter().any(|j| j.resource_id == pod_job),
        "the fan-out recorded the pod job: {new:?}"
    );
    run(&e, JobType::ConfigureRoute, &w.router).await;
    let report = e
        .engine
        .handle(JobType::RouterSetup, &pod_job, Map::new())
        .await
        .unwrap();
    assert!(report.runs[0].success, "{report:?}");
    assert_eq!(report.runs[0].calls.writes, 0);
    assert_eq!(
        new_route_jobs(&e, &w.router).await,
        0,
        "covered by the run that started after the fan-out recorded the pod job"
    );
    // The same order with the pod job recorded outside this process.
    run(&e, JobType::ConfigureRoute, &w.router).await;
    run(&e, JobType::RouterSetup, &pod_job).await;
    assert_eq!(new_route_jobs(&e, &w.router).await, 1);
}

/// A configure_route, and a router_setup in the external network's pod,
/// read the routers of one pod in one request, and their ports in
/// another: that pod holds the east-west and the north-south router, and a
/// router's GET is among the costliest reads of a real neutron-server (it
/// loads the router with its ports).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_routers_are_read_in_one_list() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    let routers_in_r2 = e
        .neutron(R2)
        .list_routers(&Default::default())
        .await
        .unwrap();
    assert_eq!(
        routers_in_r2.len(),
        2,
        "east-west and north-south: {routers_in_r2:?}"
    );
    let before = e.snapshot().await;
    let pod_2 = format!("pod-2#{}#{}", w.router, w.net2);
    for (t, resource_id) in [
        (JobType::ConfigureRoute, w.router.as_str()),
        (JobType::RouterSetup, pod_2.as_str()),
    ] {
        clear(&e);
        run(&e, t, resource_id).await;
        let r2 = requests_of(&e, R2);
        let router_reads: Vec<&String> = r2
            .iter()
            .filter(|r| r.starts_with("GET /v2.0/routers"))
            .collect();
        assert_eq!(router_reads.len(), 1, "{t}: {r2:#?}");
        assert!(
            routers_in_r2
                .iter()
                .all(|r| router_reads[0].contains(r.id())),
            "{t}: both routers in it: {r2:#?}"
        );
        let port_reads_by_router = r2
            .iter()
            .filter(|r| r.starts_with("GET /v2.0/ports?device_id="))
            .count();
        assert_eq!(port_reads_by_router, 1, "{t}: {r2:#?}");
    }
    assert_eq!(e.snapshot().await, before, "the reruns changed nothing");
}

/// A router_setup rerun in the pod of VMs whose floating IPs live in the
/// external network's pod reads their shadow copies and shadow ports (and
/// the top ports reserving the copies' gateways) ahead, in lists: each
/// floating IP used to read them by id, one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_setup_reads_its_shadows_ahead_in_lists() {
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    // vm1 is in pod-1, the external network in pod-2: its floating IP
    // goes through a shadow port there.
    fip_on_vm1(&e, &w).await;
    let shadows: Vec<String> = e
        .neutron(R2)
        .list_ports(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.device_owner.as_deref() == Some("compute:shadow"))
        .map(|p| p.id().to_owned())
        .collect();
    assert_eq!(shadows.len(), 1, "vm1's shadow port in pod-2");
    let before = e.snapshot().await;
    clear(&e);
    run(
        &e,
        JobType::RouterSetup,
        &format!("pod-1#{}#{}", w.router, w.net1),
    )
    .await;
    let by_id = |region: &str| -> Vec<String> {
        requests_of(&e, region)
            .into_iter()
            .filter(|r| {
                ["networks/", "subnets/", "ports/"]
                    .iter()
                    .any(|c| r.starts_with(&format!("GET /v2.0/{c}")))
            })
            .collect()
    };
    assert_eq!(
        by_id(R2),
        Vec::<String>::new(),
        "{:#?}",
        requests_of(&e, R2)
    );
    assert_eq!(
        by_id(TOP),
        Vec::<String>::new(),
        "{:#?}",
        requests_of(&e, TOP)
    );
    assert!(
        requests_of(&e, R2)
            .iter()
            .any(|r| r.starts_with("GET /v2.0/ports?") && r.contains(&shadows[0])),
        "the shadow port in a list: {:#?}",
        requests_of(&e, R2)
    );
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");
}

/// A pod job's rerun with the floating IPs of several VMs of its pod (the
/// external network is in the other pod: each goes through a shadow port
/// there) reads no more per region than with one: the shadows are read in
/// lists, not by id for each floating IP. Prints the time with every call
/// held 20 ms (no timing asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_jobs_rerun_reads_as_much_with_four_floating_ips_as_with_one() {
    const VMS: usize = 4;
    let e = env(true).await;
    let (w, _) = converged(&e).await;
    let top = e.neutron(TOP);
    let b_net = e
        .net
        .bottom_id(
            &w.net1,
            &e.pod("pod-1").await,
            tricircle_vocab::ResourceType::Network,
        )
        .await
        .unwrap()
        .expect("net1's copy in pod-1");
    for i in 0..VMS {
        // A VM booted in pod-1, its mirror at the top, and the tenant's
        // floating IP on the mirror.
        let b_port = create(
            &e.neutron(R1),
            "ports",
            "port",
            serde_json::json!({"network_id": b_net, "name": format!("fvm{i}"),
                "device_owner": "compute:nova", "device_id": format!("fvm{i}"),
                "tenant_id": PROJECT}),
        )
        .await;
        run(&e, JobType::PortMirror, &format!("pod-1#{}", id(&b_port))).await;
        let mirror = mirror_routing(&e, "pod-1", &id(&b_port))
            .await
            .expect("the VM's mirror");
        create(
            &top,
            "floatingips",
            "floatingip",
            serde_json::json!({"floating_network_id": w.ext, "port_id": mirror, "tenant_id": PROJECT}),
        )
        .await;
    }
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let shadows = e
        .cloud
        .neutron(R2)
        .dump("ports")
        .into_iter()
        .filter(|p| p["device_owner"] == "compute:shadow")
        .count();
    assert_eq!(shadows, VMS, "a shadow port in pod-2 for each VM");
    let before = e.snapshot().await;
    let mut faults = Vec::new();
    let pod_1 = format!("pod-1#{}#{}", w.router, w.net1);
    cheap_rerun(&e, JobType::RouterSetup, &pod_1, &mut faults).await;
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    clear(&e);
    hold_every_call(&e, 20);
    let started = std::time::Instant::now();
    run(&e, JobType::RouterSetup, &pod_1).await;
    println!(
        "pod-1 router_setup rerun with {VMS} floating IPs through shadow ports, 20 ms per call: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    release_calls(&e);
    assert_eq!(e.snapshot().await, before, "the reruns changed nothing");
}
