//! oslo.messaging's `transport_url` for the rabbit driver.
//!
//! `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost?ssl=1`:
//! several comma-separated hosts, each with its own credentials (a host
//! without them uses `guest`/`guest`, the driver's default), port 5672 when
//! absent, the path (percent-decoded) naming the virtual host and `/` when
//! it is empty. `amqps://` or `ssl=1`/`ssl=true` in the query selects TLS.
//! Passwords never appear in `Debug` or `Display` output.

use std::fmt;

use crate::RpcError;

pub const DEFAULT_PORT: u16 = 5672;

/// One broker of a transport URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerHost {
    pub host: String,
    pub port: u16,
    pub username: String,
    password: String,
}

impl BrokerHost {
    pub fn new(host: &str, port: u16, username: &str, password: &str) -> Self {
        Self {
            host: host.to_string(),
            port,
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    /// The password (for building the AMQP connection only; never log it).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for BrokerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for BrokerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}:***@{}:{}", self.username, host, self.port)
    }
}

/// A parsed `transport_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportUrl {
    pub hosts: Vec<BrokerHost>,
    pub virtual_host: String,
    pub tls: bool,
}

impl TransportUrl {
    pub fn parse(input: &str) -> Result<Self, RpcError> {
        // Error messages describe the problem without echoing the URL,
        // which carries passwords.
        let bad = |why: &str| RpcError::InvalidUrl(why.to_string());
        let input = input.trim();
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| bad("no scheme (expected rabbit://...)"))?;
        let mut tls = match scheme.to_ascii_lowercase().as_str() {
            "rabbit" | "kombu" | "amqp" => false,
            "amqps" => true,
            _ => return Err(bad("unsupported scheme (expected rabbit://)")),
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (netloc, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i + 1..]),
            None => (before_query, ""),
        };
        let path = path.split('#').next().unwrap_or_default();
        let virtual_host = if path.is_empty() {
            "/".to_string()
        } else {
            decode(path).map_err(|_| bad("virtual host is not valid percent-encoded UTF-8"))?
        };
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                if k == "ssl" {
                    tls = matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on");
                }
            }
        }
        let mut hosts = Vec::new();
        for part in netloc.split(',').filter(|p| !p.is_empty()) {
            let (userinfo, hostport) = match part.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, part),
            };
            let (username, password) = match userinfo {
                Some(u) => {
                    let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                    (
                        decode(user).map_err(|_| bad("user name is not valid percent-encoding"))?,
                        decode(pass).map_err(|_| bad("password is not valid percent-encoding"))?,
                    )
                }
                None => ("guest".to_string(), "guest".to_string()),
            };
            let (host, port) = split_host_port(hostport)?;
            hosts.push(BrokerHost {
                host,
                port,
                username,
                password,
            });
        }
        if hosts.is_empty() {
            return Err(bad("no broker host"));
        }
        Ok(Self {
            hosts,
            virtual_host,
            tls,
        })
    }
}

fn decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    // Percent-decoding only: '+' stays a '+', as with urllib's unquote.
    let raw = s.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8(out)
}

fn split_host_port(s: &str) -> Result<(String, u16), RpcError> {
    let bad_port = || RpcError::InvalidUrl("port is not a number in 1..65535".into());
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| RpcError::InvalidUrl("unterminated IPv6 address".into()))?;
        let port = match after.strip_prefix(':') {
            Some(p) if !p.is_empty() => p.parse().map_err(|_| bad_port())?,
            _ => DEFAULT_PORT,
        };
        return Ok((host.to_string(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        // More than one ':' without brackets: a bare IPv6 address.
        Some((h, _)) if h.contains(':') => (s, DEFAULT_PORT),
        Some((h, "")) => (h, DEFAULT_PORT),
        Some((h, p)) => (h, p.parse().map_err(|_| bad_port())?),
        None => (s, DEFAULT_PORT),
    };
    if port == 0 {
        return Err(bad_port());
    }
    if host.is_empty() {
        return Err(RpcError::InvalidUrl("empty host name".into()));
    }
    Ok((host.to_string(), port))
}

impl std::str::FromStr for TransportUrl {
    type Err = RpcError;
    fn from_str(s: &str) -> Result<Self, RpcError> {
        Self::parse(s)
    }
}

impl fmt::Display for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rabbit://")?;
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{h}")?;
        }
        let vhost: String =
            url::form_urlencoded::byte_serialize(self.virtual_host.as_bytes()).collect();
        write!(f, "/{vhost}")?;
        if self.tls {
            f.write_str("?ssl=1")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_hosts_default_port_and_vhost() {
        let u = TransportUrl::parse("rabbit://u1:p1@h1:5673,u2:p%40ss@h2/my%2Fvhost").unwrap();
        assert_eq!(u.hosts.len(), 2);
        assert_eq!(u.hosts[0], BrokerHost::new("h1", 5673, "u1", "p1"));
        assert_eq!(u.hosts[1], BrokerHost::new("h2", 5672, "u2", "p@ss"));
        assert_eq!(u.virtual_host, "my/vhost");
        assert!(!u.tls);
    }

    #[test]
    fn empty_path_is_root_vhost() {
        for s in [
            "rabbit://u:p@h:5672/",
            "rabbit://u:p@h:5672",
            "rabbit://u:p@h/?x=1",
        ] {
            assert_eq!(TransportUrl::parse(s).unwrap().virtual_host, "/", "{s}");
        }
        assert_eq!(
            TransportUrl::parse("rabbit://u:p@h/%2F")
                .unwrap()
                .virtual_host,
            "/"
        );
    }

    #[test]
    fn tls_from_scheme_or_query() {
        assert!(TransportUrl::parse("amqps://u:p@h/").unwrap().tls);
        assert!(TransportUrl::parse("rabbit://u:p@h/v?ssl=1").unwrap().tls);
        assert!(
            TransportUrl::parse("rabbit://u:p@h/v?ssl=true")
                .unwrap()
                .tls
        );
        assert!(!TransportUrl::parse("rabbit://u:p@h/v?ssl=0").unwrap().tls);
        let u = TransportUrl::parse("rabbit://u:p@h:1234/v?ssl=1").unwrap();
        assert_eq!(u.virtual_host, "v");
        assert_eq!(u.hosts[0].port, 1234);
    }

    #[test]
    fn hosts_without_credentials_and_ipv6() {
        let u = TransportUrl::parse("rabbit://[::1]:5674,10.0.0.1/").unwrap();
        assert_eq!(u.hosts[0], BrokerHost::new("::1", 5674, "guest", "guest"));
        assert_eq!(
            u.hosts[1],
            BrokerHost::new("10.0.0.1", 5672, "guest", "guest")
        );
    }

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for s in [
            "h:5672",
            "http://u:secretpw@h/",
            "rabbit://",
            "rabbit://u:secretpw@h:notaport/",
            "rabbit://u:secretpw@h:0/",
        ] {
            let err = TransportUrl::parse(s).unwrap_err().to_string();
            assert!(!err.contains("secretpw"), "{err}");
        }
    }

    #[test]
    fn password_never_displayed() {
        let u =
            TransportUrl::parse("rabbit://user:s3cr3t@h1:5672,other:s3cr3t2@h2:5673/v").unwrap();
        for shown in [format!("{u}"), format!("{u:?}"), format!("{:?}", u.hosts)] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains("user:***@h1:5672"), "{shown}");
        }
        assert_eq!(u.hosts[0].password(), "s3cr3t");
    }
}
