//! `use_syslog`: each record as one datagram to the local syslog socket,
//! with the facility of `syslog_log_facility` and the record's severity, as
//! oslo.log's `OSSysLogHandler` (syslog(3) with the binary's name).

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The socket syslog(3) writes to.
pub const SOCKET: &str = "/dev/log";

/// The facilities oslo.log accepts, with their syslog(3) codes.
const FACILITIES: &[(&str, u8)] = &[
    ("LOG_KERN", 0),
    ("LOG_USER", 1),
    ("LOG_MAIL", 2),
    ("LOG_DAEMON", 3),
    ("LOG_AUTH", 4),
    ("LOG_SYSLOG", 5),
    ("LOG_LPR", 6),
    ("LOG_NEWS", 7),
    ("LOG_UUCP", 8),
    ("LOG_CRON", 9),
    ("LOG_AUTHPRIV", 10),
    ("LOG_FTP", 11),
    ("LOG_LOCAL0", 16),
    ("LOG_LOCAL1", 17),
    ("LOG_LOCAL2", 18),
    ("LOG_LOCAL3", 19),
    ("LOG_LOCAL4", 20),
    ("LOG_LOCAL5", 21),
    ("LOG_LOCAL6", 22),
    ("LOG_LOCAL7", 23),
];

/// oslo.log's `_find_facility`: case-insensitive, `LOG_` optional.
pub fn facility(name: &str) -> Result<u8, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("LOG_") {
        upper
    } else {
        format!("LOG_{upper}")
    };
    FACILITIES
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, code)| *code)
        .ok_or_else(|| {
            format!(
                "[DEFAULT] syslog_log_facility = {name:?}: must be one of {}",
                FACILITIES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Writes each record to syslog. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Syslog {
    socket: Arc<UnixDatagram>,
    facility: u8,
    /// `<program>[<pid>]: `
    tag: Arc<str>,
}

impl Syslog {
    pub fn connect(path: &Path, facility: u8, program: &str) -> io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog {
            socket: Arc::new(socket),
            facility,
            tag: format!("{program}[{}]: ", std::process::id()).into(),
        })
    }
}

/// syslog severities: err, warning, info, debug.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One record, sent when the formatter is done with it.
pub struct Record {
    syslog: Syslog,
    priority: u8,
    line: Vec<u8>,
}

impl Write for Record {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let body = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let mut datagram = format!("<{}>{}", self.priority, self.syslog.tag).into_bytes();
        datagram.extend_from_slice(body);
        // A syslog that is away loses the record, as syslog(3) does; the
        // daemon keeps running.
        let _ = self.syslog.socket.send(&datagram);
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Record;

    fn make_writer(&'a self) -> Record {
        self.record(6)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Record {
        self.record(severity(meta.level()))
    }
}

impl Syslog {
    fn record(&self, severity: u8) -> Record {
        Record {
            syslog: self.clone(),
            priority: self.facility * 8 + severity,
            line: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_as_oslo_log_reads_them() {
        assert_eq!(facility("LOG_USER"), Ok(1));
        assert_eq!(facility("local7"), Ok(23));
        assert_eq!(facility("log_daemon"), Ok(3));
        let e = facility("LOG_NOPE").unwrap_err();
        assert!(
            e.contains("syslog_log_facility") && e.contains("LOG_LOCAL0"),
            "{e}"
        );
    }

    #[test]
    fn one_datagram_per_record_with_priority_and_tag() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog =
            Syslog::connect(&path, facility("LOG_LOCAL0").unwrap(), "tricircle-api").unwrap();
        let meta = tracing::Metadata::new(
            "x",
            "t",
            Level::WARN,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        {
            let mut r = syslog.make_writer_for(&meta);
            r.write_all(b"WARN something ").unwrap();
            r.write_all(b"happened\n").unwrap();
        }
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        // local0 (16) * 8 + warning (4)
        let want = format!(
            "<132>tricircle-api[{}]: WARN something happened",
            std::process::id()
        );
        assert_eq!(got, want);
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unreachable!()
        }
    }

    #[test]
    fn an_absent_socket_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(Syslog::connect(&tmp.path().join("none"), 1, "x").is_err());
    }
}
