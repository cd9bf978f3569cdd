//! The rabbit driver's message format.
//!
//! A cast is a JSON object `{"method", "args", "version", "_unique_id",
//! "_context_<key>"...}` wrapped in the 2.0 envelope
//! `{"oslo.version": "2.0", "oslo.message": "<that object as a JSON string>"}`.
//! Decoding also accepts the object without the envelope (older senders).

use std::fmt;

use serde_json::{Map, Value};

use crate::RpcError;

pub const ENVELOPE_VERSION_KEY: &str = "oslo.version";
pub const ENVELOPE_MESSAGE_KEY: &str = "oslo.message";
pub const ENVELOPE_VERSION: &str = "2.0";
pub(crate) const CONTEXT_PREFIX: &str = "_context_";
const UNIQUE_ID_KEY: &str = "_unique_id";
/// Keys a `call` adds for its reply; not part of the request context.
const CALL_KEYS: [&str; 3] = ["_msg_id", "_reply_q", "_timeout"];

/// A decoded request, as handed to the consumer's caller.
#[derive(Clone, PartialEq)]
pub struct Incoming {
    pub method: String,
    /// Keyword arguments; for Tricircle `{"payload": {"<job type>": "<resource id>"}}`.
    pub args: Value,
    /// The request context (`_context_*` keys without the prefix). Holds
    /// `auth_token`: log it only through [`redact_context`].
    pub context: Map<String, Value>,
    pub unique_id: Option<String>,
    pub version: Option<String>,
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("method", &self.method)
            .field("args", &self.args)
            .field("context", &redact_context(&self.context))
            .field("unique_id", &self.unique_id)
            .field("version", &self.version)
            .finish()
    }
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("token") || k.contains("password") || k.contains("secret")
}

/// A copy of a context fit for logs: tokens, passwords and secrets masked.
pub fn redact_context(ctx: &Map<String, Value>) -> Map<String, Value> {
    ctx.iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) && !v.is_null() {
                Value::String("***".into())
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// The `request_id` of a request context, for log lines (`-` when absent).
pub fn request_id(ctx: &Map<String, Value>) -> &str {
    ctx.get("request_id").and_then(Value::as_str).unwrap_or("-")
}

/// A new `_unique_id`: a UUID4 as 32 hex digits.
pub fn new_unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The inner message of a cast (before the envelope).
pub fn cast_message(
    ctx: &Map<String, Value>,
    method: &str,
    args: Value,
    version: Option<&str>,
    unique_id: &str,
) -> Map<String, Value> {
    let mut msg = Map::new();
    msg.insert("method".into(), Value::String(method.into()));
    msg.insert(
        "args".into(),
        if args.is_null() {
            Value::Object(Map::new())
        } else {
            args
        },
    );
    if let Some(v) = version {
        msg.insert("version".into(), Value::String(v.into()));
    }
    msg.insert(UNIQUE_ID_KEY.into(), Value::String(unique_id.into()));
    for (k, v) in ctx {
        msg.insert(format!("{CONTEXT_PREFIX}{k}"), v.clone());
    }
    msg
}

/// Wraps a message in the 2.0 envelope and serializes it.
pub fn encode_envelope(msg: &Map<String, Value>) -> Result<Vec<u8>, RpcError> {
    let inner = serde_json::to_string(msg).map_err(|e| RpcError::Encode(e.to_string()))?;
    let mut env = Map::new();
    env.insert(
        ENVELOPE_VERSION_KEY.into(),
        Value::String(ENVELOPE_VERSION.into()),
    );
    env.insert(ENVELOPE_MESSAGE_KEY.into(), Value::String(inner));
    serde_json::to_vec(&Value::Object(env)).map_err(|e| RpcError::Encode(e.to_string()))
}

fn envelope_compatible(version: &str) -> bool {
    // Same major version, minor not newer than ours (2.0).
    let mut parts = version.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().map_or(Some(0), |p| p.parse::<u32>().ok());
    major == Some(2) && minor == Some(0) && parts.next().is_none()
}

/// The message object of a body: enveloped (2.0) or bare (legacy).
/// Error messages never include the body (it carries the auth token).
pub(crate) fn unwrap_envelope(body: &[u8]) -> Result<Map<String, Value>, RpcError> {
    let bad = |why: String| RpcError::Decode(why);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    let Value::Object(outer) = value else {
        return Err(bad("body is not a JSON object".into()));
    };
    if !(outer.contains_key(ENVELOPE_VERSION_KEY) && outer.contains_key(ENVELOPE_MESSAGE_KEY)) {
        return Ok(outer);
    }
    let version = outer[ENVELOPE_VERSION_KEY].as_str().unwrap_or_default();
    if !envelope_compatible(version) {
        return Err(bad(format!("unsupported envelope version {version:?}")));
    }
    let inner = outer[ENVELOPE_MESSAGE_KEY]
        .as_str()
        .ok_or_else(|| bad("oslo.message is not a string".into()))?;
    match serde_json::from_str(inner) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("oslo.message is not a JSON object".into())),
        Err(e) => Err(bad(format!("oslo.message is not JSON: {e}"))),
    }
}

