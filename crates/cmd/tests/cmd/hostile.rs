//! Hostile HTTP against the real `tricircle-api` (issue 10, "Fuzzing, as a
//! standing suite"), on every backend: malformed and hostile bodies,
//! content types, sizes, encodings, methods, headers, paths and query
//! strings, then concurrent races on one pod, one routing and the top pod.
//! It fails on any 5xx, on a well-formed request left unanswered, on the
//! process dying, and on a lost write (a resource answered 2xx and not
//! deleted since that is not listed, or not in the database). It prints
//! the requests it sent, by status.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{request, LiveApi, Response, Responses};
use serde_json::{json, Value};
use tricircle_db::{jobs, pods, routings};

const ADMIN: &str = "X-Role: admin\r\nX-Tenant-Id: project-a\r\nX-User-Id: user-1\r\n";

/// What the suite saw, shared by its threads.
#[derive(Default)]
struct Tally {
    by_status: BTreeMap<String, usize>,
    failures: Vec<String>,
    /// Pods, routings and jobs answered 2xx on creation, by id.
    pods: BTreeSet<String>,
    routings: BTreeSet<i64>,
    jobs: BTreeSet<String>,
    /// Their deletions answered 2xx.
    deleted_pods: BTreeSet<String>,
    deleted_routings: BTreeSet<i64>,
}

#[derive(Clone)]
struct Suite {
    addr: std::net::SocketAddr,
    tally: Arc<Mutex<Tally>>,
}

fn head_of(raw: &[u8]) -> String {
    let end = raw.len().min(120);
    String::from_utf8_lossy(&raw[..end]).replace("\r\n", " | ")
}

