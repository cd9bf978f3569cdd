//! The shared HTTP client setup (timeouts and TLS trust) for OpenStack APIs.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// Transport settings as the `[keystone_authtoken]`/`[client]` sections
/// express them.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bound on connecting and on a whole request.
    pub timeout: Duration,
    /// Skip server certificate verification (`insecure = true`).
    pub insecure: bool,
    /// PEM bundle of CAs to trust instead of the system roots (`cafile`),
    /// as requests' `verify=<path>` does for the Python services.
    pub cafile: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            insecure: false,
            cafile: None,
        }
    }
}

/// The CA bundle to load for a client whose identity service is `url`:
/// `cafile` is read only when that URL is https. Deployment tools write a
/// `cafile` path even for plain-http clouds, where the file may not exist;
/// such a client verifies any https endpoint it meets later (from the
/// catalog) against the system roots, never skipping verification.
pub fn cafile_for(url: &str, cafile: Option<&PathBuf>) -> Option<PathBuf> {
    let cafile = cafile?;
    let https = url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if https {
        Some(cafile.clone())
    } else {
        tracing::debug!(
            cafile = %cafile.display(),
            url,
            "cafile not read: the identity URL is not https"
        );
        None
    }
}

/// Builds a pooled client; one per process and service is enough.
pub fn build_client(opts: &HttpOptions) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("tricircle/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(opts.timeout)
        .timeout(opts.timeout);
    if let Some(path) = &opts.cafile {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read cafile {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::Config(format!("cafile {} is not PEM: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Config(format!(
                "cafile {} holds no certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_only(certs);
    }
    if opts.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cafile_is_read_only_for_https_identity() {
        let ca = PathBuf::from("/nonexistent/ca.pem");
        assert_eq!(cafile_for("http://ks:5000/v3", Some(&ca)), None);
        assert_eq!(
            cafile_for("HTTPS://ks:5000/v3", Some(&ca)),
            Some(ca.clone())
        );
        assert_eq!(cafile_for("https://ks", None), None);
        // A missing file does not stop a plain-http client from being built.
        let opts = HttpOptions {
            cafile: cafile_for("http://ks", Some(&ca)),
            ..HttpOptions::default()
        };
        assert!(build_client(&opts).is_ok());
    }

    #[test]
    fn missing_cafile_is_a_config_error() {
        let opts = HttpOptions {
            cafile: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..HttpOptions::default()
        };
        let err = build_client(&opts).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("/nonexistent/ca.pem")),
            "{err}"
        );
    }

    #[test]
    fn cafile_without_certificates_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let opts = HttpOptions {
            cafile: Some(path),
            ..HttpOptions::default()
        };
        let err = build_client(&opts).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn plain_options_build() {
        let opts = HttpOptions {
            insecure: true,
            ..HttpOptions::default()
        };
        assert!(build_client(&opts).is_ok());
    }
}
