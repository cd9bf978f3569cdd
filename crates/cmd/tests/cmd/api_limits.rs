//! What a slow or silent client can hold of the real `tricircle-api`
//! (issue 10, point 2): a body that stops arriving is answered 408 and its
//! connection closed (`client_body_timeout`), so are headers that stop or
//! trickle, on a connection's first request or any later one
//! (`client_request_timeout`), and a worker holds at most `max_connections`
//! connections.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{request, LiveApi, Responses};
use tricircle_db::{pods, Backend};

/// The connection ends (EOF or reset) with nothing more to read.
fn assert_closed(mut s: std::net::TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest)),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    for backend in common::backends() {
        let api = LiveApi::start(backend, "client_body_timeout = 1\n").unwrap();
        let body = r#"{"pod": {"region_name": "stalled", "az_name": "az1"}}"#;
        let mut raw = request("POST", "/v1.0/pods", Some(body));
        // Half the body, then silence.
        raw.truncate(raw.len() - body.len() / 2);
        let mut s = api.connect();
        s.write_all(&raw).unwrap();
        let resp = Responses::new(s.try_clone().unwrap())
            .next_response(false)
            .unwrap()
            .expect("an answer");
        assert_eq!(resp.status, 408, "{backend:?}");
        let json = resp.json();
        assert_eq!(json["code"], "408 Request Timeout", "{json}");
        assert_eq!(json["title"], "Request Timeout", "{json}");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .contains("not received within 1 seconds"),
            "{json}"
        );
        assert_eq!(resp.header("connection"), Some("close"));
        assert_closed(s);
        let mut conn = api.db.db.get().unwrap();
        assert!(pods::list(&mut conn).unwrap().is_empty(), "{backend:?}");

        // A whole body, even sent in pieces, is read as before.
        let raw = request("POST", "/v1.0/pods", Some(body));
        let mut s = api.connect();
        for piece in raw.chunks(16) {
            s.write_all(piece).unwrap();
        }
        let resp = Responses::new(s).next_response(false).unwrap().unwrap();
        assert_eq!(resp.status, 200, "{:?}", resp.json());
        assert_eq!(pods::list(&mut conn).unwrap().len(), 1, "{backend:?}");
    }
}

#[test]
fn stalled_headers_are_answered_408_and_closed() {
    let api = LiveApi::start(Backend::Sqlite, "client_request_timeout = 1\n").unwrap();
    let mut s = api.connect();
    s.write_all(b"GET /v1.0/pods HTTP/1.1\r\nHost: api\r\nX-Role: ad")
        .unwrap();
    let resp = Responses::new(s.try_clone().unwrap())
        .next_response(false)
        .unwrap()
        .expect("an answer");
    assert_eq!(resp.status, 408);
    assert_closed(s);
}

/// One request and its answer on `s`, which stays open.
fn served(s: &mut std::net::TcpStream, raw: &[u8]) -> common::Response {
    s.write_all(raw).unwrap();
    let resp = Responses::new(s.try_clone().unwrap())
        .next_response(false)
        .unwrap()
        .expect("an answer");
    assert_eq!(resp.header("connection"), None, "kept alive");
    resp
}

/// Send `pieces` on `s`, one every 200 ms, while reading the answers, until
/// the server closes the connection: the answers, and whether it closed
/// before every piece was sent.
fn trickle(s: std::net::TcpStream, pieces: &[&[u8]]) -> (Vec<common::Response>, bool) {
    let closed = Arc::new(AtomicBool::new(false));
    let reader = {
        let s = s.try_clone().unwrap();
        let closed = closed.clone();
        std::thread::spawn(move || {
            let mut answers = Responses::new(s);
            let mut got = Vec::new();
            loop {
                match answers.next_response(false) {
                    Ok(Some(answer)) => got.push(answer),
                    Ok(None) => break,
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    // Not closed within the read timeout (60 s).
                    Err(e) => panic!("{e}; answers so far: {got:?}"),
                }
            }
            closed.store(true, Ordering::Release);
            got
        })
    };
    let mut s = s;
    let mut sent = 0;
    for piece in pieces {
        if closed.load(Ordering::Acquire) || s.write_all(piece).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let answers = reader.join().expect("the connection closed");
    (answers, sent < pieces.len())
}

#[test]
fn a_trickled_head_after_a_first_request_is_answered_408_and_closed() {
    let api = LiveApi::start(Backend::Sqlite, "client_request_timeout = 1\n").unwrap();
    let mut s = api.connect();
    let get = request("GET", "/v1.0/pods", None);
    assert_eq!(served(&mut s, &get).status, 200);

    // The next head, a byte every 200 ms: about 20 s in all, while its
    // deadline is 1 s from its first byte.
    let bytes: Vec<&[u8]> = get.chunks(1).collect();
    let (answers, cut) = trickle(s, &bytes);
    assert!(cut, "the whole trickled head was taken: {answers:?}");
    let [answer] = &answers[..] else {
        panic!("{answers:?}")
    };
    assert_eq!(answer.status, 408);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(
        api.log()
            .contains("a request's headers did not arrive in time"),
        "{}",
        api.log()
    );
}

#[test]
fn a_chunked_body_answered_before_it_was_read_cannot_hold_the_connection() {
    // actix reads the rest of such a body to discard it; it still has
    // client_body_timeout from its head. Chunks every 200 ms: 20 s in all.
    let api = LiveApi::start(Backend::Sqlite, "client_body_timeout = 1\n").unwrap();
    let chunk = b"1\r\n{\r\n".as_slice();
    let chunks = vec![chunk; 100];
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: api\r\nX-Role: admin\r\nX-Tenant-Id: project-a\r\n\
             X-User-Id: user-1\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        )
    };
    // Not read at all: no such resource.
    let mut s = api.connect();
    s.write_all(head("/v1.0/nothing-here").as_bytes()).unwrap();
    let (answers, cut) = trickle(s, &chunks);
    assert!(cut, "the whole trickled body was taken: {answers:?}");
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [404],
        "{answers:?}"
    );
    // Read too slowly: the application's 408 (the connection closes too).
    let mut s = api.connect();
    s.write_all(head("/v1.0/pods").as_bytes()).unwrap();
    let (answers, cut) = trickle(s, &chunks);
    assert!(cut, "the whole trickled body was taken: {answers:?}");
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [408],
        "{answers:?}"
    );
    assert!(
        api.log()
            .contains("a request body answered before it was read did not arrive in time"),
        "{}",
        api.log()
    );
}

