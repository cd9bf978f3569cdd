//! SIGTERM to the real `tricircle-api` answers every request clients had
//! sent before it (issue 10, point 7): 30 writers keep pipelined POSTs
//! queued on keep-alive connections while the stop comes; each request
//! written before the signal gets a whole response, none is a 5xx, and
//! every pod answered 2xx is in the database afterwards.

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{request, LiveApi, Responses};
use tricircle_db::pods;

const WRITERS: usize = 30;
/// Requests written at once on a connection, so that some are always
/// queued behind the one being served.
const PIPELINED: usize = 4;

#[derive(Default)]
struct Outcome {
    /// Regions of pods answered 2xx.
    created: Vec<String>,
    /// Requests written before the stop that got no whole response.
    unanswered_before_stop: Vec<String>,
    /// Answers of 5xx, with their bodies.
    server_errors: Vec<String>,
    answered: usize,
}

fn writer(api_addr: std::net::SocketAddr, id: usize, stopping: Arc<AtomicBool>) -> Outcome {
    let mut out = Outcome::default();
    let mut seq = 0;
    'connections: loop {
        let Ok(stream) = std::net::TcpStream::connect(api_addr) else {
            // Refused: the server has stopped listening.
            assert!(
                stopping.load(Ordering::SeqCst),
                "connect refused before the stop"
            );
            return out;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut responses = Responses::new(stream);
        loop {
            let regions: Vec<String> = (0..PIPELINED)
                .map(|_| {
                    seq += 1;
                    format!("w{id}-{seq}")
                })
                .collect();
            let batch: Vec<u8> = regions
                .iter()
                .flat_map(|r| {
                    let body = format!(r#"{{"pod": {{"region_name": "{r}", "az_name": "az1"}}}}"#);
                    request("POST", "/v1.0/pods", Some(&body))
                })
                .collect();
            let written = w.write_all(&batch).is_ok();
            // The flag is raised before the signal is sent: a batch written
            // while it is down was sent before the stop.
            let before_stop = written && !stopping.load(Ordering::SeqCst);
            for (i, region) in regions.iter().enumerate() {
                match responses.next_response(false) {
                    Ok(Some(resp)) => {
                        out.answered += 1;
                        if resp.status / 100 == 2 {
                            out.created.push(region.clone());
                        } else if resp.status >= 500 {
                            out.server_errors.push(format!(
                                "{}: {}",
                                resp.status,
                                String::from_utf8_lossy(&resp.body)
                            ));
                        }
                        let closing = resp
                            .header("connection")
                            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
                        if closing {
                            // RFC 9112: nothing after a `close` answer is
                            // processed; it must not have been sent before
                            // the stop.
                            if before_stop {
                                out.unanswered_before_stop
                                    .extend(regions[i + 1..].iter().cloned());
                            }
                            if stopping.load(Ordering::SeqCst) {
                                return out;
                            }
                            continue 'connections;
                        }
                    }
                    Ok(None) | Err(_) => {
                        if before_stop {
                            out.unanswered_before_stop
                                .extend(regions[i..].iter().cloned());
                        }
                        if stopping.load(Ordering::SeqCst) {
                            return out;
                        }
                        continue 'connections;
                    }
                }
            }
        }
    }
}

#[test]
fn sigterm_answers_every_request_sent_before_it() {
    for backend in common::backends() {
        eprintln!("--- on {backend:?}");
        let mut api = LiveApi::start(backend, "api_workers = 2\n").unwrap();
        let stopping = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| {
                let (addr, stopping) = (api.addr, stopping.clone());
                std::thread::spawn(move || writer(addr, id, stopping))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        stopping.store(true, Ordering::SeqCst);
        api.signal("TERM");
        let status = api.wait_exit(Duration::from_secs(60));
        assert!(status.success(), "{status}: {}", api.log());

        let outcomes: Vec<Outcome> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let answered: usize = outcomes.iter().map(|o| o.answered).sum();
        let unanswered: Vec<&String> = outcomes
            .iter()
            .flat_map(|o| &o.unanswered_before_stop)
            .collect();
        let errors: Vec<&String> = outcomes.iter().flat_map(|o| &o.server_errors).collect();
        eprintln!("{backend:?}: {answered} answered");
        assert!(
            answered > WRITERS,
            "the writers barely ran: {answered} answers"
        );
        assert!(
            unanswered.is_empty(),
            "{} request(s) sent before SIGTERM got no answer: {unanswered:?}\n{}",
            unanswered.len(),
            api.log()
        );
        assert!(errors.is_empty(), "5xx answers: {errors:?}");

        let mut conn = api.db.db.get().unwrap();
        let stored: BTreeSet<String> = pods::list(&mut conn)
            .unwrap()
            .into_iter()
            .map(|p| p.region_name)
            .collect();
        let lost: Vec<&String> = outcomes
            .iter()
            .flat_map(|o| &o.created)
            .filter(|r| !stored.contains(*r))
            .collect();
        assert!(lost.is_empty(), "answered 2xx but not stored: {lost:?}");
    }
}
