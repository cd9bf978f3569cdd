//! Mapping of SQLAlchemy database URLs (as found in existing Tricircle
//! configuration files) to what diesel's drivers accept.

use std::fmt;

use url::Url;

use crate::{Backend, DbError};

/// Where to connect, already translated for diesel.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub backend: Backend,
    /// The URL or path handed to the driver. Holds the password.
    target: String,
    /// `true` for `sqlite://` / `sqlite:///:memory:`.
    pub in_memory: bool,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("backend", &self.backend)
            .field("target", &redact(&self.target))
            .field("in_memory", &self.in_memory)
            .finish()
    }
}

/// Query parameters the MySQL driver understands; SQLAlchemy/PyMySQL accept
/// the same names. Everything else (e.g. `charset=utf8`) is dropped: the
/// driver always talks utf8mb4, a superset of what `utf8` asked for.
const MYSQL_PARAMS: &[&str] = &["unix_socket", "ssl_ca", "ssl_cert", "ssl_key", "ssl_mode"];

/// libpq connection parameters that psycopg2 would have passed through.
const PG_PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "connect_timeout",
    "application_name",
    "options",
    "client_encoding",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "passfile",
];

impl DbUrl {
    /// The file of an on-disk SQLite database.
    pub fn sqlite_file(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite && !self.in_memory).then_some(self.target.as_str())
    }

    /// Parse an SQLAlchemy-style URL.
    pub fn parse(raw: &str) -> Result<DbUrl, DbError> {
        let raw = raw.trim();
        let bad = |why: &str| DbError::InvalidUrl(format!("{why}: {}", redact(raw)));
        let (scheme, _) = raw
            .split_once("://")
            .ok_or_else(|| bad("missing '<dialect>://'"))?;
        let (dialect, _driver) = match scheme.split_once('+') {
            Some((d, drv)) => (d, Some(drv)),
            None => (scheme, None),
        };
        match dialect.to_ascii_lowercase().as_str() {
            "sqlite" => Self::parse_sqlite(raw, &raw[scheme.len() + 3..]),
            "mysql" | "mariadb" => Self::parse_server(raw, Backend::Mysql),
            "postgresql" | "postgres" | "pgsql" => Self::parse_server(raw, Backend::Postgres),
            other => Err(bad(&format!("unsupported database dialect '{other}'"))),
        }
    }

    fn parse_sqlite(raw: &str, rest: &str) -> Result<DbUrl, DbError> {
        // SQLAlchemy: `sqlite://` is in-memory, `sqlite:///x` is the relative
        // path `x`, `sqlite:////x` the absolute path `/x`.
        let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
        let path = match rest {
            "" => None,
            r if r.starts_with('/') => Some(&r[1..]),
            _ => {
                return Err(DbError::InvalidUrl(format!(
                "sqlite URLs have no host part (use sqlite:///relative or sqlite:////absolute): {}",
                redact(raw)
            )))
            }
        };
        match path {
            None | Some("") | Some(":memory:") => Ok(DbUrl {
                backend: Backend::Sqlite,
                target: ":memory:".into(),
                in_memory: true,
            }),
            Some(p) => Ok(DbUrl {
                backend: Backend::Sqlite,
                target: p.to_string(),
                in_memory: false,
            }),
        }
    }

    fn parse_server(raw: &str, backend: Backend) -> Result<DbUrl, DbError> {
        let (scheme, allowed) = match backend {
            Backend::Mysql => ("mysql", MYSQL_PARAMS),
            _ => ("postgresql", PG_PARAMS),
        };
        let rest = &raw[raw.find("://").map(|i| i + 3).unwrap_or(0)..];
        let mut url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| DbError::InvalidUrl(format!("{e}: {}", redact(raw))))?;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, v)| {
                let keep = allowed.contains(&k.as_ref());
                if !keep {
                    tracing::debug!(parameter = %k, value = %v, "dropping unsupported database URL parameter");
                }
                keep
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        if backend == Backend::Mysql {
            let has_socket = url.query_pairs().any(|(k, _)| k == "unix_socket");
            if url.path_segments().map(|s| s.count()).unwrap_or(0) > 1 {
                return Err(DbError::InvalidUrl(format!(
                    "the database name may not contain '/': {}",
                    redact(raw)
                )));
            }
            // PyMySQL connects over TCP even for "localhost"; libmariadb would
            // use its default socket instead, which may not exist.
            if !has_socket && url.host_str() == Some("localhost") {
                let _ = url.set_host(Some("127.0.0.1"));
            }
            if url.host_str().unwrap_or("").is_empty() && !has_socket {
                return Err(DbError::InvalidUrl(format!(
                    "missing host: {}",
                    redact(raw)
                )));
            }
        }
        Ok(DbUrl {
            backend,
            target: url.to_string(),
            in_memory: false,
        })
    }

    /// The string handed to the diesel driver. Contains the password: never
    /// log it.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The driver URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.target)
    }
}

