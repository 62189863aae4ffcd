//! Messages through the API: building one from a publish request's JSON, routing it, and
//! reading messages back for `POST /api/queues/{vhost}/{name}/get`.

use crate::auth::User;
use crate::broker::exchange::Exchange;
use crate::broker::publish::{enqueue, Confirm};
use crate::broker::{Broker, Vhost};
use crate::http::error::{ApiError, ApiResult};
use crate::message::checks::{check_expiration, check_routing_headers};
use crate::message::props::encode_properties;
use crate::message::Message;
use crate::store::definitions::{field_table_to_json, json_to_field_table};
use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::ShortString;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Builds the message a publish request describes, with RabbitMQ's checks.
pub(crate) fn message(
    user: &User,
    exchange: &str,
    body: &Map<String, Value>,
) -> ApiResult<Message> {
    let missing: Vec<String> = ["routing_key", "properties", "payload", "payload_encoding"]
        .iter()
        .filter(|k| !body.contains_key(**k))
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let routing_key =
        text("routing_key").ok_or_else(|| ApiError::bad_request("routing_key must be a string"))?;
    let payload =
        text("payload").ok_or_else(|| ApiError::bad_request("payload must be a string"))?;
    let payload = match text("payload_encoding") {
        Some("string") => payload.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| ApiError::bad_request("payload is not valid base64"))?,
        _ => {
            return Err(ApiError::bad_request(
                "payload_encoding must be 'string' or 'base64'",
            ))
        }
    };
    let props = match body.get("properties") {
        Some(Value::Object(p)) => properties(p)?,
        _ => return Err(ApiError::bad_request("properties must be an object")),
    };
    if let Some(uid) = props.user_id() {
        if uid.as_str() != user.name && !user.is_impersonator() {
            return Err(ApiError::bad_request(format!(
                "user_id property set to '{uid}' but authenticated user was '{}'",
                user.name
            )));
        }
    }
    let raw = encode_properties(&props);
    Ok(Message::new(exchange, routing_key, &raw, &payload))
}

/// The AMQP properties named in a publish request.
fn properties(p: &Map<String, Value>) -> ApiResult<BasicProperties> {
    let bad = |k: &str| ApiError::bad_request(format!("invalid property '{k}'"));
    let short = |k: &str| -> ApiResult<Option<ShortString>> {
        match p.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= 255 => Ok(Some(s.as_str().into())),
            Some(_) => Err(bad(k)),
        }
    };
    let int = |k: &str, max: u64| -> ApiResult<Option<u64>> {
        match p.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(bad(k)),
            },
        }
    };
    if let Some(k) = p.keys().find(|k| !KNOWN_PROPERTIES.contains(&k.as_str())) {
        return Err(bad(k));
    }
    let mut b = BasicProperties::default();
    if let Some(v) = short("content_type")? {
        b = b.with_content_type(v);
    }
    if let Some(v) = short("content_encoding")? {
        b = b.with_content_encoding(v);
    }
    match p.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            let table = json_to_field_table(h);
            check_routing_headers(&table).map_err(ApiError::bad_request)?;
            b = b.with_headers(table);
        }
        Some(_) => return Err(bad("headers")),
    }
    if let Some(v) = int("delivery_mode", 2)? {
        b = b.with_delivery_mode(v as u8);
    }
    if let Some(v) = int("priority", 255)? {
        b = b.with_priority(v as u8);
    }
    if let Some(v) = short("correlation_id")? {
        b = b.with_correlation_id(v);
    }
    if let Some(v) = short("reply_to")? {
        b = b.with_reply_to(v);
    }
    if let Some(v) = short("expiration")? {
        check_expiration(v.as_str())
            .map_err(|e| ApiError::bad_request(format!("invalid expiration '{v}': {e}")))?;
        b = b.with_expiration(v);
    }
    if let Some(v) = short("message_id")? {
        b = b.with_message_id(v);
    }
    if let Some(v) = int("timestamp", u64::MAX)? {
        b = b.with_timestamp(v);
    }
    if let Some(v) = short("type")? {
        b = b.with_type(v);
    }
    if let Some(v) = short("user_id")? {
        b = b.with_user_id(v);
    }
    if let Some(v) = short("app_id")? {
        b = b.with_app_id(v);
    }
    Ok(b)
}

const KNOWN_PROPERTIES: &[&str] = &[
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
];

/// Routes and enqueues; true if some queue took it. Answers once a persistent message is
/// on disk (the API publishes with confirms, as RabbitMQ's does).
pub(crate) async fn route(
    broker: &Broker,
    vh: &Vhost,
    x: &Arc<Exchange>,
    msg: Message,
) -> ApiResult<bool> {
    let mut queues = Vec::new();
    let headers = msg.routing_headers();
    vh.route(x, msg.routing_key(), headers.as_ref(), &mut queues);
    if queues.is_empty() {
        return Ok(false);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let on_synced = Box::new(move |ok: bool| {
        let _ = tx.send(ok);
    });
    let ok = match enqueue(broker, msg, &queues, Some(on_synced)) {
        Confirm::AckNow => true,
        Confirm::NackNow => false,
        Confirm::Deferred => rx.await.unwrap_or(false),
    };
    if !ok {
        return Err(ApiError::bad_request(
            "the message was refused (a queue is full, or it could not be stored)",
        ));
    }
    Ok(true)
}

/// A message as `/get` shows it.
pub(crate) fn got_json(
    msg: &Message,
    redelivered: bool,
    remaining: u32,
    base64_only: bool,
    truncate: Option<usize>,
) -> Value {
    let body = msg.body();
    let shown = &body[..truncate.map_or(body.len(), |t| t.min(body.len()))];
    let (payload, encoding) = match std::str::from_utf8(shown) {
        Ok(s) if !base64_only => (s.to_string(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(shown),
            "base64",
        ),
    };
    json!({
        "payload_bytes": body.len(),
        "redelivered": redelivered,
        "exchange": msg.exchange(),
        "routing_key": msg.routing_key(),
        "message_count": remaining,
        "properties": properties_json(&msg.properties()),
        "payload": payload,
        "payload_encoding": encoding,
    })
}

fn properties_json(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    let s = |v: &Option<ShortString>| v.as_ref().map(|s| Value::String(s.to_string()));
    put("content_type", s(p.content_type()));
    put("content_encoding", s(p.content_encoding()));
    put(
        "headers",
        p.headers()
            .as_ref()
            .map(|h| Value::Object(field_table_to_json(h))),
    );
    put("delivery_mode", p.delivery_mode().map(Value::from));
    put("priority", p.priority().map(Value::from));
    put("correlation_id", s(p.correlation_id()));
    put("reply_to", s(p.reply_to()));
    put("expiration", s(p.expiration()));
    put("message_id", s(p.message_id()));
    put("timestamp", p.timestamp().map(Value::from));
    put("type", s(p.kind()));
    put("user_id", s(p.user_id()));
    put("app_id", s(p.app_id()));
    // RabbitMQ writes no properties as an empty list (Erlang's empty proplist).
    if m.is_empty() {
        return Value::Array(Vec::new());
    }
    Value::Object(m)
}
