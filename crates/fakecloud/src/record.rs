//! What a fake saw: one entry per request.

use actix_web::dev::ServiceRequest;

/// Headers whose values are credentials; recorded by name only.
const SECRET_HEADERS: &[&str] = &[
    "x-auth-token",
    "x-subject-token",
    "x-service-token",
    "authorization",
    "proxy-authorization",
    "cookie",
];

pub(crate) const REDACTED: &str = "<redacted>";

/// A request as a fake received it. Bodies are not kept: they can hold
/// passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    /// Lower-case names; credential values replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    pub(crate) fn from_service_request(req: &ServiceRequest) -> Self {
        let headers = req
            .headers()
            .iter()
            .map(|(name, value)| {
                let name = name.as_str().to_ascii_lowercase();
                let value = if SECRET_HEADERS.contains(&name.as_str()) {
                    REDACTED.to_owned()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name, value)
            })
            .collect();
        Self {
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
            headers,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
