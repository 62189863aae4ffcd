//! `/api/connections`, `/api/channels` and `/api/consumers`: the open client connections,
//! their channels and consumers, and closing connections (with the `X-Reason` header's
//! reason, or RabbitMQ's default). Management users see and close only their own;
//! monitoring and administrator users see all, administrators close any.

use super::Ctx;
use crate::broker::clients::{ChannelInfo, ClientConnection, ConnectionInfo};
use crate::broker::Broker;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing::{self, Key, Row};
use crate::http::reply::Reply;
use crate::store::definitions::field_table_to_json;
use serde_json::{json, Value};
use std::sync::Arc;

/// What RabbitMQ tells a client closed through the API without a reason.
const DEFAULT_REASON: &str = "Closed via management plugin";

/// The connections the session may see, with their details, optionally in one vhost.
fn visible(ctx: &Ctx, vhost: Option<&str>) -> Vec<(Arc<dyn ClientConnection>, ConnectionInfo)> {
    ctx.broker
        .clients
        .all()
        .into_iter()
        .map(|c| {
            let info = c.info();
            (c, info)
        })
        .filter(|(_, i)| vhost.is_none_or(|v| i.vhost == v))
        .filter(|(_, i)| ctx.session.is_monitor() || i.user == ctx.session.user.name)
        .collect()
}

pub(crate) async fn list(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    if let Some(v) = vhost {
        ctx.session.visible_vhost(&ctx.broker, v)?;
    }
    let rows = visible(ctx, vhost)
        .into_iter()
        .map(|(conn, info)| ConnRow {
            broker: ctx.broker.clone(),
            conn,
            info,
        })
        .collect();
    listing::respond::<ConnRow>(&ctx.req, rows).await
}

/// A connection in a list: its JSON (with its channels' statistics) built only if shown.
struct ConnRow {
    broker: Arc<Broker>,
    conn: Arc<dyn ClientConnection>,
    info: ConnectionInfo,
}

impl Row for ConnRow {
    fn name(&self) -> &str {
        &self.info.name
    }

    fn vhost(&self) -> &str {
        &self.info.vhost
    }

    fn key(&self, field: &str) -> Option<Key<'_>> {
        let i = &self.info;
        let num = |n: u64| Some(Key::Num(n as f64));
        match field {
            "name" => Some(Key::Str(&i.name)),
            "vhost" => Some(Key::Str(&i.vhost)),
            "user" => Some(Key::Str(&i.user)),
            "state" => Some(Key::Str(i.state)),
            "channels" => num(i.channels as u64),
            "recv_oct" => num(i.recv_oct),
            "send_oct" => num(i.send_oct),
            "recv_cnt" => num(i.recv_cnt),
            "send_cnt" => num(i.send_cnt),
            "connected_at" => num(i.connected_at),
            "peer_port" => num(u64::from(i.peer.port())),
            _ => None,
        }
    }

    fn json(&self) -> Value {
        connection_json(&self.broker, self.conn.as_ref(), &self.info)
    }
}

fn find(ctx: &Ctx, name: &str) -> ApiResult<(Arc<dyn ClientConnection>, ConnectionInfo)> {
    visible(ctx, None)
        .into_iter()
        .find(|(_, i)| i.name == name)
        .ok_or_else(ApiError::not_found)
}

pub(crate) async fn get(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    let (conn, info) = find(ctx, name)?;
    let v = connection_json(&ctx.broker, conn.as_ref(), &info);
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

fn reason(ctx: &Ctx) -> String {
    ctx.req
        .header("x-reason")
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_REASON)
        .to_string()
}

/// Closes one connection: its own user or an administrator may.
pub(crate) async fn close(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    let (conn, info) = find(ctx, name)?;
    if info.user != ctx.session.user.name {
        ctx.session.require_admin()?;
    }
    conn.close(&reason(ctx));
    Ok(Reply::no_content())
}

pub(crate) async fn of_user(ctx: &Ctx, user: &str) -> ApiResult<Reply> {
    if user != ctx.session.user.name {
        ctx.session.require_monitor()?;
    }
    let items = visible(ctx, None)
        .iter()
        .filter(|(_, i)| i.user == user)
        .map(|(c, i)| connection_json(&ctx.broker, c.as_ref(), i))
        .collect();
    listing::respond(&ctx.req, items).await
}

/// Closes every connection of a user.
pub(crate) async fn close_user(ctx: &Ctx, user: &str) -> ApiResult<Reply> {
    if user != ctx.session.user.name {
        ctx.session.require_admin()?;
    }
    let reason = reason(ctx);
    for (c, _) in visible(ctx, None).iter().filter(|(_, i)| i.user == user) {
        c.close(&reason);
    }
    Ok(Reply::no_content())
}