impl Suite {
    /// Send `raw` on a fresh connection, read the answer and judge it.
    /// `well_formed`: valid HTTP/1.1, so an answer is owed.
    fn send(&self, raw: &[u8], well_formed: bool) -> Option<Response> {
        let started = std::time::Instant::now();
        let result = std::net::TcpStream::connect(self.addr).and_then(|mut s| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
            if raw.len() > 64 * 1024 {
                // As a real client: read the answer while still sending (the
                // server may answer a too-large body before reading it all).
                let mut w = s.try_clone()?;
                let raw = raw.to_vec();
                std::thread::spawn(move || w.write_all(&raw));
            } else {
                s.write_all(raw)?;
            }
            Responses::new(s).next_response(raw.starts_with(b"HEAD "))
        });
        if started.elapsed() > std::time::Duration::from_secs(2) {
            eprintln!("SLOW {:?} {}", started.elapsed(), head_of(raw));
        }
        let mut t = self.tally.lock().unwrap();
        match result {
            Ok(Some(resp)) => {
                *t.by_status.entry(resp.status.to_string()).or_default() += 1;
                if resp.status >= 500 {
                    t.failures.push(format!(
                        "{} for {}: {}",
                        resp.status,
                        head_of(raw),
                        String::from_utf8_lossy(&resp.body)
                    ));
                }
                self.record_write(&mut t, raw, &resp);
                Some(resp)
            }
            Ok(None) | Err(_) => {
                *t.by_status.entry("no answer".into()).or_default() += 1;
                if well_formed {
                    t.failures
                        .push(format!("no answer to a well-formed {}", head_of(raw)));
                }
                None
            }
        }
    }

    fn record_write(&self, t: &mut Tally, raw: &[u8], resp: &Response) {
        if resp.status / 100 != 2 {
            return;
        }
        let line = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if line.starts_with("POST /v1.0/pods ") {
            if let Some(id) = body["pod"]["pod_id"].as_str() {
                t.pods.insert(id.to_owned());
            }
        } else if line.starts_with("POST /v1.0/routings ") {
            if let Some(id) = body["routing"]["id"].as_i64() {
                t.routings.insert(id);
            }
        } else if line.starts_with("POST /v1.0/jobs ") {
            if let Some(id) = body["job"]["id"].as_str() {
                t.jobs.insert(id.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("DELETE /v1.0/pods/") {
            let id = rest.split(' ').next().unwrap_or_default();
            t.deleted_pods.insert(id.to_owned());
        } else if let Some(rest) = line.strip_prefix("DELETE /v1.0/routings/") {
            if let Ok(id) = rest.split(' ').next().unwrap_or_default().parse() {
                t.deleted_routings.insert(id);
            }
        }
    }

    fn json(&self, method: &str, path: &str, body: &Value) -> Option<Response> {
        self.send(&request(method, path, Some(&body.to_string())), true)
    }

    /// A request with `body` as raw bytes and the given extra head lines.
    fn raw_body(&self, method: &str, path: &str, headers: &str, body: &[u8], well_formed: bool) {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: api\r\n{ADMIN}{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.send(&raw, well_formed);
    }
}

fn nested(depth: usize) -> String {
    format!("{{\"pod\": {}{}}}", "[".repeat(depth), "]".repeat(depth))
}

/// Bodies no handler should choke on, for every body-reading route.
fn hostile_bodies() -> Vec<Vec<u8>> {
    let long = "x".repeat(100_000);
    let mut bodies: Vec<Vec<u8>> = [
        "",
        " ",
        "{",
        "}",
        "[]",
        "null",
        "1",
        "\"pod\"",
        "{\"pod\": ",
        "{\"pod\": []}",
        "{\"pod\": null}",
        "{\"pod\": \"x\"}",
        "{\"pod\": {}}",
        "{\"pod\": {\"region_name\": 1}}",
        "{\"pod\": {\"region_name\": null}}",
        "{\"pod\": {\"region_name\": {\"a\": 1}}}",
        "{\"pod\": {\"region_name\": [\"a\"]}}",
        "{\"pod\": {\"region_name\": true, \"az_name\": 1e999}}",
        "{\"pod\": {\"region_name\": \"a\\u0000b\", \"az_name\": \"az\"}}",
        "{\"pod\": {\"region_name\": \"\\ud800\", \"az_name\": \"az\"}}",
        "{\"pod\": {\"region_name\": \"pod🙂\", \"az_name\": \"az🙂\"}}",
        "{\"pod\": {\"region_name\": \"dup\", \"region_name\": \"dup2\", \"az_name\": \"az\"}}",
        "{\"routing\": {\"top_id\": 1, \"bottom_id\": [], \"pod_id\": {}, \"project_id\": null, \"resource_type\": 5}}",
        "{\"routing\": {\"top_id\": \"t\\u0000\", \"bottom_id\": \"b\", \"pod_id\": \"p\", \"project_id\": \"x\", \"resource_type\": \"network\"}}",
        "{\"routing\": {\"top_id\": \"🙂\", \"bottom_id\": \"🙂\", \"pod_id\": \"🙂\", \"project_id\": \"🙂\", \"resource_type\": \"🙂\"}}",
        "{\"job\": {\"type\": \"configure_route\", \"project_id\": \"p\", \"resource\": \"r\"}}",
        "{\"job\": {\"type\": \"configure_route\", \"project_id\": \"p\", \"resource\": {\"router_id\": 1}}}",
        "{\"job\": {\"type\": \"configure_route\", \"project_id\": \"p\", \"resource\": {\"router_id\": \"a#b\"}}}",
        "{\"job\": {\"type\": \"configure_route\", \"project_id\": \"p\", \"resource\": {\"router_id\": \"\\u0000\"}}}",
        "{\"job\": {\"type\": \"configure_route\", \"project_id\": \"🙂\", \"resource\": {\"router_id\": \"🙂\"}}}",
        "{\"job\": {\"type\": \"nope\", \"project_id\": \"p\", \"resource\": {}}}",
        "{\"job\": {\"type\": [], \"project_id\": {}, \"resource\": []}}",
        "{\"job\": {\"type\": \"seg_rule_setup\", \"project_id\": \"p\", \"resource\": {\"project_id\": \"p\", \"extra\": \"x\"}}}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for field in ["region_name", "az_name", "pod_az_name", "dc_name"] {
        let mut pod = json!({"region_name": "long", "az_name": "az"});
        pod[field] = json!(long);
        bodies.push(json!({ "pod": pod }).to_string().into_bytes());
    }
    for field in [
        "top_id",
        "bottom_id",
        "pod_id",
        "project_id",
        "resource_type",
    ] {
        let mut r = json!({"top_id": "t", "bottom_id": "b", "pod_id": "p",
                           "project_id": "x", "resource_type": "network"});
        r[field] = json!(long);
        bodies.push(json!({ "routing": r }).to_string().into_bytes());
    }
    bodies.push(
        json!({"job": {"type": "configure_route", "project_id": long, "resource": {"router_id": "r"}}})
            .to_string()
            .into_bytes(),
    );
    bodies.push(nested(100).into_bytes());
    bodies.push(nested(100_000).into_bytes());
    bodies.push(b"{\"pod\": {\"region_name\": \"\xff\xfe\", \"az_name\": \"az\"}}".to_vec());
    bodies.push(b"{\"pod\": {\"region_name\": \"a\0b\", \"az_name\": \"az\"}}".to_vec());
    bodies.push(b"\xef\xbb\xbf{\"pod\": {}}".to_vec());
    bodies.push(vec![b'{'; 64 * 1024 + 1]);
    bodies.push(vec![b' '; 2 * 1024 * 1024]);
    bodies
}

fn bodies_and_types(suite: &Suite, routing_id: i64, job_id: &str) {
    let targets = [
        ("POST", "/v1.0/pods".to_owned()),
        ("POST", "/v1.0/routings".to_owned()),
        ("POST", "/v1.0/jobs".to_owned()),
        ("PUT", format!("/v1.0/routings/{routing_id}")),
        ("PUT", format!("/v1.0/jobs/{job_id}")),
    ];
    let json_type = "Content-Type: application/json\r\n";
    for body in hostile_bodies() {
        for (method, path) in &targets {
            suite.raw_body(method, path, json_type, &body, true);
        }
    }
    let pod = br#"{"pod": {"region_name": "typed", "az_name": "az"}}"#;
    for ctype in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n",
        "Content-Type: application/json; charset=latin1\r\n",
        "Content-Type: application/json; charset=\"\r\n",
        "Content-Type: application/vnd.x+json\r\n",
        "Content-Type: \x01\x02\r\n",
        "Content-Type: application/json\r\nContent-Type: text/plain\r\n",
    ] {
        for (method, path) in &targets {
            suite.raw_body(method, path, ctype, pod, true);
        }
    }
    // Encodings: claimed compression the body does not have; chunked
    // bodies, well-formed and not.
    for enc in ["gzip", "deflate", "br", "zstd", "identity", "x-nope"] {
        let headers = format!("{json_type}Content-Encoding: {enc}\r\n");
        suite.raw_body("POST", "/v1.0/pods", &headers, pod, true);
        suite.raw_body(
            "POST",
            "/v1.0/pods",
            &headers,
            b"\x1f\x8b\x08\x00garbage",
            true,
        );
    }
    let chunked = |chunks: &str, well_formed: bool| {
        let raw = format!(
            "POST /v1.0/routings HTTP/1.1\r\nHost: api\r\n{ADMIN}{json_type}\
             Transfer-Encoding: chunked\r\n\r\n{chunks}"
        );
        suite.send(raw.as_bytes(), well_formed);
    };
    chunked("2\r\n{}\r\n0\r\n\r\n", true);
    chunked("1\r\n{\r\n1\r\n}\r\n0\r\n\r\n", true);
    chunked("zz\r\n{}\r\n0\r\n\r\n", false);
    chunked("ffffffffffffffffff\r\n{}\r\n0\r\n\r\n", false);
    chunked("-1\r\n{}\r\n0\r\n\r\n", false);
    chunked("5\r\n{}\r\n0\r\n\r\n", false);
    let both = format!(
        "POST /v1.0/pods HTTP/1.1\r\nHost: api\r\n{ADMIN}{json_type}Content-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    );
    suite.send(both.as_bytes(), false);
}

fn methods_paths_queries(suite: &Suite) {
    let paths = [
        "/",
        "/v1.0",
        "/v1.0/",
        "/v1.0/pods",
        "/v1.0/pods/",
        "/v1.0/pods/x",
        "/v1.0/pods/%00",
        "/v1.0/pods/%ff%fe",
        "/v1.0/pods/%F0%9F%99%82",
        "/v1.0/pods/..%2f..%2fetc",
        "/v1.0/routings",
        "/v1.0/routings/1",
        "/v1.0/routings/abc",
        "/v1.0/routings/-1",
        "/v1.0/routings/99999999999999999999999",
        "/v1.0/routings/%00",
        "/v1.0/jobs",
        "/v1.0/jobs/x",
        "/v1.0/jobs/%00",
        "/v1.0/jobs/%F0%9F%99%82",
        "//v1.0//pods",
        "/v1.0/../v1.0/pods",
        "/nope",
    ];
    for path in paths {
        for method in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO",
        ] {
            suite.send(&request(method, path, None), true);
        }
    }
    let long_path = format!("/v1.0/pods/{}", "a".repeat(10_000));
    suite.send(&request("GET", &long_path, None), false);
    suite.send(&request("DELETE", &long_path, None), false);
    for list in ["/v1.0/routings", "/v1.0/jobs", "/v1.0/pods"] {
        for q in [
            "limit=-1",
            "limit=0",
            "limit=abc",
            "limit=1.5",
            "limit=99999999999999999999999",
            "limit=%00",
            "limit=1&limit=2",
            "marker=%00",
            "marker=-1",
            "marker=abc",
            "marker=99999999999999999999999",
            "marker=%F0%9F%99%82",
            "marker=%ff",
            "top_id=%00",
            "top_id=%F0%9F%99%82",
            "pod_id=%ff%fe",
            "resource_type=%00",
            "project_id=%00",
            "project_id=%F0%9F%99%82",
            "status=%00",
            "status=nope",
            "type=%F0%9F%99%82",
            "id=1",
            "created_at=x",
            "sort_key=id&sort_dir=sideways",
            "=",
            "&&&",
            "a=%",
            "a=%zz",
            "%=%",
        ] {
            suite.send(&request("GET", &format!("{list}?{q}"), None), true);
        }
        let long_query = format!("{list}?top_id={}", "x".repeat(10_000));
        suite.send(&request("GET", &long_query, None), false);
    }
}

fn heads(suite: &Suite) {
    let get_bytes = |extra: &[u8], well_formed: bool| {
        let raw = [b"GET /v1.0/pods HTTP/1.1\r\nHost: api\r\n", extra, b"\r\n"].concat();
        suite.send(&raw, well_formed)
    };
    let get = |extra: &str, well_formed: bool| get_bytes(extra.as_bytes(), well_formed);
    get(ADMIN, true);
    get("", true);
    get(
        &format!("{ADMIN}X-Big: {}\r\n", "a".repeat(64 * 1024)),
        false,
    );
    get(&format!("{ADMIN}X-Big: {}\r\n", "a".repeat(7_000)), true);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    get(&format!("{ADMIN}{many}"), false);
    get(
        "X-Role: admin\r\nX-Role: admin\r\nX-Tenant-Id: a\r\nX-Tenant-Id: b\r\n",
        true,
    );
    get("X-Role: \r\nX-Tenant-Id: \r\nX-User-Id: \r\n", true);
    get("X-Role: admin,,,member\r\nX-Tenant-Id: %00\r\n", true);
    get("X-Role: ad\x01min\r\nX-Tenant-Id: p\r\n", false);
    get_bytes(
        b"X-Role: \xff\xfe\r\nX-Tenant-Id: \xc3\x28\r\nX-User-Id: \xf0\x9f\x99\x82\r\n",
        false,
    );
    get_bytes(b"X-Auth-Token: \xff\r\nX-Request-Id: \xff\r\n", false);
    get("X-Openstack-Request-Id: req-\x7f\r\n", false);
    get(
        &format!("{ADMIN}X-Request-Id: {}\r\n", "r".repeat(4096)),
        true,
    );
    get(&format!("{ADMIN}Transfer-Encoding: gzip\r\n"), false);
    get(&format!("{ADMIN}Expect: 100-continue\r\n"), true);
    get(
        &format!("{ADMIN}Connection: upgrade\r\nUpgrade: websocket\r\n"),
        false,
    );
    let pod = br#"{"pod": {"region_name": "cl", "az_name": "az"}}"#;
    for cl in [
        "-1",
        "abc",
        "1, 2",
        "99999999999999999999",
        "0x10",
        " 5",
        "",
    ] {
        let raw = [
            format!("POST /v1.0/pods HTTP/1.1\r\nHost: api\r\n{ADMIN}Content-Type: application/json\r\nContent-Length: {cl}\r\n\r\n").as_bytes(),
            pod.as_slice(),
        ]
        .concat();
        suite.send(&raw, false);
    }
    let dup = [
        format!("POST /v1.0/pods HTTP/1.1\r\nHost: api\r\n{ADMIN}Content-Type: application/json\r\nContent-Length: {}\r\nContent-Length: 3\r\n\r\n", pod.len()).as_bytes(),
        pod.as_slice(),
    ]
    .concat();
    suite.send(&dup, false);
    let lines: &[&[u8]] = &[
        b"GET /v1.0/pods HTTP/1.0\r\n",
        b"GET /v1.0/pods HTTP/2.0\r\n",
        b"GET /v1.0/pods HTTP/9.9\r\n",
        b"GET /v1.0/pods\r\n",
        b"GET  /v1.0/pods  HTTP/1.1\r\n",
        b"get /v1.0/pods HTTP/1.1\r\n",
        b"GET * HTTP/1.1\r\n",
        b"GET http://evil/v1.0/pods HTTP/1.1\r\n",
        b"\r\n\r\nGET /v1.0/pods HTTP/1.1\r\n",
        b"\x00\x01\x02\x03\r\n",
        b"GET /v1.0/p\x00ods HTTP/1.1\r\n",
        b"GET /v1.0/pods\xff HTTP/1.1\r\n",
    ];
    for line in lines {
        let raw = [*line, b"Host: api\r\n", ADMIN.as_bytes(), b"\r\n"].concat();
        suite.send(&raw, false);
    }
}

/// Races on one pod, one routing and the top pod, from many threads.
fn races(suite: &Suite) {
    const THREADS: usize = 16;
    let run = |f: Arc<dyn Fn(usize) + Send + Sync>| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let f = f.clone();
                std::thread::spawn(move || f(i))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    };

    // Concurrent top-pod creates: one wins, the others are refused.
    let s = suite.clone();
    let top_wins = Arc::new(Mutex::new(0));
    let wins = top_wins.clone();
    run(Arc::new(move |i| {
        let body = json!({"pod": {"region_name": format!("Top{i}")}});
        if let Some(r) = s.json("POST", "/v1.0/pods", &body) {
            if r.status / 100 == 2 {
                *wins.lock().unwrap() += 1;
            }
        }
    }));
    let wins = *top_wins.lock().unwrap();
    if wins > 1 {
        suite
            .tally
            .lock()
            .unwrap()
            .failures
            .push(format!("{wins} top pods created"));
    }

    // Create and delete the same pod, and routings on it, at once.
    for round in 0..3 {
        let s = suite.clone();
        run(Arc::new(move |i| {
            let region = format!("Race{round}");
            match i % 4 {
                0 => {
                    let body = json!({"pod": {"region_name": region, "az_name": "az-race"}});
                    s.json("POST", "/v1.0/pods", &body);
                }
                1 => {
                    let list = s.send(&request("GET", "/v1.0/pods", None), true);
                    let ids: Vec<String> = list
                        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                        .and_then(|v| v["pods"].as_array().cloned())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|p| p["region_name"] == region.as_str())
                        .filter_map(|p| p["pod_id"].as_str().map(str::to_owned))
                        .collect();
                    for id in ids {
                        s.send(&request("DELETE", &format!("/v1.0/pods/{id}"), None), true);
                    }
                }
                _ => {
                    let list = s.send(&request("GET", "/v1.0/pods", None), true);
                    let pod = list
                        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                        .and_then(|v| v["pods"].as_array().cloned())
                        .unwrap_or_default()
                        .into_iter()
                        .find(|p| p["region_name"] == region.as_str())
                        .and_then(|p| p["pod_id"].as_str().map(str::to_owned));
                    let pod = pod.unwrap_or_else(|| "gone".into());
                    let body = json!({"routing": {"top_id": format!("top-{round}"),
                        "bottom_id": format!("b-{i}"), "pod_id": pod,
                        "project_id": "project-a", "resource_type": "network"}});
                    if let Some(r) = s.json("POST", "/v1.0/routings", &body) {
                        let id = serde_json::from_slice::<Value>(&r.body)
                            .ok()
                            .and_then(|v| v["routing"]["id"].as_i64());
                        if let Some(id) = id {
                            let path = format!("/v1.0/routings/{id}");
                            let update = json!({"routing": {"bottom_id": "moved", "pod_id": pod}});
                            s.json("PUT", &path, &update);
                            s.send(&request("DELETE", &path, None), true);
                        }
                    }
                }
            }
        }));
    }

    // One routing created, updated and deleted from every thread.
    let s = suite.clone();
    let pod = s
        .json(
            "POST",
            "/v1.0/pods",
            &json!({"pod": {"region_name": "RaceR", "az_name": "az-r"}}),
        )
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .and_then(|v| v["pod"]["pod_id"].as_str().map(str::to_owned))
        .expect("a pod for the routing race");
    let created = s
        .json(
            "POST",
            "/v1.0/routings",
            &json!({"routing": {"top_id": "contested", "bottom_id": "b", "pod_id": pod,
                                 "project_id": "project-a", "resource_type": "router"}}),
        )
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .and_then(|v| v["routing"]["id"].as_i64())
        .expect("the contested routing");
    run(Arc::new(move |i| {
        let path = format!("/v1.0/routings/{created}");
        match i % 3 {
            0 => {
                s.json(
                    "PUT",
                    &path,
                    &json!({"routing": {"bottom_id": format!("b{i}")}}),
                );
            }
            1 => {
                s.send(&request("DELETE", &path, None), true);
            }
            _ => {
                s.send(&request("GET", &path, None), true);
            }
        }
    }));
}