#[test]
fn keep_alive_clients_pausing_between_requests_are_not_cut() {
    // Pauses longer than the head deadline, shorter than keep-alive (5 s):
    // only a head's own bytes are timed, not the wait before it, nor bodies.
    let api = LiveApi::start(Backend::Sqlite, "client_request_timeout = 1\n").unwrap();
    let pause = Duration::from_secs(2);
    let mut s = api.connect();
    let get = request("GET", "/v1.0/pods", None);
    assert_eq!(served(&mut s, &get).status, 200);
    std::thread::sleep(pause);
    assert_eq!(served(&mut s, &get).status, 200);
    std::thread::sleep(pause);

    // A body sent after a pause.
    let body = r#"{"pod": {"region_name": "paused", "az_name": "az1"}}"#;
    let post = request("POST", "/v1.0/pods", Some(body));
    let head = post.len() - body.len();
    s.write_all(&post[..head]).unwrap();
    std::thread::sleep(pause);
    assert_eq!(served(&mut s, &post[head..]).status, 200);
    std::thread::sleep(pause);

    // A chunked body with a pause between its chunks (and a blank line in
    // one, which is no end of a head).
    let chunked = "POST /v1.0/pods HTTP/1.1\r\nHost: api\r\nX-Role: admin\r\n\
                   X-Tenant-Id: project-a\r\nX-User-Id: user-1\r\n\
                   Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                   4\r\n\r\n\r\n\r\n";
    s.write_all(chunked.as_bytes()).unwrap();
    std::thread::sleep(pause);
    let rest = r#"{"pod": {"region_name": "chunked", "az_name": "az1"}}"#;
    let tail = format!("{:x}\r\n{rest}\r\n0\r\n\r\n", rest.len());
    assert_eq!(served(&mut s, tail.as_bytes()).status, 200);
    std::thread::sleep(pause);
    assert_eq!(served(&mut s, &get).status, 200);
    let mut conn = api.db.db.get().unwrap();
    assert_eq!(pods::list(&mut conn).unwrap().len(), 2);
}

#[test]
fn a_slow_head_within_the_deadline_is_served() {
    let api = LiveApi::start(Backend::Sqlite, "client_request_timeout = 10\n").unwrap();
    let mut s = api.connect();
    let get = request("GET", "/v1.0/pods", None);
    for _ in 0..2 {
        // The first head (timed by actix from the accept), then a later one.
        for piece in get.chunks(get.len() / 4 + 1) {
            s.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        let resp = Responses::new(s.try_clone().unwrap())
            .next_response(false)
            .unwrap()
            .expect("an answer");
        assert_eq!(resp.status, 200);
    }
}

#[test]
fn a_worker_holds_at_most_max_connections() {
    let api = LiveApi::start(
        Backend::Sqlite,
        "api_workers = 1\nmax_connections = 2\nclient_body_timeout = 60\n",
    )
    .unwrap();
    let body = r#"{"pod": {"region_name": "held", "az_name": "az1"}}"#;
    let mut partial = request("POST", "/v1.0/pods", Some(body));
    partial.truncate(partial.len() - 4);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut s = api.connect();
            s.write_all(&partial).unwrap();
            s
        })
        .collect();

    // The third client is left in the listen backlog: no answer while the
    // two are held...
    let mut third = api.connect();
    third
        .write_all(&request("GET", "/v1.0/pods", None))
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = third.read(&mut byte).unwrap_err();
    assert!(
        matches!(waited.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{waited}"
    );
    // ...and served once one of them goes.
    drop(held);
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let resp = Responses::new(third).next_response(false).unwrap().unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
}
