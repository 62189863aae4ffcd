//! A request as the handlers see it: method, the decoded path segments after `/api`, the
//! query, the headers they read, and the body (already read, within a bound).

use super::error::{ApiError, ApiResult};
use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde_json::{Map, Value};

/// Bodies above this are refused with 413 (definitions of 100,000 queues fit).
pub(crate) const MAX_BODY: usize = 64 << 20;

pub(crate) struct Req {
    pub method: Method,
    /// Percent-decoded segments after `/api/`.
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    /// Splits and decodes `/api/a/%2F/b` into `["a", "/", "b"]`.
    pub(crate) fn segments(path: &str) -> ApiResult<Vec<String>> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| ApiError::bad_request("path segment is not UTF-8"))
            })
            .collect()
    }

    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A query flag: `true` (as RabbitMQ reads it).
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.query(key) == Some("true")
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON object; an empty body is `{}` (RabbitMQ accepts a bodiless PUT).
    pub(crate) fn object(&self) -> ApiResult<Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(Value::String(_)) => Err(ApiError::bad_request(
                "invalid payload: the request body JSON-decoded to a string. \
                 Is the input doubly-JSON-encoded?",
            )),
            _ => Err(ApiError::bad_request("not_json")),
        }
    }
}

/// Reads fields from a request body with RabbitMQ's leniency (booleans as strings, numbers
/// as strings) and its error shapes.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> ApiResult<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => Err(ApiError::bad_request(Value::Array(vec![
                "not_boolean".into(),
                plain(other),
            ]))),
        }
    }

    pub(crate) fn string(&self, key: &str) -> ApiResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
        }
    }

    pub(crate) fn required_string(&self, key: &str) -> ApiResult<String> {
        self.string(key)?
            .ok_or_else(|| ApiError::bad_request(format!("{key} not found in request body")))
    }

    pub(crate) fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be an integer"))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{key} must be an integer"))),
            Some(_) => Err(ApiError::bad_request(format!("{key} must be an integer"))),
        }
    }

    /// An object-valued field (`arguments`, `definition`); absent is empty.
    pub(crate) fn object(&self, key: &str) -> ApiResult<Map<String, Value>> {
        match self.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(Value::String(s)) if s.is_empty() => Ok(Map::new()),
            Some(_) => Err(ApiError::bad_request(format!("{key} must be an object"))),
        }
    }
}

/// A value as RabbitMQ echoes it in an error: strings without quotes.
fn plain(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}