/// Every write answered 2xx (and not deleted) is listed by the API and in
/// the database.
fn nothing_lost(suite: &Suite, api: &LiveApi) {
    // A copy: listing below goes through `send`, which takes the lock.
    let t = {
        let t = suite.tally.lock().unwrap();
        Tally {
            pods: t.pods.clone(),
            routings: t.routings.clone(),
            jobs: t.jobs.clone(),
            deleted_pods: t.deleted_pods.clone(),
            deleted_routings: t.deleted_routings.clone(),
            ..Tally::default()
        }
    };
    let mut failures = Vec::new();
    let listed = |path: &str, key: &str| -> Vec<Value> {
        let resp = suite
            .send(&request("GET", path, None), true)
            .expect("a list");
        assert_eq!(resp.status, 200, "{path}");
        resp.json()[key].as_array().cloned().unwrap_or_default()
    };
    let api_pods: BTreeSet<String> = listed("/v1.0/pods", "pods")
        .iter()
        .filter_map(|p| p["pod_id"].as_str().map(str::to_owned))
        .collect();
    let mut conn = api.db.db.get().unwrap();
    let db_pods: BTreeSet<String> = pods::list(&mut conn)
        .unwrap()
        .into_iter()
        .map(|p| p.pod_id)
        .collect();
    for id in t.pods.difference(&t.deleted_pods) {
        if !api_pods.contains(id) || !db_pods.contains(id) {
            failures.push(format!("pod {id} answered 2xx is lost"));
        }
    }
    let api_routings: BTreeSet<i64> = listed("/v1.0/routings?limit=2000", "routings")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    for id in t.routings.difference(&t.deleted_routings) {
        let in_db = routings::get(&mut conn, *id).is_ok();
        if !api_routings.contains(id) || !in_db {
            failures.push(format!("routing {id} answered 2xx is lost"));
        }
    }
    let api_jobs: BTreeSet<String> = listed("/v1.0/jobs?limit=2000", "jobs")
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_owned))
        .collect();
    for id in &t.jobs {
        let in_db =
            jobs::get_job(&mut conn, id).is_ok() || jobs::get_job_from_log(&mut conn, id).is_ok();
        if !api_jobs.contains(id) || !in_db {
            failures.push(format!("job {id} answered 2xx is lost"));
        }
    }
    suite.tally.lock().unwrap().failures.extend(failures);
}