pub(crate) async fn channels_of(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    let (conn, info) = find(ctx, name)?;
    let items = conn
        .channels()
        .iter()
        .map(|ch| channel_json(ctx, &info, ch))
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn channels(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    if let Some(v) = vhost {
        ctx.session.visible_vhost(&ctx.broker, v)?;
    }
    let mut items = Vec::new();
    for (conn, info) in visible(ctx, vhost) {
        items.extend(
            conn.channels()
                .iter()
                .map(|ch| channel_json(ctx, &info, ch)),
        );
    }
    listing::respond(&ctx.req, items).await
}

/// A channel by its name, `"<connection name> (<number>)"`.
pub(crate) async fn channel(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    let (conn_name, number) = name
        .rsplit_once(" (")
        .and_then(|(c, n)| Some((c, n.strip_suffix(')')?.parse::<u16>().ok()?)))
        .ok_or_else(ApiError::not_found)?;
    let (conn, info) = find(ctx, conn_name)?;
    let ch = conn
        .channels()
        .into_iter()
        .find(|c| c.number == number)
        .ok_or_else(ApiError::not_found)?;
    let mut v = channel_json(ctx, &info, &ch);
    v["consumer_details"] = Value::Array(consumers_json(ctx, &info, &ch));
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

pub(crate) async fn consumers(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    if let Some(v) = vhost {
        ctx.session.visible_vhost(&ctx.broker, v)?;
    }
    let mut items = Vec::new();
    for (conn, info) in visible(ctx, vhost) {
        for ch in conn.channels() {
            items.extend(consumers_json(ctx, &info, &ch));
        }
    }
    listing::respond(&ctx.req, items).await
}

fn connection_json(broker: &Broker, conn: &dyn ClientConnection, i: &ConnectionInfo) -> Value {
    let mut totals = crate::stats::Totals::default();
    for ch in conn.channels() {
        totals.add_parts(&ch.stats.counts, &ch.stats.rates);
    }
    let mut v = json!({
        "message_stats": super::message_stats(&totals.report()),
        "name": i.name,
        "node": broker.config.node_name,
        "type": "network",
        "protocol": i.protocol,
        "host": i.local.ip().to_string(),
        "port": i.local.port(),
        "peer_host": i.peer.ip().to_string(),
        "peer_port": i.peer.port(),
        "user": i.user,
        "vhost": i.vhost,
        "auth_mechanism": i.auth_mechanism,
        "timeout": i.heartbeat,
        "frame_max": i.frame_max,
        "channel_max": i.channel_max,
        "client_properties": field_table_to_json(&i.client_properties),
        "user_provided_name": i.client_properties.inner().get("connection_name")
            .map(crate::store::definitions::amqp_to_json),
        "connected_at": i.connected_at,
        "state": i.state,
        "channels": i.channels,
        "recv_oct": i.recv_oct,
        "recv_oct_details": super::rate_json(i.octet_rates[0]),
        "recv_cnt": i.recv_cnt,
        "send_oct": i.send_oct,
        "send_oct_details": super::rate_json(i.octet_rates[1]),
        "send_cnt": i.send_cnt,
        "send_pend": i.send_pend,
    });
    if let Value::Object(m) = &mut v {
        m.extend(ssl_json(i.tls.as_deref()));
    }
    v
}

/// `ssl` and its details as RabbitMQ 3.10 shows them: nulls on a plain connection, and the
/// `peer_cert_*` nulls without a verified client certificate.
fn ssl_json(tls: Option<&crate::tls::peer::TlsDetails>) -> serde_json::Map<String, Value> {
    let peer = tls.and_then(|t| t.peer.as_ref());
    let fields = [
        ("ssl_protocol", tls.map(|t| t.protocol.as_str())),
        ("ssl_cipher", tls.map(|t| t.cipher.as_str())),
        ("ssl_key_exchange", tls.map(|t| t.key_exchange.as_str())),
        ("ssl_hash", tls.map(|t| t.hash.as_str())),
        ("peer_cert_subject", peer.map(|p| p.subject.as_str())),
        ("peer_cert_issuer", peer.map(|p| p.issuer.as_str())),
        ("peer_cert_validity", peer.map(|p| p.validity.as_str())),
    ];
    let mut m: serde_json::Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map_or(Value::Null, Value::from)))
        .collect();
    m.insert("ssl".into(), Value::Bool(tls.is_some()));
    m
}

fn connection_details(i: &ConnectionInfo) -> Value {
    json!({
        "name": i.name,
        "peer_host": i.peer.ip().to_string(),
        "peer_port": i.peer.port(),
    })
}

fn channel_json(ctx: &Ctx, i: &ConnectionInfo, ch: &ChannelInfo) -> Value {
    json!({
        "name": format!("{} ({})", i.name, ch.number),
        "node": ctx.broker.config.node_name,
        "number": ch.number,
        "user": i.user,
        "vhost": i.vhost,
        "connection_details": connection_details(i),
        "confirm": ch.confirm,
        "transactional": ch.transactional,
        "prefetch_count": ch.prefetch_count,
        "global_prefetch_count": ch.global_prefetch_count,
        "consumer_count": ch.consumers.len(),
        "messages_unacknowledged": ch.unacked,
        "message_stats": super::message_stats(&ch.stats.report()),
        "state": if i.state == "running" { "running" } else { i.state },
    })
}

/// The consumers of one queue, across all connections the session may see.
pub(crate) fn consumers_of_queue(ctx: &Ctx, vhost: &str, queue: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (conn, info) in visible(ctx, Some(vhost)) {
        for ch in conn.channels() {
            out.extend(
                consumers_json(ctx, &info, &ch)
                    .into_iter()
                    .filter(|c| c["queue"]["name"] == queue),
            );
        }
    }
    out
}

fn consumers_json(ctx: &Ctx, i: &ConnectionInfo, ch: &ChannelInfo) -> Vec<Value> {
    ch.consumers
        .iter()
        .map(|c| {
            json!({
                "consumer_tag": c.tag,
                "queue": {"name": c.queue, "vhost": i.vhost},
                "channel_details": {
                    "name": format!("{} ({})", i.name, ch.number),
                    "connection_name": i.name,
                    "number": ch.number,
                    "node": ctx.broker.config.node_name,
                    "peer_host": i.peer.ip().to_string(),
                    "peer_port": i.peer.port(),
                    "user": i.user,
                },
                "ack_required": c.ack_required,
                "exclusive": c.exclusive,
                "prefetch_count": c.prefetch_count,
                "active": true,
                "activity_status": "up",
                "arguments": field_table_to_json(&c.arguments),
            })
        })
        .collect()
}
