//! Reading request bodies: bounded in size, JSON objects only, with a 400
//! and a message for anything else (never a 500 or a dropped connection).

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

/// Read the body as a JSON object. An empty body is an empty object, so each
/// controller reports its own "body not found" message as the reference does.
/// A body not declared JSON is refused: the reference reads JSON only, and
/// a form or text body is what a cross-site page can send without asking.
pub async fn json_object(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<Map<String, Value>, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Failed to read request body: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY {
            // Drain the rest so the connection stays usable for the answer.
            while payload.next().await.is_some() {}
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
