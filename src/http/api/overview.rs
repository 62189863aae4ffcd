//! `/api/overview`, `/api/whoami`, `/api/cluster-name`, `/api/extensions` and
//! `/api/nodes`: what the broker is and how the node is doing.

use super::Ctx;
use crate::broker::command::Command;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use serde_json::{json, Value};

/// The RabbitMQ version Warren behaves as (tools check it).
pub(crate) const RABBITMQ_VERSION: &str = "3.10.8";

pub(crate) async fn overview(ctx: &Ctx) -> ApiResult<Reply> {
    let b = &ctx.broker;
    let (mut queues, mut exchanges, mut consumers) = (0usize, 0usize, 0u64);
    let (mut ready, mut unacked) = (0u64, 0u64);
    for vh in ctx.vhosts_listed(None)? {
        exchanges += vh.exchanges().len();
        for q in vh.queues() {
            let c = q.counts();
            queues += 1;
            consumers += u64::from(c.consumers);
            ready += u64::from(c.ready);
            unacked += u64::from(c.unacked);
        }
    }
    let listeners: Vec<Value> = ctx
        .node
        .listeners
        .iter()
        .map(|(protocol, addr)| {
            json!({
                "node": b.config.node_name,
                "protocol": protocol,
                "ip_address": addr.ip().to_string(),
                "port": addr.port(),
                "socket_opts": {},
            })
        })
        .collect();
    let exchange_types: Vec<Value> = ["direct", "fanout", "headers", "topic"]
        .iter()
        .map(|t| {
            json!({
                "name": t,
                "description": format!("AMQP {t} exchange, as per the AMQP specification"),
                "enabled": true,
            })
        })
        .collect();
    let (counts, rates) = b.stats.last();
    let stats = crate::stats::report(&counts, &rates);
    let mut v = json!({
        "message_stats": super::message_stats(&stats),
        "management_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": "Warren",
        "product_version": env!("CARGO_PKG_VERSION"),
        "rates_mode": "basic",
        "cluster_name": cluster_name_of(ctx),
        "node": b.config.node_name,
        "exchange_types": exchange_types,
        "disable_stats": false,
        "enable_queue_totals": false,
        "listeners": listeners,
        "contexts": [{
            "node": b.config.node_name,
            "description": "RabbitMQ Management",
            "path": "/",
            "port": ctx.node.listeners.iter().find(|(p, _)| *p == "http").map(|(_, a)| a.port()),
        }],
        "object_totals": {
            "connections": b.clients.count(),
            "channels": b.clients.all().iter().map(|c| c.info().channels).sum::<usize>(),
            "exchanges": exchanges,
            "queues": queues,
            "consumers": consumers,
        },
        "queue_totals": {
            "messages": ready + unacked,
            "messages_ready": ready,
            "messages_unacknowledged": unacked,
        },
    });
    super::history::add_node(ctx, &mut v);
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

pub(crate) async fn whoami(ctx: &Ctx) -> ApiResult<Reply> {
    let u = &ctx.session.user;
    Ok(Reply::json(&json!({"name": u.name, "tags": u.tags})))
}

/// The `cluster_name` global parameter, else the node's name.
pub(super) fn cluster_name_of(ctx: &Ctx) -> String {
    ctx.broker
        .parameters
        .read()
        .list_global()
        .find(|(n, _)| n.as_str() == "cluster_name")
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .unwrap_or_else(|| ctx.broker.config.node_name.clone())
}

pub(crate) async fn cluster_name(ctx: &Ctx) -> ApiResult<Reply> {
    Ok(Reply::json(&json!({"name": cluster_name_of(ctx)})))
}

/// `{"name": ...}`: stored as the `cluster_name` global parameter, as RabbitMQ stores it.
pub(crate) async fn set_cluster_name(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let body = ctx.req.object()?;
    let name = Fields(&body).required_string("name")?;
    if name.is_empty() {
        return Err(ApiError::bad_request("the cluster name must not be empty"));
    }
    ctx.run(Command::SetGlobalParameter {
        name: "cluster_name".into(),
        value: Value::String(name),
    })
    .await?;
    Ok(Reply::no_content())
}

/// OAuth 2 sign-in: not offered (basic auth only).
pub(crate) async fn auth(_ctx: &Ctx) -> ApiResult<Reply> {
    Ok(Reply::json(
        &json!({"enable_uaa": false, "uaa_client_id": "", "uaa_location": ""}),
    ))
}

/// Spreads queue masters over the cluster's nodes: a single node has nothing to move.
pub(crate) async fn rebalance(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    Ok(Reply::no_content())
}

/// The management UI's plugins: none.
pub(crate) async fn extensions(_ctx: &Ctx) -> ApiResult<Reply> {
    Ok(Reply::json(&json!([])))
}
