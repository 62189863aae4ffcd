//! Warren's own cluster endpoints (administrators), which `warren ctl` drives as
//! `rabbitmqctl` drives a RabbitMQ node: `GET /api/cluster` (cluster_status),
//! `POST /api/cluster/join` (`{"node": "host:port", "ram": false}`), `POST
//! /api/cluster/reset`, `POST /api/cluster/forget` (`{"node": "name"}`), `POST
//! /api/cluster/node-type` (`{"type": "disc"}` or `"ram"`).

use super::Ctx;
use crate::cluster::Cluster;
use crate::http::error::{ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::http::request::Fields;
use serde_json::json;
use std::sync::Arc;

fn cluster(ctx: &Ctx) -> ApiResult<&Arc<Cluster>> {
    ctx.session.require_admin()?;
    ctx.node.cluster.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} is not configured for clustering (no [cluster] section)",
            ctx.broker.config.node_name
        ))
    })
}

pub(crate) async fn status(ctx: &Ctx) -> ApiResult<Reply> {
    let s = cluster(ctx)?.status();
    Ok(Reply::json(&json!({
        "cluster_name": super::overview::cluster_name_of(ctx),
        "this_node": s.this_node,
        "leader": s.leader,
        "disc_nodes": s.disc_nodes(),
        "ram_nodes": s.ram_nodes(),
        "running_nodes": s.running_nodes(),
        "minority": s.minority,
        "members": s.members,
    })))
}

pub(crate) async fn join(ctx: &Ctx) -> ApiResult<Reply> {
    let c = cluster(ctx)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let node = f.required_string("node")?;
    let ram = f.bool("ram", false)?;
    c.join_cluster(&node, ram)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Reply::no_content())
}

pub(crate) async fn reset(ctx: &Ctx) -> ApiResult<Reply> {
    cluster(ctx)?.reset().await.map_err(ApiError::bad_request)?;
    Ok(Reply::no_content())
}

pub(crate) async fn forget(ctx: &Ctx) -> ApiResult<Reply> {
    let c = cluster(ctx)?;
    let body = ctx.req.object()?;
    let node = Fields(&body).required_string("node")?;
    if node == c.me.name {
        return Err(ApiError::bad_request(
            "a node cannot forget itself: use reset on it, or forget it from another node",
        ));
    }
    c.forget(&node).await.map_err(ApiError::bad_request)?;
    Ok(Reply::no_content())
}

pub(crate) async fn node_type(ctx: &Ctx) -> ApiResult<Reply> {
    let c = cluster(ctx)?;
    let body = ctx.req.object()?;
    let given = Fields(&body).required_string("type")?;
    let to = crate::config::NodeType::parse(&given).ok_or_else(|| {
        ApiError::bad_request(format!("type: '{given}' is not a node type (disc or ram)"))
    })?;
    c.change_node_type(to)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Reply::no_content())
}