#[test]
fn hostile_http_gets_no_5xx_no_crash_and_loses_nothing() {
    for backend in common::backends() {
        let mut api =
            LiveApi::start(backend, "api_workers = 2\nclient_body_timeout = 5\n").unwrap();
        let suite = Suite {
            addr: api.addr,
            tally: Arc::default(),
        };
        // Something to update: a pod, a router routed to it, a job on the
        // router.
        let pod = suite
            .json(
                "POST",
                "/v1.0/pods",
                &json!({"pod": {"region_name": "Base", "az_name": "az1"}}),
            )
            .map(|r| r.json()["pod"]["pod_id"].as_str().unwrap().to_owned())
            .unwrap();
        let routing = suite
            .json(
                "POST",
                "/v1.0/routings",
                &json!({"routing": {"top_id": "r-base", "bottom_id": "b-base", "pod_id": pod,
                                     "project_id": "project-a", "resource_type": "router"}}),
            )
            .map(|r| r.json()["routing"]["id"].as_i64().unwrap())
            .unwrap();
        let job = suite
            .json(
                "POST",
                "/v1.0/jobs",
                &json!({"job": {"type": "configure_route", "project_id": "project-a",
                                 "resource": {"router_id": "r-base"}}}),
            )
            .map(|r| r.json()["job"]["id"].as_str().unwrap().to_owned())
            .unwrap();

        bodies_and_types(&suite, routing, &job);
        methods_paths_queries(&suite);
        heads(&suite);
        races(&suite);
        assert!(api.alive(), "tricircle-api died: {}", api.log());
        nothing_lost(&suite, &api);

        let t = suite.tally.lock().unwrap();
        let sent: usize = t.by_status.values().sum();
        let figures: Vec<String> = t
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        eprintln!(
            "hostile HTTP on {backend:?}: {sent} requests; by status: {}; \
             {} pods, {} routings, {} jobs answered 2xx",
            figures.join(", "),
            t.pods.len(),
            t.routings.len(),
            t.jobs.len()
        );
        assert!(
            t.failures.is_empty(),
            "{backend:?}: {} failure(s):\n{}",
            t.failures.len(),
            t.failures.join("\n")
        );
    }
}
