//! A string that must not end up in logs or error messages.

use std::fmt;

/// A secret value (password, connection URL with credentials, transport URL).
///
/// `Debug` and `Display` print `***`; read the value with [`Secret::expose`],
/// or get a loggable form with [`Secret::redacted`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A form safe to log: URLs keep everything but their passwords
    /// (`mysql+pymysql://root:***@127.0.0.1/tricircle`), anything else is `***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Masks the password parts of a URL, or the whole value if it is not a URL.
///
/// Handles oslo.messaging's multi-host form
/// `rabbit://u1:p1@h1:5672,u2:p2@h2:5672/vhost`. Passwords must be
/// percent-encoded in URLs, so `/`, `?` and `@` do not occur inside them
/// unencoded; the credentials end at the last `@` of the authority.
pub(crate) fn redact(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return "***".to_owned();
    };
    let start = scheme_end + 3;
    let rest = &value[start..];
    let Some(last_at) = rest.rfind('@') else {
        // No credentials at all (e.g. sqlite:///path): nothing to hide.
        return value.to_owned();
    };
    let authority_end = rest[last_at..]
        .find(['/', '?', '#'])
        .map_or(rest.len(), |i| last_at + i);
    let authority = &rest[..authority_end];
    if authority.split(',').any(|host| !host.contains('@')) {
        // Mixed credentialed and bare hosts, or an unencoded ',' inside a
        // password: the split is not trustworthy, so hide all credentials.
        let host = &authority[authority.rfind('@').map_or(0, |i| i + 1)..];
        return format!("{}***@{}{}", &value[..start], host, &rest[authority_end..]);
    }
    let hosts: Vec<String> = authority
        .split(',')
        .map(|host| match host.rsplit_once('@') {
            Some((creds, addr)) => match creds.split_once(':') {
                Some((user, _)) => format!("{user}:***@{addr}"),
                None => format!("{creds}@{addr}"),
            },
            None => host.to_owned(),
        })
        .collect();
    format!(
        "{}{}{}",
        &value[..start],
        hosts.join(","),
        &rest[authority_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.to_string(), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redacts_database_urls() {
        assert_eq!(
            redact("mysql+pymysql://root:pass@127.0.0.1/tricircle?charset=utf8"),
            "mysql+pymysql://root:***@127.0.0.1/tricircle?charset=utf8"
        );
        assert_eq!(redact("sqlite:///var/lib/t.db"), "sqlite:///var/lib/t.db");
        assert_eq!(redact("postgresql://bob@db/x"), "postgresql://bob@db/x");
    }

    #[test]
    fn redacts_every_host_of_a_transport_url() {
        assert_eq!(
            redact("rabbit://u1:p1@h1:5672,u2:p:2@h2:5672/vhost"),
            "rabbit://u1:***@h1:5672,u2:***@h2:5672/vhost"
        );
        assert_eq!(redact("rabbit://"), "rabbit://");
        // An unencoded ',' in a password must not leak either half.
        assert_eq!(redact("rabbit://u:pa,ss@h:5672/"), "rabbit://***@h:5672/");
    }

    #[test]
    fn plain_secrets_are_fully_masked() {
        assert_eq!(redact("s3cr3t"), "***");
        assert_eq!(Secret::new("pw").redacted(), "***");
    }
}
