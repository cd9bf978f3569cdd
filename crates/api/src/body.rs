//! Reading request bodies: bounded in size, JSON objects only, with a 400
//! and a message for anything else (never a 500 or a dropped connection).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use tricircle_db::text::{self, Unstorable};

use crate::error::ApiError;

/// Largest body accepted; the biggest legitimate request is a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Whether the request says its body is JSON (`application/json`, or a
/// `+json` type, any parameters).
fn declares_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// How long a whole request body may take to arrive (`[DEFAULT]
/// client_body_timeout`), as app data. Without a bound, a client that sends
/// part of a body and goes silent holds its connection and buffers forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub Duration);

impl Default for BodyTimeout {
    /// The option's default.
    fn default() -> Self {
        BodyTimeout(Duration::from_secs(30))
    }
}

/// Read the body as a JSON object. An empty body is an empty object, so each
/// controller reports its own "body not found" message as the reference does.
/// A body not declared JSON is refused: the reference reads JSON only, and
/// a form or text body is what a cross-site page can send without asking.
/// A body that does not arrive within [`BodyTimeout`] is a 408; the server
/// then closes the connection, since the rest of the body is unread.
pub async fn json_object(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<Map<String, Value>, ApiError> {
    let limit = req.app_data::<BodyTimeout>().copied().unwrap_or_default().0;
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = web::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => chunk
                .map_err(|e| ApiError::bad_request(format!("Failed to read request body: {e}")))?,
            Ok(None) => break,
            Err(_) => {
                return Err(ApiError::abort(
                    408,
                    format!(
                        "The request body was not received within {} seconds",
                        limit.as_secs_f64()
                    ),
                ))
            }
        };
        if buf.len() + chunk.len() > MAX_BODY {
            // The rest is left unread: the server answers, then closes the
            // connection. Draining it would let a compressed body (gzip is
            // decoded on the way in) cost unbounded work.
            return Err(ApiError::bad_request(format!(
                "Request body is larger than {MAX_BODY} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if !declares_json(req) {
        return Err(ApiError::bad_request(
            "Request body must be JSON, sent with Content-Type: application/json",
        ));
    }
    match serde_json::from_slice::<Value>(&buf) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "Request body is not valid JSON: {e}"
        ))),
    }
}

/// The object under `key`, `Ok(None)` when the key is absent.
pub fn member<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be a JSON object"
        ))),
    }
}

/// A string field: `Ok(None)` if absent or null, 400 if not a string.
pub fn string_field<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field {field} must be a string"
        ))),
    }
}

/// A 400 naming `field` when `value` cannot be stored in its column of
/// `width` characters on every backend (length, NUL, characters outside the
/// Basic Multilingual Plane: see `tricircle_db::text`).
pub fn check_column(field: &str, value: &str, width: usize) -> Result<(), ApiError> {
    match text::check(value, width) {
        Ok(()) => Ok(()),
        Err(Unstorable::TooLong) => Err(ApiError::bad_request(format!(
            "Field {field} is longer than {width} characters"
        ))),
        Err(Unstorable::Nul) => Err(ApiError::bad_request(format!(
            "Field {field} contains a NUL character"
        ))),
        Err(Unstorable::OutsideBmp) => Err(ApiError::bad_request(format!(
            "Field {field} contains a character outside the Basic Multilingual Plane (such as an emoji), which the database cannot store"
        ))),
    }
}

/// Property tests of body reading (issue 10, fuzzing suite): any bytes under
/// any content type give an object or a 400, and nesting is bounded.
#[cfg(test)]
mod fuzz {
    use actix_web::{test::TestRequest, FromRequest, ResponseError};
    use proptest::prelude::*;

    use super::*;

    fn read(content_type: &str, body: Vec<u8>) -> Result<Map<String, Value>, ApiError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let (req, mut payload) = TestRequest::post()
                .insert_header((header::CONTENT_TYPE, content_type))
                .set_payload(body)
                .to_http_parts();
            let payload = web::Payload::from_request(&req, &mut payload)
                .await
                .unwrap();
            json_object(&req, payload).await
        })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<String>().prop_map(String::into_bytes),
            "[{}\\[\\]\":,0-9a-z \\\\u]{0,200}".prop_map(String::into_bytes),
            (1usize..200_000).prop_map(|n| {
                format!("{{\"pod\": {}{}}}", "[".repeat(n), "]".repeat(n)).into_bytes()
            }),
            (MAX_BODY - 10..MAX_BODY + 10).prop_map(|n| {
                let mut b = b"{\"pod\": \"".to_vec();
                b.resize(n - 2, b'x');
                b.extend_from_slice(b"\"}");
                b
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_body_is_an_object_or_a_400(
            content_type in prop_oneof![
                Just("application/json".to_owned()),
                Just("application/x+json; charset=utf-8".to_owned()),
                "[ -~]{0,30}",
            ],
            body in body(),
        ) {
            match read(&content_type, body.clone()) {
                Ok(_) => prop_assert!(body.len() <= MAX_BODY),
                Err(e) => prop_assert_eq!(e.status_code().as_u16(), 400, "{}", e),
            }
        }
    }
}
