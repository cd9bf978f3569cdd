//! The real `tricircle-api` binary on loopback over a fresh `db_sync`'ed
//! database of a chosen backend, and a raw HTTP/1.1 client: the process
//! tests send what well-behaved clients never would (partial bodies,
//! pipelined requests, malformed heads), so reqwest is of no use there.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tricircle_db::testing::TestDb;
use tricircle_db::Backend;

const API: &str = env!("CARGO_BIN_EXE_tricircle-api");
const DB_MANAGE: &str = env!("CARGO_BIN_EXE_tricircle-db-manage");

/// A `tricircle-api` process; killed when dropped.
pub struct LiveApi {
    pub addr: SocketAddr,
    pub db: TestDb,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A free loopback port (the API is told it; it binds it itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl LiveApi {
    /// `db_sync` a fresh database of `backend` with `tricircle-db-manage`,
    /// then start `tricircle-api` on it (noauth) with `extra` appended to
    /// its `[DEFAULT]` section. `None` when the backend is not configured.
    pub fn start(backend: Backend, extra: &str) -> Option<LiveApi> {
        let db = TestDb::new(backend)?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("api.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nauth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = {port}\n\
                 tricircle_db_connection = {}\n\
                 # Nothing listens there: casts fail fast, jobs wait in the database.\n\
                 transport_url = rabbit://guest:guest@127.0.0.1:1/\n{extra}\n",
                db.url
            ),
        )
        .unwrap();
        let sync = Command::new(DB_MANAGE)
            .arg("--config-file")
            .arg(&conf)
            .arg("db_sync")
            .output()
            .unwrap();
        assert!(
            sync.status.success(),
            "db_sync failed: {}",
            String::from_utf8_lossy(&sync.stderr)
        );
        let log = dir.path().join("api.log");
        let child = Command::new(API)
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut api = LiveApi {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            db,
            child,
            log,
            _dir: dir,
        };
        api.wait_listening();
        Some(api)
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(self.addr).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("tricircle-api exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "tricircle-api is not listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Wait for the process to exit (killing it and failing after `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tricircle-api did not exit: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the process, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }
}

impl Drop for LiveApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request as raw bytes, noauth admin headers included, JSON body.
pub fn request(method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: api\r\nX-Role: admin\r\nX-Tenant-Id: project-a\r\n\
         X-User-Id: user-1\r\n"
    );
    if let Some(b) = body {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        r.push_str("\r\n");
    }
    r.into_bytes()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads successive responses from one connection.
pub struct Responses<R: Read> {
    reader: BufReader<R>,
}

impl<R: Read> Responses<R> {
    pub fn new(r: R) -> Self {
        Responses {
            reader: BufReader::new(r),
        }
    }

    /// The next complete response; `Ok(None)` on a clean end of the stream
    /// before any byte of one, an error when the stream ends inside one or
    /// is reset.
    pub fn next_response(&mut self, head_request: bool) -> std::io::Result<Option<Response>> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(bad("end of stream inside the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').ok_or_else(|| bad("bad header line"))?;
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        if status / 100 == 1 {
            // An interim answer (100 Continue): the real one follows.
            return self.next_response(head_request);
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 {
            return Ok(Some(resp));
        }
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body)?;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size =
                    usize::from_str_radix(line.trim(), 16).map_err(|_| bad("bad chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.reader.read_to_end(&mut resp.body)?;
        }
        Ok(Some(resp))
    }
}

/// Send `raw` on a new connection and read one response.
pub fn exchange(api: &LiveApi, raw: &[u8]) -> std::io::Result<Option<Response>> {
    let mut s = api.connect();
    s.write_all(raw)?;
    let head = raw.starts_with(b"HEAD ");
    Responses::new(s).next_response(head)
}

/// Every backend under test (SQLite always; MariaDB and PostgreSQL when
/// their servers are configured).
pub fn backends() -> Vec<Backend> {
    tricircle_db::testing::backends_under_test()
}