/// Replace the password of a `scheme://user:password@host` URL with `***`.
/// Works on strings that do not parse as URLs, too.
pub fn redact(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let authority_end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    // The userinfo ends at the LAST '@' of the authority: passwords may contain '@'.
    let Some(at) = raw[start..authority_end].rfind('@').map(|i| start + i) else {
        return raw.to_string();
    };
    match raw[start..at].find(':') {
        Some(colon) => format!("{}:***{}", &raw[..start + colon], &raw[at..]),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DbUrl {
        DbUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn mysql_variants() {
        for s in [
            "mysql+pymysql://root:secret@127.0.0.1/tricircle?charset=utf8",
            "mysql://root:secret@127.0.0.1/tricircle",
            "mysql+mysqldb://root:secret@127.0.0.1/tricircle?charset=utf8&use_unicode=1",
        ] {
            let u = p(s);
            assert_eq!(u.backend, Backend::Mysql);
            assert_eq!(u.target(), "mysql://root:secret@127.0.0.1/tricircle", "{s}");
        }
        let u = p("mysql+pymysql://u:p@db.example:3307/tc?charset=utf8&unix_socket=/run/m.sock");
        assert_eq!(
            u.target(),
            "mysql://u:p@db.example:3307/tc?unix_socket=%2Frun%2Fm.sock"
        );
        // PyMySQL semantics: localhost means TCP.
        assert_eq!(
            p("mysql+pymysql://u:p@localhost/tc").target(),
            "mysql://u:p@127.0.0.1/tc"
        );
        // Percent-encoded passwords pass through untouched for the driver to decode.
        assert_eq!(p("mysql://u:p%40ss@h/tc").target(), "mysql://u:p%40ss@h/tc");
    }

    #[test]
    fn postgres_variants() {
        for s in [
            "postgresql://tc:pw@10.0.0.1:5432/tricircle",
            "postgresql+psycopg2://tc:pw@10.0.0.1:5432/tricircle?charset=utf8",
            "postgres://tc:pw@10.0.0.1:5432/tricircle",
        ] {
            let u = p(s);
            assert_eq!(u.backend, Backend::Postgres);
            assert_eq!(
                u.target(),
                "postgresql://tc:pw@10.0.0.1:5432/tricircle",
                "{s}"
            );
        }
        assert_eq!(
            p("postgresql://tc:pw@h/db?sslmode=require&foo=bar").target(),
            "postgresql://tc:pw@h/db?sslmode=require"
        );
    }

    #[test]
    fn sqlite_variants() {
        let u = p("sqlite:///var/lib/tricircle.db");
        assert_eq!(
            (u.backend, u.target(), u.in_memory),
            (Backend::Sqlite, "var/lib/tricircle.db", false)
        );
        let u = p("sqlite:////var/lib/tricircle.db");
        assert_eq!(u.target(), "/var/lib/tricircle.db");
        assert!(p("sqlite://").in_memory);
        assert!(p("sqlite:///:memory:").in_memory);
        assert_eq!(p("sqlite:////tmp/x.db?timeout=5").target(), "/tmp/x.db");
    }

    #[test]
    fn bad_urls_are_clear_and_redacted() {
        for s in [
            "oracle://u:topsecret@h/db",
            "mysql+pymysql://u:topsecret@[bad/db",
            "no-scheme-here",
            "sqlite://host/path",
            "mysql://u:topsecret@/db",
        ] {
            let e = DbUrl::parse(s).expect_err(s);
            assert!(matches!(e, DbError::InvalidUrl(_)), "{s}: {e:?}");
            let text = format!("{e} {e:?}");
            assert!(!text.contains("topsecret"), "{text}");
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("mysql://u:pw@h/db"), "mysql://u:***@h/db");
        assert_eq!(redact("mysql://u:p@w@h/db?x=1"), "mysql://u:***@h/db?x=1");
        assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
        assert_eq!(redact("sqlite:///x"), "sqlite:///x");
        let u = p("mysql://u:pw@h/db");
        assert!(!format!("{u:?}").contains("pw@"));
    }
}