/// The request context of a message: its `_context_*` keys, unprefixed.
pub(crate) fn take_context(msg: Map<String, Value>) -> Map<String, Value> {
    msg.into_iter()
        .filter_map(|(k, v)| k.strip_prefix(CONTEXT_PREFIX).map(|k| (k.to_string(), v)))
        .collect()
}

/// Decodes a message body: enveloped (2.0) or a bare (legacy) message.
/// Error messages never include the body (it carries the auth token).
pub fn decode(body: &[u8]) -> Result<Incoming, RpcError> {
    let bad = |why: String| RpcError::Decode(why);
    let mut msg = unwrap_envelope(body)?;
    let method = match msg.remove("method") {
        Some(Value::String(m)) if !m.is_empty() => m,
        Some(_) => return Err(bad("method is not a non-empty string".into())),
        None => return Err(bad("no method".into())),
    };
    let args = match msg.remove("args") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a @ Value::Object(_)) => a,
        Some(_) => return Err(bad("args is not an object".into())),
    };
    let unique_id = msg.remove(UNIQUE_ID_KEY).and_then(|v| match v {
        Value::String(s) => Some(s),
        _ => None,
    });
    let version = msg.remove("version").and_then(|v| match v {
        Value::String(s) => Some(s),
        _ => None,
    });
    for k in CALL_KEYS {
        msg.remove(k);
    }
    let context = take_context(msg);
    Ok(Incoming {
        method,
        args,
        context,
        unique_id,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Map<String, Value> {
        json!({"user": "u1", "project_id": "p1", "tenant": "p1", "roles": ["admin"],
               "is_admin": true, "request_id": "req-1", "auth_token": "tok-SECRET"})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn round_trip_through_the_envelope() {
        let msg = cast_message(
            &ctx(),
            "configure_route",
            json!({"payload": {"configure_route": "r1"}}),
            Some("1.0"),
            "abc",
        );
        let body = encode_envelope(&msg).unwrap();
        let outer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(outer["oslo.version"], "2.0");
        let inner: Value = serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["method"], "configure_route");
        assert_eq!(inner["version"], "1.0");
        assert_eq!(inner["_unique_id"], "abc");
        assert_eq!(inner["_context_project_id"], "p1");
        assert_eq!(inner["_context_auth_token"], "tok-SECRET");
        let got = decode(&body).unwrap();
        assert_eq!(got.method, "configure_route");
        assert_eq!(got.args, json!({"payload": {"configure_route": "r1"}}));
        assert_eq!(got.context, ctx());
        assert_eq!(got.unique_id.as_deref(), Some("abc"));
        assert_eq!(got.version.as_deref(), Some("1.0"));
        let shown = format!("{got:?}");
        assert!(!shown.contains("tok-SECRET"), "{shown}");
    }

    #[test]
    fn legacy_unenveloped_message() {
        let body = json!({"method": "setup_bottom_router", "args": {"payload": {"router_setup": "a#b#c"}},
                          "_context_user": "u", "_msg_id": "m", "_reply_q": "q"});
        let got = decode(body.to_string().as_bytes()).unwrap();
        assert_eq!(got.method, "setup_bottom_router");
        assert_eq!(got.args["payload"]["router_setup"], "a#b#c");
        assert_eq!(
            got.context,
            json!({"user": "u"}).as_object().unwrap().clone()
        );
        assert_eq!(got.unique_id, None);
        assert_eq!(got.version, None);
    }

    #[test]
    fn malformed_messages_are_errors_without_secrets() {
        let secret_env = json!({"oslo.version": "3.0", "oslo.message": "{\"_context_auth_token\": \"tok-SECRET\"}"});
        for body in [
            b"not json".to_vec(),
            b"[1,2]".to_vec(),
            json!({"oslo.version": "2.0", "oslo.message": "{bad"})
                .to_string()
                .into_bytes(),
            json!({"oslo.version": "2.0", "oslo.message": 5})
                .to_string()
                .into_bytes(),
            secret_env.to_string().into_bytes(),
            json!({"args": {}, "_context_auth_token": "tok-SECRET"})
                .to_string()
                .into_bytes(),
            json!({"method": 3}).to_string().into_bytes(),
            json!({"method": "m", "args": [1]}).to_string().into_bytes(),
        ] {
            let err = decode(&body).unwrap_err().to_string();
            assert!(!err.contains("tok-SECRET"), "{err}");
        }
    }

    #[test]
    fn redaction_masks_tokens() {
        let r = redact_context(&ctx());
        assert_eq!(r["auth_token"], "***");
        assert_eq!(r["user"], "u1");
    }
}
